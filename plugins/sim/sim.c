#include "sim.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_book.h"
#include "sim_config.h"
#include "sim_format.h"
#include "sim_market.h"
#include "sim_state.h"

#define SIM_EXPIRED_MAX 4096 /* expired tokens remembered per instance */

typedef enum sim_token { SIM_TOKEN_VALID, SIM_TOKEN_INVALID, SIM_TOKEN_EXPIRED } sim_token;

struct broker_instance {
    const sim_profile *profile;
    const broker_host_services *services;
    broker_host *host;
    sim_config config;
    sim_limits metered; /* what the broker meters besides orders per second */
    sim_book book;
    pthread_mutex_t lock; /* guards book and the session list */
    broker_session *sessions;
    int64_t created_ms; /* host clock at create, for `clock` */
    sim_map walk_index; /* symbol → walks (only with volatility_bps or spread_bps) */
    struct sim_walk_entry {
        char symbol[BROKER_SYMBOL_MAX];
        sim_walk walk;
    } * walks;
    size_t walk_count, walk_capacity;
    uint64_t *expired_tokens; /* hashes of tokens that expired: they stay expired */
    size_t expired_count;
};

struct broker_session {
    broker_session *prev, *next;
    uint32_t account;
    sim_token token;      /* what authenticate will say of the token given */
    bool logged_in;       /* authenticate succeeded and the token has not expired since */
    bool expired;         /* the token expired during the session */
    uint64_t token_hash;  /* account + token, to remember an expired token */
    int64_t expires_ms;   /* session_expiry: when the login stops working; 0 never */
    uint32_t retry_after; /* ms, after a rate-limited call */
    char error[BROKER_MESSAGE_MAX];
};

/* errmsg(instance, NULL): the last instance-level failure of this thread. */
static _Thread_local char sim_thread_error[BROKER_MESSAGE_MAX];

/* The last call of this thread (BROKER_CAP_PARALLEL_SESSION_CALLS): its
 * session, error text and retry-after hint, copied before the lock is given
 * back, so that another thread's call on the same session cannot change what
 * errmsg and retry_after_ms answer this one. */
static _Thread_local const broker_session *sim_call_session;
static _Thread_local char sim_call_error[BROKER_MESSAGE_MAX];
static _Thread_local uint32_t sim_call_retry_after;

/* ---- messages and faults ------------------------------------------------ */

/* Writes "PHRASE" or "PHRASE (SUBJECT)" into `out`. */
static void sim_compose(char *out, const char *phrase, const char *subject)
{
    if (subject != NULL && *subject != '\0')
        snprintf(out, BROKER_MESSAGE_MAX, "%s (%s)", phrase, subject);
    else
        snprintf(out, BROKER_MESSAGE_MAX, "%s", phrase);
}

static broker_status sim_fail(broker_session *session, broker_status status, const char *phrase,
                              const char *subject)
{
    sim_compose(session ? session->error : sim_thread_error, phrase, subject);
    return status;
}

/* True with probability `rate`, drawn from the host's seeded source. */
static bool sim_roll(broker_instance *instance, double rate)
{
    if (rate <= 0.0)
        return false;
    uint64_t draw = instance->services->random_u64(instance->host);
    return (double)(draw >> 11) * 0x1.0p-53 < rate;
}

/* A number in [0, bound) from the host's seeded source; bound > 0. */
static uint64_t sim_draw(broker_instance *instance, uint64_t bound)
{
    return instance->services->random_u64(instance->host) % bound;
}

static int64_t sim_now(const broker_instance *instance);

/* Sleeps latency_ms (outside the lock), then takes the lock. */
static void sim_enter(broker_instance *instance, broker_session *session)
{
    if (instance->config.latency_ms > 0)
        instance->services->sleep_ms(instance->host, instance->config.latency_ms);
    pthread_mutex_lock(&instance->lock);
    session->error[0] = '\0';
    session->retry_after = 0;
    sim_call_session = session;
    instance->book.today = sim_market_day(sim_now(instance));
}

/* With the lock held: saves the book to state_file when it changed. A
 * failure is logged; the in-memory exchange carries on. */
static void sim_persist(broker_instance *instance)
{
    if (instance->config.state_file == NULL || !instance->book.dirty)
        return;
    char why[BROKER_MESSAGE_MAX];
    if (sim_state_save(&instance->book, instance->config.state_file, why, sizeof why) == 0)
        instance->book.dirty = false;
    else if (instance->services->log != NULL)
        instance->services->log(instance->host, BROKER_LOG_ERROR, "state_file: %s", why);
}

static void sim_leave(broker_instance *instance)
{
    sim_persist(instance);
    if (sim_call_session != NULL) {
        memcpy(sim_call_error, sim_call_session->error, sizeof sim_call_error);
        sim_call_retry_after = sim_call_session->retry_after;
    }
    pthread_mutex_unlock(&instance->lock);
}

/* ---- the market: clock, prices, meters ----------------------------------- */

/* The exchange's clock: the host's wall clock, moved by `clock`. */
static int64_t sim_now(const broker_instance *instance)
{
    int64_t now = instance->services->now_ms(instance->host);
    if (instance->config.clock_set)
        return instance->config.clock_start_ms + (now - instance->created_ms);
    return now + instance->config.clock_offset_ms;
}

static const char *sim_walk_key(const void *context, uint32_t value)
{
    const broker_instance *instance = context;
    return instance->walks[value].symbol;
}

/* The random walk of `symbol`, created at its first use; NULL without memory. */
static sim_walk *sim_walk_of(broker_instance *instance, const char *symbol)
{
    uint32_t index = sim_map_find(&instance->walk_index, symbol);
    if (index != SIM_MAP_NONE)
        return &instance->walks[index].walk;
    if (instance->walk_count == instance->walk_capacity) {
        size_t capacity = instance->walk_capacity ? instance->walk_capacity * 2 : 16;
        void *grown = realloc(instance->walks, capacity * sizeof *instance->walks);
        if (grown == NULL)
            return NULL;
        instance->walks = grown;
        instance->walk_capacity = capacity;
    }
    struct sim_walk_entry *entry = &instance->walks[instance->walk_count];
    memset(entry, 0, sizeof *entry);
    snprintf(entry->symbol, sizeof entry->symbol, "%s", symbol);
    if (sim_map_put(&instance->walk_index, entry->symbol, (uint32_t)instance->walk_count) != 0)
        return NULL;
    return &instance->walks[instance->walk_count++].walk;
}

/* The tick of `symbol`: its instrument's, else a paisa. */
static double sim_tick_of(const sim_instrument_facts *facts)
{
    return facts ? facts->tick_size : 0.01;
}

/* The quote of `symbol` now. Without volatility_bps and spread_bps it is the
 * static price: the instrument's reference, else a hash of the name. */
