#include "legs.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "instruments.h"
#include "retry.h"

#define LEGS_POLL_MAX_MS 1000u

static double legs_limit_price(session *s, const exec_leg *leg);

void legs_reason(exec_leg *leg, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(leg->reason, sizeof leg->reason, format, args);
    va_end(args);
}

void legs_fail(exec_leg *leg, const char *format, ...)
{
    leg->status = LEG_FAILED;
    va_list args;
    va_start(args, format);
    vsnprintf(leg->reason, sizeof leg->reason, format, args);
    va_end(args);
}

void legs_copy_text(char *out, size_t size, const char *text)
{
    size_t length = strnlen(text, size - 1); /* snprintf("%s") without the format cost, per leg */
    memcpy(out, text, length);
    out[length] = '\0';
}

bool legs_order_is_final(const broker_order *order)
{
    return order->state != BROKER_ORDER_OPEN;
}

static const char *order_message(const broker_order *order, const char *fallback)
{
    return order->message[0] != '\0' ? order->message : fallback;
}

int64_t legs_open_quantity(const exec_leg *leg)
{
    return leg->quantity - leg->prior_filled;
}

/* The leg's fill: what its earlier (re-priced) orders filled and what
 * `order`, its current one, has filled so far. */
static void legs_take_fill(exec_leg *leg, const broker_order *order)
{
    int64_t filled = order->filled_quantity;
    if (order->state == BROKER_ORDER_FILLED && filled == 0)
        filled = legs_open_quantity(leg);
    leg->filled_quantity = leg->prior_filled + filled;
    double value = leg->prior_value + order->average_price * (double)filled;
    leg->average_price = leg->filled_quantity > 0 ? value / (double)leg->filled_quantity : 0.0;
}

void legs_finish(exec_leg *leg, const broker_order *order)
{
    legs_take_fill(leg, order);
    switch (order->state) {
    case BROKER_ORDER_FILLED:
        leg->status = LEG_FILLED;
        leg->reason[0] = '\0';
        return;
    case BROKER_ORDER_PARTIALLY_FILLED:
        leg->status = LEG_PARTIALLY_FILLED;
        legs_reason(leg, "filled %lld of %lld; remainder cancelled/expired: %s",
                    (long long)leg->filled_quantity, (long long)leg->quantity,
                    order_message(order, "no reason given"));
        return;
    case BROKER_ORDER_REJECTED:
        leg->status = leg->prior_filled > 0 ? LEG_PARTIALLY_FILLED : LEG_REJECTED;
        if (leg->prior_filled > 0)
            legs_reason(leg,
                        "filled %lld of %lld; the re-priced order for the rest was rejected: %s",
                        (long long)leg->filled_quantity, (long long)leg->quantity,
                        order_message(order, "rejected by the broker"));
        else
            legs_reason(leg, "%s", order_message(order, "rejected by the broker"));
        return;
    case BROKER_ORDER_CANCELLED:
        leg->status = leg->prior_filled > 0 ? LEG_PARTIALLY_FILLED : LEG_CANCELLED;
        legs_reason(leg, "cancelled: %s", order_message(order, "no reason given"));
        return;
    case BROKER_ORDER_OPEN:
        break;
    }
    legs_fail(leg, "order %s still open", leg->order_id);
}

/* The order is still open after order_timeout_ms: cancel it if the plugin
 * can, and report the leg as it honestly stands. */
