/* Check suite for the engine paths the simulated brokers never reach: orders
 * that stay open past order_timeout_ms (with and without cancel_order),
 * UNKNOWN resolved by find_order (absent → resent with the same id, present →
 * adopted, lookup failing → never resent), BROKER_OK with state REJECTED, and
 * PARTIALLY_FILLED reads. The broker is tests/plugins/scripted.c, loaded by
 * the real registry; its call counters are read through get_quote. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "ids.h"
#include "journal.h"
#include "log.h"
#include "registry.h"
#include "render.h"
#include "testutil.h"

/* Initial holdings of the scripted account in every test. */
#define HOLDINGS "RELIANCE:10,TCS:5,INFY:8"

/* ---- fixture ------------------------------------------------------------ */

typedef struct env {
    char *root;
    char *plugins;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
    registry_broker *broker;
} env;

/* Which build of the scripted fixture env_prepare installs: scripted.so (ABI
 * 1.1) or scripted_v1_0.so (built against the frozen 1.0 header). */
static const char *env_fixture = "scripted";

/* Copies build/tests/plugins/<env_fixture>.so into e->plugins as scripted.so. */
static void env_install_plugin(const env *e)
{
    char *source = tu_format("%s/tests/plugins/%s.so", tu_build_dir(), env_fixture);
    char *target = tu_format("%s/scripted.so", e->plugins);
    char *command = tu_format("cp '%s' '%s'", source, target);
    ck_assert_msg(access(source, R_OK) == 0, "fixture %s is not built", source);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(chmod(target, 0755), 0);
    free(command);
    free(target);
    free(source);
}

/* Writes brokers.ini with one [broker.scripted] section and loads it. */
static void env_load(env *e, unsigned max_retries, const char *extra)
{
    char *text = tu_format("[host]\nplugin_dir = %s\n\n"
                           "[broker.scripted]\nplugin = scripted.so\nmax_retries = %u\n"
                           "retry_base_ms = 1\nretry_max_ms = 2\norder_timeout_ms = 50\n"
                           "poll_interval_ms = 1\nrate_limit_per_second = 0\n"
                           "holdings = " HOLDINGS "\n%s",
                           e->plugins, max_retries, extra);
    tu_write_file(e->ini, text);
    free(text);
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    e->broker = registry_find(e->reg, "scripted");
}

/* A fresh folder holding plugins/scripted.so; nothing loaded yet. */
static void env_prepare(env *e)
{
    memset(e, 0, sizeof *e);
    e->root = tu_tempdir();
    e->plugins = tu_format("%s/plugins", e->root);
    e->ini = tu_format("%s/brokers.ini", e->root);
    ck_assert_int_eq(mkdir(e->plugins, 0755), 0);
    ck_assert_int_eq(chmod(e->plugins, 0755), 0);
    env_install_plugin(e);
}

/* A fresh folder with the plugin, and the broker loaded from `extra`. */
static void env_open(env *e, unsigned max_retries, const char *extra)
{
    env_prepare(e);
    env_load(e, max_retries, extra);
    ck_assert_msg(e->broker != NULL, "scripted broker refused: %s",
                  registry_find_refusal(e->reg, "scripted"));
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
}

static void env_close(env *e)
{
    engine_destroy(e->eng);
    registry_free(e->reg);
    config_free(&e->cfg);
    char *command = tu_format("rm -rf '%s'", e->root);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(e->root);
    free(e->plugins);
    free(e->ini);
}

/* The broker's counter `name` (see tests/plugins/scripted.c), read through
 * get_quote on a session of our own. */
static int64_t counter(env *e, const char *name)
{
    const broker_plugin *plugin = registry_broker_plugin(e->broker);
    broker_instance *instance = registry_broker_instance(e->broker);
    broker_credential key = {"api_key", "k"};
    broker_credentials credentials = {1, &key};
    broker_session *session = NULL;
    broker_text account, error;
    char symbol[96];
    snprintf(symbol, sizeof symbol, "?%s", name);
    double value = -1;
    registry_broker_enter(e->broker);
    broker_status opened = plugin->open_session(instance, &credentials, &session, &account, &error);
    broker_status status =
        opened == BROKER_OK ? plugin->get_quote(instance, session, symbol, &value) : opened;
    if (opened == BROKER_OK)
        plugin->close_session(instance, session);
    registry_broker_leave(e->broker);
    ck_assert_msg(status == BROKER_OK, "counter %s: %s", name, broker_status_name(status));
    return (int64_t)value;
}

/* Per client order id: "placed", "recorded" or "filled". */
static int64_t id_counter(env *e, const char *kind, const char *client_order_id)
{
    char name[80];
    snprintf(name, sizeof name, "%s:%s", kind, client_order_id);
    return counter(e, name);
}

typedef struct test_request {
    exec_request request;
    broker_credential credentials[1];
    exec_target targets[16];
} test_request;

/* `targets` is "SYMBOL:QTY,…" in request order. */
static exec_request *make_request(test_request *t, const char *targets)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "scripted");
    t->credentials[0] = (broker_credential){"api_key", "k"};
    t->request.credentials = t->credentials;
    t->request.credential_count = 1;
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

/* Runs one execution that must run (legs may fail). */
static void execute(env *e, const char *targets, exec_result *result)
{
    test_request t;
    ptx_error error;
    ptx_error_clear(&error);
    ptx_status status = engine_execute(e->eng, make_request(&t, targets), NULL, result, &error);
    ck_assert_msg(status == PTX_OK, "execute: %s", error.message);
    ck_assert(result->reconciled);
}

