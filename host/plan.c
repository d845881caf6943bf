/* The plan: holdings + target portfolio → legs, sells sequenced before buys.
 * Pure: no I/O, no clocks, no randomness. Duplicates are found with a
 * throw-away open-addressing set of target indexes (4 bytes a slot), so the
 * whole build is O(n) expected. */
#include "plan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t plan_symbol_hash(const char *symbol)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (; *symbol != '\0'; symbol++) {
        hash ^= (unsigned char)*symbol;
        hash *= 0x100000001b3ull;
    }
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdull;
    hash ^= hash >> 33;
    return hash;
}

/* Returns the index of the first duplicate target, or target_count when
 * there is none; *oom is set when the set could not be allocated. */
static size_t plan_find_duplicate(const exec_target *targets, size_t target_count, bool *oom)
{
    size_t slot_count = 16;
    while (slot_count < target_count * 2)
        slot_count <<= 1;
    uint32_t *slots = calloc(slot_count, sizeof *slots); /* 0 = empty, else index + 1 */
    if (slots == NULL) {
        *oom = true;
        return target_count;
    }
    size_t mask = slot_count - 1;
    size_t duplicate = target_count;
    for (size_t i = 0; i < target_count && duplicate == target_count; i++) {
        size_t slot = (size_t)plan_symbol_hash(targets[i].symbol) & mask;
        while (slots[slot] != 0) {
            if (strcmp(targets[slots[slot] - 1].symbol, targets[i].symbol) == 0) {
                duplicate = i;
                break;
            }
            slot = (slot + 1) & mask;
        }
        slots[slot] = (uint32_t)(i + 1);
    }
    free(slots);
    return duplicate;
}

/* Fills the legs in request order; returns how many are sells. */
static size_t plan_fill_legs(const holdings *current, const exec_target *targets,
                             size_t target_count, plan *out)
{
    size_t sells = 0;
    for (size_t i = 0; i < target_count; i++) {
        int64_t before = current ? holdings_get(current, targets[i].symbol) : 0;
        int64_t delta = targets[i].target_quantity - before;
        if (delta == 0)
            continue;
        plan_leg *leg = &out->legs[out->count++];
        leg->target_index = i;
        leg->side = delta > 0 ? BROKER_SIDE_BUY : BROKER_SIDE_SELL;
        leg->quantity = delta > 0 ? delta : -delta;
        leg->before = before;
        leg->target = targets[i].target_quantity;
        leg->sequence = 0;
        leg->rounded = 0;
        leg->lot_size = 1;
        leg->child_quantity = leg->quantity;
        leg->children = 1;
        sells += leg->side == BROKER_SIDE_SELL;
    }
    return sells;
}

/* Sells first, then buys, each group in request order. */
static void plan_sequence(plan *out, size_t sells)
{
    size_t next_sell = 0, next_buy = sells;
    for (size_t i = 0; i < out->count; i++) {
        size_t position = out->legs[i].side == BROKER_SIDE_SELL ? next_sell++ : next_buy++;
        out->order[position] = i;
        out->legs[i].sequence = position + 1;
    }
}

ptx_status plan_build(const holdings *current, const exec_target *targets, size_t target_count,
                      plan *out, ptx_error *error)
{
    memset(out, 0, sizeof *out);
    if (target_count >= UINT32_MAX)
        return ptx_fail(error, PTX_INVALID, "target_portfolio", "too many symbols");
    bool oom = false;
    size_t duplicate = plan_find_duplicate(targets, target_count, &oom);
    if (oom)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory while planning");
    if (duplicate < target_count) {
        char field[64];
        snprintf(field, sizeof field, "target_portfolio[%zu].symbol", duplicate);
        return ptx_fail(error, PTX_INVALID, field, "duplicate symbol '%s'",
                        targets[duplicate].symbol);
    }
    size_t capacity = target_count > 0 ? target_count : 1;
    out->legs = malloc(capacity * sizeof *out->legs);
    out->order = malloc(capacity * sizeof *out->order);
    if (out->legs == NULL || out->order == NULL) {
        plan_free(out);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory while planning");
    }
    size_t sells = plan_fill_legs(current, targets, target_count, out);
    plan_sequence(out, sells);
    return PTX_OK;
}

void plan_free(plan *p)
{
    if (p == NULL)
        return;
    free(p->legs);
    free(p->order);
    free(p->leg_order);
    memset(p, 0, sizeof *p);
}