static sim_quote sim_quote_now(broker_instance *instance, const char *symbol)
{
    const sim_instrument_facts *facts = sim_market_instrument(symbol);
    double reference = facts ? facts->reference_price : sim_price(symbol);
    sim_quote quote = {reference, reference, reference};
    const sim_prices *prices = &instance->config.prices;
    if (prices->volatility_bps == 0 && prices->spread_bps == 0)
        return quote;
    sim_walk *walk = sim_walk_of(instance, symbol);
    double lower = 0.0, upper = 0.0;
    if (facts != NULL)
        sim_market_band(facts, &lower, &upper);
    return walk ? sim_market_quote(prices, symbol, reference, sim_tick_of(facts), lower, upper,
                                   walk, sim_now(instance))
                : quote;
}

/* What a market order pays (BUY: the ask) or gets (SELL: the bid), moved
 * against it by slippage_bps and kept on the tick. */
static double sim_touch_price(broker_instance *instance, const char *symbol, broker_side side)
{
    sim_quote quote = sim_quote_now(instance, symbol);
    double touch = side == BROKER_SIDE_BUY ? quote.ask : quote.bid;
    if (instance->config.slippage_bps == 0)
        return touch;
    double slip = instance->config.slippage_bps / 10000.0;
    double tick = sim_tick_of(sim_market_instrument(symbol));
    return sim_market_round(touch * (side == BROKER_SIDE_BUY ? 1.0 + slip : 1.0 - slip), tick);
}

enum { SIM_METER_ORDERS_MINUTE, SIM_METER_READS_SECOND, SIM_METER_READS_MINUTE };

/* Counts one call in a fixed window of `window_ms`; false (with the wait in
 * session->retry_after) when `limit` calls were made in it already. */
static bool sim_meter(broker_instance *instance, broker_session *session, int kind, uint32_t limit,
                      int64_t window_ms)
{
    if (limit == 0)
        return true;
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    int64_t now = instance->services->monotonic_ms(instance->host);
    int64_t start = now - ((now % window_ms) + window_ms) % window_ms;
    int64_t *window = account->windows[kind];
    if (window[0] != start || window[1] == 0) {
        window[0] = start;
        window[1] = 0;
    }
    if (window[1] >= limit) {
        session->retry_after = (uint32_t)(start + window_ms - now);
        return false;
    }
    window[1]++;
    return true;
}

/* With the lock held: appends "MONOTONIC_MS ACCOUNT LIMIT" to rate_limit_log
 * for a call refused for the broker's own limit `which` ("orders/s", …). */
static void sim_log_refusal(broker_instance *instance, broker_session *session, const char *which)
{
    if (instance->config.rate_limit_log == NULL)
        return;
    FILE *file = fopen(instance->config.rate_limit_log, "a");
    if (file == NULL) {
        if (instance->services->log != NULL)
            instance->services->log(instance->host, BROKER_LOG_ERROR,
                                    "rate_limit_log: cannot open");
        return;
    }
    fprintf(file, "%" PRId64 " %s %s\n", instance->services->monotonic_ms(instance->host),
            sim_book_account_at(&instance->book, session->account)->id, which);
    fclose(file);
}

/* TRANSIENT in the broker's "too many requests" wording, with the wait;
 * logged as a refusal of limit `which`. */
static broker_status sim_rate_limited(broker_instance *instance, broker_session *session,
                                      const char *which)
{
    sim_log_refusal(instance, session, which);
    char subject[48];
    snprintf(subject, sizeof subject, "retry after %u ms", (unsigned)session->retry_after);
    return sim_fail(session, BROKER_TRANSIENT, instance->profile->wording.rate_limited, subject);
}

static broker_status sim_meter_read(broker_instance *instance, broker_session *session)
{
    const sim_limits *limits = &instance->metered;
    if (!sim_meter(instance, session, SIM_METER_READS_SECOND, limits->reads_per_second, 1000))
        return sim_rate_limited(instance, session, "reads/s");
    if (!sim_meter(instance, session, SIM_METER_READS_MINUTE, limits->reads_per_minute, 60000))
        return sim_rate_limited(instance, session, "reads/min");
    return BROKER_OK;
}

static bool sim_token_expired_before(const broker_instance *instance, uint64_t hash)
{
    for (size_t i = 0; i < instance->expired_count; i++)
        if (instance->expired_tokens[i] == hash)
            return true;
    return false;
}

/* Remembers that a token expired; it stays expired for the instance's life
 * (a real broker needs a new login by a person, hence new credentials). */
static void sim_token_expire(broker_instance *instance, broker_session *session)
{
    session->logged_in = false;
    session->expired = true;
    if (sim_token_expired_before(instance, session->token_hash) ||
        instance->expired_count >= SIM_EXPIRED_MAX)
        return;
    if (instance->expired_tokens == NULL)
        instance->expired_tokens = calloc(SIM_EXPIRED_MAX, sizeof *instance->expired_tokens);
    if (instance->expired_tokens != NULL)
        instance->expired_tokens[instance->expired_count++] = session->token_hash;
}

/* The next session_expiry (HH:MM IST) strictly after `now`, or 0. */
static int64_t sim_next_expiry(const broker_instance *instance, int64_t now)
{
    int minute = instance->config.session_expiry_minute;
    if (minute < 0)
        return 0;
    int64_t at =
        (int64_t)sim_market_day(now) * SIM_DAY_MS + (int64_t)minute * 60000 - SIM_IST_OFFSET_MS;
    return at > now ? at : at + SIM_DAY_MS;
}

/* The checks every session call passes first: a transient failure before the
 * broker, a session that is not logged in, a token that expires now. */
static broker_status sim_gate(broker_instance *instance, broker_session *session)
{
    const sim_wording *wording = &instance->profile->wording;
    if (sim_roll(instance, instance->config.transient_failure_rate))
        return sim_fail(session, BROKER_TRANSIENT, wording->network, NULL);
    if (!session->logged_in)
        return sim_fail(session, BROKER_AUTH,
                        session->expired ? wording->token_expired : wording->not_logged_in, NULL);
    if (sim_roll(instance, instance->config.auth_expiry_rate)) {
        session->logged_in = false;
        session->expired = true;
        return sim_fail(session, BROKER_AUTH, wording->token_expired, NULL);
    }
    if (session->expires_ms != 0 && sim_now(instance) >= session->expires_ms) {
        sim_token_expire(instance, session);
        return sim_fail(session, BROKER_AUTH, wording->token_expired, NULL);
    }
    return BROKER_OK;
}

/* sim_gate, then the read meters (rate_limits = broker). */
static broker_status sim_gate_read(broker_instance *instance, broker_session *session)
{
    broker_status status = sim_gate(instance, session);
    return status == BROKER_OK ? sim_meter_read(instance, session) : status;
}

static bool sim_bad_call(broker_instance *instance, broker_session *session)
{
    if (instance != NULL && session != NULL)
        return false;
    sim_compose(session ? session->error : sim_thread_error, "missing instance or session", NULL);
    return true;
}