static const exec_leg *leg_of(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->leg_count; i++)
        if (strcmp(result->legs[i].symbol, symbol) == 0)
            return &result->legs[i];
    ck_abort_msg("no leg for %s", symbol);
    return NULL;
}

static const exec_position *position_of(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->position_count; i++)
        if (strcmp(result->positions[i].symbol, symbol) == 0)
            return &result->positions[i];
    ck_abort_msg("no position for %s", symbol);
    return NULL;
}

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* The position moved by exactly what the broker filled for the leg, and the
 * broker recorded the leg's client order id at most once. */
static void assert_matches_broker(env *e, const exec_result *result, const exec_leg *leg)
{
    const exec_position *position = position_of(result, leg->symbol);
    int64_t filled = id_counter(e, "filled", leg->client_order_id);
    int64_t moved = leg->side == BROKER_SIDE_BUY ? filled : -filled;
    ck_assert_int_eq(position->after, position->before + moved);
    ck_assert_int_eq(position->residual, position->target - position->after);
    ck_assert_int_le(id_counter(e, "recorded", leg->client_order_id), 1);
    size_t length = strlen(leg->client_order_id);
    ck_assert_msg(length >= 8 && length <= 20, "client order id '%s' breaks the tag rules",
                  leg->client_order_id);
}

/* ---- ABI 1.0: a plugin built against the frozen header trades ------------ */

START_TEST(test_frozen_v1_0_plugin_executes)
{
    env_fixture = "scripted_v1_0";
    env e;
    env_open(&e, 3, "symbol_scripts = TCS:partial\n");
    ck_assert_uint_eq(registry_broker_plugin(e.broker)->abi_minor, 0);
    ck_assert_uint_eq(registry_broker_plugin(e.broker)->size, BROKER_PLUGIN_V1_0_SIZE);
    ck_assert_ptr_null(registry_broker_plugin(e.broker)->get_order_ex);
    exec_result result;
    execute(&e, "RELIANCE:20,TCS:15", &result);
    ck_assert_uint_eq(result.leg_count, 2);
    ck_assert_str_eq(leg_status_name(leg_of(&result, "RELIANCE")->status), "FILLED");
    ck_assert_str_eq(leg_status_name(leg_of(&result, "TCS")->status), "PARTIALLY_FILLED");
    for (size_t i = 0; i < result.leg_count; i++)
        assert_matches_broker(&e, &result, &result.legs[i]);
    exec_result_free(&result);
    env_close(&e);
    env_fixture = "scripted";
}
END_TEST

/* ---- (a) open past order_timeout_ms, cancel_order present ---------------- */

static const int open_fill_percents[] = {0, 30};

START_TEST(test_open_order_cancelled_after_timeout)
{
    int percent = open_fill_percents[_i];
    env e;
    char *extra = tu_format("open_forever = 1\nopen_fill_percent = %d\n", percent);
    env_open(&e, 3, extra);
    ck_assert_ptr_nonnull(registry_broker_plugin(e.broker)->cancel_order);
    exec_result result;
    execute(&e, "RELIANCE:20", &result);

    ck_assert_uint_eq(result.leg_count, 1);
    const exec_leg *leg = &result.legs[0];
    ck_assert_int_eq(leg->side, BROKER_SIDE_BUY);
    ck_assert_int_eq(leg->quantity, 10);
    ck_assert_str_eq(leg_status_name(leg->status), "CANCELLED");
    ck_assert_int_eq(leg->filled_quantity, percent / 10);
    ck_assert_str_eq(leg->order_id, "S1");
    ck_assert_msg(starts_with(leg->reason, "cancelled after ") &&
                      strstr(leg->reason, " ms still open: cancelled on request") != NULL,
                  "reason: %s", leg->reason);
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 1);
    ck_assert_int_ge(counter(&e, "get_calls"), 1);
    ck_assert_int_eq(counter(&e, "find_calls"), 0);
    ck_assert_int_eq(counter(&e, "open_orders"), 0);
    ck_assert_int_eq(id_counter(&e, "filled", leg->client_order_id), percent / 10);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10 + percent / 10);
    ck_assert_uint_eq(result.summary.cancelled, 1);
    ck_assert_uint_eq(result.summary.filled, 0);
    ck_assert_str_eq(exec_status_name(result.status), percent ? "PARTIAL" : "FAILED");
    exec_result_free(&result);
    env_close(&e);
    free(extra);
}
END_TEST

/* The cancel loses the race: the order filled first. The leg is FILLED. */
START_TEST(test_open_order_fills_before_cancel)
{
    env e;
    env_open(&e, 3, "open_forever = 1\nopen_fill_percent = 30\ncancel = fill\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FILLED");
    ck_assert_int_eq(leg->filled_quantity, 10);
    ck_assert_str_eq(leg->reason, "");
    ck_assert_int_eq(counter(&e, "cancel_calls"), 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 20);
    ck_assert_str_eq(exec_status_name(result.status), "COMPLETED");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* The broker refuses the cancel and the order stays open: FAILED, honestly. */
START_TEST(test_open_order_cancel_refused)
{
    env e;
    env_open(&e, 3, "open_forever = 1\ncancel = reject\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FAILED");
    char *prefix = tu_format("order %s still open at the broker after ", leg->order_id);
    ck_assert_msg(starts_with(leg->reason, prefix), "reason: %s", leg->reason);
    ck_assert_int_eq(leg->filled_quantity, 0);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 1);
    ck_assert_int_eq(counter(&e, "open_orders"), 1);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10);
    ck_assert_str_eq(exec_status_name(result.status), "FAILED");
    free(prefix);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/*
 * The cancel is refused and the order, still OPEN, has filled 5 of 10
 * meanwhile: the leg must report the broker's fill of 5 (it once reported the
 * stale fill of the last poll before the timeout).
 */
