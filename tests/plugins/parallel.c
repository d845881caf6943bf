/*
 * A broker that allows parallel calls on one session (ABI 1.1
 * BROKER_CAP_PARALLEL_SESSION_CALLS), for the engine's concurrent placement
 * (tests/test_engine_parallel.c, bench/bench_parallel.c). Like a REST broker
 * it takes calls side by side, each taking latency_ms, and it enforces its
 * rate limit itself, counting what it refused. Keys of its section:
 *
 *   latency_ms            = 0     each call sleeps this long (half before the broker
 *                                 counts it, half after)
 *   rate_limit_per_second = 0     placements per rolling second (as the simulated
 *                                 brokers count them); beyond it: TRANSIENT "429 too many
 *                                 requests", with a retry-after hint (retry_after_ms)
 *   broker_rate_limit_per_second  overrides it for the broker alone (the host reads
 *                                 rate_limit_per_second too), to make the host pace wrong
 *
 * get_rate_limits (ABI 1.2) declares what it meters: placements at its rate
 * (broker_rate_limit_per_second when given), reads not at all, nothing per
 * minute. A rate_limit_per_second in the section still sets the host's pace,
 * so broker_rate_limit_per_second keeps making the host pace wrong.
 *   fill_after_ms         = 0     an order stays OPEN this long, then reads FILLED
 *   holdings_count        = 0     the account holds H0000, H0001, … (100 each)
 *   expire_after_places   = 0     after this many placements the token expires once:
 *                                 every call answers AUTH until authenticate
 *   instruments           = 0     1: the descriptor gets get_instrument (every symbol a
 *                                 listed lot-1 equity at 100.00), each call latency_ms
 *
 * Orders change the holdings when they fill. Counters, read through get_quote
 * with a symbol starting with '?' (the value arrives in *last_price):
 *   ?orders ?too_many_requests ?authentications ?max_concurrent
 *   ?max_places_per_id        most place_order calls that reached the book with one id
 *   ?max_in_window            most placements the broker counted in one rolling second
 *   ?sells_before_buys        1 when no buy was placed before every sell had been read
 *                             FILLED (or the run had no sell or no buy), else 0; broker
 *                             timestamps
 *   ?buys_placed_early        buys placed before the last sell was read final
 *   ?instrument_calls ?max_concurrent_instruments   get_instrument calls, and the most
 *                             of them inside the plugin at once
 * The error text and the retry-after hint are per thread, as the last call
 * of the calling thread: with parallel calls there is no "last call" of a
 * session.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ptexec/broker_plugin.h>

#define PARALLEL_PRICE 100.0
#define PARALLEL_HELD 100

typedef struct parallel_order {
    broker_order order;
    int64_t placed_us;     /* when the broker counted it */
    int64_t final_seen_us; /* first read that returned it final; 0 before */
} parallel_order;

typedef struct parallel_holding {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
} parallel_holding;

struct broker_session {
    unsigned token; /* the instance's token generation this session logged in with */
    broker_session *next;
};

struct broker_instance {
    const broker_host_services *services;
    broker_host *host;
    pthread_mutex_t lock;
    uint32_t latency_ms, rate_limit, fill_after_ms, expire_after_places;
    unsigned token; /* bumped when the token expires */
    bool expired_once;
    parallel_order *orders;
    size_t order_count, order_capacity;
    int64_t *window; /* placement times (µs), in order */
    parallel_holding *holdings;
    size_t holding_count, holding_capacity;
    int64_t too_many, authentications;
    atomic_int concurrent, max_concurrent; /* calls inside the plugin, latency included */
    atomic_int instrument_calls, instruments_inside, max_instruments_inside;
    broker_session *sessions;
};

static _Thread_local char parallel_message[BROKER_MESSAGE_MAX];
static _Thread_local uint32_t parallel_retry_after;

static const char *const parallel_config_keys[] = {"latency_ms",
                                                   "rate_limit_per_second",
                                                   "broker_rate_limit_per_second",
                                                   "fill_after_ms",
                                                   "holdings_count",
                                                   "expire_after_places",
                                                   "instruments",
                                                   NULL};

static broker_plugin parallel_descriptor;
static broker_status parallel_get_instrument(broker_instance *in, broker_session *session,
                                             const char *symbol, broker_instrument *instrument);

static broker_status parallel_fail(broker_status status, const char *text)
{
    snprintf(parallel_message, sizeof parallel_message, "%s", text);
    return status;
}