/* ---- instance ----------------------------------------------------------- */

/* What the instance meters besides orders per second: the profile's limits
 * with rate_limits = broker (none otherwise), each replaced by its key when
 * given. */
static sim_limits sim_metered_limits(const sim_profile *profile, const sim_config *config)
{
    sim_limits metered = config->broker_rate_limits ? profile->limits : (sim_limits){0};
    if (config->rate_limit_per_minute != SIM_LIMIT_UNSET)
        metered.orders_per_minute = config->rate_limit_per_minute;
    if (config->read_rate_limit_per_second != SIM_LIMIT_UNSET)
        metered.reads_per_second = config->read_rate_limit_per_second;
    if (config->read_rate_limit_per_minute != SIM_LIMIT_UNSET)
        metered.reads_per_minute = config->read_rate_limit_per_minute;
    return metered;
}

broker_status sim_create(const sim_profile *profile, const broker_host_services *services,
                         broker_host *host, broker_instance **instance, broker_text *error)
{
    broker_text scratch;
    error = error ? error : &scratch;
    error->text[0] = '\0';
    if (instance == NULL || services == NULL || services->abi_major != BROKER_ABI_MAJOR ||
        services->size < BROKER_HOST_SERVICES_V1_0_SIZE) {
        snprintf(error->text, sizeof error->text, "unusable host services table");
        return BROKER_INTERNAL;
    }
    *instance = NULL;
    broker_instance *created = calloc(1, sizeof *created);
    if (created == NULL) {
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    created->profile = profile;
    created->services = services;
    created->host = host;
    broker_status status =
        sim_config_load(&created->config, services, host,
                        profile->plugin->capabilities.rate_limit_per_second, error);
    if (status != BROKER_OK || pthread_mutex_init(&created->lock, NULL) != 0) {
        sim_config_free(&created->config);
        free(created);
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
        return status != BROKER_OK ? status : BROKER_INTERNAL;
    }
    created->metered = sim_metered_limits(profile, &created->config);
    sim_book_init(&created->book, created->config.rate_limit_per_second);
    sim_book_set_history(&created->book, created->config.order_history);
    created->book.settle_t1 = created->config.settle_t1;
    created->book.hours = &created->config.hours;
    created->book.brokerage = profile->brokerage;
    created->created_ms = services->now_ms(host);
    sim_map_init(&created->walk_index, sim_walk_key, created);
    const char *seed = services->config_get(host, "seed");
    created->config.prices.seed = seed ? strtoull(seed, NULL, 10) : 1;
    if (created->config.state_file != NULL &&
        sim_state_load(&created->book, created->config.state_file, error->text,
                       sizeof error->text) != 0) {
        char why[BROKER_MESSAGE_MAX];
        snprintf(why, sizeof why, "state_file: %.200s", error->text);
        snprintf(error->text, sizeof error->text, "%s", why);
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", why);
        sim_book_free(&created->book);
        sim_config_free(&created->config);
        pthread_mutex_destroy(&created->lock);
        free(created);
        return BROKER_CONFIG;
    }
    if (services->log != NULL)
        services->log(host, BROKER_LOG_DEBUG,
                      "simulated %s: %zu initial holdings; meters orders %" PRIu32 "/s %" PRIu32
                      "/min, reads %" PRIu32 "/s %" PRIu32 "/min (0: not metered)",
                      profile->plugin->name, created->config.initial_count,
                      created->config.rate_limit_per_second, created->metered.orders_per_minute,
                      created->metered.reads_per_second, created->metered.reads_per_minute);
    *instance = created;
    return BROKER_OK;
}

void sim_destroy(broker_instance *instance)
{
    if (instance == NULL)
        return;
    while (instance->sessions != NULL) {
        broker_session *next = instance->sessions->next;
        free(instance->sessions);
        instance->sessions = next;
    }
    sim_book_free(&instance->book);
    sim_config_free(&instance->config);
    sim_map_free(&instance->walk_index);
    free(instance->walks);
    free(instance->expired_tokens);
    pthread_mutex_destroy(&instance->lock);
    free(instance);
}

/* ---- sessions ----------------------------------------------------------- */

/* The value of the first of `names` present (non-empty) in `credentials`. */
static const char *sim_credential(const broker_credentials *credentials,
                                  const sim_credential_names *names)
{
    for (size_t n = 0; n < 5 && names->names[n] != NULL; n++)
        for (size_t i = 0; i < credentials->count; i++) {
            const broker_credential *item = &credentials->items[i];
            if (item->key && item->value && item->value[0] != '\0' &&
                strcmp(item->key, names->names[n]) == 0)
                return item->value;
        }
    return NULL;
}

/* Appends "a/b/c" of `names` to `out` (`size` bytes in all). */
static void sim_join_names(char *out, size_t size, const sim_credential_names *names)
{
    for (size_t n = 0; n < 5 && names->names[n] != NULL; n++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", n ? "/" : "", names->names[n]);
    }
}

static broker_status sim_missing(const sim_profile *profile, const sim_credential_names *missing,
                                 broker_text *error)
{
    char needs[160] = "";
    sim_join_names(needs, sizeof needs, &profile->key);
    snprintf(needs + strlen(needs), sizeof needs - strlen(needs), " and ");
    sim_join_names(needs, sizeof needs, &profile->token);
    snprintf(error->text, sizeof error->text, "missing credential '%s' (%s needs %s)",
             missing->names[0], profile->plugin->name, needs);
    snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
    return BROKER_INVALID;
}

static sim_token sim_classify_token(const char *token)
{
    if (strncmp(token, "invalid", 7) == 0)
        return SIM_TOKEN_INVALID;
    if (strncmp(token, "expired", 7) == 0)
        return SIM_TOKEN_EXPIRED;
    return SIM_TOKEN_VALID;
}

static broker_status sim_session_new(broker_instance *instance, const char *account_id,
                                     sim_token token, uint64_t token_hash, broker_session **out)
{
    broker_session *session = calloc(1, sizeof *session);
    if (session == NULL)
        return BROKER_INTERNAL;
    session->token = token;
    session->token_hash = token_hash;
    pthread_mutex_lock(&instance->lock);
    session->account =
        sim_book_account(&instance->book, account_id, instance->config.initial_holdings,
                         instance->config.initial_count);
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    if (account != NULL && !account->funded) {
        account->funded = true;
        account->cash = account->opening_cash = instance->config.initial_cash;
    }
    if (session->account != SIM_MAP_NONE) {
        session->next = instance->sessions;
        if (instance->sessions != NULL)
            instance->sessions->prev = session;
        instance->sessions = session;
    }
    sim_persist(instance);
    pthread_mutex_unlock(&instance->lock);
    if (session->account == SIM_MAP_NONE) {
        free(session);
        return BROKER_INTERNAL;
    }
    *out = session;
    return BROKER_OK;
}

broker_status sim_open_session(broker_instance *instance, const broker_credentials *credentials,
                               broker_session **session, broker_text *account_id,
                               broker_text *error)
{
    broker_text scratch;
    error = error ? error : &scratch;
    error->text[0] = '\0';
    if (instance == NULL || credentials == NULL || session == NULL) {
        snprintf(error->text, sizeof error->text, "missing instance, credentials or session");
        return BROKER_INVALID;
    }
    *session = NULL;
    const sim_profile *profile = instance->profile;
    const char *key = sim_credential(credentials, &profile->key);
    const char *token = sim_credential(credentials, &profile->token);
    if (key == NULL)
        return sim_missing(profile, &profile->key, error);
    if (token == NULL)
        return sim_missing(profile, &profile->token, error);
    const char *identity = sim_credential(credentials, &profile->identity);
    char account[BROKER_ACCOUNT_ID_MAX];
    snprintf(account, sizeof account, "%s", identity ? identity : key);
    uint64_t token_hash = sim_hash(token) * 1099511628211ull ^ sim_hash(account);
    if (sim_session_new(instance, account, sim_classify_token(token), token_hash, session) !=
        BROKER_OK) {
        snprintf(error->text, sizeof error->text, "out of memory opening a session");
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
        return BROKER_INTERNAL;
    }
    if (account_id != NULL)
        snprintf(account_id->text, sizeof account_id->text, "%s", account);
    return BROKER_OK;
}

void sim_close_session(broker_instance *instance, broker_session *session)
{
    if (instance == NULL || session == NULL)
        return;
    pthread_mutex_lock(&instance->lock);
    if (session->prev != NULL)
        session->prev->next = session->next;
    else
        instance->sessions = session->next;
    if (session->next != NULL)
        session->next->prev = session->prev;
    pthread_mutex_unlock(&instance->lock);
    free(session);
}

broker_status sim_authenticate(broker_instance *instance, broker_session *session)
{
    if (sim_bad_call(instance, session))
        return BROKER_INVALID;
    const sim_wording *wording = &instance->profile->wording;
    broker_status status = BROKER_OK;
    sim_enter(instance, session);
    if (sim_roll(instance, instance->config.transient_failure_rate))
        status = sim_fail(session, BROKER_TRANSIENT, wording->network, NULL);
    else if (session->token == SIM_TOKEN_INVALID)
        status = sim_fail(session, BROKER_AUTH, wording->token_invalid, NULL);
    else if (session->token == SIM_TOKEN_EXPIRED ||
             sim_token_expired_before(instance, session->token_hash))
        status = sim_fail(session, BROKER_AUTH, wording->token_expired, NULL);
    else {
        session->logged_in = true;
        session->expires_ms = sim_next_expiry(instance, sim_now(instance));
    }
    if (status == BROKER_OK)
        session->expired = false;
    sim_leave(instance);
    return status;
}

const char *sim_errmsg(broker_instance *instance, broker_session *session)
{
    (void)instance;
    if (session == NULL)
        return sim_thread_error;
    return session == sim_call_session ? sim_call_error : session->error;
}

/* ---- orders over time ----------------------------------------------------- */

/* Moves a timed order forward to `now`: its remainder expires at end_ms;
 * from start_ms on, one slice of `liquidity` fills per fill_latency_ms at the
 * touch (plus slippage) for a market order, at the touch when it crosses the
 * limit for a limit order; IOC keeps only what filled at once. */
static void sim_advance(broker_instance *instance, sim_order *order, int64_t now)
{
    const sim_config *config = &instance->config;
    if (order == NULL || !order->timed || order->state != BROKER_ORDER_OPEN)
        return;
    if (order->end_ms != 0 && now >= order->end_ms) {
        sim_book_close(&instance->book, order, BROKER_ORDER_CANCELLED);
        return;
    }
    if (now < order->start_ms)
        return;
    int64_t allowed = order->quantity;
    if (config->liquidity > 0) {
        int64_t slices = config->fill_latency_ms > 0 && order->validity != BROKER_VALIDITY_IOC
                             ? (now - order->start_ms) / config->fill_latency_ms
                             : 1;
        allowed = slices * config->liquidity < order->quantity ? slices * config->liquidity
                                                               : order->quantity;
    } else if (config->fill_latency_ms > 0 && order->validity != BROKER_VALIDITY_IOC &&
               now - order->start_ms < config->fill_latency_ms) {
        allowed = 0;
    }
    if (order->fill_cap > 0 && allowed > order->fill_cap)
        allowed = order->fill_cap;
    const char *symbol = sim_book_order_symbol(&instance->book, order);
    double price = sim_touch_price(instance, symbol, (broker_side)order->side);
    bool crosses = order->order_type != BROKER_ORDER_LIMIT ||
                   (order->side == BROKER_SIDE_BUY ? price <= order->limit_price + 1e-9
                                                   : price >= order->limit_price - 1e-9);
    if (crosses && allowed > order->filled)
        sim_book_fill(&instance->book, order, allowed - order->filled, price);
    if (order->filled == order->quantity)
        sim_book_close(&instance->book, order, BROKER_ORDER_FILLED);
    else if (order->fill_cap > 0 && order->filled >= order->fill_cap)
        sim_book_close(&instance->book, order, BROKER_ORDER_CANCELLED); /* the rest expired */
    else if (order->validity == BROKER_VALIDITY_IOC)
        sim_book_close(&instance->book, order, BROKER_ORDER_CANCELLED);
}

/* Moves every open order of the session's account forward. */
static void sim_advance_account(broker_instance *instance, broker_session *session)
{
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    size_t count = 0;
    const uint32_t *pending = sim_book_pending(account, &count);
    int64_t now = sim_now(instance);
    for (size_t i = 0; i < count; i++)
        sim_advance(instance, sim_book_order(&instance->book, pending[i]), now);
    sim_book_settle_pending(&instance->book, account);
}

/* ---- holdings and quotes ------------------------------------------------ */

broker_status sim_get_holdings(broker_instance *instance, broker_session *session,
                               broker_holding_fn emit, void *context)
{
    if (sim_bad_call(instance, session) || emit == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        sim_account *account = sim_book_account_at(&instance->book, session->account);
        sim_advance_account(instance, session);
        for (size_t i = 0; i < account->holding_count; i++) {
            sim_holding *holding = &account->holdings[i];
            sim_book_roll(&instance->book, holding);
            int64_t held = holding->quantity - holding->bought_today + holding->sold_today;
            if (held != 0 && emit(context, holding->symbol, held) != 0)
                break;
        }
    }
    sim_leave(instance);
    return status;
}

/* BROKER_OK when the broker lists `symbol` (unlisted ones too, unless
 * unlisted_symbols = reject), else REJECTED in its wording. */
static broker_status sim_check_symbol(broker_instance *instance, broker_session *session,
                                      const char *symbol)
{
    char instrument[SIM_INSTRUMENT_MAX];
    if (!sim_symbol_valid(symbol)) {
        snprintf(instrument, sizeof instrument, "%.32s", symbol);
        return sim_fail(session, BROKER_REJECTED, instance->profile->wording.invalid_symbol,
                        instrument);
    }
    if (!sim_config_is_unlisted(&instance->config, symbol) &&
        (!instance->config.reject_unlisted || sim_market_instrument(symbol) != NULL))
        return BROKER_OK;
    sim_instrument(instance->profile, symbol, instrument);
    return sim_fail(session, BROKER_REJECTED, instance->profile->wording.invalid_symbol,
                    instrument);
}

broker_status sim_get_quote(broker_instance *instance, broker_session *session, const char *symbol,
                            double *last_price)
{
    if (sim_bad_call(instance, session) || symbol == NULL || last_price == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK)
        status = sim_check_symbol(instance, session, symbol);
    if (status == BROKER_OK)
        *last_price = sim_quote_now(instance, symbol).last;
    sim_leave(instance);
    return status;
}

/* ---- orders ------------------------------------------------------------- */

/* The state the host sees: a cancelled order with fills is PARTIALLY_FILLED. */
static broker_order_state sim_visible_state(const sim_order *order)
{
    if (order->state == BROKER_ORDER_CANCELLED && order->filled > 0)
        return BROKER_ORDER_PARTIALLY_FILLED;
    return (broker_order_state)order->state;
}

/* Fills `out` with what the broker says of order `sequence`. */
static void sim_describe(const broker_instance *instance, uint32_t sequence, broker_order *out)
{
    const sim_order *order = sim_book_order(&instance->book, sequence);
    const sim_wording *wording = &instance->profile->wording;
    const char *symbol = sim_book_order_symbol(&instance->book, order);
    memset(out, 0, sizeof *out);
    sim_order_id(instance->profile, sequence, out->order_id);
    /* Same-sized, NUL-terminated arrays: plain copies (this runs per order read). */
    memcpy(out->client_order_id, order->client_order_id, sizeof out->client_order_id);
    memcpy(out->symbol, symbol, sizeof out->symbol);
    out->side = (broker_side)order->side;
    out->state = sim_visible_state(order);
    out->quantity = order->quantity;
    bool filled = out->state == BROKER_ORDER_FILLED ||
                  out->state == BROKER_ORDER_PARTIALLY_FILLED || order->timed;
    out->filled_quantity = filled ? order->filled : 0;
    out->average_price = out->filled_quantity > 0 ? order->average : 0.0;
    char subject[SIM_INSTRUMENT_MAX];
    if (out->state == BROKER_ORDER_REJECTED || out->state == BROKER_ORDER_CANCELLED) {
        sim_instrument(instance->profile, symbol, subject);
        sim_compose(out->message,
                    out->state == BROKER_ORDER_REJECTED ? wording->rms_rejected
                                                        : wording->cancelled,
                    subject);
    } else if (out->state == BROKER_ORDER_PARTIALLY_FILLED) {
        snprintf(subject, sizeof subject, "%" PRId64 " of %" PRId64 " filled", order->filled,
                 order->quantity);
        sim_compose(out->message,
                    order->timed && order->end_ms != 0 && wording->order_expired
                        ? wording->order_expired
                        : wording->remainder_cancelled,
                    subject);
    }
}

/* Fills the detail of order `sequence` (within detail->size). */
static void sim_describe_detail(const broker_instance *instance, uint32_t sequence,
                                broker_order_detail *detail)
{
    broker_order_detail full;
    memset(&full, 0, sizeof full);
    const sim_order *order = sim_book_order(&instance->book, sequence);
    sim_describe(instance, sequence, &full.order);
    full.exchange = BROKER_EXCHANGE_NSE;
    const sim_instrument_facts *facts =
        sim_market_instrument(sim_book_order_symbol(&instance->book, order));
    if (facts != NULL)
        full.exchange = facts->exchange;
    full.product = (broker_product)order->product;
    full.order_type = (broker_order_type)order->order_type;
    full.validity = (broker_validity)order->validity;
    full.limit_price = order->limit_price;
    bool open = order->state == BROKER_ORDER_OPEN;
    full.pending_quantity = open ? order->quantity - order->filled : 0;
    full.cancelled_quantity =
        order->state == BROKER_ORDER_CANCELLED ? order->quantity - order->filled : 0;
    full.charges = sim_book_charges(&instance->book, order);
    const char *word = instance->profile->wording.state_names[order->state];
    snprintf(full.broker_state, sizeof full.broker_state, "%s", word ? word : "");
    uint32_t size = detail->size < sizeof full ? detail->size : (uint32_t)sizeof full;
    full.size = detail->size;
    memcpy(detail, &full, size);
}

/* Validates a placement; BROKER_OK or REJECTED/UNKNOWN with the wording. */
static broker_status sim_check_request(broker_instance *instance, broker_session *session,
                                       const broker_order_request *request)
{
    const sim_profile *profile = instance->profile;
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    char instrument[SIM_INSTRUMENT_MAX];
    if (request->quantity <= 0 || request->quantity > SIM_QUANTITY_MAX ||
        (request->side != BROKER_SIDE_BUY && request->side != BROKER_SIDE_SELL))
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_quantity, NULL);
    if (memchr(request->symbol, '\0', sizeof request->symbol) == NULL)
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_symbol, NULL);
    broker_status status = sim_check_symbol(instance, session, request->symbol);
    if (status != BROKER_OK)
        return status;
    if (memchr(request->client_order_id, '\0', sizeof request->client_order_id) == NULL ||
        ((request->client_order_id[0] != '\0' || profile->plugin->capabilities.tag_min_length) &&
         !sim_tag_valid(profile, request->client_order_id)))
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_tag, NULL);
    if (profile->wording.duplicate_tag != NULL && request->client_order_id[0] != '\0' &&
        sim_book_find_client(account, request->client_order_id) != SIM_MAP_NONE)
        return sim_fail(session, BROKER_UNKNOWN, profile->wording.duplicate_tag, NULL);
    if (request->side == BROKER_SIDE_SELL &&
        sim_book_available(account, request->symbol) < request->quantity) {
        sim_instrument(profile, request->symbol, instrument);
        return sim_fail(session, BROKER_REJECTED, profile->wording.insufficient_holdings,
                        instrument);
    }
    return BROKER_OK;
}