START_TEST(test_open_order_cancel_refused_after_fill)
{
    env e;
    env_open(&e, 3, "open_forever = 1\ncancel = reject\ncancel_fill_percent = 50\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FAILED");
    ck_assert_int_eq(counter(&e, "open_orders"), 1);
    ck_assert_int_eq(id_counter(&e, "filled", leg->client_order_id), 5);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 15);
    ck_assert_int_eq(leg->filled_quantity, 5);
    ck_assert_str_eq(exec_status_name(result.status), "PARTIAL");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- (f) open past order_timeout_ms, no cancel_order ----------------------- */

START_TEST(test_open_order_without_cancel)
{
    int percent = open_fill_percents[_i];
    env e;
    char *extra = tu_format("open_forever = 1\nopen_fill_percent = %d\nno_cancel = 1\n", percent);
    env_open(&e, 3, extra);
    ck_assert_ptr_null(registry_broker_plugin(e.broker)->cancel_order);
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FAILED");
    ck_assert_str_eq(leg->order_id, "S1");
    ck_assert_msg(starts_with(leg->reason, "order S1 still open at the broker after ") &&
                      strstr(leg->reason, " ms") != NULL,
                  "reason: %s", leg->reason);
    ck_assert_int_eq(leg->filled_quantity, percent / 10);
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 0);
    ck_assert_int_eq(counter(&e, "open_orders"), 1);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10 + percent / 10);
    ck_assert_uint_eq(result.summary.failed, 1);
    ck_assert_str_eq(exec_status_name(result.status), percent ? "PARTIAL" : "FAILED");
    exec_result_free(&result);
    env_close(&e);
    free(extra);
}
END_TEST

/* ---- (b) UNKNOWN, proven absent: resent with the same id ------------------ */

START_TEST(test_unknown_absent_resent_with_same_id)
{
    int unknown_times = _i; /* 1..3, max_retries 3 */
    env e;
    char *extra = tu_format("script = unknown_absent\nunknown_times = %d\n", unknown_times);
    env_open(&e, 3, extra);
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FILLED");
    ck_assert_int_eq(leg->filled_quantity, 10);
    ck_assert_uint_eq(leg->attempts, (unsigned)unknown_times + 1);
    /* One lookup per UNKNOWN, one resend per proof of absence, one id. */
    ck_assert_int_eq(counter(&e, "place_calls"), unknown_times + 1);
    ck_assert_int_eq(counter(&e, "find_calls"), unknown_times);
    ck_assert_uint_eq(result.retries.unknown_lookups, (size_t)unknown_times);
    ck_assert_uint_eq(result.retries.transient, 0);
    ck_assert_int_eq(counter(&e, "distinct_ids"), 1);
    ck_assert_int_eq(id_counter(&e, "placed", leg->client_order_id), unknown_times + 1);
    ck_assert_int_eq(id_counter(&e, "recorded", leg->client_order_id), 1);
    ck_assert_int_eq(counter(&e, "max_orders_per_id"), 1);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 20);
    ck_assert_str_eq(exec_status_name(result.status), "COMPLETED");
    exec_result_free(&result);
    env_close(&e);
    free(extra);
}
END_TEST

/* Proven absent every time: max_retries resends, then FAILED, nothing held. */
START_TEST(test_unknown_absent_every_time)
{
    env e;
    env_open(&e, 2, "script = unknown_absent\nunknown_times = 100\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FAILED");
    ck_assert_msg(starts_with(leg->reason,
                              "not placed: outcome unknown on 3 attempts, each time proven absent"),
                  "reason: %s", leg->reason);
    ck_assert_uint_eq(leg->attempts, 3);
    ck_assert_int_eq(leg->filled_quantity, 0);
    ck_assert_int_eq(counter(&e, "place_calls"), 3);
    ck_assert_int_eq(counter(&e, "find_calls"), 3);
    ck_assert_int_eq(counter(&e, "distinct_ids"), 1);
    ck_assert_int_eq(counter(&e, "orders"), 0);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10);
    ck_assert_str_eq(exec_status_name(result.status), "FAILED");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* UNKNOWN, but the order reached the broker: adopted, never resent. */
/* UNKNOWN, and the broker's order under that tag is some other order (a reused
 * tag): it must not be adopted as this leg's fill, and nothing is resent. */
START_TEST(test_unknown_foreign_not_adopted)
{
    env e;
    env_open(&e, 3, "script = unknown_foreign\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FAILED");
    ck_assert_msg(strstr(leg->reason, "not this leg; not adopted") != NULL, "%s", leg->reason);
    ck_assert_int_eq(leg->filled_quantity, 0);
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "find_calls"), 1);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10);
    ck_assert_str_eq(exec_status_name(result.status), "FAILED");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

