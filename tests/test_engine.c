/* Check suite for host/engine.c, end to end against the real simulated
 * plugins loaded by the real registry from an ini written by tu_write_ini. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "metrics.h"
#include "registry.h"
#include "retry.h"
#include "testutil.h"

static const char *const brokers[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
#define BROKER_COUNT (sizeof brokers / sizeof brokers[0])

/* ---- fixture ------------------------------------------------------------ */

typedef struct env {
    char *dir;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
} env;

/* Loads the ini at e->ini and builds the engine over it. */
static void env_load(env *e, size_t broker_count)
{
    ptx_error error;
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    ck_assert_uint_eq(registry_count(e->reg), broker_count);
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
}

/* The five simulated brokers, each with `broker_extra` in its section. */
static void env_open(env *e, const char *broker_extra)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_write_ini(e->dir, broker_extra, NULL);
    env_load(e, BROKER_COUNT);
}

/* One broker section of our own, `section` being its body. */
static void env_open_one(env *e, const char *broker, const char *section)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_format("%s/brokers.ini", e->dir);
    char *text = tu_format("[host]\nplugin_dir = %s/plugins\n\n[broker.%s]\nplugin = %s.so\n%s",
                           tu_build_dir(), broker, broker, section);
    tu_write_file(e->ini, text);
    free(text);
    env_load(e, 1);
}

static void env_close(env *e)
{
    engine_destroy(e->eng);
    registry_free(e->reg);
    config_free(&e->cfg);
    unlink(e->ini);
    rmdir(e->dir);
    free(e->ini);
    free(e->dir);
}

/* A request with its own storage. */
typedef struct test_request {
    exec_request request;
    broker_credential credentials[2];
    exec_target targets[16];
} test_request;

/* `targets` is "SYMBOL:QTY,…" in request order ("" for none). */
static exec_request *make_request(test_request *t, const char *broker, const char *api_key,
                                  const char *token, const char *targets)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "%s", broker);
    t->credentials[0] = (broker_credential){"api_key", api_key};
    t->credentials[1] = (broker_credential){"access_token", token};
    t->request.credentials = t->credentials;
    t->request.credential_count = 2;
    char *copy = strdup(targets);
    size_t count = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        ck_assert_ptr_nonnull(colon);
        *colon = '\0';
        snprintf(t->targets[count].symbol, sizeof t->targets[count].symbol, "%s", item);
        t->targets[count++].target_quantity = strtoll(colon + 1, NULL, 10);
    }
    free(copy);
    t->request.targets = t->targets;
    t->request.target_count = count;
    return &t->request;
}

/* Reads an account's holdings through the engine, retrying injected faults. */
static holdings *read_holdings(env *e, const char *broker, const char *api_key)
{
    test_request t;
    exec_request *request = make_request(&t, broker, api_key, "demo", "");
    for (int attempt = 0; attempt < 50; attempt++) {
        holdings *map = NULL;
        ptx_error error;
        if (engine_holdings(e->eng, request, &map, &error) == PTX_OK)
            return map;
        ck_assert_msg(error.status == PTX_UNAVAILABLE || error.status == PTX_AUTH, "%s",
                      error.message);
    }
    ck_abort_msg("holdings of %s could not be read", broker);
    return NULL;
}

static const exec_leg *find_leg(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->leg_count; i++)
        if (strcmp(result->legs[i].symbol, symbol) == 0)
            return &result->legs[i];
    return NULL;
}

static bool is_alnum_text(const char *text)
{
    if (*text == '\0')
        return false;
    for (; *text; text++)
        if (!((*text >= '0' && *text <= '9') || (*text >= 'A' && *text <= 'Z') ||
              (*text >= 'a' && *text <= 'z')))
            return false;
    return true;
}

/* A session of our own on the plugin, for asking the broker directly. */
typedef struct direct {
    registry_broker *broker;
    const broker_plugin *plugin;
    broker_instance *instance;
    broker_session *session;
} direct;

static broker_status direct_login(direct *d)
{
    broker_status status = BROKER_TRANSIENT;
    for (int i = 0; i < 100 && status == BROKER_TRANSIENT; i++) {
        registry_broker_enter(d->broker);
        status = d->plugin->authenticate(d->instance, d->session);
        registry_broker_leave(d->broker);
    }
    return status;
}

static void direct_open(direct *d, env *e, const char *broker, const char *api_key)
{
    d->broker = registry_find(e->reg, broker);
    ck_assert_ptr_nonnull(d->broker);
    d->plugin = registry_broker_plugin(d->broker);
    d->instance = registry_broker_instance(d->broker);
    broker_credential items[2] = {{"api_key", api_key}, {"access_token", "demo"}};
    broker_credentials credentials = {2, items};
    broker_text account_id, error;
    registry_broker_enter(d->broker);
    broker_status status =
        d->plugin->open_session(d->instance, &credentials, &d->session, &account_id, &error);
    registry_broker_leave(d->broker);
    ck_assert_int_eq(status, BROKER_OK);
    ck_assert_int_eq(direct_login(d), BROKER_OK);
}