static uint32_t parallel_key(broker_instance *in, const char *key)
{
    const char *value = in->services->config_get(in->host, key);
    return value != NULL ? (uint32_t)strtoul(value, NULL, 10) : 0;
}

/* The broker's clock, in µs (finer than the host's monotonic_ms service, so
 * that "placed before read final" is exact). */
static int64_t parallel_now_us(broker_instance *in)
{
    (void)in;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* ---- holdings ---- */

static parallel_holding *parallel_holding_of(broker_instance *in, const char *symbol)
{
    for (size_t i = 0; i < in->holding_count; i++)
        if (strcmp(in->holdings[i].symbol, symbol) == 0)
            return &in->holdings[i];
    if (in->holding_count == in->holding_capacity) {
        size_t capacity = in->holding_capacity ? in->holding_capacity * 2 : 64;
        parallel_holding *grown = realloc(in->holdings, capacity * sizeof *grown);
        if (grown == NULL)
            return NULL;
        in->holdings = grown;
        in->holding_capacity = capacity;
    }
    parallel_holding *holding = &in->holdings[in->holding_count++];
    snprintf(holding->symbol, sizeof holding->symbol, "%s", symbol);
    holding->quantity = 0;
    return holding;
}

/* ---- lifecycle ---- */

static broker_status parallel_create(const broker_host_services *services, broker_host *host,
                                     broker_instance **instance, broker_text *error)
{
    broker_instance *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    in->services = services;
    in->host = host;
    in->latency_ms = parallel_key(in, "latency_ms");
    in->rate_limit = parallel_key(in, "rate_limit_per_second");
    if (in->services->config_get(in->host, "broker_rate_limit_per_second") != NULL)
        in->rate_limit = parallel_key(in, "broker_rate_limit_per_second");
    in->fill_after_ms = parallel_key(in, "fill_after_ms");
    in->expire_after_places = parallel_key(in, "expire_after_places");
    /* one library serves one section (its name is the section's), so the
     * static descriptor can follow it */
    parallel_descriptor.get_instrument =
        parallel_key(in, "instruments") != 0 ? parallel_get_instrument : NULL;
    uint32_t held = parallel_key(in, "holdings_count");
    for (uint32_t i = 0; i < held; i++) {
        char symbol[BROKER_SYMBOL_MAX];
        snprintf(symbol, sizeof symbol, "H%04u", i);
        parallel_holding *holding = parallel_holding_of(in, symbol);
        if (holding != NULL)
            holding->quantity = PARALLEL_HELD;
    }
    pthread_mutex_init(&in->lock, NULL);
    *instance = in;
    return BROKER_OK;
}

static void parallel_destroy(broker_instance *in)
{
    while (in->sessions != NULL) {
        broker_session *next = in->sessions->next;
        free(in->sessions);
        in->sessions = next;
    }
    pthread_mutex_destroy(&in->lock);
    free(in->orders);
    free(in->window);
    free(in->holdings);
    free(in);
}

static broker_status parallel_open_session(broker_instance *in,
                                           const broker_credentials *credentials,
                                           broker_session **session, broker_text *account_id,
                                           broker_text *error)
{
    const char *key = NULL;
    for (size_t i = 0; i < credentials->count; i++)
        if (strcmp(credentials->items[i].key, "api_key") == 0)
            key = credentials->items[i].value;
    if (key == NULL) {
        snprintf(error->text, sizeof error->text, "missing credential field api_key");
        return BROKER_INVALID;
    }
    broker_session *created = calloc(1, sizeof *created);
    if (created == NULL)
        return BROKER_INTERNAL;
    pthread_mutex_lock(&in->lock);
    created->next = in->sessions;
    in->sessions = created;
    pthread_mutex_unlock(&in->lock);
    snprintf(account_id->text, sizeof account_id->text, "PAR-%.40s", key);
    *session = created;
    return BROKER_OK;
}

static void parallel_close_session(broker_instance *in, broker_session *session)
{
    pthread_mutex_lock(&in->lock);
    for (broker_session **link = &in->sessions; *link != NULL; link = &(*link)->next) {
        if (*link == session) {
            *link = session->next;
            free(session);
            break;
        }
    }
    pthread_mutex_unlock(&in->lock);
}

/* ---- the shape of every call: latency around a locked middle ---- */

static void parallel_enter(broker_instance *in)
{
    parallel_message[0] = '\0';
    parallel_retry_after = 0;
    int now = atomic_fetch_add(&in->concurrent, 1) + 1;
    int most = atomic_load(&in->max_concurrent);
    while (now > most && !atomic_compare_exchange_weak(&in->max_concurrent, &most, now))
        ;
    if (in->latency_ms > 0)
        in->services->sleep_ms(in->host, (in->latency_ms + 1) / 2);
    pthread_mutex_lock(&in->lock);
}

static broker_status parallel_leave(broker_instance *in, broker_status status)
{
    pthread_mutex_unlock(&in->lock);
    if (in->latency_ms > 0)
        in->services->sleep_ms(in->host, in->latency_ms / 2);
    atomic_fetch_sub(&in->concurrent, 1);
    return status;
}

/* AUTH when the session's token has expired. Caller holds the lock. */
static bool parallel_token_ok(broker_instance *in, broker_session *session)
{
    return session->token == in->token;
}

static broker_status parallel_authenticate(broker_instance *in, broker_session *session)
{
    parallel_enter(in);
    session->token = in->token;
    in->authentications++;
    return parallel_leave(in, BROKER_OK);
}

static broker_status parallel_get_holdings(broker_instance *in, broker_session *session,
                                           broker_holding_fn emit, void *context)
{
    parallel_enter(in);
    if (!parallel_token_ok(in, session))
        return parallel_leave(in, parallel_fail(BROKER_AUTH, "403 TokenException"));
    for (size_t i = 0; i < in->holding_count; i++)
        if (in->holdings[i].quantity > 0 &&
            emit(context, in->holdings[i].symbol, in->holdings[i].quantity) != 0)
            break;
    return parallel_leave(in, BROKER_OK);
}

/* ---- orders ---- */

/* True when one more placement fits the rolling second; else sets the
 * retry-after hint. Caller holds the lock. */
static bool parallel_admit(broker_instance *in, int64_t now_us)
{
    if (in->rate_limit == 0 || in->order_count < in->rate_limit)
        return true;
    int64_t oldest = in->window[in->order_count - in->rate_limit];
    if (oldest / 1000 <= now_us / 1000 - 1000)
        return true;
    parallel_retry_after = (uint32_t)(oldest / 1000 + 1000 - now_us / 1000);
    return false;
}

static parallel_order *parallel_record(broker_instance *in, const broker_order_request *request,
                                       int64_t now_us)
{
    if (in->order_count == in->order_capacity) {
        size_t capacity = in->order_capacity ? in->order_capacity * 2 : 256;
        parallel_order *orders = realloc(in->orders, capacity * sizeof *orders);
        int64_t *window = realloc(in->window, capacity * sizeof *window);
        if (orders != NULL)
            in->orders = orders;
        if (window != NULL)
            in->window = window;
        if (orders == NULL || window == NULL)
            return NULL;
        in->order_capacity = capacity;
    }
    in->window[in->order_count] = now_us;
    parallel_order *entry = &in->orders[in->order_count++];
    memset(entry, 0, sizeof *entry);
    broker_order *order = &entry->order;
    snprintf(order->order_id, sizeof order->order_id, "P%zu", in->order_count);
    memcpy(order->client_order_id, request->client_order_id, sizeof order->client_order_id);
    memcpy(order->symbol, request->symbol, sizeof order->symbol);
    order->side = request->side;
    order->quantity = request->quantity;
    order->state = BROKER_ORDER_OPEN;
    entry->placed_us = now_us;
    return entry;
}

static broker_status parallel_place_order(broker_instance *in, broker_session *session,
                                          const broker_order_request *request, broker_order *order)
{
    parallel_enter(in);
    int64_t now_us = parallel_now_us(in);
    if (!parallel_token_ok(in, session))
        return parallel_leave(in, parallel_fail(BROKER_AUTH, "403 TokenException"));
    if (!parallel_admit(in, now_us)) {
        in->too_many++;
        return parallel_leave(in, parallel_fail(BROKER_TRANSIENT, "429 too many requests"));
    }
    parallel_order *entry = parallel_record(in, request, now_us);
    if (entry == NULL)
        return parallel_leave(in, parallel_fail(BROKER_INTERNAL, "out of memory"));
    *order = entry->order;
    if (in->expire_after_places > 0 && !in->expired_once &&
        in->order_count >= in->expire_after_places) {
        in->expired_once = true;
        in->token++; /* every session logged in so far must log in again */
    }
    return parallel_leave(in, BROKER_OK);
}

/* Fills the order once fill_after_ms has passed. Caller holds the lock. */
static void parallel_advance(broker_instance *in, parallel_order *entry, int64_t now_us)
{
    broker_order *order = &entry->order;
    if (order->state == BROKER_ORDER_OPEN &&
        now_us - entry->placed_us >= (int64_t)in->fill_after_ms * 1000) {
        parallel_holding *holding = parallel_holding_of(in, order->symbol);
        if (holding == NULL)
            return;
        holding->quantity += order->side == BROKER_SIDE_BUY ? order->quantity : -order->quantity;
        order->state = BROKER_ORDER_FILLED;
        order->filled_quantity = order->quantity;
        order->average_price = PARALLEL_PRICE;
    }
    if (order->state != BROKER_ORDER_OPEN && entry->final_seen_us == 0)
        entry->final_seen_us = now_us;
}

static parallel_order *parallel_find(broker_instance *in, const char *order_id,
                                     const char *client_order_id)
{
    for (size_t i = in->order_count; i > 0; i--) {
        broker_order *order = &in->orders[i - 1].order;
        if ((order_id != NULL && strcmp(order->order_id, order_id) == 0) ||
            (client_order_id != NULL && strcmp(order->client_order_id, client_order_id) == 0))
            return &in->orders[i - 1];
    }
    return NULL;
}

static broker_status parallel_read(broker_instance *in, broker_session *session,
                                   const char *order_id, const char *client_order_id,
                                   broker_order *order)
{
    parallel_enter(in);
    if (!parallel_token_ok(in, session))
        return parallel_leave(in, parallel_fail(BROKER_AUTH, "403 TokenException"));
    parallel_order *entry = parallel_find(in, order_id, client_order_id);
    if (entry == NULL)
        return parallel_leave(in, parallel_fail(BROKER_NOT_FOUND, "no such order"));
    parallel_advance(in, entry, parallel_now_us(in));
    *order = entry->order;
    return parallel_leave(in, BROKER_OK);
}

static broker_status parallel_get_order(broker_instance *in, broker_session *session,
                                        const char *order_id, broker_order *order)
{
    return parallel_read(in, session, order_id, NULL, order);
}

static broker_status parallel_find_order(broker_instance *in, broker_session *session,
                                         const char *client_order_id, broker_order *order)
{
    return parallel_read(in, session, NULL, client_order_id, order);
}

static broker_status parallel_cancel_order(broker_instance *in, broker_session *session,
                                           const char *order_id, broker_order *order)
{
    parallel_enter(in);
    if (!parallel_token_ok(in, session))
        return parallel_leave(in, parallel_fail(BROKER_AUTH, "403 TokenException"));
    parallel_order *entry = parallel_find(in, order_id, NULL);
    if (entry == NULL)
        return parallel_leave(in, parallel_fail(BROKER_NOT_FOUND, "no such order"));
    parallel_advance(in, entry, parallel_now_us(in));
    if (entry->order.state == BROKER_ORDER_OPEN) {
        entry->order.state = BROKER_ORDER_CANCELLED;
        snprintf(entry->order.message, sizeof entry->order.message, "cancelled on request");
        entry->final_seen_us = parallel_now_us(in);
    }
    *order = entry->order;
    return parallel_leave(in, BROKER_OK);
}

/* ---- counters ---- */

static int64_t parallel_max_places(const broker_instance *in)
{
    int64_t most = 0;
    for (size_t i = 0; i < in->order_count; i++) {
        int64_t same = 0;
        for (size_t j = 0; j < in->order_count; j++)
            same += strcmp(in->orders[i].order.client_order_id,
                           in->orders[j].order.client_order_id) == 0;
        most = same > most ? same : most;
    }
    return most;
}

static int64_t parallel_max_in_window(const broker_instance *in)
{
    int64_t most = 0;
    for (size_t i = 0, j = 0; j < in->order_count; j++) {
        while (in->window[j] / 1000 - in->window[i] / 1000 >= 1000)
            i++;
        most = (int64_t)(j - i + 1) > most ? (int64_t)(j - i + 1) : most;
    }
    return most;
}

/* Buys the broker got before the last sell was read final. */
static int64_t parallel_buys_early(const broker_instance *in)
{
    int64_t last_sell_final = 0, early = 0;
    for (size_t i = 0; i < in->order_count; i++) {
        const parallel_order *entry = &in->orders[i];
        if (entry->order.side == BROKER_SIDE_SELL) {
            int64_t seen = entry->final_seen_us ? entry->final_seen_us : INT64_MAX;
            last_sell_final = seen > last_sell_final ? seen : last_sell_final;
        }
    }
    for (size_t i = 0; i < in->order_count; i++)
        early += in->orders[i].order.side == BROKER_SIDE_BUY &&
                 in->orders[i].placed_us < last_sell_final;
    return early;
}

static bool parallel_counter(const broker_instance *in, const char *name, int64_t *value)
{
    if (strcmp(name, "orders") == 0)
        *value = (int64_t)in->order_count;
    else if (strcmp(name, "too_many_requests") == 0)
        *value = in->too_many;
    else if (strcmp(name, "authentications") == 0)
        *value = in->authentications;
    else if (strcmp(name, "max_concurrent") == 0)
        *value = atomic_load(&in->max_concurrent);
    else if (strcmp(name, "max_places_per_id") == 0)
        *value = parallel_max_places(in);
    else if (strcmp(name, "max_in_window") == 0)
        *value = parallel_max_in_window(in);
    else if (strcmp(name, "buys_placed_early") == 0)
        *value = parallel_buys_early(in);
    else if (strcmp(name, "sells_before_buys") == 0)
        *value = parallel_buys_early(in) == 0;
    else if (strcmp(name, "instrument_calls") == 0)
        *value = atomic_load(&in->instrument_calls);
    else if (strcmp(name, "max_concurrent_instruments") == 0)
        *value = atomic_load(&in->max_instruments_inside);
    else
        return false;
    return true;
}

static broker_status parallel_get_quote(broker_instance *in, broker_session *session,
                                        const char *symbol, double *last_price)
{
    (void)session;
    if (symbol[0] != '?') {
        *last_price = PARALLEL_PRICE;
        return BROKER_OK;
    }
    int64_t value = 0;
    pthread_mutex_lock(&in->lock);
    bool known = parallel_counter(in, symbol + 1, &value);
    pthread_mutex_unlock(&in->lock);
    *last_price = (double)value;
    return known ? BROKER_OK : parallel_fail(BROKER_NOT_FOUND, "no such counter");
}

static broker_status parallel_get_instrument(broker_instance *in, broker_session *session,
                                             const char *symbol, broker_instrument *instrument)
{
    (void)session;
    atomic_fetch_add(&in->instrument_calls, 1);
    int now = atomic_fetch_add(&in->instruments_inside, 1) + 1;
    int most = atomic_load(&in->max_instruments_inside);
    while (now > most && !atomic_compare_exchange_weak(&in->max_instruments_inside, &most, now))
        ;
    parallel_enter(in);
    snprintf(instrument->symbol, sizeof instrument->symbol, "%s", symbol);
    instrument->exchange = BROKER_EXCHANGE_NSE;
    instrument->listed = 1;
    instrument->tradable = 1;
    instrument->lot_size = 1;
    instrument->tick_size = 0.05;
    instrument->last_price = PARALLEL_PRICE;
    broker_status status = parallel_leave(in, BROKER_OK);
    atomic_fetch_sub(&in->instruments_inside, 1);
    return status;
}

static const char *parallel_errmsg(broker_instance *in, broker_session *session)
{
    (void)in;
    (void)session;
    return parallel_message;
}

static uint32_t parallel_retry_after_ms(broker_instance *in, broker_session *session)
{
    (void)in;
    (void)session;
    return parallel_retry_after;
}

static broker_status parallel_get_rate_limits(broker_instance *in, broker_rate_limits *limits)
{
    if (BROKER_FITS(limits, broker_rate_limits, orders_per_second))
        limits->orders_per_second = in->rate_limit;
    return BROKER_OK;
}

static broker_plugin parallel_descriptor = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "parallel",
    .version = "0.0.1",
    .description = "a broker that takes parallel calls on one session (tests only)",
    .capabilities = {.flags = BROKER_CAP_CONCURRENT_SESSIONS | BROKER_CAP_PARALLEL_SESSION_CALLS,
                     .tag_min_length = 8,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 10},
    .config_keys = parallel_config_keys,
    .create = parallel_create,
    .destroy = parallel_destroy,
    .open_session = parallel_open_session,
    .close_session = parallel_close_session,
    .authenticate = parallel_authenticate,
    .get_holdings = parallel_get_holdings,
    .place_order = parallel_place_order,
    .get_order = parallel_get_order,
    .find_order = parallel_find_order,
    .cancel_order = parallel_cancel_order,
    .get_quote = parallel_get_quote,
    .errmsg = parallel_errmsg,
    .retry_after_ms = parallel_retry_after_ms,
    .get_rate_limits = parallel_get_rate_limits,
};

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    (void)services;
    *descriptor = &parallel_descriptor;
    return BROKER_OK;
}