START_TEST(test_unknown_present_adopted)
{
    env e;
    env_open(&e, 3, "script = unknown_present\n");
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "FILLED");
    ck_assert_str_eq(leg->order_id, "S1");
    ck_assert_int_eq(leg->filled_quantity, 10);
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "find_calls"), 1);
    ck_assert_int_eq(id_counter(&e, "recorded", leg->client_order_id), 1);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 20);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- (c) UNKNOWN, lookups keep failing: FAILED, never resent -------------- */

static const unsigned lookup_retries[] = {0, 3};

START_TEST(test_unknown_lookup_failing_never_resent)
{
    unsigned max_retries = lookup_retries[_i];
    env e;
    env_open(&e, max_retries, "symbol_scripts = RELIANCE:unknown_lost\n");
    exec_result result;
    execute(&e, "RELIANCE:20,INFY:10", &result);
    const exec_leg *lost = leg_of(&result, "RELIANCE");
    ck_assert_str_eq(leg_status_name(lost->status), "FAILED");
    char *reason = tu_format("outcome unknown: the order may exist at the broker (client order "
                             "id %s); %u lookups failed: scripted: order book service "
                             "unavailable (503)",
                             lost->client_order_id, max_retries + 1);
    ck_assert_str_eq(lost->reason, reason);
    ck_assert_uint_eq(lost->attempts, 1);
    ck_assert_int_eq(lost->filled_quantity, 0); /* not claimed as filled */
    ck_assert_int_eq(id_counter(&e, "placed", lost->client_order_id), 1);
    ck_assert_int_eq(id_counter(&e, "recorded", lost->client_order_id), 1);
    ck_assert_int_eq(counter(&e, "find_calls"), (int64_t)max_retries + 1);
    ck_assert_uint_eq(result.retries.unknown_lookups, 1);
    ck_assert_uint_eq(result.retries.transient, max_retries); /* the lookup's retries */
    /* The broker did fill it; the reconciled position says so. */
    ck_assert_int_eq(id_counter(&e, "filled", lost->client_order_id), 10);
    assert_matches_broker(&e, &result, lost);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 20);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->residual, 0);

    /* The next leg is still placed. */
    const exec_leg *next = leg_of(&result, "INFY");
    ck_assert_str_eq(leg_status_name(next->status), "FILLED");
    ck_assert_int_eq(next->filled_quantity, 2);
    assert_matches_broker(&e, &result, next);
    ck_assert_int_eq(counter(&e, "place_calls"), 2);
    ck_assert_int_eq(counter(&e, "distinct_ids"), 2);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 1);
    ck_assert_str_eq(exec_status_name(result.status), "PARTIAL");
    free(reason);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- (d) refused at once: BROKER_OK + REJECTED, and BROKER_REJECTED ------ */

static const struct {
    const char *script;
    const char *reason;
    const char *order_id;
} rejections[] = {
    {"reject_ok", "scripted: RMS rejected after acceptance: margin shortfall", "S1"},
    {"reject", "scripted: RMS rejected: insufficient funds", ""},
};

START_TEST(test_rejected_at_once)
{
    env e;
    char *extra = tu_format("script = %s\n", rejections[_i].script);
    env_open(&e, 3, extra);
    exec_result result;
    execute(&e, "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_str_eq(leg_status_name(leg->status), "REJECTED");
    ck_assert_str_eq(leg->reason, rejections[_i].reason);
    ck_assert_str_eq(leg->order_id, rejections[_i].order_id);
    ck_assert_int_eq(leg->filled_quantity, 0);
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "find_calls"), 0);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 0);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, 10);
    ck_assert_uint_eq(result.summary.rejected, 1);
    ck_assert_str_eq(exec_status_name(result.status), "FAILED");
    exec_result_free(&result);
    env_close(&e);
    free(extra);
}
END_TEST

/* ---- (e) PARTIALLY_FILLED on get_order, buy and sell ---------------------- */

START_TEST(test_partially_filled)
{
    bool sell = _i == 1;
    env e;
    env_open(&e, 3, "script = partial\npartial_percent = 40\n");
    exec_result result;
    execute(&e, sell ? "RELIANCE:0" : "RELIANCE:20", &result);
    const exec_leg *leg = &result.legs[0];
    ck_assert_int_eq(leg->side, sell ? BROKER_SIDE_SELL : BROKER_SIDE_BUY);
    ck_assert_str_eq(leg_status_name(leg->status), "PARTIALLY_FILLED");
    ck_assert_int_eq(leg->filled_quantity, 4);
    ck_assert_double_eq(leg->average_price, 100.0);
    ck_assert_str_eq(leg->reason, "filled 4 of 10; remainder cancelled/expired: remainder "
                                  "expired at market close");
    ck_assert_uint_eq(leg->attempts, 1);
    ck_assert_int_eq(counter(&e, "place_calls"), 1);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 0);
    assert_matches_broker(&e, &result, leg);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->after, sell ? 6 : 14);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->residual, sell ? -6 : 6);
    ck_assert_uint_eq(result.summary.partially_filled, 1);
    ck_assert_str_eq(exec_status_name(result.status), "PARTIAL");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- every script in one execution ------------------------------------------ */