/* find_order by client order id, riding out injected faults. */
static broker_status direct_find(direct *d, const char *client_order_id, broker_order *order)
{
    for (int i = 0; i < 200; i++) {
        registry_broker_enter(d->broker);
        broker_status status =
            d->plugin->find_order(d->instance, d->session, client_order_id, order);
        registry_broker_leave(d->broker);
        if (status == BROKER_AUTH)
            ck_assert_int_eq(direct_login(d), BROKER_OK);
        else if (status != BROKER_TRANSIENT)
            return status;
    }
    ck_abort_msg("find_order %s kept failing", client_order_id);
    return BROKER_INTERNAL;
}

static void direct_close(direct *d)
{
    registry_broker_enter(d->broker);
    d->plugin->close_session(d->instance, d->session);
    registry_broker_leave(d->broker);
}

static const char *const no_faults =
    "transient_failure_rate = 0\nunknown_outcome_rate = 0\nreject_rate = 0\n"
    "partial_fill_rate = 0\nauth_expiry_rate = 0\n";

/* Asserts that `text` holds `line` as a whole line. */
static void assert_metric(const char *text, const char *line)
{
    size_t length = strlen(line);
    for (const char *at = strstr(text, line); at; at = strstr(at + 1, line))
        if ((at == text || at[-1] == '\n') && at[length] == '\n')
            return;
    ck_abort_msg("line '%s' not found in:\n%s", line, text);
}

/* Counts one real execution of `targets` into `stats`; returns its retries
 * (none when its login was refused). */
static exec_retries count_execution(env *e, metrics *stats, const char *api_key,
                                    const char *targets)
{
    test_request t;
    exec_request *request = make_request(&t, "fyers", api_key, "demo", targets);
    exec_result result;
    ptx_error error;
    metrics_execution_begin(stats);
    ptx_status status = engine_execute(e->eng, request, NULL, &result, &error);
    ck_assert_msg(status == PTX_OK || status == PTX_AUTH, "%s", error.message);
    metrics_execution_end(stats, "fyers", status, &result);
    exec_retries retries = status == PTX_OK ? result.retries : (exec_retries){0};
    exec_result_free(&result);
    return retries;
}

/* The retry counters of /metrics come from what executions really did: a
 * first login is not a re-authentication; an expiry mid-run is. */
START_TEST(test_metrics_from_real_executions)
{
    static const char *const names[] = {"fyers"};
    env e;
    env_open(&e, no_faults);
    metrics *stats = metrics_create(names, 1);
    exec_retries quiet = count_execution(&e, stats, "calm", "RELIANCE:20,TCS:0");
    ck_assert_uint_eq(quiet.reauthentications, 0);
    ck_assert_uint_eq(quiet.transient, 0);
    char *text = metrics_render(stats, NULL);
    assert_metric(text, "ptexec_retries_total{broker=\"fyers\",class=\"reauthentication\"} 0");
    assert_metric(text, "ptexec_executions_total{broker=\"fyers\",status=\"COMPLETED\"} 1");
    free(text);
    env_close(&e);

    env_open(&e, "seed = 3\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n"
                 "reject_rate = 0\nauth_expiry_rate = 0.3\n");
    size_t reauthentications = 0;
    for (int n = 0; n < 20; n++)
        reauthentications += count_execution(&e, stats, "expiring",
                                             n % 2 ? "RELIANCE:10,TCS:5" : "RELIANCE:20,TCS:0")
                                 .reauthentications;
    ck_assert_uint_gt(reauthentications, 0);
    text = metrics_render(stats, NULL);
    char *line = tu_format("ptexec_retries_total{broker=\"fyers\",class=\"reauthentication\"} %zu",
                           reauthentications);
    assert_metric(text, line);
    free(line);
    free(text);
    metrics_free(stats);
    env_close(&e);
}
END_TEST

/* ---- the seed's example, dry run, refusals ------------------------------ */

