/* The account's positions around an execution: read before the plan (design
 * §1 step 4), laid out with the plan's legs, and reconciled after the orders
 * (step 8). */
#ifndef PTEXEC_POSITIONS_H
#define PTEXEC_POSITIONS_H

#include <stddef.h>

#include "execution.h"
#include "holdings.h"
#include "plan.h"
#include "session.h"
#include "status.h"

/* Step 4: reads what the account will hold per symbol into *out
 * (holdings_free), sized for about `expected` symbols: settled + T1 +
 * today's net positions + open orders' pending quantity where the plugin
 * has the 1.1 calls, its holdings otherwise. PTX_AUTH or PTX_UNAVAILABLE
 * naming the broker. */
ptx_status positions_read(session *s, size_t expected, holdings **out, ptx_error *error);

/* Fills result's legs (status PLANNED) from `p`, one per child order of
 * each planned leg, children adjacent in request order, and p->leg_order
 * (the legs in execution order); and its positions (before, target, what
 * lot rounding dropped) from `current`. PTX_OK or PTX_NOMEM. */
ptx_status positions_from_plan(exec_result *result, const exec_request *request,
                               const holdings *current, plan *p, ptx_error *error);

/* Step 8: reads the positions again (without open orders) into `after` and
 * residual; without them, infers `after` from the reported fills
 * (result->reconciled false). */
void positions_reconcile(session *s, exec_result *result);

#endif