START_TEST(test_mixed_scripts_match_broker)
{
    env e;
    env_open(&e, 3,
             "symbol_scripts = RELIANCE:partial,TCS:unknown_absent,INFY:unknown_lost,"
             "WIPRO:reject_ok,HDFC:unknown_present,ITC:reject\n");
    exec_result result;
    execute(&e, "HDFC:3,RELIANCE:0,TCS:9,INFY:20,WIPRO:7,ITC:4,SBIN:6", &result);
    ck_assert_uint_eq(result.leg_count, 7);

    static const struct {
        const char *symbol;
        const char *status;
        int64_t reported;
    } expected[] = {
        {"HDFC", "FILLED", 3},    {"RELIANCE", "PARTIALLY_FILLED", 4},
        {"TCS", "FILLED", 4},     {"INFY", "FAILED", 0},
        {"WIPRO", "REJECTED", 0}, {"ITC", "REJECTED", 0},
        {"SBIN", "FILLED", 6},
    };
    unsigned attempts = 0;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const exec_leg *leg = leg_of(&result, expected[i].symbol);
        ck_assert_msg(strcmp(leg_status_name(leg->status), expected[i].status) == 0, "%s: %s (%s)",
                      leg->symbol, leg_status_name(leg->status), leg->reason);
        ck_assert_int_eq(leg->filled_quantity, expected[i].reported);
        ck_assert_msg(leg->status == LEG_FILLED || leg->reason[0] != '\0', "%s has no reason",
                      leg->symbol);
        assert_matches_broker(&e, &result, leg);
        attempts += leg->attempts;
    }
    ck_assert_uint_eq(leg_of(&result, "RELIANCE")->sequence, 1); /* the only sell */
    ck_assert_uint_eq(leg_of(&result, "TCS")->attempts, 2);
    ck_assert_int_eq(counter(&e, "place_calls"), attempts);
    ck_assert_int_eq(counter(&e, "distinct_ids"), 7);
    ck_assert_int_eq(counter(&e, "max_orders_per_id"), 1);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 2); /* only TCS, proven absent */
    ck_assert_int_eq(position_of(&result, "INFY")->after, 20);
    ck_assert_str_eq(exec_status_name(result.status), "PARTIAL");
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* A typo in a script key refuses the broker instead of silently filling. */
START_TEST(test_bad_script_refused)
{
    env e;
    env_prepare(&e);
    /* The refusal's log line goes to a file, not to the test output. */
    char *log_path = tu_format("%s/stderr.log", e.root);
    int saved = dup(STDERR_FILENO);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    env_load(&e, 3, "script = unknwn_absent\n");
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);

    ck_assert_ptr_null(e.broker);
    const char *refusal = registry_find_refusal(e.reg, "scripted");
    ck_assert_ptr_nonnull(refusal);
    ck_assert_msg(strstr(refusal, "script = 'unknwn_absent' is not one of") != NULL, "%s", refusal);
    char *log = tu_read_file(log_path);
    ck_assert_msg(strstr(log, "plugin scripted.so: refused at init: create returned CONFIG: "
                              "script = 'unknwn_absent'") != NULL,
                  "log: %s", log);
    free(log);
    free(log_path);
    env_close(&e);
}
END_TEST

/* Finished executions of the scripted account with legs still UNKNOWN. */
static size_t unsettled_count(journal *records, const char *account_hash)
{
    char **ids = NULL;
    size_t count = 0;
    ptx_error error;
    ck_assert_int_eq(journal_unsettled(records, "scripted", account_hash, &ids, &count, &error),
                     PTX_OK);
    journal_ids_free(ids, count);
    return count;
}

/* With a journal, that leg is journaled UNKNOWN, not FAILED, and the
 * account's next execution settles it: the broker's answer (it did fill)
 * joins the leg's timeline, nothing is placed, and the stored response
 * stays what the client was told. After that the account costs no lookup. */
START_TEST(test_unknown_outcome_settled_by_next_execution)
{
    env e;
    env_open(&e, 0, "symbol_scripts = RELIANCE:unknown_lost\nlost_finds = 1\n");
    char *path = tu_format("%s/journal.db", e.root);
    journal *records = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(path, NULL, &records, &error), PTX_OK);
    engine_set_journal(e.eng, records);
    exec_result first;
    execute(&e, "RELIANCE:20,INFY:10", &first);
    const exec_leg *lost = leg_of(&first, "RELIANCE");
    ck_assert_str_eq(leg_status_name(lost->status), "FAILED");
    ck_assert(lost->outcome_unknown);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(records, first.execution_id, &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"symbol\":\"RELIANCE\""));
    char *unknown =
        tu_format("\"client_order_id\":\"%s\",\"state\":\"UNKNOWN\"", lost->client_order_id);
    char *filled =
        tu_format("\"client_order_id\":\"%s\",\"state\":\"FILLED\"", lost->client_order_id);
    ck_assert_ptr_nonnull(strstr(json, unknown));
    free(json);
    ck_assert_uint_eq(unsettled_count(records, first.account_hash), 1);
    int64_t places = counter(&e, "place_calls");
    int64_t finds = counter(&e, "find_calls");

    exec_result second; /* INFY is at target already: nothing to place */
    execute(&e, "INFY:10", &second);
    ck_assert_int_eq(second.status, EXEC_NOOP);
    ck_assert_int_eq(counter(&e, "place_calls"), places);
    ck_assert_int_eq(counter(&e, "find_calls"), finds + 1);
    ck_assert_uint_eq(unsettled_count(records, first.account_hash), 0);
    ck_assert_int_eq(journal_show_json(records, first.execution_id, &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, filled));
    ck_assert_ptr_nonnull(strstr(json, "settled after the execution finished: order "));
    ck_assert_ptr_nonnull(strstr(json, " is FILLED (10 filled)"));
    free(json);
    free(unknown);
    free(filled);
    journal_execution row;
    ck_assert_int_eq(journal_get(records, first.execution_id, &row, &error), PTX_OK);
    ck_assert_str_eq(row.response, first.response); /* what the client was told */
    journal_execution_clear(&row);

    exec_result third;
    execute(&e, "INFY:10", &third);
    ck_assert_int_eq(counter(&e, "find_calls"), finds + 1); /* settled: no more lookups */
    exec_result_free(&third);
    exec_result_free(&second);
    exec_result_free(&first);
    engine_set_journal(e.eng, NULL);
    journal_close(records);
    free(path);
    env_close(&e);
}
END_TEST

