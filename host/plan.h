/* The plan: a pure function from holdings and a target portfolio to ordered
 * legs. No I/O. */
#ifndef PTEXEC_PLAN_H
#define PTEXEC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "holdings.h"
#include "request.h"
#include "status.h"

typedef struct plan_leg {
    size_t target_index; /* index into the request's targets */
    broker_side side;
    int64_t quantity; /* > 0 */
    int64_t before;   /* holding before */
    int64_t target;
    size_t sequence; /* 1-based place in execution order */
    /* Set by lots_apply (lots.h); plan_build leaves one child of the whole
     * quantity, nothing rounded. */
    int64_t rounded;        /* quantity dropped by rounding to whole lots (> 0) */
    int64_t lot_size;       /* the instrument's lot; 1 when not known */
    int64_t child_quantity; /* quantity of each child order (the last: what is left) */
    size_t children;        /* child orders; 0 when nothing is left to trade */
} plan_leg;

typedef struct plan {
    plan_leg *legs; /* request order; only symbols whose delta is non-zero */
    size_t count;
    size_t *order; /* indexes into legs, execution order: SELLs then BUYs,
                      each group in request order */
    /* Set by positions_from_plan: the result's legs (children) in execution
     * order, heap; freed by plan_free. */
    size_t *leg_order;
} plan;

/*
 * Builds the plan for `targets` (already validated, normalised symbols)
 * against `current`. Symbols held but not targeted are left alone. Refuses a
 * duplicate symbol with PTX_INVALID naming "target_portfolio[i].symbol".
 * O(n) expected. On success the caller releases *out with plan_free. Any
 * thread.
 */
ptx_status plan_build(const holdings *current, const exec_target *targets, size_t target_count,
                      plan *out, ptx_error *error);

/* Frees a plan; safe on a zeroed struct. */
void plan_free(plan *p);

#endif