static void legs_give_up(session *s, exec_leg *leg, broker_order *order, int64_t waited_ms)
{
    legs_take_fill(leg, order);
    if (s->plugin->cancel_order != NULL && !session_auth_failed(s)) {
        broker_order cancelled = *order;
        session_request cancel = {.op = SESSION_CANCEL, .id = leg->order_id, .order = &cancelled};
        broker_status status = session_call(s, &cancel);
        if (status != BROKER_OK || !legs_order_is_final(&cancelled)) {
            session_request get = {.op = SESSION_GET, .id = leg->order_id, .order = &cancelled};
            status = session_call(s, &get);
        }
        if (status == BROKER_OK && legs_order_is_final(&cancelled)) {
            legs_finish(leg, &cancelled);
            if (leg->limit_price > 0.0 && leg->status != LEG_FILLED)
                legs_reason(leg,
                            "limit %.2f not reached: %lld of %lld filled in %lld ms%s, the rest "
                            "cancelled",
                            leg->limit_price, (long long)leg->filled_quantity,
                            (long long)leg->quantity, (long long)waited_ms,
                            leg->reprices > 0 ? " (re-priced)" : "");
            else if (leg->status == LEG_CANCELLED)
                legs_reason(leg, "cancelled after %lld ms still open: %s", (long long)waited_ms,
                            order_message(&cancelled, "cancelled on request"));
            return;
        }
        if (status == BROKER_OK)
            legs_take_fill(leg, &cancelled);
    }
    legs_fail(leg, "order %s still open at the broker after %lld ms", leg->order_id,
              (long long)waited_ms);
    leg->outcome_unknown =
        true; /* not cancelled: it may still fill; settled by the next execution */
}

/* One read of `leg`'s order into *order, with its charges where the plugin
 * reports them (1.1 order detail). False when the leg ended here
 * (authentication failed: it can no longer be followed). */
static bool legs_read(session *s, exec_leg *leg, broker_order *order)
{
    broker_status status;
    if (!s->features->get_order_ex) {
        broker_order latest = *order;
        session_request get = {.op = SESSION_GET, .id = leg->order_id, .order = &latest};
        status = session_call(s, &get);
        if (status == BROKER_OK)
            *order = latest;
    } else {
        broker_order_detail detail;
        memset(&detail, 0, sizeof detail);
        detail.size = sizeof detail;
        detail.order = *order;
        session_request get = {.op = SESSION_GET_EX, .id = leg->order_id, .detail = &detail};
        status = session_call(s, &get);
        if (status == BROKER_OK) {
            *order = detail.order;
            leg->charges = leg->prior_charges + detail.charges.total;
        }
    }
    if (status != BROKER_OK && session_auth_failed(s)) {
        legs_take_fill(leg, order);
        legs_fail(leg,
                  "order %s accepted but not followed to a final state: broker "
                  "authentication failed: %s",
                  leg->order_id, session_auth_message(s));
        leg->outcome_unknown = true; /* it may still fill: settled by the next execution */
        return false;
    }
    return true;
}

unsigned legs_next_interval(unsigned interval_ms)
{
    interval_ms = interval_ms == 0 ? 1 : interval_ms * 2;
    return interval_ms > LEGS_POLL_MAX_MS ? LEGS_POLL_MAX_MS : interval_ms;
}

/* True when `leg` is a limit order that re-pricing may cancel and resubmit. */
static bool legs_repricing(const session *s, const exec_leg *leg)
{
    return leg->limit_price > 0.0 && s->settings->reprice_attempts > 0;
}

int64_t legs_deadline_ms(const session *s, const exec_leg *leg, int64_t started_ms)
{
    uint64_t timeout = s->settings->order_timeout_ms;
    unsigned slices = legs_repricing(s, leg) ? s->settings->reprice_attempts + 1 : 1;
    unsigned slice = leg->reprice_round < slices ? leg->reprice_round + 1 : slices;
    return started_ms + (int64_t)(timeout * slice / slices);
}

/* The client order id of `leg`'s next order (attempt leg->reprices + 1):
 * the id scheme's index of the leg plus the attempt times the execution's
 * legs, so no two orders of one execution share an id. False when the
 * broker's ids are too short to tell that index apart. */
static bool legs_attempt_id(const session *s, const record_run *records, const exec_leg *leg,
                            char *out, size_t size)
{
    const exec_result *result = records->result;
    if (result == NULL || leg < result->legs || leg >= result->legs + result->leg_count)
        return false;
    size_t index = (size_t)(leg - result->legs);
    size_t attempt = (size_t)leg->reprices + 1;
    const broker_capabilities *caps = &s->plugin->capabilities;
    size_t capacity = ids_client_order_id_capacity(caps->tag_min_length, caps->tag_max_length);
    if (attempt > (capacity - 1 - index) / result->leg_count)
        return false;
    ids_client_order_id(result->execution_id, index + attempt * result->leg_count,
                        caps->tag_min_length, caps->tag_max_length, out, size);
    return true;
}