/* A crash inside the broker call that follows a leg state (the plugin
 * SIGKILLs the process on entering it) finds that state in the journal:
 * SENDING before place_order, ACCEPTED before get_order, UNKNOWN before
 * find_order. */
START_TEST(test_leg_state_committed_before_next_broker_call)
{
    static const struct {
        const char *extra;
        leg_state state;
    } cases[] = {{"die_in = place\n", LEG_STATE_SENDING},
                 {"die_in = get\n", LEG_STATE_ACCEPTED},
                 {"script = unknown_lost\ndie_in = find\n", LEG_STATE_UNKNOWN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env e;
        env_open(&e, 0, cases[i].extra);
        char *path = tu_format("%s/journal.db", e.root);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
            journal *records = NULL;
            ptx_error error;
            if (journal_open(path, NULL, &records, &error) != PTX_OK)
                _exit(2);
            engine_set_journal(e.eng, records);
            test_request t;
            exec_result result;
            engine_execute(e.eng, make_request(&t, "RELIANCE:20"), NULL, &result, &error);
            _exit(3); /* the broker call should not have returned */
        }
        int status = 0;
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "case %zu: child %d", i,
                      status);
        journal *records = NULL;
        ptx_error error;
        ck_assert_int_eq(journal_open(path, NULL, &records, &error), PTX_OK);
        char **ids = NULL;
        size_t count = 0;
        ck_assert_int_eq(journal_orphans(records, NULL, NULL, "x", &ids, &count, &error), PTX_OK);
        ck_assert_uint_eq(count, 1);
        exec_result loaded;
        leg_state *states = NULL;
        ck_assert_int_eq(journal_load(records, ids[0], &loaded, &states, &error), PTX_OK);
        ck_assert_uint_eq(loaded.leg_count, 1);
        ck_assert_msg(states[0] == cases[i].state, "case %zu: %s found, %s expected", i,
                      leg_state_name(states[0]), leg_state_name(cases[i].state));
        free(states);
        exec_result_free(&loaded);
        journal_ids_free(ids, count);
        journal_close(records);
        free(path);
        env_close(&e);
    }
}
END_TEST

/* ---- re-pricing (legs.c) ------------------------------------------------- */

/* Limit orders on the scripted broker: quotes rise by quote_step_paise per
 * get_quote, and a limit below limit_fill_paise stays open with 40% filled.
 * order_timeout_ms = 50 with reprice_attempts = 2 (the default): slices of
 * about 16 ms. */
#define REPRICE_EXTRA "limit_orders = 1\norder_type = limit\nopen_fill_percent = 40\n"
#define REPRICE_TARGETS HOLDINGS ",HDFCBANK:10"

/* The client order id of attempt `attempt` of leg `index` of `result`. */
static void attempt_id(const exec_result *result, size_t index, size_t attempt, char *out,
                       size_t size)
{
    ids_client_order_id(result->execution_id, index + attempt * result->leg_count, 8, 20, out,
                        size);
}

/* Opens the scripted broker with REPRICE_EXTRA `extra` and buys HDFCBANK:10
 * on it; returns that leg. */
static const exec_leg *reprice_run(env *e, const char *extra, exec_result *result)
{
    char *text = tu_format(REPRICE_EXTRA "%s", extra);
    env_open(e, 0, text);
    free(text);
    execute(e, REPRICE_TARGETS, result);
    return leg_of(result, "HDFCBANK");
}

static size_t leg_index_of(const exec_result *result, const char *symbol)
{
    return (size_t)(leg_of(result, symbol) - result->legs);
}

/* 4 of 10 fill at 100.10; the market moves up; the order is cancelled and
 * the other 6 go at the fresh price under a new client order id, and fill. */
START_TEST(test_reprice_fills_the_rest)
{
    env e;
    exec_result result;
    const exec_leg *leg =
        reprice_run(&e, "quote_step_paise = 25\nlimit_fill_paise = 10030\n", &result);
    ck_assert_str_eq(leg_status_name(leg->status), "FILLED");
    ck_assert_int_eq(leg->filled_quantity, 10);
    ck_assert_uint_eq(leg->reprices, 1);
    ck_assert_uint_eq(leg->attempts, 2);
    char first[BROKER_CLIENT_ORDER_ID_MAX], second[BROKER_CLIENT_ORDER_ID_MAX];
    attempt_id(&result, leg_index_of(&result, "HDFCBANK"), 0, first, sizeof first);
    attempt_id(&result, leg_index_of(&result, "HDFCBANK"), 1, second, sizeof second);
    ck_assert_str_ne(first, second);
    ck_assert_str_eq(leg->client_order_id, second);
    ck_assert_int_eq(id_counter(&e, "filled", first), 4);
    ck_assert_int_eq(id_counter(&e, "filled", second), 6);
    ck_assert_int_eq(id_counter(&e, "recorded", first), 1);
    ck_assert_int_eq(id_counter(&e, "recorded", second), 1);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 1);
    ck_assert(leg->limit_price > 100.30 - 1e-9);
    double expected = (4 * 100.10 + 6 * leg->limit_price) / 10.0;
    ck_assert_double_eq_tol(leg->average_price, expected, 1e-6);
    ck_assert_int_eq(position_of(&result, "HDFCBANK")->after, 10);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"reprices\":1"));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* The quote has not moved: re-pricing would only lose the order's place in
 * the queue, so it works on and is cancelled at order_timeout_ms. */