START_TEST(test_seed_example)
{
    const char *broker = brokers[_i];
    env e;
    env_open(&e, no_faults);
    test_request t;
    exec_request *request = make_request(&t, broker, "demo", "demo", "RELIANCE:20,TCS:0");
    exec_result result;
    ptx_error error;
    ck_assert_msg(engine_execute(e.eng, request, NULL, &result, &error) == PTX_OK, "%s",
                  error.message);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    ck_assert_str_eq(result.broker, broker);
    ck_assert(strncmp(result.execution_id, "ex-", 3) == 0);
    ck_assert_uint_eq(strlen(result.account_hash), 16);
    ck_assert_uint_eq(result.leg_count, 2);

    const exec_leg *buy = &result.legs[0], *sell = &result.legs[1];
    ck_assert_str_eq(buy->symbol, "RELIANCE");
    ck_assert_int_eq(buy->side, BROKER_SIDE_BUY);
    ck_assert_int_eq(buy->quantity, 10);
    ck_assert_uint_eq(buy->sequence, 2);
    ck_assert_int_eq(buy->status, LEG_FILLED);
    ck_assert_int_eq(buy->filled_quantity, 10);
    ck_assert_str_eq(buy->reason, "");
    ck_assert_str_eq(sell->symbol, "TCS");
    ck_assert_int_eq(sell->side, BROKER_SIDE_SELL);
    ck_assert_int_eq(sell->quantity, 5);
    ck_assert_uint_eq(sell->sequence, 1);
    ck_assert_int_eq(sell->status, LEG_FILLED);
    ck_assert_int_eq(sell->filled_quantity, 5);

    const broker_capabilities *caps =
        &registry_broker_plugin(registry_find(e.reg, broker))->capabilities;
    for (size_t i = 0; i < 2; i++) {
        const exec_leg *leg = &result.legs[i];
        ck_assert_msg(is_alnum_text(leg->client_order_id), "'%s'", leg->client_order_id);
        size_t length = strlen(leg->client_order_id);
        ck_assert_uint_ge(length, caps->tag_min_length);
        if (caps->tag_max_length)
            ck_assert_uint_le(length, caps->tag_max_length);
        ck_assert_str_ne(leg->order_id, "");
        ck_assert_uint_eq(leg->attempts, 1);
        ck_assert(leg->average_price > 0);
    }
    ck_assert_str_ne(buy->client_order_id, sell->client_order_id);

    ck_assert(result.reconciled);
    ck_assert_uint_eq(result.position_count, 2);
    ck_assert_str_eq(result.positions[0].symbol, "RELIANCE");
    ck_assert_int_eq(result.positions[0].before, 10);
    ck_assert_int_eq(result.positions[0].after, 20);
    ck_assert_int_eq(result.positions[0].residual, 0);
    ck_assert_str_eq(result.positions[1].symbol, "TCS");
    ck_assert_int_eq(result.positions[1].before, 5);
    ck_assert_int_eq(result.positions[1].after, 0);
    ck_assert_uint_eq(result.summary.orders, 2);
    ck_assert_uint_eq(result.summary.filled, 2);
    ck_assert_uint_eq(result.summary.failed, 0);
    ck_assert(result.finished_ms >= result.started_ms && result.started_ms > 0);

    holdings *after = read_holdings(&e, broker, "demo");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 20);
    ck_assert_int_eq(holdings_get(after, "TCS"), 0);
    ck_assert_int_eq(holdings_get(after, "INFY"), 8); /* untargeted: untouched */
    holdings_free(after);

    /* Running the same target again has nothing to do. */
    exec_result again;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &again, &error), PTX_OK);
    ck_assert_int_eq(again.status, EXEC_NOOP);
    ck_assert_uint_eq(again.leg_count, 0);
    ck_assert_str_ne(again.execution_id, result.execution_id);
    exec_result_free(&again);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

START_TEST(test_dry_run_places_nothing)
{
    env e;
    env_open(&e, no_faults);
    test_request t;
    exec_request *request = make_request(&t, "fyers", "dry", "demo", "RELIANCE:20,TCS:0,INFY:8");
    request->dry_run = true;
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
    ck_assert_int_eq(result.status, EXEC_PLANNED);
    ck_assert_uint_eq(result.leg_count, 2);
    for (size_t i = 0; i < result.leg_count; i++) {
        ck_assert_int_eq(result.legs[i].status, LEG_PLANNED);
        ck_assert_uint_eq(result.legs[i].attempts, 0);
        ck_assert_str_eq(result.legs[i].order_id, "");
    }
    ck_assert_uint_eq(find_leg(&result, "TCS")->sequence, 1);
    ck_assert_uint_eq(find_leg(&result, "RELIANCE")->sequence, 2);
    ck_assert_uint_eq(result.position_count, 3);
    ck_assert_int_eq(result.positions[0].residual, 10);
    exec_result_free(&result);

    holdings *after = read_holdings(&e, "fyers", "dry");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 10);
    ck_assert_int_eq(holdings_get(after, "TCS"), 5);
    ck_assert_int_eq(holdings_get(after, "INFY"), 8);
    holdings_free(after);
    env_close(&e);
}
END_TEST

START_TEST(test_bad_token_is_auth_error)
{
    env e;
    env_open(&e, no_faults);
    test_request t;
    exec_request *request =
        make_request(&t, "zerodha", "victim", "invalid-token", "RELIANCE:20,TCS:0");
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_AUTH);
    ck_assert_int_eq(error.status, PTX_AUTH);
    ck_assert_ptr_null(result.legs);
    ck_assert_ptr_null(strstr(error.message, "invalid-token"));
    ck_assert_ptr_null(strstr(error.message, "victim"));
    holdings *after = read_holdings(&e, "zerodha", "victim");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 10);
    ck_assert_int_eq(holdings_get(after, "TCS"), 5);
    holdings_free(after);
    env_close(&e);
}
END_TEST

