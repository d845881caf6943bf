/* Funds-aware buys (issue 12): once every sell is final, the account's cash
 * is read again (get_funds) and the buys still to place are priced (a fresh
 * quote, else the instrument's last price) with a margin for charges and
 * price moves (funds_margin_bps). Buys the cash cannot pay for are scaled
 * down in whole lots (on_insufficient_funds = scale, the default) or refused
 * whole (reject), largest first (funds_policy = largest_first, the default)
 * or pro rata, each with its reason, before any of them is sent. Without
 * get_funds nothing changes. */
#ifndef PTEXEC_FUNDS_H
#define PTEXEC_FUNDS_H

#include "execution.h"
#include "instruments.h"
#include "session.h"

/* Applies the gate to the PLANNED buy legs of `result` (groups of children
 * as exec_leg_group_end forms them): a scaled leg keeps its quantity before
 * in requested_quantity; a leg with nothing left is REJECTED with the
 * reason. Call it on the execution's thread between the phases; records
 * nothing itself (the legs' states carry it). */
void funds_gate(session *s, instruments *cache, exec_result *result);

#endif