START_TEST(test_reprice_kept_when_the_market_stands)
{
    env e;
    exec_result result;
    const exec_leg *leg =
        reprice_run(&e, "quote_step_paise = 0\nlimit_fill_paise = 10030\n", &result);
    ck_assert_str_eq(leg_status_name(leg->status), "CANCELLED");
    ck_assert_int_eq(leg->filled_quantity, 4);
    ck_assert_uint_eq(leg->reprices, 0);
    ck_assert_int_eq(counter(&e, "orders"), 1);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 1);
    ck_assert_msg(strstr(leg->reason, "limit 100.10 not reached: 4 of 10 filled") != NULL, "%s",
                  leg->reason);
    ck_assert_int_eq(position_of(&result, "HDFCBANK")->after, 4);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Never reached: two re-pricings (4, then 2 of the 6, then 1 of the 4), then
 * the last order is cancelled; three orders, three ids, each placed once. */
START_TEST(test_reprice_rounds_run_out)
{
    env e;
    exec_result result;
    const exec_leg *leg =
        reprice_run(&e, "quote_step_paise = 25\nlimit_fill_paise = 20000\n", &result);
    ck_assert_str_eq(leg_status_name(leg->status), "PARTIALLY_FILLED");
    ck_assert_int_eq(leg->filled_quantity, 7);
    ck_assert_uint_eq(leg->reprices, 2);
    ck_assert_int_eq(counter(&e, "orders"), 3);
    ck_assert_int_eq(counter(&e, "cancel_calls"), 3);
    ck_assert_int_eq(counter(&e, "max_orders_per_id"), 1);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 1);
    ck_assert_int_eq(counter(&e, "open_orders"), 0);
    size_t index = leg_index_of(&result, "HDFCBANK");
    int64_t fills[3] = {4, 2, 1};
    for (size_t k = 0; k < 3; k++) {
        char id[BROKER_CLIENT_ORDER_ID_MAX];
        attempt_id(&result, index, k, id, sizeof id);
        ck_assert_int_eq(id_counter(&e, "filled", id), fills[k]);
    }
    ck_assert_msg(strstr(leg->reason, "(re-priced), the rest cancelled") != NULL, "%s",
                  leg->reason);
    ck_assert_int_eq(position_of(&result, "HDFCBANK")->after, 7);
    ck_assert_int_eq(position_of(&result, "HDFCBANK")->residual, 3);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Runs REPRICE_TARGETS in a child that the scripted broker kills (die_in in
 * `extra`), journaled at `path`; returns the interrupted execution's legs
 * as the journal has them (*loaded, *states). */
static void reprice_killed(env *e, const char *path, exec_result *loaded, leg_state **states)
{
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        journal *records = NULL;
        ptx_error error;
        if (journal_open(path, NULL, &records, &error) != PTX_OK)
            _exit(2);
        engine_set_journal(e->eng, records);
        test_request t;
        exec_result result;
        engine_execute(e->eng, make_request(&t, REPRICE_TARGETS), NULL, &result, &error);
        _exit(3); /* the broker call should not have returned */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child %d", status);
    journal *records = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(path, NULL, &records, &error), PTX_OK);
    char **ids = NULL;
    size_t count = 0;
    ck_assert_int_eq(journal_orphans(records, NULL, NULL, "x", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(journal_load(records, ids[0], loaded, states, &error), PTX_OK);
    journal_ids_free(ids, count);
    journal_close(records);
}

/* Killed on entering the resubmission: the journal already has the new
 * client order id, the attempt and the 4 filled before it (SENDING), so
 * recovery asks the broker for that id; absent, the leg ends
 * PARTIALLY_FILLED with the earlier fill and nothing is sent again. */
START_TEST(test_reprice_killed_before_the_resubmission_reaches_the_broker)
{
    env e;
    env_open(&e, 0,
             REPRICE_EXTRA "quote_step_paise = 25\nlimit_fill_paise = 10030\ndie_in = replace\n");
    char *folder = tu_tempdir(); /* outlives the first env */
    char *path = tu_format("%s/journal.db", folder);
    exec_result loaded;
    leg_state *states = NULL;
    reprice_killed(&e, path, &loaded, &states);
    size_t index = leg_index_of(&loaded, "HDFCBANK");
    const exec_leg *leg = &loaded.legs[index];
    char first[BROKER_CLIENT_ORDER_ID_MAX], second[BROKER_CLIENT_ORDER_ID_MAX];
    attempt_id(&loaded, index, 0, first, sizeof first);
    attempt_id(&loaded, index, 1, second, sizeof second);
    ck_assert_str_eq(leg_state_name(states[index]), "SENDING");
    ck_assert_str_eq(leg->client_order_id, second);
    ck_assert_uint_eq(leg->reprices, 1);
    ck_assert_int_eq(leg->prior_filled, 4);
    ck_assert_double_eq_tol(leg->prior_value, 4 * 100.10, 1e-6);
    free(states);
    char *execution_id = strdup(loaded.execution_id);
    exec_result_free(&loaded);

    /* A new process (the broker knows no order with the new id) recovers it. */
    env_close(&e);
    env_open(&e, 0, REPRICE_EXTRA "quote_step_paise = 25\nlimit_fill_paise = 10030\n");
    journal *records = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(path, NULL, &records, &error), PTX_OK);
    engine_set_journal(e.eng, records);
    exec_result next;
    execute(&e, HOLDINGS, &next);
    ck_assert_int_eq(id_counter(&e, "placed", second), 0);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(records, execution_id, &json, &error), PTX_OK);
    char *state = tu_format("\"client_order_id\":\"%s\",\"state\":\"PARTIALLY_FILLED\"", second);
    ck_assert_msg(strstr(json, state) != NULL, "%s", json);
    ck_assert_ptr_nonnull(strstr(json, "re-priced (1 of 2): order "));
    ck_assert_ptr_nonnull(strstr(json, "recovery: the broker has no order for the re-priced rest"));
    ck_assert_ptr_nonnull(strstr(json, "\"status\":\"RECOVERED\""));
    free(state);
    free(json);
    exec_result_free(&next);
    engine_set_journal(e.eng, NULL);
    journal_close(records);
    free(execution_id);
    free(path);
    env_close(&e);
    char *command = tu_format("rm -rf '%s'", folder);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(folder);
}
END_TEST