START_TEST(test_unknown_broker_and_bad_credentials)
{
    env e;
    env_open(&e, no_faults);
    test_request t;
    exec_result result;
    ptx_error error;
    exec_request *request = make_request(&t, "nope", "demo", "demo", "RELIANCE:20");
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_NOT_FOUND);
    ck_assert_str_eq(error.field, "broker");
    ck_assert_ptr_nonnull(strstr(error.message, "unknown broker 'nope'"));
    ck_assert_ptr_nonnull(strstr(error.message, "zerodha"));
    ck_assert_ptr_nonnull(strstr(error.message, "upstox"));

    request = make_request(&t, "groww", "demo", "demo", "RELIANCE:20");
    request->credential_count = 0;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_INVALID);
    ck_assert_str_eq(error.field, "credentials");
    ck_assert_str_ne(error.message, "");

    request = make_request(&t, "groww", "demo", "demo", "RELIANCE:20,TCS:1,RELIANCE:3");
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_INVALID);
    ck_assert_str_eq(error.field, "target_portfolio[2].symbol");
    holdings *after = read_holdings(&e, "groww", "demo");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 10);
    holdings_free(after);
    env_close(&e);
}
END_TEST

/* ---- invariants under injected faults ---------------------------------- */

static const char *const fault_symbols[] = {"RELIANCE", "TCS", "INFY", "HDFCBANK", "ITC", "SBIN"};
#define FAULT_SYMBOL_COUNT (sizeof fault_symbols / sizeof fault_symbols[0])

typedef struct fault_stats {
    size_t executions, refused, legs, filled, failed, rejected, partial, auth_stopped;
    size_t retried;              /* legs that needed more than one place_order */
    size_t unknown_orders_found; /* FAILED legs that nonetheless exist at the broker */
} fault_stats;

/* A random target over a handful of symbols, with a reproducible generator. */
static exec_request *random_request(test_request *t, const char *broker, const char *api_key,
                                    unsigned *seed)
{
    char text[256] = "";
    size_t used = 0;
    unsigned mask = 0;
    size_t count = 1 + (size_t)rand_r(seed) % 4;
    for (size_t i = 0; i < count; i++) {
        unsigned pick = (unsigned)rand_r(seed) % FAULT_SYMBOL_COUNT;
        if (mask & (1u << pick))
            continue;
        mask |= 1u << pick;
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%s:%d", used ? "," : "",
                                 fault_symbols[pick], rand_r(seed) % 25);
    }
    return make_request(t, broker, api_key, "demo", text);
}

/* Holds the invariants of one finished execution; `seen_ids` collects every
 * client order id and broker order id across executions. */
static void check_execution(env *e, const char *api_key, const exec_request *request,
                            const exec_result *result, const holdings *before,
                            const holdings *after, holdings *seen_ids, fault_stats *stats)
{
    direct d;
    direct_open(&d, e, result->broker, api_key);
    holdings *expected = holdings_create(16);
    holdings_each(before, holdings_collect, expected);
    bool auth_stop_seen = false;
    for (size_t k = 0; k < result->leg_count; k++) {
        const exec_leg *leg = NULL;
        for (size_t i = 0; i < result->leg_count; i++)
            if (result->legs[i].sequence == k + 1)
                leg = &result->legs[i];
        ck_assert_msg(leg != NULL, "no leg with sequence %zu", k + 1);
        stats->legs++;
        stats->retried += leg->attempts > 1;
        if (leg->status != LEG_FILLED)
            ck_assert_msg(leg->reason[0] != '\0', "%s leg %s %s without a reason", result->broker,
                          leg->symbol, leg_status_name(leg->status));
        bool auth_stop = strstr(leg->reason, "not placed: broker authentication failed") != NULL;
        ck_assert_msg(!auth_stop_seen || leg->status == LEG_FAILED,
                      "a leg was placed after authentication failed: %s", leg->reason);
        auth_stop_seen |= auth_stop;
        stats->auth_stopped += auth_stop;
        ck_assert_int_ne(leg->status, LEG_PLANNED);
        ck_assert(is_alnum_text(leg->client_order_id));
        ck_assert_msg(!holdings_contains(seen_ids, leg->client_order_id),
                      "client order id %s used twice", leg->client_order_id);
        holdings_set(seen_ids, leg->client_order_id, 1);

        /* What the broker says of this client order id. */
        broker_order order;
        broker_status found = direct_find(&d, leg->client_order_id, &order);
        int64_t broker_filled = 0;
        if (found == BROKER_OK) {
            ck_assert_msg(order.state != BROKER_ORDER_OPEN, "order %s left open", order.order_id);
            ck_assert_int_eq(order.quantity, leg->quantity);
            ck_assert_str_eq(order.symbol, leg->symbol);
            broker_filled = order.filled_quantity;
            ck_assert_msg(!holdings_contains(seen_ids, order.order_id),
                          "broker order %s counted twice", order.order_id);
            holdings_set(seen_ids, order.order_id, 1);
            if (leg->order_id[0] != '\0')
                ck_assert_str_eq(leg->order_id, order.order_id);
        } else {
            ck_assert_int_eq(found, BROKER_NOT_FOUND);
            ck_assert_msg(leg->status == LEG_FAILED || leg->status == LEG_REJECTED,
                          "%s leg with no order at the broker", leg_status_name(leg->status));
        }
        if (leg->status == LEG_FAILED) {
            stats->failed++;
            stats->unknown_orders_found += found == BROKER_OK;
        } else {
            ck_assert_msg(leg->filled_quantity == broker_filled,
                          "%s: engine reports %lld filled, broker %lld", leg->symbol,
                          (long long)leg->filled_quantity, (long long)broker_filled);
        }
        stats->filled += leg->status == LEG_FILLED;
        stats->rejected += leg->status == LEG_REJECTED;
        stats->partial += leg->status == LEG_PARTIALLY_FILLED;
        if (leg->status == LEG_FILLED)
            ck_assert_int_eq(leg->filled_quantity, leg->quantity);
        holdings_add(expected, leg->symbol,
                     leg->side == BROKER_SIDE_BUY ? broker_filled : -broker_filled);
        if (leg->status == LEG_FILLED && result->reconciled)
            ck_assert_int_eq(result->positions[leg->target_index].after,
                             request->targets[leg->target_index].target_quantity);
    }
    /* holdings after = before + Σ signed fills, for every symbol. */
    for (size_t i = 0; i < FAULT_SYMBOL_COUNT; i++)
        ck_assert_msg(holdings_get(after, fault_symbols[i]) ==
                          holdings_get(expected, fault_symbols[i]),
                      "%s %s: after %lld, expected %lld", result->broker, fault_symbols[i],
                      (long long)holdings_get(after, fault_symbols[i]),
                      (long long)holdings_get(expected, fault_symbols[i]));
    if (result->reconciled)
        for (size_t i = 0; i < result->position_count; i++)
            ck_assert_int_eq(result->positions[i].after,
                             holdings_get(after, result->positions[i].symbol));
    holdings_free(expected);
    direct_close(&d);
}