/* A resubmission ended without an order: what earlier orders filled stays
 * the leg's, reported PARTIALLY_FILLED with the reason re-pricing stopped
 * (unless the new order may exist: then FAILED with an unknown outcome, for
 * the account's next execution to settle). */
static void legs_resubmit_failed(exec_leg *leg)
{
    leg->filled_quantity = leg->prior_filled;
    leg->average_price = leg->prior_filled > 0 ? leg->prior_value / (double)leg->prior_filled : 0.0;
    leg->charges = leg->prior_charges;
    if (leg->prior_filled == 0 || leg->outcome_unknown)
        return;
    char why[BROKER_MESSAGE_MAX];
    memcpy(why, leg->reason, sizeof why);
    leg->status = LEG_PARTIALLY_FILLED;
    legs_reason(leg, "filled %lld of %lld; re-pricing the rest stopped: %.400s",
                (long long)leg->filled_quantity, (long long)leg->quantity, why);
}

typedef enum legs_reprice_outcome {
    LEGS_REPRICE_KEPT,   /* the order works on (still open) */
    LEGS_REPRICE_RESENT, /* *order is the leg's new order, open */
    LEGS_REPRICE_FINAL   /* the leg is final */
} legs_reprice_outcome;

/* Re-pricing at the end of a time slice of an open limit order: a fresh
 * price; when the market has moved away from the order's limit, the order is
 * cancelled and what it did not fill is resubmitted at the new price under
 * the next client order id. The new id, the attempt and the earlier fills
 * are committed (PENDING_SEND) before the new order is sent, so a crash
 * between the two leaves recovery an id to ask the broker for; a crash
 * before that finds the cancelled order under the old one. */
static legs_reprice_outcome legs_reprice(session *s, record_run *records, exec_leg *leg,
                                         broker_order *order)
{
    leg->reprice_round++;
    double price = legs_limit_price(s, leg);
    bool buy = leg->side == BROKER_SIDE_BUY;
    if (price <= 0.0 || (buy ? price <= leg->limit_price + 1e-9 : price >= leg->limit_price - 1e-9))
        return LEGS_REPRICE_KEPT; /* not moved away: the order keeps its place in the queue */
    char next_id[BROKER_CLIENT_ORDER_ID_MAX];
    if (s->plugin->cancel_order == NULL || session_auth_failed(s) || records->broken ||
        !legs_attempt_id(s, records, leg, next_id, sizeof next_id))
        return LEGS_REPRICE_KEPT;
    broker_order answer = *order;
    session_request cancel = {.op = SESSION_CANCEL, .id = leg->order_id, .order = &answer};
    (void)session_call(s, &cancel);
    broker_order cancelled = *order; /* its final word comes from a read, with the charges */
    if (!legs_read(s, leg, &cancelled))
        return LEGS_REPRICE_FINAL;
    *order = cancelled;
    if (!legs_order_is_final(&cancelled))
        return LEGS_REPRICE_KEPT; /* the cancel did not take: it is followed on */
    int64_t filled = cancelled.filled_quantity;
    if (cancelled.state == BROKER_ORDER_FILLED || cancelled.state == BROKER_ORDER_REJECTED ||
        filled >= legs_open_quantity(leg)) {
        legs_finish(leg, &cancelled);
        return LEGS_REPRICE_FINAL;
    }
    char detail[BROKER_MESSAGE_MAX + 160];
    snprintf(detail, sizeof detail,
             "re-priced (%u of %u): order %s at %.2f cancelled with %lld of %lld filled; the "
             "remaining %lld at %.2f as client order id %s",
             leg->reprices + 1, s->settings->reprice_attempts, leg->order_id, leg->limit_price,
             (long long)filled, (long long)legs_open_quantity(leg),
             (long long)(legs_open_quantity(leg) - filled), price, next_id);
    leg->prior_filled += filled;
    leg->prior_value += cancelled.average_price * (double)filled;
    leg->prior_charges = leg->charges;
    leg->filled_quantity = leg->prior_filled;
    leg->average_price = leg->prior_filled > 0 ? leg->prior_value / (double)leg->prior_filled : 0.0;
    leg->reprices++;
    legs_copy_text(leg->client_order_id, sizeof leg->client_order_id, next_id);
    leg->order_id[0] = '\0';
    leg->limit_price = price;
    record_leg(records, leg, LEG_STATE_PENDING_SEND, detail);
    if (!legs_submit(s, records, leg, order)) {
        legs_resubmit_failed(leg);
        return LEGS_REPRICE_FINAL;
    }
    if (legs_order_is_final(order)) {
        legs_finish(leg, order);
        return LEGS_REPRICE_FINAL;
    }
    return LEGS_REPRICE_RESENT;
}