/* The instrument's rules: tradable, lots, freeze quantity, tick and band. */
static broker_status sim_check_instrument(broker_instance *instance, broker_session *session,
                                          const broker_order_params *params)
{
    const sim_wording *wording = &instance->profile->wording;
    const sim_instrument_facts *facts = sim_market_instrument(params->base.symbol);
    char subject[96];
    if (facts == NULL)
        return BROKER_OK;
    if (!facts->tradable)
        return sim_fail(session, BROKER_REJECTED, wording->not_tradable, facts->symbol);
    if (params->base.quantity % facts->lot_size != 0) {
        snprintf(subject, sizeof subject, "lot size %" PRId64, facts->lot_size);
        return sim_fail(session, BROKER_REJECTED, wording->invalid_quantity, subject);
    }
    if (facts->freeze_quantity > 0 && params->base.quantity > facts->freeze_quantity) {
        snprintf(subject, sizeof subject, "freeze quantity %" PRId64, facts->freeze_quantity);
        return sim_fail(session, BROKER_REJECTED, wording->invalid_quantity, subject);
    }
    if (params->order_type != BROKER_ORDER_LIMIT)
        return BROKER_OK;
    double lower = 0.0, upper = 0.0;
    sim_market_band(facts, &lower, &upper);
    if (params->limit_price <= 0.0 || !sim_market_on_tick(params->limit_price, facts->tick_size)) {
        snprintf(subject, sizeof subject, "%.2f is not a multiple of the tick %.2f",
                 params->limit_price, facts->tick_size);
        return sim_fail(session, BROKER_REJECTED, wording->invalid_price, subject);
    }
    if (upper > 0.0 && (params->limit_price < lower - 1e-9 || params->limit_price > upper + 1e-9)) {
        snprintf(subject, sizeof subject, "%.2f is outside the band %.2f-%.2f", params->limit_price,
                 lower, upper);
        return sim_fail(session, BROKER_REJECTED, wording->invalid_price, subject);
    }
    return BROKER_OK;
}