/* Runs `count` random executions on `broker` and checks each. */
static void run_fault_executions(env *e, const char *broker, size_t count, unsigned seed,
                                 fault_stats *stats)
{
    holdings *seen_ids = holdings_create(count * 8);
    for (size_t n = 0; n < count; n++) {
        char api_key[32];
        snprintf(api_key, sizeof api_key, "acct%u", (unsigned)(n % 3));
        test_request t;
        exec_request *request = random_request(&t, broker, api_key, &seed);
        holdings *before = read_holdings(e, broker, api_key);
        exec_result result;
        ptx_error error;
        ptx_status status = engine_execute(e->eng, request, NULL, &result, &error);
        holdings *after = read_holdings(e, broker, api_key);
        stats->executions++;
        if (status == PTX_OK) {
            check_execution(e, api_key, request, &result, before, after, seen_ids, stats);
        } else {
            ck_assert_msg(status == PTX_AUTH || status == PTX_UNAVAILABLE, "%s: %s",
                          ptx_strerror(status), error.message);
            stats->refused++;
            for (size_t i = 0; i < FAULT_SYMBOL_COUNT; i++)
                ck_assert_int_eq(holdings_get(after, fault_symbols[i]),
                                 holdings_get(before, fault_symbols[i]));
        }
        exec_result_free(&result);
        holdings_free(before);
        holdings_free(after);
    }
    holdings_free(seen_ids);
}

/* 5 × 200 = 1,000 seeded executions: transient 20%, unknown 10%, reject 5%,
 * auth expiry 2%. */
START_TEST(test_fault_invariants)
{
    const char *broker = brokers[_i];
    char extra[512];
    snprintf(extra, sizeof extra,
             "seed = %d\ntransient_failure_rate = 0.20\nunknown_outcome_rate = 0.10\n"
             "reject_rate = 0.05\nauth_expiry_rate = 0.02\npartial_fill_rate = 0\n"
             "max_in_flight = 1\n", /* legs in sequence: the invariants read time from it */
             1000 + _i);
    env e;
    env_open(&e, extra);
    fault_stats stats = {0};
    run_fault_executions(&e, broker, 200, 77u + (unsigned)_i, &stats);
    ck_assert_uint_lt(stats.refused, stats.executions / 2); /* most executions ran */
    /* The faults really happened, and most legs still filled. */
    ck_assert_uint_gt(stats.rejected, 0);
    ck_assert_uint_gt(stats.retried, 0);
    ck_assert_uint_gt(stats.filled, stats.legs / 2);
    fprintf(stderr,
            "%s: %zu executions (%zu refused), %zu legs (%zu retried): %zu filled, %zu rejected, "
            "%zu failed (%zu after auth failure, %zu unknown but present)\n",
            broker, stats.executions, stats.refused, stats.legs, stats.retried, stats.filled,
            stats.rejected, stats.failed, stats.auth_stopped, stats.unknown_orders_found);
    env_close(&e);
}
END_TEST

/* The same invariants with the market on (issue 11): orders that fill in
 * slices over later reads, spread and slippage, cash with the delivery
 * charges and T+1 settlement, across the five brokers. 5 × 60 executions.
 * (Concurrency and rate limits: test_engine_parallel.c, test_limiter.c.) */