/* The open order's time slice is over (legs_deadline_ms): re-priced while
 * rounds are left, else given up. True when the leg is final. */
static bool legs_slice_over(session *s, record_run *records, exec_leg *leg, broker_order *order,
                            int64_t started_ms)
{
    while (retry_monotonic_ms() >= legs_deadline_ms(s, leg, started_ms)) {
        if (records == NULL || !legs_repricing(s, leg) ||
            leg->reprice_round >= s->settings->reprice_attempts) {
            legs_give_up(s, leg, order, retry_monotonic_ms() - started_ms);
            return true;
        }
        legs_reprice_outcome outcome = legs_reprice(s, records, leg, order);
        if (outcome != LEGS_REPRICE_KEPT)
            return outcome == LEGS_REPRICE_FINAL;
    }
    return false;
}

bool legs_poll(session *s, record_run *records, exec_leg *leg, broker_order *order,
               int64_t started_ms)
{
    if (!legs_read(s, leg, order))
        return true;
    if (legs_order_is_final(order)) {
        legs_finish(leg, order);
        return true;
    }
    return legs_slice_over(s, records, leg, order, started_ms);
}

/* The first read is immediate; then the interval starts at poll_interval_ms
 * and doubles up to one second. */
void legs_follow(session *s, record_run *records, exec_leg *leg, broker_order *order)
{
    legs_copy_text(leg->order_id, sizeof leg->order_id, order->order_id);
    if (legs_order_is_final(order)) {
        legs_finish(leg, order);
        return;
    }
    int64_t started = retry_monotonic_ms();
    unsigned interval = s->settings->poll_interval_ms;
    while (!legs_poll(s, records, leg, order, started)) {
        int64_t left = legs_deadline_ms(s, leg, started) - retry_monotonic_ms();
        if (left > 0)
            retry_sleep_ms(interval < left ? interval : (unsigned)left);
        interval = legs_next_interval(interval);
    }
}

/* Records that the broker holds `order` for `leg` (ACCEPTED, with `detail`,
 * may be NULL). */
static void legs_note_accepted(record_run *records, exec_leg *leg, const broker_order *order,
                               const char *detail)
{
    legs_copy_text(leg->order_id, sizeof leg->order_id, order->order_id);
    record_leg(records, leg, LEG_STATE_ACCEPTED, detail);
}

void legs_accepted(session *s, record_run *records, exec_leg *leg, broker_order *order,
                   const char *detail)
{
    legs_note_accepted(records, leg, order, detail);
    legs_follow(s, records, leg, order);
}

/* A mismatch means the client order id was reused (e.g. a broker with very
 * short tags); adopting it would report a trade that never happened. */
bool legs_matches(const broker_order *order, const exec_leg *leg)
{
    if (order->client_order_id[0] != '\0' &&
        strcmp(order->client_order_id, leg->client_order_id) != 0)
        return false;
    if (order->symbol[0] != '\0' && strcmp(order->symbol, leg->symbol) != 0)
        return false;
    if (order->side != 0 && order->side != leg->side)
        return false;
    return order->quantity <= 0 || order->quantity == legs_open_quantity(leg);
}