/* Outside hours: REJECTED in the broker's words, or (amo = on) accepted to
 * start at the next open. Sets *start_ms and *end_ms (0: the order never
 * expires). */
static broker_status sim_check_session(broker_instance *instance, broker_session *session,
                                       int64_t now, int64_t *start_ms, int64_t *end_ms)
{
    int64_t next_open = 0, next_close = 0;
    broker_market_state state =
        sim_market_state(&instance->config.hours, now, &next_open, &next_close);
    *start_ms = state == BROKER_MARKET_OPEN ? now : next_open;
    *end_ms = next_close;
    if (state == BROKER_MARKET_OPEN || instance->config.amo)
        return BROKER_OK;
    char subject[64];
    time_t open_seconds = (time_t)((next_open + SIM_IST_OFFSET_MS) / 1000);
    struct tm open_tm;
    gmtime_r(&open_seconds, &open_tm);
    strftime(subject, sizeof subject, "opens %Y-%m-%d %H:%M IST", &open_tm);
    return sim_fail(session, BROKER_REJECTED, instance->profile->wording.market_closed, subject);
}

/* A BUY needs its value plus charges in cash (initial_cash set): REJECTED
 * naming both amounts otherwise. `price` is what it is expected to pay. */
static broker_status sim_check_funds(broker_instance *instance, broker_session *session,
                                     const broker_order_params *params, double price,
                                     double *required)
{
    double value = price * (double)params->base.quantity;
    *required = value + sim_market_charges(&instance->profile->brokerage, value, params->base.side,
                                           params->product)
                            .total;
    if (!instance->config.cash_limited || params->base.side != BROKER_SIDE_BUY)
        return BROKER_OK;
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    double available = account->cash - account->blocked;
    if (*required <= available + 1e-9)
        return BROKER_OK;
    char subject[96];
    snprintf(subject, sizeof subject, "required Rs %.2f, available Rs %.2f", *required,
             available > 0.0 ? available : 0.0);
    return sim_fail(session, BROKER_REJECTED, instance->profile->wording.insufficient_funds,
                    subject);
}

