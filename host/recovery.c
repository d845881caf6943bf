#include "recovery.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legs.h"
#include "log.h"
#include "positions.h"
#include "retry.h"

/* Settles one leg of an interrupted execution. A leg still PENDING_SEND may
 * have been sent: only the broker can tell. */
static void recover_leg(session *s, record_run *records, exec_leg *leg, leg_state state)
{
    if (leg_state_is_final(state)) {
        leg->status = leg_status_of_state(state);
        return;
    }
    broker_order order;
    memset(&order, 0, sizeof order);
    if (state == LEG_STATE_ACCEPTED && leg->order_id[0] != '\0') {
        snprintf(order.order_id, sizeof order.order_id, "%s", leg->order_id);
        order.state = BROKER_ORDER_OPEN;
        legs_follow(s, records, leg, &order);
    } else {
        legs_lookup_outcome found = legs_lookup(s, leg, &order);
        if (found == LEGS_ABSENT && leg->prior_filled > 0) { /* re-priced: the rest not sent */
            leg->status = LEG_PARTIALLY_FILLED;
            leg->filled_quantity = leg->prior_filled;
            leg->average_price = leg->prior_value / (double)leg->prior_filled;
            leg->charges = leg->prior_charges;
            legs_reason(leg,
                        "filled %lld of %lld by its earlier orders; ptexec stopped before the "
                        "re-priced rest reached the broker (no order with client order id %s)",
                        (long long)leg->filled_quantity, (long long)leg->quantity,
                        leg->client_order_id);
            record_leg(records, leg, LEG_STATE_PARTIALLY_FILLED,
                       "recovery: the broker has no order for the re-priced rest");
            return;
        }
        if (found == LEGS_ABSENT) {
            if (state == LEG_STATE_PENDING_SEND)
                legs_fail(leg, "%s", RECOVERY_NOT_SENT_REASON);
            else
                legs_fail(leg,
                          "not sent: ptexec stopped while placing this leg and the broker has "
                          "no order with client order id %s",
                          leg->client_order_id);
            record_leg(records, leg, LEG_STATE_NOT_SENT, "recovery: the broker has no such order");
            return;
        }
        if (found == LEGS_ADOPTED)
            legs_accepted(s, records, leg, &order, "recovery: found by client order id");
    }
    if (leg->status != LEG_FILLED && leg->reason[0] == '\0')
        legs_reason(leg, "%s", "no reason given by the broker");
    record_leg(records, leg, leg_state_of_leg(leg), "recovery");
}

/* Legs of `result` in execution order (by sequence), into `order`. */
static void legs_by_sequence(const exec_result *result, size_t *order)
{
    bool valid = true;
    for (size_t i = 0; i < result->leg_count; i++)
        order[i] = SIZE_MAX;
    for (size_t i = 0; i < result->leg_count && valid; i++) {
        size_t sequence = result->legs[i].sequence;
        valid = sequence >= 1 && sequence <= result->leg_count && order[sequence - 1] == SIZE_MAX;
        if (valid)
            order[sequence - 1] = i;
    }
    for (size_t i = 0; !valid && i < result->leg_count; i++)
        order[i] = i;
}

static void log_recovered(const exec_result *result)
{
    const exec_summary *sum = &result->summary;
    log_write(LOG_INFO, "engine",
              "execution %s broker=%s account=%s RECOVERED after an interrupted run: orders=%zu "
              "filled=%zu partially_filled=%zu rejected=%zu cancelled=%zu failed=%zu",
              result->execution_id, result->broker, result->account_hash, sum->orders, sum->filled,
              sum->partially_filled, sum->rejected, sum->cancelled, sum->failed);
}

/* Finishes one execution a previous process left RUNNING. */
static ptx_status recover_one(session *s, record *rec, const char *id, ptx_error *error)
{
    exec_result recovered;
    leg_state *states = NULL;
    record_run records;
    memset(&records, 0, sizeof records);
    ptx_status status = journal_load(record_journal(rec), id, &recovered, &states, error);
    if (status != PTX_OK)
        return status;
    size_t *order = calloc(recovered.leg_count ? recovered.leg_count : 1, sizeof *order);
    if (order == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory recovering %s", id);
        goto cleanup;
    }
    status = record_resume(rec, &recovered, states, &records, error);
    if (status != PTX_OK)
        goto cleanup;
    legs_by_sequence(&recovered, order);
    for (size_t k = 0; k < recovered.leg_count; k++)
        recover_leg(s, &records, &recovered.legs[order[k]], states[order[k]]);
    positions_reconcile(s, &recovered);
    exec_result_summarize(&recovered);
    recovered.status = EXEC_RECOVERED;
    recovered.finished_ms = retry_wall_ms();
    record_finish(&records, EXEC_RECOVERED);
    log_recovered(&recovered);
cleanup:
    record_end(&records);
    free(order);
    free(states);
    exec_result_free(&recovered);
    return status;
}

/* Asks the broker, by client order id, what became of a leg whose outcome
 * was unknown when its execution finished, and records the answer. Nothing
 * is ever sent. An order still open, or a lookup that fails again, leaves
 * the leg UNKNOWN for the account's next execution. */