START_TEST(test_fault_invariants_with_the_market_on)
{
    const char *broker = brokers[_i];
    char extra[768];
    snprintf(extra, sizeof extra,
             "seed = %d\ntransient_failure_rate = 0.10\nunknown_outcome_rate = 0.05\n"
             "reject_rate = 0.05\nauth_expiry_rate = 0.01\npartial_fill_rate = 0\n"
             "max_in_flight = 1\n" /* legs in sequence: the invariants read time from it */
             "initial_cash = 100000000\nsettlement = t1\nfill_latency_ms = 3\nliquidity = 7\n"
             "spread_bps = 5\nslippage_bps = 2\norder_timeout_ms = 20000\n",
             2000 + _i);
    env e;
    env_open(&e, extra);
    fault_stats stats = {0};
    run_fault_executions(&e, broker, 60, 177u + (unsigned)_i, &stats);
    ck_assert_uint_lt(stats.refused, stats.executions / 2);
    ck_assert_uint_gt(stats.filled, stats.legs / 2);
    ck_assert_uint_gt(stats.retried + stats.rejected, 0);
    env_close(&e);
}
END_TEST

/* Partial fills: the leg says how much filled and why the rest did not. */
START_TEST(test_partial_fills)
{
    env e;
    env_open(&e, "seed = 5\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n"
                 "reject_rate = 0\nauth_expiry_rate = 0\npartial_fill_rate = 0.5\n");
    fault_stats stats = {0};
    run_fault_executions(&e, "upstox", 60, 5u, &stats);
    ck_assert_uint_gt(stats.partial, 0);
    exec_result result;
    ptx_error error;
    bool saw_partial = false;
    for (int i = 0; i < 20 && !saw_partial; i++) { /* a new account each time: one leg */
        test_request t;
        char account[32];
        snprintf(account, sizeof account, "partial%d", i);
        exec_request *request = make_request(&t, "upstox", account, "demo", "RELIANCE:1000");
        ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
        if (result.leg_count == 1 && result.legs[0].status == LEG_PARTIALLY_FILLED) {
            saw_partial = true;
            ck_assert_int_eq(result.status, EXEC_PARTIAL);
            ck_assert_ptr_nonnull(strstr(result.legs[0].reason, "filled "));
            ck_assert_ptr_nonnull(strstr(result.legs[0].reason, "remainder"));
            ck_assert_int_gt(result.legs[0].filled_quantity, 0);
            ck_assert_int_lt(result.legs[0].filled_quantity, result.legs[0].quantity);
            ck_assert_int_eq(result.positions[0].residual,
                             result.legs[0].quantity - result.legs[0].filled_quantity);
            ck_assert_uint_eq(result.summary.partially_filled, 1);
        }
        exec_result_free(&result);
    }
    ck_assert(saw_partial);
    env_close(&e);
}
END_TEST

/* Every call makes the token expire: nothing can be placed, and the engine
 * says so instead of reporting success. */