/* Draws the terminal outcome of an accepted order of `quantity`. */
static broker_order_state sim_decide(broker_instance *instance, int64_t quantity, int64_t *filled)
{
    *filled = 0;
    if (sim_roll(instance, instance->config.reject_rate))
        return BROKER_ORDER_REJECTED;
    if (quantity >= 2 && sim_roll(instance, instance->config.partial_fill_rate)) {
        *filled = 1 + (int64_t)sim_draw(instance, (uint64_t)quantity - 1);
        return BROKER_ORDER_PARTIALLY_FILLED;
    }
    *filled = quantity;
    return BROKER_ORDER_FILLED;
}

/* Every check before an order is recorded; on BROKER_OK, the price it is
 * expected at, the cash it blocks and when it may fill. */
static broker_status sim_admit_order(broker_instance *instance, broker_session *session,
                                     const broker_order_params *params, double *price,
                                     double *required, int64_t *start_ms, int64_t *end_ms)
{
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    if (!sim_book_admit(&instance->book, account,
                        instance->services->monotonic_ms(instance->host))) {
        sim_log_refusal(instance, session, "orders/s");
        return sim_fail(session, BROKER_TRANSIENT, instance->profile->wording.rate_limited, NULL);
    }
    if (!sim_meter(instance, session, SIM_METER_ORDERS_MINUTE, instance->metered.orders_per_minute,
                   60000))
        return sim_rate_limited(instance, session, "orders/min");
    broker_status status = sim_check_request(instance, session, &params->base);
    if (status == BROKER_OK)
        status = sim_check_instrument(instance, session, params);
    if (status == BROKER_OK)
        status = sim_check_session(instance, session, sim_now(instance), start_ms, end_ms);
    if (status != BROKER_OK)
        return status;
    *price = params->order_type == BROKER_ORDER_LIMIT
                 ? params->limit_price
                 : sim_touch_price(instance, params->base.symbol, params->base.side);
    return sim_check_funds(instance, session, params, *price, required);
}

/* Everything place_order does under the lock once the gate passed. */
static broker_status sim_place_locked(broker_instance *instance, broker_session *session,
                                      const broker_order_params *params, uint32_t *placed)
{
    const sim_config *config = &instance->config;
    double price = 0.0, required = 0.0;
    int64_t start_ms = 0, end_ms = 0;
    broker_status status =
        sim_admit_order(instance, session, params, &price, &required, &start_ms, &end_ms);
    if (status != BROKER_OK)
        return status;
    int64_t now = sim_now(instance);
    bool timed = config->fill_latency_ms > 0 || params->order_type == BROKER_ORDER_LIMIT ||
                 params->validity == BROKER_VALIDITY_IOC || start_ms > now;
    int64_t filled = 0, cap = 0;
    broker_order_state outcome =
        timed ? BROKER_ORDER_OPEN : sim_decide(instance, params->base.quantity, &filled);
    if (timed && sim_decide(instance, params->base.quantity, &cap) != BROKER_ORDER_FILLED) {
        /* the faults of an order that fills over time: rejected after
         * acceptance (decided now, told at its first read, as an untimed
         * one), or filling only part before the rest expires */
        if (cap == 0) {
            timed = false;
            outcome = BROKER_ORDER_REJECTED;
        }
    } else {
        cap = 0;
    }
    uint32_t sequence =
        sim_book_record(&instance->book, session->account, &params->base, outcome, filled);
    if (sequence == SIM_MAP_NONE)
        return sim_fail(session, BROKER_INTERNAL, "out of memory recording the order", NULL);
    sim_order *order = sim_book_order(&instance->book, sequence);
    order->timed = timed;
    order->product = (uint8_t)params->product;
    order->order_type = (uint8_t)params->order_type;
    order->validity = (uint8_t)params->validity;
    order->limit_price = params->order_type == BROKER_ORDER_LIMIT ? params->limit_price : 0.0;
    order->average = timed ? 0.0 : price;
    order->filled = timed ? 0 : order->filled;
    order->start_ms = start_ms;
    order->end_ms = config->hours.always || params->validity == BROKER_VALIDITY_IOC ? 0 : end_ms;
    order->fill_cap = timed ? cap : 0;
    if (params->base.side == BROKER_SIDE_BUY) {
        order->blocked = required;
        sim_book_account_at(&instance->book, session->account)->blocked += required;
    }
    if (order->validity == BROKER_VALIDITY_IOC)
        sim_advance(instance, order, now);
    *placed = sequence;
    if (sim_roll(instance, config->unknown_outcome_rate))
        return sim_fail(session, BROKER_UNKNOWN, instance->profile->wording.reply_lost, NULL);
    return BROKER_OK;
}