/* Killed once the cancel took, before the new id was journaled: the
 * journal still names the first order (ACCEPTED, first id, no re-pricing),
 * which recovery follows to its cancelled end; no order is untracked. */
START_TEST(test_reprice_killed_after_the_cancel)
{
    env e;
    env_open(&e, 0,
             REPRICE_EXTRA "quote_step_paise = 25\nlimit_fill_paise = 10030\ndie_in = cancelled\n");
    char *path = tu_format("%s/journal.db", e.root);
    exec_result loaded;
    leg_state *states = NULL;
    reprice_killed(&e, path, &loaded, &states);
    size_t index = leg_index_of(&loaded, "HDFCBANK");
    char first[BROKER_CLIENT_ORDER_ID_MAX];
    attempt_id(&loaded, index, 0, first, sizeof first);
    ck_assert_str_eq(leg_state_name(states[index]), "ACCEPTED");
    ck_assert_str_eq(loaded.legs[index].client_order_id, first);
    ck_assert_str_ne(loaded.legs[index].order_id, "");
    ck_assert_uint_eq(loaded.legs[index].reprices, 0);
    free(states);
    exec_result_free(&loaded);
    free(path);
    env_close(&e);
}
END_TEST

static Suite *engine_paths_suite(void)
{
    Suite *suite = suite_create("engine_paths");
    TCase *open = tcase_create("open_orders");
    tcase_set_timeout(open, 30);
    tcase_add_test(open, test_frozen_v1_0_plugin_executes);
    tcase_add_loop_test(open, test_open_order_cancelled_after_timeout, 0, 2);
    tcase_add_test(open, test_open_order_fills_before_cancel);
    tcase_add_test(open, test_open_order_cancel_refused);
    tcase_add_test(open, test_open_order_cancel_refused_after_fill);
    tcase_add_loop_test(open, test_open_order_without_cancel, 0, 2);
    suite_add_tcase(suite, open);

    TCase *unknown = tcase_create("unknown");
    tcase_set_timeout(unknown, 30);
    tcase_add_loop_test(unknown, test_unknown_absent_resent_with_same_id, 1, 4);
    tcase_add_test(unknown, test_unknown_absent_every_time);
    tcase_add_test(unknown, test_unknown_present_adopted);
    tcase_add_test(unknown, test_unknown_foreign_not_adopted);
    tcase_add_loop_test(unknown, test_unknown_lookup_failing_never_resent, 0, 2);
    tcase_add_test(unknown, test_unknown_outcome_settled_by_next_execution);
    tcase_add_test(unknown, test_leg_state_committed_before_next_broker_call);
    suite_add_tcase(suite, unknown);

    TCase *reprice = tcase_create("reprice");
    tcase_set_timeout(reprice, 30);
    tcase_add_test(reprice, test_reprice_fills_the_rest);
    tcase_add_test(reprice, test_reprice_kept_when_the_market_stands);
    tcase_add_test(reprice, test_reprice_rounds_run_out);
    tcase_add_test(reprice, test_reprice_killed_before_the_resubmission_reaches_the_broker);
    tcase_add_test(reprice, test_reprice_killed_after_the_cancel);
    suite_add_tcase(suite, reprice);

    TCase *terminal = tcase_create("terminal_states");
    tcase_set_timeout(terminal, 30);
    tcase_add_loop_test(terminal, test_rejected_at_once, 0, 2);
    tcase_add_loop_test(terminal, test_partially_filled, 0, 2);
    tcase_add_test(terminal, test_mixed_scripts_match_broker);
    tcase_add_test(terminal, test_bad_script_refused);
    suite_add_tcase(suite, terminal);
    return suite;
}

int main(void)
{
    log_configure(LOG_WARN, false); /* no "loaded scripted" line per test */
    SRunner *runner = srunner_create(engine_paths_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