static void settle_leg(session *s, record_run *records, const char *execution_id, exec_leg *leg)
{
    broker_order order;
    memset(&order, 0, sizeof order);
    session_request find = {.op = SESSION_FIND, .id = leg->client_order_id, .order = &order};
    broker_status status = session_call(s, &find);
    leg_state state = LEG_STATE_UNKNOWN;
    char detail[BROKER_MESSAGE_MAX + 96];
    if (status == BROKER_NOT_FOUND) {
        state = LEG_STATE_NOT_SENT;
        snprintf(detail, sizeof detail,
                 "settled after the execution finished: the broker has no order with this "
                 "client order id");
    } else if (status == BROKER_OK && legs_matches(&order, leg)) {
        legs_copy_text(leg->order_id, sizeof leg->order_id, order.order_id);
        if (legs_order_is_final(&order)) {
            legs_finish(leg, &order);
            state = leg_state_of_leg(leg);
            snprintf(detail, sizeof detail,
                     "settled after the execution finished: order %s is %s (%lld filled)",
                     leg->order_id, leg_status_name(leg->status), (long long)leg->filled_quantity);
        } else {
            snprintf(detail, sizeof detail,
                     "order %s is still open at the broker; looked at again at the account's "
                     "next execution",
                     leg->order_id);
        }
    } else {
        log_write(LOG_WARN, "engine",
                  "execution %s leg %zu (client order id %s): outcome still unknown: %s",
                  execution_id, leg->sequence, leg->client_order_id,
                  status == BROKER_OK ? "the broker's order does not match the leg" : s->message);
        return;
    }
    log_write(LOG_WARN, "engine",
              "execution %s leg %zu %s %s %lld (client order id %s): reported FAILED with an "
              "unknown outcome; the broker now says %s: %s",
              execution_id, leg->sequence, side_name(leg->side), leg->symbol,
              (long long)leg->quantity, leg->client_order_id, leg_state_name(state), detail);
    record_leg(records, leg, state, detail);
}

/* Settles the unknown legs of one finished execution; adds how many are
 * still unknown to *remaining. Its stored response is left as it is. */
static ptx_status settle_one(session *s, record *rec, const char *id, size_t *remaining,
                             ptx_error *error)
{
    exec_result settled;
    leg_state *states = NULL;
    record_run records;
    ptx_status status = journal_load(record_journal(rec), id, &settled, &states, error);
    if (status != PTX_OK)
        return status;
    status = record_resume(rec, &settled, states, &records, error);
    if (status == PTX_OK) {
        for (size_t i = 0; i < settled.leg_count; i++)
            if (states[i] == LEG_STATE_UNKNOWN)
                settle_leg(s, &records, id, &settled.legs[i]);
        record_settle(&records, remaining);
    }
    record_end(&records);
    free(states);
    exec_result_free(&settled);
    return status;
}

/* Logs in once before recovery or settling first talks to the broker. */
static ptx_status recovery_login(session *s, bool *logged_in, ptx_error *error)
{
    if (*logged_in)
        return PTX_OK;
    ptx_status status = session_login(s, error);
    *logged_in = status == PTX_OK;
    return status;
}

ptx_status recovery_account(session *s, record *rec, const char *broker, const char *account_hash,
                            ptx_error *error)
{
    journal *j = record_journal(rec);
    char **ids = NULL, **unsettled = NULL;
    size_t count = 0, unsettled_count = 0, remaining = 0;
    bool logged_in = false;
    ptx_status status =
        journal_orphans(j, broker, account_hash, record_owner(rec), &ids, &count, error);
    for (size_t i = 0; i < count && status == PTX_OK; i++) {
        if ((status = recovery_login(s, &logged_in, error)) != PTX_OK)
            break;
        log_write(LOG_INFO, "engine", "execution %s: recovering the interrupted run", ids[i]);
        status = recover_one(s, rec, ids[i], error);
    }
    /* after recovery, which may itself leave a leg UNKNOWN */
    if (status == PTX_OK)
        status = journal_unsettled(j, broker, account_hash, &unsettled, &unsettled_count, error);
    for (size_t i = 0; i < unsettled_count && status == PTX_OK; i++) {
        if ((status = recovery_login(s, &logged_in, error)) != PTX_OK)
            break;
        status = settle_one(s, rec, unsettled[i], &remaining, error);
    }
    journal_ids_free(ids, count);
    journal_ids_free(unsettled, unsettled_count);
    return status;
}

size_t recovery_pending(record *rec)
{
    journal *j = record_journal(rec);
    if (j == NULL)
        return 0;
    char **ids = NULL;
    size_t count = 0;
    ptx_error error;
    if (journal_orphans(j, NULL, NULL, record_owner(rec), &ids, &count, &error) != PTX_OK)
        return 0;
    for (size_t i = 0; i < count; i++) {
        journal_execution row;
        if (journal_get(j, ids[i], &row, &error) != PTX_OK)
            continue;
        log_write(LOG_WARN, "engine",
                  "execution %s broker=%s account=%s was interrupted: recovery pending; it is "
                  "resumed at the next request for this account",
                  row.id, row.broker, row.account_hash);
        journal_execution_clear(&row);
    }
    journal_ids_free(ids, count);
    return count;
}