/* The 1.0 request as 1.1 parameters: NSE, delivery, market, day. */
static broker_order_params sim_params_of(const broker_order_request *request)
{
    broker_order_params params;
    memset(&params, 0, sizeof params);
    params.size = sizeof params;
    params.base = *request;
    return params;
}

/* Reads the fields of `given` within its size; the rest keep the 1.0 defaults. */
static broker_order_params sim_params_copy(const broker_order_params *given)
{
    broker_order_params params;
    memset(&params, 0, sizeof params);
    size_t size = given->size < sizeof params ? given->size : sizeof params;
    memcpy(&params, given, size);
    params.size = sizeof params;
    return params;
}

broker_status sim_place_order(broker_instance *instance, broker_session *session,
                              const broker_order_request *request, broker_order *order)
{
    if (sim_bad_call(instance, session) || request == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    broker_order_params params = sim_params_of(request);
    uint32_t sequence = SIM_MAP_NONE;
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK)
        status = sim_place_locked(instance, session, &params, &sequence);
    if (status == BROKER_OK)
        sim_describe(instance, sequence, order);
    sim_leave(instance);
    return status;
}

broker_status sim_place_order_ex(broker_instance *instance, broker_session *session,
                                 const broker_order_params *params, broker_order_detail *detail)
{
    if (sim_bad_call(instance, session) || params == NULL || detail == NULL ||
        params->size < offsetof(broker_order_params, base) + sizeof params->base)
        return BROKER_INVALID;
    broker_order_params copy = sim_params_copy(params);
    uint32_t sequence = SIM_MAP_NONE;
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK)
        status = sim_place_locked(instance, session, &copy, &sequence);
    if (status == BROKER_OK)
        sim_describe_detail(instance, sequence, detail);
    sim_leave(instance);
    return status;
}

/* The sequence number of the account's order `order_id`, or SIM_MAP_NONE. */
static uint32_t sim_lookup(const broker_instance *instance, const broker_session *session,
                           const char *order_id)
{
    uint32_t sequence = 0;
    if (!sim_parse_order_id(instance->profile, order_id, &sequence))
        return SIM_MAP_NONE;
    const sim_order *order = sim_book_order(&instance->book, sequence);
    if (order == NULL || order->account != session->account)
        return SIM_MAP_NONE;
    return sequence;
}

/* Brings order `sequence` up to date (an untimed one settles at its first
 * read); NOT_FOUND in the broker's words when there is none. */
static broker_status sim_refresh(broker_instance *instance, broker_session *session,
                                 uint32_t sequence, const char *subject)
{
    if (sequence == SIM_MAP_NONE) {
        char shown[BROKER_ORDER_ID_MAX];
        snprintf(shown, sizeof shown, "%.40s", subject);
        return sim_fail(session, BROKER_NOT_FOUND, instance->profile->wording.order_not_found,
                        shown);
    }
    sim_order *order = sim_book_order(&instance->book, sequence);
    sim_advance(instance, order, sim_now(instance));
    sim_book_settle(&instance->book, order);
    return BROKER_OK;
}

/* With the lock held: a metered read of `order_id`, brought up to date;
 * its sequence into *sequence. */
static broker_status sim_read_order(broker_instance *instance, broker_session *session,
                                    const char *order_id, uint32_t *sequence)
{
    broker_status status = sim_gate_read(instance, session);
    *sequence = status == BROKER_OK ? sim_lookup(instance, session, order_id) : 0;
    if (status == BROKER_OK)
        status = sim_refresh(instance, session, *sequence, order_id);
    return status;
}

broker_status sim_get_order(broker_instance *instance, broker_session *session,
                            const char *order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    uint32_t sequence = 0;
    broker_status status = sim_read_order(instance, session, order_id, &sequence);
    if (status == BROKER_OK)
        sim_describe(instance, sequence, order);
    sim_leave(instance);
    return status;
}