legs_lookup_outcome legs_lookup(session *s, exec_leg *leg, broker_order *order)
{
    session_request find = {.op = SESSION_FIND, .id = leg->client_order_id, .order = order};
    s->retries.unknown_lookups++;
    broker_status status = session_call(s, &find);
    if (status == BROKER_OK && !legs_matches(order, leg)) {
        legs_fail(leg,
                  "outcome unknown: the broker's order %s for client order id %s is %s %s %lld, "
                  "not this leg; not adopted",
                  order->order_id, leg->client_order_id, side_name(order->side), order->symbol,
                  (long long)order->quantity);
        return LEGS_FAILED;
    }
    if (status == BROKER_OK)
        return LEGS_ADOPTED;
    if (status == BROKER_NOT_FOUND)
        return LEGS_ABSENT;
    if (session_auth_failed(s))
        legs_fail(leg,
                  "outcome unknown: the order may exist at the broker (client order id %s); "
                  "lookup stopped: broker authentication failed: %s",
                  leg->client_order_id, session_auth_message(s));
    else
        legs_fail(leg,
                  "outcome unknown: the order may exist at the broker (client order id %s); "
                  "%u lookups failed: %s",
                  leg->client_order_id, find.tries, s->message);
    leg->outcome_unknown = true; /* settled by the account's next execution */
    return LEGS_FAILED;
}

typedef struct place_context {
    record_run *records;
    exec_leg *leg;
} place_context;

static bool legs_before_place(void *context, session *s)
{
    place_context *place = context;
    if (record_sending(place->records, place->leg))
        return true;
    snprintf(s->message, sizeof s->message, "journal unavailable: %.200s", place->records->message);
    return false;
}

/* An outcome of place_order that ends the leg without an order. */
static void legs_not_placed(session *s, record_run *records, exec_leg *leg, broker_status status,
                            unsigned tries)
{
    if (status == BROKER_REJECTED) {
        leg->status = LEG_REJECTED;
        legs_reason(leg, "%s", s->message);
    } else if (status == BROKER_TRANSIENT) {
        legs_fail(leg, "not placed after %u attempts: %s", tries, s->message);
    } else if (status == BROKER_AUTH) {
        legs_fail(leg, "not placed: broker authentication failed: %s", session_auth_message(s));
    } else if (records->broken) {
        legs_fail(leg, "not placed: journal unavailable: %s", records->message);
    } else {
        legs_fail(leg, "not placed: %s: %s", broker_status_name(status), s->message);
    }
}

/* The limit price of `leg` (order_type = limit): a fresh quote (get_quote,
 * else the instrument's last price), limit_offset_bps past it towards a
 * fill, on the tick (up for a buy, down for a sell) and inside the day's
 * band. 0 when no price is known (the leg goes as a market order). */
static double legs_limit_price(session *s, const exec_leg *leg)
{
    broker_instrument facts;
    memset(&facts, 0, sizeof facts);
    bool known = s->facts != NULL && instruments_get(s->facts, s, leg->symbol, &facts);
    double quote = 0.0;
    if (s->plugin->get_quote != NULL) {
        session_request ask = {.op = SESSION_QUOTE, .id = leg->symbol, .price = &quote};
        if (session_call(s, &ask) != BROKER_OK)
            quote = 0.0;
    }
    if (quote <= 0.0 && known)
        quote = facts.last_price;
    if (quote <= 0.0)
        return 0.0;
    double offset = s->settings->limit_offset_bps / 10000.0;
    bool buy = leg->side == BROKER_SIDE_BUY;
    double price = quote * (buy ? 1.0 + offset : 1.0 - offset);
    double tick = known && facts.tick_size > 0.0 ? facts.tick_size : 0.05;
    double ticks = price / tick;
    price = (buy ? ceil(ticks - 1e-9) : floor(ticks + 1e-9)) * tick;
    if (known && facts.upper_band > 0.0 && price > facts.upper_band)
        price = floor(facts.upper_band / tick + 1e-9) * tick;
    if (known && facts.lower_band > 0.0 && price < facts.lower_band)
        price = ceil(facts.lower_band / tick - 1e-9) * tick;
    return round(price * 100.0) / 100.0;
}

