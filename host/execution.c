#include "execution.h"

#include <stdlib.h>
#include <string.h>

static const char *const leg_status_names[] = {
#define EXECUTION_NAME_(name) #name,
    LEG_STATUS_MAP(EXECUTION_NAME_)
#undef EXECUTION_NAME_
};

static const char *const exec_status_names[] = {
#define EXECUTION_NAME_(name) #name,
    EXEC_STATUS_MAP(EXECUTION_NAME_)
#undef EXECUTION_NAME_
};

static const struct {
    const char *name;
    bool final;
} leg_states[] = {
#define EXECUTION_STATE_(name, final) {#name, final},
    LEG_STATE_MAP(EXECUTION_STATE_)
#undef EXECUTION_STATE_
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

void exec_result_free(exec_result *result)
{
    if (result == NULL)
        return;
    free(result->legs);
    free(result->positions);
    free(result->response);
    memset(result, 0, sizeof *result);
}

size_t exec_leg_group_end(const exec_result *result, size_t begin)
{
    size_t end = begin + 1;
    while (end < result->leg_count &&
           result->legs[end].target_index == result->legs[begin].target_index &&
           result->legs[end].side == result->legs[begin].side)
        end++;
    return end;
}

size_t exec_result_parent_count(const exec_result *result)
{
    size_t parents = 0;
    for (size_t i = 0; i < result->leg_count; i = exec_leg_group_end(result, i))
        parents++;
    return parents;
}

/* The status of a leg made of children: FILLED when all are, PARTIALLY_FILLED
 * when some quantity filled, else the first child's that did not fill. */
static leg_status exec_group_status(const exec_leg *children, size_t count, int64_t filled)
{
    for (size_t i = 0; i < count; i++)
        if (children[i].status != LEG_FILLED)
            return filled > 0 ? LEG_PARTIALLY_FILLED : children[i].status;
    return LEG_FILLED;
}

/* What the children were planned at before the funds gate; 0 when it cut
 * none of them. */
static int64_t exec_group_requested(const exec_leg *children, size_t count)
{
    int64_t requested = 0;
    bool cut = false;
    for (size_t i = 0; i < count; i++) {
        cut |= children[i].requested_quantity != 0;
        requested +=
            children[i].requested_quantity ? children[i].requested_quantity : children[i].quantity;
    }
    return cut ? requested : 0;
}

void exec_leg_combine(const exec_result *result, size_t begin, size_t end, exec_leg *out)
{
    const exec_leg *children = &result->legs[begin];
    *out = children[0];
    if (end - begin == 1)
        return;
    double value = children[0].average_price * (double)children[0].filled_quantity;
    for (size_t i = 1; i < end - begin; i++) {
        const exec_leg *child = &children[i];
        out->quantity += child->quantity;
        out->filled_quantity += child->filled_quantity;
        value += child->average_price * (double)child->filled_quantity;
        out->attempts += child->attempts;
        out->reprices += child->reprices;
        out->charges += child->charges;
        out->outcome_unknown |= child->outcome_unknown;
        if (out->reason[0] == '\0')
            memcpy(out->reason, child->reason, sizeof out->reason);
    }
    out->requested_quantity = exec_group_requested(children, end - begin);
    out->average_price = out->filled_quantity > 0 ? value / (double)out->filled_quantity : 0.0;
    out->status = exec_group_status(children, end - begin, out->filled_quantity);
    if (out->status == LEG_FILLED)
        out->reason[0] = '\0';
}

void exec_result_summarize(exec_result *result)
{
    exec_summary *s = &result->summary;
    memset(s, 0, sizeof *s);
    result->charges = 0;
    int64_t filled_anything = 0;
    for (size_t i = 0, end; i < result->leg_count; i = end) {
        exec_leg leg;
        end = exec_leg_group_end(result, i);
        exec_leg_combine(result, i, end, &leg);
        s->orders++;
        filled_anything |= leg.filled_quantity;
        s->filled += leg.status == LEG_FILLED;
        s->failed += leg.status == LEG_FAILED;
        s->rejected += leg.status == LEG_REJECTED;
        s->partially_filled += leg.status == LEG_PARTIALLY_FILLED;
        s->cancelled += leg.status == LEG_CANCELLED;
        result->charges += leg.charges;
    }
    if (result->leg_count == 0)
        result->status = EXEC_NOOP;
    else if (s->filled == s->orders)
        result->status = EXEC_COMPLETED;
    else if (filled_anything == 0)
        result->status = EXEC_FAILED;
    else
        result->status = EXEC_PARTIAL;
}

const char *leg_status_name(leg_status status)
{
    return (size_t)status < COUNT_OF(leg_status_names) ? leg_status_names[status] : "UNKNOWN";
}

const char *exec_status_name(exec_status status)
{
    return (size_t)status < COUNT_OF(exec_status_names) ? exec_status_names[status] : "UNKNOWN";
}

const char *leg_state_name(leg_state state)
{
    return (size_t)state < COUNT_OF(leg_states) ? leg_states[state].name : "UNKNOWN";
}

const char *side_name(broker_side side)
{
    return side == BROKER_SIDE_SELL ? "SELL" : "BUY";
}

bool exec_status_parse(const char *name, exec_status *out)
{
    for (size_t i = 0; i < COUNT_OF(exec_status_names); i++)
        if (strcmp(name, exec_status_names[i]) == 0) {
            *out = (exec_status)i;
            return true;
        }
    return false;
}

bool leg_state_parse(const char *name, leg_state *out)
{
    for (size_t i = 0; i < COUNT_OF(leg_states); i++)
        if (strcmp(name, leg_states[i].name) == 0) {
            *out = (leg_state)i;
            return true;
        }
    return false;
}

bool leg_state_is_final(leg_state state)
{
    return (size_t)state < COUNT_OF(leg_states) && leg_states[state].final;
}

leg_state leg_state_of_leg(const exec_leg *leg)
{
    switch (leg->status) {
    case LEG_PLANNED:
        return LEG_STATE_NOT_SENT;
    case LEG_FILLED:
        return LEG_STATE_FILLED;
    case LEG_PARTIALLY_FILLED:
        return LEG_STATE_PARTIALLY_FILLED;
    case LEG_REJECTED:
        return LEG_STATE_REJECTED;
    case LEG_CANCELLED:
        return LEG_STATE_CANCELLED;
    case LEG_FAILED:
        break;
    }
    return leg->outcome_unknown ? LEG_STATE_UNKNOWN : LEG_STATE_FAILED;
}

leg_status leg_status_of_state(leg_state state)
{
    switch (state) {
    case LEG_STATE_FILLED:
        return LEG_FILLED;
    case LEG_STATE_PARTIALLY_FILLED:
        return LEG_PARTIALLY_FILLED;
    case LEG_STATE_REJECTED:
        return LEG_REJECTED;
    case LEG_STATE_CANCELLED:
        return LEG_CANCELLED;
    default:
        return LEG_FAILED;
    }
}
