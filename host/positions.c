#include "positions.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

ptx_status positions_read(session *s, size_t expected, holdings **out, ptx_error *error)
{
    session_request read = {.op = SESSION_HOLDINGS, .expected = expected};
    broker_status status = session_call(s, &read);
    if (status != BROKER_OK) {
        holdings_free(read.map);
        return session_refused(s, "get_holdings", status, read.tries, error);
    }
    *out = read.map;
    return PTX_OK;
}

ptx_status positions_from_plan(exec_result *result, const exec_request *request,
                               const holdings *current, const plan *p, ptx_error *error)
{
    result->legs = calloc(p->count > 0 ? p->count : 1, sizeof *result->legs);
    result->positions =
        calloc(request->target_count > 0 ? request->target_count : 1, sizeof *result->positions);
    if (result->legs == NULL || result->positions == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    result->leg_count = p->count;
    result->position_count = request->target_count;
    for (size_t i = 0; i < p->count; i++) {
        const plan_leg *planned = &p->legs[i];
        exec_leg *leg = &result->legs[i];
        memcpy(leg->symbol, request->targets[planned->target_index].symbol, sizeof leg->symbol);
        leg->side = planned->side;
        leg->quantity = planned->quantity;
        leg->sequence = planned->sequence;
        leg->target_index = planned->target_index;
        leg->status = LEG_PLANNED;
    }
    for (size_t i = 0; i < request->target_count; i++) {
        exec_position *position = &result->positions[i];
        memcpy(position->symbol, request->targets[i].symbol, sizeof position->symbol);
        position->before = holdings_get(current, position->symbol);
        position->target = request->targets[i].target_quantity;
        position->after = position->before;
        position->residual = position->target - position->after;
    }
    return PTX_OK;
}

static int64_t signed_fill(const exec_leg *leg)
{
    return leg->side == BROKER_SIDE_BUY ? leg->filled_quantity : -leg->filled_quantity;
}

void positions_reconcile(session *s, exec_result *result)
{
    session_request read = {.op = SESSION_HOLDINGS, .expected = result->position_count + 16};
    broker_status status = session_call(s, &read);
    result->reconciled = status == BROKER_OK;
    if (result->reconciled) {
        for (size_t i = 0; i < result->position_count; i++)
            result->positions[i].after = holdings_get(read.map, result->positions[i].symbol);
    } else {
        log_write(LOG_WARN, "engine",
                  "execution %s: holdings could not be read again (%s); positions after are "
                  "inferred from reported fills",
                  result->execution_id, s->message);
        for (size_t i = 0; i < result->leg_count; i++)
            result->positions[result->legs[i].target_index].after += signed_fill(&result->legs[i]);
    }
    for (size_t i = 0; i < result->position_count; i++)
        result->positions[i].residual = result->positions[i].target - result->positions[i].after;
    holdings_free(read.map);
}