/* Sends `place` (a SESSION_PLACE request): through place_order_ex where the
 * plugin has it, a DAY delivery order on NSE: a market order with the
 * broker's automatic market protection (Kite requires it of API orders), or
 * with order_type = limit a limit order priced by legs_limit_price. */
static broker_status legs_send(session *s, exec_leg *leg, session_request *place)
{
    if (!s->features->place_order_ex)
        return session_call(s, place);
    broker_order_params params;
    memset(&params, 0, sizeof params);
    params.size = sizeof params;
    params.base = *place->request;
    params.exchange = BROKER_EXCHANGE_NSE;
    params.product = BROKER_PRODUCT_DELIVERY;
    params.order_type = BROKER_ORDER_MARKET;
    params.validity = BROKER_VALIDITY_DAY;
    params.market_protection = -1;
    if (s->limit_orders) {
        if (leg->attempts == 0 || leg->limit_price <= 0.0) /* a resend keeps its price */
            leg->limit_price = legs_limit_price(s, leg);
        if (leg->limit_price > 0.0) {
            params.order_type = BROKER_ORDER_LIMIT;
            params.limit_price = leg->limit_price;
            params.market_protection = 0;
        }
    }
    broker_order_detail detail;
    memset(&detail, 0, sizeof detail);
    detail.size = sizeof detail;
    place->op = SESSION_PLACE_EX;
    place->params = &params;
    place->detail = &detail;
    broker_status status = session_call(s, place);
    *place->order = detail.order;
    leg->charges = leg->prior_charges + detail.charges.total;
    return status;
}

bool legs_submit(session *s, record_run *records, exec_leg *leg, broker_order *order)
{
    if (session_auth_failed(s)) {
        legs_fail(leg, "not placed: broker authentication failed: %s", session_auth_message(s));
        return false;
    }
    if (records->broken) {
        legs_fail(leg, "not placed: journal unavailable: %s", records->message);
        return false;
    }
    broker_order_request request = {.side = leg->side, .quantity = legs_open_quantity(leg)};
    memcpy(request.symbol, leg->symbol, sizeof request.symbol);
    memcpy(request.client_order_id, leg->client_order_id, sizeof request.client_order_id);
    place_context context = {records, leg};
    for (unsigned resends = 0;; resends++) {
        memset(order, 0, sizeof *order);
        session_request place = {.op = SESSION_PLACE,
                                 .request = &request,
                                 .order = order,
                                 .place_count = &leg->attempts,
                                 .before_place = legs_before_place,
                                 .hook_context = &context};
        broker_status status = legs_send(s, leg, &place);
        if (status == BROKER_OK) {
            legs_note_accepted(records, leg, order, NULL);
            return true;
        }
        if (status != BROKER_UNKNOWN) {
            legs_not_placed(s, records, leg, status, place.tries);
            return false;
        }
        record_leg(records, leg, LEG_STATE_UNKNOWN, s->message);
        legs_lookup_outcome found = legs_lookup(s, leg, order);
        if (found == LEGS_ADOPTED) {
            legs_note_accepted(records, leg, order,
                               "found by client order id after an unknown outcome");
            return true;
        }
        if (found == LEGS_FAILED)
            return false;
        if (resends >= s->settings->max_retries) {
            legs_fail(leg,
                      "not placed: outcome unknown on %u attempts, each time proven absent: %s",
                      leg->attempts, s->message);
            return false;
        }
        /* the broker proved it absent: resending is safe */
    }
}

void legs_place(session *s, record_run *records, exec_leg *leg)
{
    broker_order order;
    if (legs_submit(s, records, leg, &order))
        legs_follow(s, records, leg, &order);
}
