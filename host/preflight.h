/* The gate before the first order (design §1, before step 7), for plugins
 * that tell the market's session and their instruments (ABI 1.1): the
 * market is open, the session's token has not expired, and every leg's
 * instrument is listed and tradable. Without those calls it passes. */
#ifndef PTEXEC_PREFLIGHT_H
#define PTEXEC_PREFLIGHT_H

#include "execution.h"
#include "instruments.h"
#include "session.h"
#include "status.h"

/* Asks the market's session into result->preflight. PTX_OK when orders may
 * go now; PTX_MARKET_CLOSED (saying when it opens next) or PTX_AUTH (token
 * expired) otherwise. A failed read is not a verdict: it passes. */
ptx_status preflight_session(session *s, exec_result *result, ptx_error *error);

/* Marks every leg whose instrument is unknown or not tradable REJECTED with
 * the broker's reason; such legs are never placed. Facts come from `cache`. */
void preflight_instruments(session *s, instruments *cache, exec_result *result);

#endif