START_TEST(test_auth_storm)
{
    env e;
    env_open(&e, "transient_failure_rate = 0\nunknown_outcome_rate = 0\nauth_expiry_rate = 1\n");
    test_request t;
    exec_request *request = make_request(&t, "angelone", "storm", "demo", "RELIANCE:20,TCS:0");
    exec_result result;
    ptx_error error;
    ptx_status status = engine_execute(e.eng, request, NULL, &result, &error);
    if (status == PTX_OK) {
        for (size_t i = 0; i < result.leg_count; i++) {
            ck_assert_int_eq(result.legs[i].status, LEG_FAILED);
            ck_assert_ptr_nonnull(strstr(result.legs[i].reason, "authentication failed"));
        }
        ck_assert_int_eq(result.status, EXEC_FAILED);
    } else {
        ck_assert_int_eq(status, PTX_AUTH);
        ck_assert_ptr_nonnull(strstr(error.message, "authentication failed"));
    }
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Tokens expire half the time: executions that got past the holdings read
 * stop placing at the first leg whose re-login does not hold, and every leg
 * after it carries the reason. */
START_TEST(test_auth_expiry_stops_placing)
{
    env e;
    env_open(&e, "seed = 9\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n"
                 "reject_rate = 0\nauth_expiry_rate = 0.4\nmax_in_flight = 1\n");
    fault_stats stats = {0};
    run_fault_executions(&e, "zerodha", 120, 9u, &stats);
    ck_assert_uint_gt(stats.auth_stopped, 0);
    ck_assert_uint_gt(stats.filled, 0);
    env_close(&e);
}
END_TEST

/* ---- per-account serialization ----------------------------------------- */

typedef struct racer {
    env *e;
    const char *api_key;
    unsigned lock_timeout_ms;
    ptx_status status;
    exec_result result;
    pthread_barrier_t *start;
} racer;

static void *race(void *argument)
{
    racer *r = argument;
    test_request t;
    exec_request *request = make_request(&t, "zerodha", r->api_key, "demo", "RELIANCE:20");
    engine_call_options options = {NULL, NULL, r->lock_timeout_ms};
    ptx_error error;
    pthread_barrier_wait(r->start);
    r->status = engine_execute(r->e->eng, request, &options, &r->result, &error);
    return NULL;
}

static void run_race(env *e, racer *racers, size_t count)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)count);
    pthread_t threads[4];
    for (size_t i = 0; i < count; i++) {
        racers[i].e = e;
        racers[i].start = &start;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (size_t i = 0; i < count; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

START_TEST(test_same_account_serialized)
{
    env e;
    env_open(&e, "transient_failure_rate = 0\nunknown_outcome_rate = 0\nlatency_ms = 20\n");
    racer racers[2] = {{.api_key = "shared", .lock_timeout_ms = 20000},
                       {.api_key = "shared", .lock_timeout_ms = 20000}};
    run_race(&e, racers, 2);
    ck_assert_int_eq(racers[0].status, PTX_OK);
    ck_assert_int_eq(racers[1].status, PTX_OK);
    /* One bought 10; the other saw 20 already held and had nothing to do. */
    size_t buyers = 0, noops = 0;
    for (int i = 0; i < 2; i++) {
        buyers += racers[i].result.status == EXEC_COMPLETED && racers[i].result.leg_count == 1;
        noops += racers[i].result.status == EXEC_NOOP;
        ck_assert_int_eq(racers[i].result.positions[0].after, 20);
        exec_result_free(&racers[i].result);
    }
    ck_assert_uint_eq(buyers, 1);
    ck_assert_uint_eq(noops, 1);
    holdings *after = read_holdings(&e, "zerodha", "shared");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 20);
    holdings_free(after);
    env_close(&e);
}
END_TEST

START_TEST(test_busy_account_refused)
{
    env e;
    env_open(&e, "transient_failure_rate = 0\nunknown_outcome_rate = 0\nlatency_ms = 100\n");
    racer racers[2] = {{.api_key = "busy", .lock_timeout_ms = 0},
                       {.api_key = "busy", .lock_timeout_ms = 0}};
    run_race(&e, racers, 2);
    /* Each holds the account for several 100 ms calls; whoever comes second
     * is refused at once. */
    size_t ok = 0, busy = 0;
    for (int i = 0; i < 2; i++) {
        ok += racers[i].status == PTX_OK;
        busy += racers[i].status == PTX_BUSY;
        exec_result_free(&racers[i].result);
    }
    ck_assert_uint_eq(ok, 1);
    ck_assert_uint_eq(busy, 1);
    holdings *after = read_holdings(&e, "zerodha", "busy");
    ck_assert_int_eq(holdings_get(after, "RELIANCE"), 20);
    holdings_free(after);
    env_close(&e);
}
END_TEST

START_TEST(test_different_accounts_in_parallel)
{
    env e;
    env_open(&e, "transient_failure_rate = 0\nunknown_outcome_rate = 0\nlatency_ms = 20\n");
    racer racers[2] = {{.api_key = "first", .lock_timeout_ms = 0},
                       {.api_key = "second", .lock_timeout_ms = 0}};
    run_race(&e, racers, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(racers[i].status, PTX_OK); /* never BUSY: different accounts */
        ck_assert_int_eq(racers[i].result.status, EXEC_COMPLETED);
        ck_assert_str_ne(racers[i].result.account_hash, "");
        exec_result_free(&racers[i].result);
    }
    env_close(&e);
}
END_TEST

/* The host paces placements at rate_limit_per_second, so a broker that
 * answers "too many requests" beyond that rate never has to; with
 * max_retries = 0 one such answer would fail a leg. */
START_TEST(test_rate_pacing)
{
    env e;
    env_open_one(&e, "zerodha",
                 "max_retries = 0\nretry_base_ms = 1\npoll_interval_ms = 1\n"
                 "rate_limit_per_second = 2\ntransient_failure_rate = 0\n"
                 "unknown_outcome_rate = 0\n");
    test_request t;
    exec_request *request =
        make_request(&t, "zerodha", "paced", "demo", "HDFCBANK:1,ITC:1,SBIN:1,WIPRO:1");
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
    ck_assert_uint_eq(result.leg_count, 4);
    for (size_t i = 0; i < result.leg_count; i++) {
        ck_assert_msg(result.legs[i].status == LEG_FILLED, "%s: %s", result.legs[i].symbol,
                      result.legs[i].reason);
        ck_assert_uint_eq(result.legs[i].attempts, 1);
    }
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* The broker's own limits, declared by the plugin (ABI 1.2), are paced
 * without any brokers.ini key: Angel One with rate_limits = broker takes
 * orders at 20/s but reads at 10/s, and the host used to read at the order
 * rate, answering its own 429s with retries. */
START_TEST(test_declared_read_limit_paced)
{
    env e;
    char *dir = tu_tempdir();
    char *refused = tu_format("%s/refused.log", dir);
    char *section =
        tu_format("rate_limits = broker\nmax_retries = 20\nretry_base_ms = 1\nretry_max_ms = 5\n"
                  "poll_interval_ms = 1\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n"
                  "rate_limit_log = %s\n",
                  refused);
    env_open_one(&e, "angelone", section);
    const broker_settings *settings = registry_broker_settings(registry_find(e.reg, "angelone"));
    ck_assert_uint_eq(settings->read_rate_limit_per_second, 10);
    ck_assert_uint_eq(settings->read_rate_limit_per_minute, 500);
    char targets[512] = "";
    for (int i = 0; i < 15; i++)
        snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%sPACED%02d:1",
                 i ? "," : "", i);
    test_request t;
    exec_request *request = make_request(&t, "angelone", "declared", "demo", targets);
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
    ck_assert_uint_eq(result.summary.filled, 15);
    ck_assert_msg(result.retries.transient == 0,
                  "%zu calls retried as TRANSIENT: the broker's read limit was exceeded",
                  result.retries.transient);
    ck_assert_msg(access(refused, F_OK) != 0, "the broker refused calls:\n%s",
                  tu_read_file(refused));
    exec_result_free(&result);
    env_close(&e);
    rmdir(dir);
    free(section);
    free(refused);
    free(dir);
}
END_TEST

/* ---- progress ------------------------------------------------------------ */

typedef struct progress_log {
    size_t calls;
    size_t sequences[8];
} progress_log;

static void on_progress(void *context, const exec_result *result, const exec_leg *leg)
{
    progress_log *log = context;
    ck_assert_ptr_nonnull(result);
    ck_assert_int_ne(leg->status, LEG_PLANNED);
    if (log->calls < 8)
        log->sequences[log->calls] = leg->sequence;
    log->calls++;
}

START_TEST(test_progress_in_execution_order)
{
    env e;
    env_open(&e, no_faults);
    test_request t;
    exec_request *request =
        make_request(&t, "groww", "progress", "demo", "RELIANCE:11,TCS:1,INFY:9,ITC:3");
    progress_log log = {0};
    engine_call_options options = {on_progress, &log, 0};
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(engine_execute(e.eng, request, &options, &result, &error), PTX_OK);
    /* Each leg once as it reaches its final state: the sell first (the sell
     * phase ends before any buy is placed), then the buys as they finish,
     * which need not be in sequence when they are placed concurrently. */
    ck_assert_uint_eq(log.calls, 4);
    ck_assert_uint_eq(log.sequences[0], 1);
    ck_assert_uint_eq(log.sequences[1] + log.sequences[2] + log.sequences[3], 2 + 3 + 4);
    ck_assert_uint_eq(log.sequences[1] * log.sequences[2] * log.sequences[3], 2 * 3 * 4);
    ck_assert_int_eq(find_leg(&result, "TCS")->sequence, 1); /* the only sell */
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- backoff (host/retry.c, the engine's helper) ----------------------- */

START_TEST(test_backoff_full_jitter_bounds)
{
    retry_rng rng;
    retry_rng_seed(&rng);
    ck_assert_uint_eq(retry_backoff_ms(&rng, 0, 5000, 3), 0);
    for (unsigned retry = 0; retry < 12; retry++) {
        unsigned ceiling = 100u << retry;
        ceiling = ceiling > 5000 ? 5000 : ceiling;
        unsigned highest = 0;
        for (int i = 0; i < 2000; i++) {
            unsigned delay = retry_backoff_ms(&rng, 100, 5000, retry);
            ck_assert_uint_le(delay, ceiling);
            highest = delay > highest ? delay : highest;
        }
        /* Full jitter spreads over the whole range, up to the ceiling. */
        ck_assert_uint_gt(highest, ceiling / 2);
    }
    ck_assert_uint_le(retry_backoff_ms(&rng, 100, 5000, 1000), 5000); /* no overflow */
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *suite = suite_create("engine");
    TCase *basic = tcase_create("basic");
    tcase_set_timeout(basic, 30);
    tcase_add_test(basic, test_backoff_full_jitter_bounds);
    tcase_add_loop_test(basic, test_seed_example, 0, (int)BROKER_COUNT);
    tcase_add_test(basic, test_dry_run_places_nothing);
    tcase_add_test(basic, test_bad_token_is_auth_error);
    tcase_add_test(basic, test_unknown_broker_and_bad_credentials);
    tcase_add_test(basic, test_progress_in_execution_order);
    suite_add_tcase(suite, basic);

    TCase *faults = tcase_create("faults");
    tcase_set_timeout(faults, 120);
    tcase_add_loop_test(faults, test_fault_invariants, 0, (int)BROKER_COUNT);
    tcase_add_loop_test(faults, test_fault_invariants_with_the_market_on, 0, (int)BROKER_COUNT);
    tcase_add_test(faults, test_partial_fills);
    tcase_add_test(faults, test_auth_storm);
    tcase_add_test(faults, test_metrics_from_real_executions);
    tcase_add_test(faults, test_auth_expiry_stops_placing);
    suite_add_tcase(suite, faults);

    TCase *accounts = tcase_create("accounts");
    tcase_set_timeout(accounts, 60);
    tcase_add_test(accounts, test_same_account_serialized);
    tcase_add_test(accounts, test_busy_account_refused);
    tcase_add_test(accounts, test_different_accounts_in_parallel);
    tcase_add_test(accounts, test_rate_pacing);
    tcase_add_test(accounts, test_declared_read_limit_paced);
    suite_add_tcase(suite, accounts);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(engine_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
