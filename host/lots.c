#include "lots.h"

/* The largest order quantity the instrument allows, in whole lots; 0: no
 * freeze limit. */
static int64_t lots_slice_limit(const broker_instrument *facts, int64_t lot)
{
    if (facts->freeze_quantity <= 0)
        return 0;
    int64_t limit = facts->freeze_quantity / lot * lot;
    return limit > 0 ? limit : lot;
}

/* Rounds one leg and slices it, from the instrument's facts. */
static void lots_apply_leg(plan_leg *leg, const broker_instrument *facts)
{
    int64_t lot = facts->lot_size > 1 ? facts->lot_size : 1;
    int64_t whole = leg->quantity / lot * lot;
    int64_t limit = lots_slice_limit(facts, lot);
    if (limit > 0 && whole / limit >= LOTS_CHILDREN_MAX)
        whole = limit * LOTS_CHILDREN_MAX;
    leg->lot_size = lot;
    leg->rounded = leg->quantity - whole;
    leg->quantity = whole;
    leg->child_quantity = limit > 0 && whole > limit ? limit : whole;
    leg->children =
        whole == 0 ? 0 : (size_t)((whole + leg->child_quantity - 1) / leg->child_quantity);
}

void lots_apply(session *s, instruments *cache, const exec_request *request, plan *p)
{
    if (!s->features->get_instrument)
        return;
    for (size_t i = 0; i < p->count; i++) {
        broker_instrument facts;
        if (instruments_get(cache, s, request->targets[p->legs[i].target_index].symbol, &facts))
            lots_apply_leg(&p->legs[i], &facts);
    }
}

int64_t lots_child_quantity(const plan_leg *leg, size_t index)
{
    if (index + 1 < leg->children)
        return leg->child_quantity;
    return leg->quantity - leg->child_quantity * (int64_t)index;
}
