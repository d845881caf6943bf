#include "funds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legs.h"
#include "log.h"

/* One buy still to place: a group of result->legs. */
typedef struct funds_buy {
    size_t begin, end;
    int64_t quantity, lot, allowed;
    double unit_cost; /* price with the margin, per share */
} funds_buy;

/* A price of `symbol`: when `fresh`, the quote, else (or without one) the
 * instrument's last price as cached; 0 when neither is known. */
static double funds_price(session *s, instruments *cache, const char *symbol, bool fresh,
                          int64_t *lot)
{
    broker_instrument facts;
    bool known = instruments_get(cache, s, symbol, &facts);
    *lot = known && facts.lot_size > 1 ? facts.lot_size : 1;
    double price = 0.0;
    if (fresh && s->plugin->get_quote != NULL) {
        session_request quote = {.op = SESSION_QUOTE, .id = symbol, .price = &price};
        if (session_call(s, &quote) != BROKER_OK)
            price = 0.0;
    }
    return price > 0.0 ? price : known ? facts.last_price : 0.0;
}

/* The PLANNED buy groups of `result`, priced; *count of them (heap). */
static funds_buy *funds_collect(session *s, instruments *cache, exec_result *result, bool fresh,
                                size_t *count, double *total)
{
    funds_buy *buys = malloc((result->leg_count > 0 ? result->leg_count : 1) * sizeof *buys);
    *count = 0;
    *total = 0.0;
    for (size_t i = 0, end; buys != NULL && i < result->leg_count; i = end) {
        end = exec_leg_group_end(result, i);
        const exec_leg *first = &result->legs[i];
        if (first->side != BROKER_SIDE_BUY || first->status != LEG_PLANNED)
            continue;
        funds_buy *buy = &buys[*count];
        double price = funds_price(s, cache, first->symbol, fresh, &buy->lot);
        if (price <= 0.0)
            continue; /* not priced: the broker's own check decides */
        buy->begin = i;
        buy->end = end;
        buy->quantity = 0;
        for (size_t k = i; k < end; k++)
            buy->quantity += result->legs[k].status == LEG_PLANNED ? result->legs[k].quantity : 0;
        buy->unit_cost = price * (1.0 + s->settings->funds_margin_bps / 10000.0);
        buy->allowed = buy->quantity;
        *total += buy->unit_cost * (double)buy->quantity;
        (*count)++;
    }
    return buys;
}

static int funds_by_cost_desc(const void *left, const void *right)
{
    const funds_buy *a = left, *b = right;
    double ca = a->unit_cost * (double)a->quantity, cb = b->unit_cost * (double)b->quantity;
    if (ca != cb)
        return ca < cb ? 1 : -1;
    return a->begin < b->begin ? -1 : a->begin > b->begin;
}

static int funds_by_position(const void *left, const void *right)
{
    const funds_buy *a = left, *b = right;
    return a->begin < b->begin ? -1 : a->begin > b->begin;
}

/* Whole lots of `buy` that `cash` pays for, at most its quantity. */
static int64_t funds_affordable(const funds_buy *buy, double cash)
{
    double lot_cost = buy->unit_cost * (double)buy->lot;
    int64_t lots = cash > 0.0 ? (int64_t)floor(cash / lot_cost + 1e-9) : 0;
    int64_t quantity = lots * buy->lot;
    return quantity < buy->quantity ? quantity : buy->quantity;
}

/* Decides each buy's allowed quantity within `cash`. */
static void funds_allocate(const broker_settings *settings, funds_buy *buys, size_t count,
                           double cash, double total)
{
    if (settings->funds_pro_rata && !settings->reject_unaffordable) {
        double share = total > 0.0 ? cash / total : 0.0;
        for (size_t i = 0; i < count; i++) {
            buys[i].allowed =
                funds_affordable(&buys[i], share * buys[i].unit_cost * (double)buys[i].quantity);
            cash -= buys[i].unit_cost * (double)buys[i].allowed;
        }
        return;
    }
    if (!settings->funds_pro_rata)
        qsort(buys, count, sizeof *buys, funds_by_cost_desc);
    for (size_t i = 0; i < count; i++) {
        int64_t affordable = funds_affordable(&buys[i], cash);
        if (settings->reject_unaffordable && affordable < buys[i].quantity)
            affordable = 0;
        buys[i].allowed = affordable;
        cash -= buys[i].unit_cost * (double)affordable;
    }
    qsort(buys, count, sizeof *buys, funds_by_position);
}

/* Cuts `buy`'s children down to its allowed quantity, the last first. */
static void funds_apply(exec_result *result, const funds_buy *buy, double cash, const char *mode)
{
    int64_t left = buy->allowed;
    for (size_t k = buy->begin; k < buy->end; k++) {
        exec_leg *leg = &result->legs[k];
        if (leg->status != LEG_PLANNED)
            continue;
        int64_t quantity = leg->quantity < left ? leg->quantity : left;
        left -= quantity;
        if (quantity == leg->quantity)
            continue;
        leg->requested_quantity = leg->quantity;
        leg->quantity = quantity;
        if (quantity == 0) {
            leg->status = LEG_REJECTED;
            legs_reason(leg,
                        "not placed: insufficient funds: %lld would cost about Rs %.2f, "
                        "Rs %.2f available after the sells (on_insufficient_funds = %s)",
                        (long long)leg->requested_quantity,
                        buy->unit_cost * (double)leg->requested_quantity, cash > 0 ? cash : 0.0,
                        mode);
        }
    }
}

/* Cached last prices (up to INSTRUMENTS_TTL_MS old) decide alone when the
 * buys cost less than the cash by this factor; otherwise every buy is quoted
 * afresh (one read each). */
#define FUNDS_CACHED_SLACK 1.5

/* True when some buy is still to be placed. */
static bool funds_buys_pending(const exec_result *result)
{
    for (size_t i = 0; i < result->leg_count; i++)
        if (result->legs[i].side == BROKER_SIDE_BUY && result->legs[i].status == LEG_PLANNED)
            return true;
    return false;
}

void funds_gate(session *s, instruments *cache, exec_result *result)
{
    if (!s->features->get_funds || !funds_buys_pending(result) || session_auth_failed(s))
        return;
    broker_funds funds;
    memset(&funds, 0, sizeof funds);
    funds.size = sizeof funds;
    session_request ask = {.op = SESSION_FUNDS, .funds = &funds};
    if (session_call(s, &ask) != BROKER_OK)
        return; /* not a verdict: the broker's own check decides per order */
    size_t count = 0;
    double total = 0.0;
    funds_buy *buys = funds_collect(s, cache, result, false, &count, &total);
    if (buys != NULL && total * FUNDS_CACHED_SLACK > funds.available_cash) {
        free(buys); /* tight: worth a fresh quote per buy */
        buys = funds_collect(s, cache, result, true, &count, &total);
    }
    if (buys != NULL && total > funds.available_cash + 1e-9) {
        funds_allocate(s->settings, buys, count, funds.available_cash, total);
        for (size_t i = 0; i < count; i++)
            funds_apply(result, &buys[i], funds.available_cash,
                        s->settings->reject_unaffordable ? "reject" : "scale");
        log_write(LOG_INFO, "engine",
                  "execution %s: buys of about Rs %.2f exceed Rs %.2f available; %s",
                  result->execution_id, total, funds.available_cash,
                  s->settings->reject_unaffordable ? "refused what does not fit" : "scaled down");
    }
    free(buys);
}
