#include "positions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lots.h"

typedef struct collector {
    holdings *map;
    bool failed;
} collector;

/* What the account will hold of a symbol: settled + T1 + today's net. */
static int collect_position(void *context, const broker_position *position)
{
    collector *into = context;
    int64_t held = position->settled + position->t1 + position->bought_today - position->sold_today;
    if (memchr(position->symbol, '\0', sizeof position->symbol) != NULL &&
        holdings_add(into->map, position->symbol, held))
        return 0;
    into->failed = true;
    return 1;
}

/* An order still working moves the projection by what is left of it. */
static int collect_open_order(void *context, const broker_open_order *order)
{
    collector *into = context;
    int64_t pending =
        order->side == BROKER_SIDE_SELL ? -order->pending_quantity : order->pending_quantity;
    if (memchr(order->symbol, '\0', sizeof order->symbol) != NULL &&
        holdings_add(into->map, order->symbol, pending))
        return 0;
    into->failed = true;
    return 1;
}

/* One emitting call of `op` into `into`; BROKER_INTERNAL when a record could
 * not be stored. */
static broker_status positions_collect(session *s, session_op op, collector *into, unsigned *tries)
{
    session_request read = {.op = op,
                            .positions_emit = collect_position,
                            .open_orders_emit = collect_open_order,
                            .emit_context = into};
    broker_status status = session_call(s, &read);
    *tries = read.tries;
    if (status == BROKER_OK && into->failed) {
        snprintf(s->message, sizeof s->message,
                 "positions could not be stored (bad symbol or out of memory)");
        return BROKER_INTERNAL;
    }
    return status;
}

/* Holdings (1.0), or settled + T1 + today's net positions (1.1), plus the
 * pending quantity of open orders when `projected` (1.1). */
static broker_status positions_load(session *s, size_t expected, bool projected, holdings **out,
                                    const char **what, unsigned *tries)
{
    *what = "get_holdings";
    if (!s->features->get_positions) {
        session_request read = {.op = SESSION_HOLDINGS, .expected = expected};
        broker_status status = session_call(s, &read);
        *tries = read.tries;
        *out = read.map;
        return status;
    }
    collector into = {holdings_create(expected), false};
    if (into.map == NULL) {
        snprintf(s->message, sizeof s->message, "out of memory reading positions");
        return BROKER_INTERNAL;
    }
    *out = into.map;
    *what = "get_positions";
    broker_status status = positions_collect(s, SESSION_POSITIONS, &into, tries);
    if (status == BROKER_OK && projected && s->features->get_open_orders) {
        *what = "get_open_orders";
        status = positions_collect(s, SESSION_OPEN_ORDERS, &into, tries);
    }
    return status;
}

ptx_status positions_read(session *s, size_t expected, holdings **out, ptx_error *error)
{
    const char *what = NULL;
    unsigned tries = 0;
    holdings *map = NULL;
    broker_status status = positions_load(s, expected, true, &map, &what, &tries);
    if (status != BROKER_OK) {
        holdings_free(map);
        return session_refused(s, what, status, tries, error);
    }
    *out = map;
    return PTX_OK;
}

/* The legs of planned leg `planned`: its children, from `*next` on. */
static void positions_add_children(exec_result *result, const exec_request *request,
                                   const plan_leg *planned, size_t *sequence, size_t *next)
{
    for (size_t c = 0; c < planned->children; c++) {
        exec_leg *leg = &result->legs[(*next)++];
        memcpy(leg->symbol, request->targets[planned->target_index].symbol, sizeof leg->symbol);
        leg->side = planned->side;
        leg->quantity = lots_child_quantity(planned, c);
        leg->sequence = ++*sequence;
        leg->target_index = planned->target_index;
        leg->status = LEG_PLANNED;
    }
}

/* Lays the legs out in request order, children adjacent, numbered in
 * execution order; p->leg_order lists them in execution order. */
static ptx_status positions_lay_out_legs(exec_result *result, const exec_request *request, plan *p,
                                         ptx_error *error)
{
    size_t count = 0;
    for (size_t i = 0; i < p->count; i++)
        count += p->legs[i].children;
    size_t *first = malloc((p->count > 0 ? p->count : 1) * sizeof *first);
    result->legs = calloc(count > 0 ? count : 1, sizeof *result->legs);
    p->leg_order = malloc((count > 0 ? count : 1) * sizeof *p->leg_order);
    if (first == NULL || result->legs == NULL || p->leg_order == NULL) {
        free(first);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    }
    result->leg_count = count;
    for (size_t i = 0, next = 0; i < p->count; i++) {
        first[i] = next;
        next += p->legs[i].children;
    }
    size_t sequence = 0, placed = 0;
    for (size_t k = 0; k < p->count; k++) {
        const plan_leg *planned = &p->legs[p->order[k]];
        size_t next = first[p->order[k]];
        for (size_t c = 0; c < planned->children; c++)
            p->leg_order[placed++] = next + c;
        positions_add_children(result, request, planned, &sequence, &next);
    }
    free(first);
    return PTX_OK;
}

ptx_status positions_from_plan(exec_result *result, const exec_request *request,
                               const holdings *current, plan *p, ptx_error *error)
{
    result->positions =
        calloc(request->target_count > 0 ? request->target_count : 1, sizeof *result->positions);
    if (result->positions == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    ptx_status status = positions_lay_out_legs(result, request, p, error);
    if (status != PTX_OK)
        return status;
    result->position_count = request->target_count;
    for (size_t i = 0; i < request->target_count; i++) {
        exec_position *position = &result->positions[i];
        memcpy(position->symbol, request->targets[i].symbol, sizeof position->symbol);
        position->before = holdings_get(current, position->symbol);
        position->target = request->targets[i].target_quantity;
        position->after = position->before;
        position->residual = position->target - position->after;
    }
    for (size_t i = 0; i < p->count; i++) {
        exec_position *position = &result->positions[p->legs[i].target_index];
        position->rounded = p->legs[i].rounded;
        position->lot_size = p->legs[i].lot_size;
    }
    return PTX_OK;
}

static int64_t signed_fill(const exec_leg *leg)
{
    return leg->side == BROKER_SIDE_BUY ? leg->filled_quantity : -leg->filled_quantity;
}

void positions_reconcile(session *s, exec_result *result)
{
    const char *what = NULL;
    unsigned tries = 0;
    holdings *map = NULL;
    broker_status status =
        positions_load(s, result->position_count + 16, false, &map, &what, &tries);
    result->reconciled = status == BROKER_OK;
    if (result->reconciled) {
        for (size_t i = 0; i < result->position_count; i++)
            result->positions[i].after = holdings_get(map, result->positions[i].symbol);
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
    holdings_free(map);
}