broker_status sim_get_order_ex(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order_detail *detail)
{
    if (sim_bad_call(instance, session) || order_id == NULL || detail == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    uint32_t sequence = 0;
    broker_status status = sim_read_order(instance, session, order_id, &sequence);
    if (status == BROKER_OK)
        sim_describe_detail(instance, sequence, detail);
    sim_leave(instance);
    return status;
}

broker_status sim_find_order(broker_instance *instance, broker_session *session,
                             const char *client_order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || client_order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    uint32_t sequence = SIM_MAP_NONE;
    if (status == BROKER_OK && client_order_id[0] != '\0')
        sequence = sim_book_find_client(sim_book_account_at(&instance->book, session->account),
                                        client_order_id);
    if (status == BROKER_OK)
        status = sim_refresh(instance, session, sequence, client_order_id);
    if (status == BROKER_OK)
        sim_describe(instance, sequence, order);
    sim_leave(instance);
    return status;
}

broker_status sim_cancel_order(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    uint32_t sequence =
        status == BROKER_OK ? sim_lookup(instance, session, order_id) : SIM_MAP_NONE;
    if (status == BROKER_OK && !sim_meter(instance, session, SIM_METER_ORDERS_MINUTE,
                                          instance->metered.orders_per_minute, 60000))
        status = sim_rate_limited(instance, session, "orders/min");
    if (status == BROKER_OK && sequence == SIM_MAP_NONE)
        status = sim_refresh(instance, session, sequence, order_id);
    if (status == BROKER_OK) {
        sim_order *open = sim_book_order(&instance->book, sequence);
        sim_advance(instance, open, sim_now(instance));
        bool cancelled = sim_book_cancel(&instance->book, open);
        sim_describe(instance, sequence, order);
        if (!cancelled)
            status = sim_fail(session, BROKER_REJECTED, instance->profile->wording.not_cancellable,
                              order_id);
    }
    sim_leave(instance);
    return status;
}

/* ---- ABI 1.1 reads ---------------------------------------------------------- */

/* Settled, T1 and today's trades as the real broker splits them under
 * settlement = t1; otherwise every fill is settled at once. */
broker_status sim_get_positions(broker_instance *instance, broker_session *session,
                                broker_position_fn emit, void *context)
{
    if (sim_bad_call(instance, session) || emit == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        sim_account *account = sim_book_account_at(&instance->book, session->account);
        sim_advance_account(instance, session);
        for (size_t i = 0; i < account->holding_count; i++) {
            sim_holding *holding = &account->holdings[i];
            sim_book_roll(&instance->book, holding);
            broker_position position;
            memset(&position, 0, sizeof position);
            position.size = sizeof position;
            memcpy(position.symbol, holding->symbol, sizeof position.symbol);
            const sim_instrument_facts *facts = sim_market_instrument(holding->symbol);
            position.exchange = facts ? facts->exchange : BROKER_EXCHANGE_NSE;
            position.settled = sim_holding_settled(holding);
            position.t1 = holding->t1;
            position.bought_today = holding->bought_today;
            position.sold_today = holding->sold_today;
            bool any =
                holding->quantity != 0 || holding->bought_today != 0 || holding->sold_today != 0;
            if (any && emit(context, &position) != 0)
                break;
        }
    }
    sim_leave(instance);
    return status;
}

broker_status sim_get_open_orders(broker_instance *instance, broker_session *session,
                                  broker_open_order_fn emit, void *context)
{
    if (sim_bad_call(instance, session) || emit == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        sim_account *account = sim_book_account_at(&instance->book, session->account);
        sim_advance_account(instance, session);
        size_t count = 0;
        const uint32_t *pending = sim_book_pending(account, &count);
        for (size_t i = 0; i < count; i++) {
            const sim_order *order = sim_book_order(&instance->book, pending[i]);
            if (order == NULL || order->state != BROKER_ORDER_OPEN)
                continue;
            broker_open_order open;
            memset(&open, 0, sizeof open);
            open.size = sizeof open;
            sim_order_id(instance->profile, pending[i], open.order_id);
            memcpy(open.client_order_id, order->client_order_id, sizeof open.client_order_id);
            memcpy(open.symbol, sim_book_order_symbol(&instance->book, order), sizeof open.symbol);
            open.side = (broker_side)order->side;
            open.quantity = order->quantity;
            open.pending_quantity = order->quantity - order->filled;
            if (emit(context, &open) != 0)
                break;
        }
    }
    sim_leave(instance);
    return status;
}

broker_status sim_get_funds(broker_instance *instance, broker_session *session, broker_funds *funds)
{
    if (sim_bad_call(instance, session) || funds == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        sim_advance_account(instance, session);
        const sim_account *account = sim_book_account_at(&instance->book, session->account);
        broker_funds full = {
            .size = funds->size,
            .available_cash =
                instance->config.cash_limited ? account->cash - account->blocked : 1e15,
            .margin_used = account->blocked,
            .opening_balance = instance->config.cash_limited ? account->opening_cash : 1e15};
        memcpy(funds, &full, funds->size < sizeof full ? funds->size : sizeof full);
    }
    sim_leave(instance);
    return status;
}

broker_status sim_get_instrument(broker_instance *instance, broker_session *session,
                                 const char *symbol, broker_instrument *instrument)
{
    if (sim_bad_call(instance, session) || symbol == NULL || instrument == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        broker_instrument full;
        memset(&full, 0, sizeof full);
        full.size = instrument->size;
        snprintf(full.symbol, sizeof full.symbol, "%.32s", symbol);
        const sim_instrument_facts *facts = sim_market_instrument(symbol);
        bool accepted = sim_check_symbol(instance, session, symbol) == BROKER_OK;
        full.listed = facts != NULL || accepted;
        full.tradable = accepted && (facts == NULL || facts->tradable);
        full.exchange = facts ? facts->exchange : BROKER_EXCHANGE_NSE;
        full.lot_size = facts ? facts->lot_size : 1;
        full.tick_size = sim_tick_of(facts);
        full.freeze_quantity = facts ? facts->freeze_quantity : 0;
        if (facts != NULL)
            sim_market_band(facts, &full.lower_band, &full.upper_band);
        full.last_price = accepted ? sim_quote_now(instance, symbol).last : 0.0;
        if (!accepted)
            snprintf(full.reason, sizeof full.reason, "%s", session->error);
        else if (!full.tradable)
            sim_compose(full.reason, instance->profile->wording.not_tradable, symbol);
        session->error[0] = '\0';
        memcpy(instrument, &full, instrument->size < sizeof full ? instrument->size : sizeof full);
    }
    sim_leave(instance);
    return status;
}

broker_status sim_get_market_session(broker_instance *instance, broker_session *session,
                                     broker_exchange exchange, broker_market_session *market)
{
    (void)exchange; /* one calendar for every segment */
    if (sim_bad_call(instance, session) || market == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate_read(instance, session);
    if (status == BROKER_OK) {
        broker_market_session full;
        memset(&full, 0, sizeof full);
        full.size = market->size;
        full.now_ms = sim_now(instance);
        full.state = sim_market_state(&instance->config.hours, full.now_ms, &full.next_open_ms,
                                      &full.next_close_ms);
        full.amo_accepted = full.state != BROKER_MARKET_OPEN && instance->config.amo;
        full.token_expires_ms = session->expires_ms;
        if (full.state == BROKER_MARKET_CLOSED)
            sim_compose(full.reason, instance->profile->wording.market_closed, NULL);
        memcpy(market, &full, market->size < sizeof full ? market->size : sizeof full);
    }
    sim_leave(instance);
    return status;
}

broker_status sim_get_rate_limits(broker_instance *instance, broker_rate_limits *limits)
{
    if (instance == NULL || limits == NULL)
        return BROKER_INVALID;
    if (BROKER_FITS(limits, broker_rate_limits, orders_per_second))
        limits->orders_per_second = instance->config.rate_limit_per_second;
    if (BROKER_FITS(limits, broker_rate_limits, orders_per_minute))
        limits->orders_per_minute = instance->metered.orders_per_minute;
    if (BROKER_FITS(limits, broker_rate_limits, reads_per_second))
        limits->reads_per_second = instance->metered.reads_per_second;
    if (BROKER_FITS(limits, broker_rate_limits, reads_per_minute))
        limits->reads_per_minute = instance->metered.reads_per_minute;
    return BROKER_OK;
}

uint32_t sim_retry_after_ms(broker_instance *instance, broker_session *session)
{
    (void)instance;
    if (session == NULL)
        return 0;
    return session == sim_call_session ? sim_call_retry_after : session->retry_after;
}
