/* Recovery: finishing what a stopped ptexec left behind. An execution left
 * RUNNING is resumed at the next request for its account (credentials are
 * never stored, so it needs that request's session): every leg not known to
 * be final is looked up by client order id and followed, nothing is sent
 * again. Legs whose outcome stayed unknown are settled the same way. */
#ifndef PTEXEC_RECOVERY_H
#define PTEXEC_RECOVERY_H

#include <stddef.h>

#include "record.h"
#include "session.h"
#include "status.h"

#define RECOVERY_NOT_SENT_REASON "not sent: ptexec stopped before placing this leg"

/* Recovers and settles every execution of the account (broker,
 * account_hash) that needs it, logging in first when there is any. Call
 * with the account held and the session open. PTX_OK, or the login's or
 * the journal's error. */
ptx_status recovery_account(session *s, record *rec, const char *broker, const char *account_hash,
                            ptx_error *error);

/* Logs one line per execution a previous process left RUNNING and returns
 * how many there are; 0 without a journal or on a read failure. Main
 * thread. */
size_t recovery_pending(record *rec);

#endif
