/* Check suite for concurrent placement (engine.c + scheduler.c) against
 * tests/plugins/parallel.c, a broker that takes parallel calls on one
 * session, enforces its rate limit itself and keeps its own timestamps.
 * Everything asserted is an outcome the broker recorded: no "too many
 * requests", no buy before every sell was read final, no client order id
 * placed twice, one new login when the token expired under many workers. */
#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "journal.h"
#include "registry.h"
#include "testutil.h"

typedef struct env {
    char *root;
    char *plugins;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
    registry_broker *broker;
} env;

/* A fresh folder with plugins/parallel.so, loaded with `extra` in its section. */
static void env_open(env *e, const char *extra)
{
    memset(e, 0, sizeof *e);
    e->root = tu_tempdir();
    e->plugins = tu_format("%s/plugins", e->root);
    e->ini = tu_format("%s/brokers.ini", e->root);
    ck_assert_int_eq(mkdir(e->plugins, 0755), 0);
    char *command = tu_format("cp '%s/tests/plugins/parallel.so' '%s/parallel.so' && chmod 755 "
                              "'%s/parallel.so'",
                              tu_build_dir(), e->plugins, e->plugins);
    ck_assert_int_eq(system(command), 0);
    free(command);
    char *text = tu_format("[host]\nplugin_dir = %s\n\n[broker.parallel]\nplugin = parallel.so\n"
                           "retry_base_ms = 1\nretry_max_ms = 2\npoll_interval_ms = 5\n%s",
                           e->plugins, extra);
    tu_write_file(e->ini, text);
    free(text);
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    e->broker = registry_find(e->reg, "parallel");
    ck_assert_msg(e->broker != NULL, "parallel broker refused: %s",
                  registry_find_refusal(e->reg, "parallel"));
    ck_assert(registry_broker_features(e->broker)->parallel_session_calls);
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

/* The broker's counter `name` (see tests/plugins/parallel.c). */
static int64_t counter(env *e, const char *name)
{
    const broker_plugin *plugin = registry_broker_plugin(e->broker);
    broker_instance *instance = registry_broker_instance(e->broker);
    broker_credential key = {"api_key", "counter"};
    broker_credentials credentials = {1, &key};
    broker_session *session = NULL;
    broker_text account, error;
    char symbol[64];
    snprintf(symbol, sizeof symbol, "?%s", name);
    double value = -1;
    ck_assert_int_eq(plugin->open_session(instance, &credentials, &session, &account, &error),
                     BROKER_OK);
    broker_status status = plugin->get_quote(instance, session, symbol, &value);
    plugin->close_session(instance, session);
    ck_assert_msg(status == BROKER_OK, "counter %s", name);
    return (int64_t)value;
}

/* A rebalance: the first `sells` held symbols H0000… go to 0, `buys` new
 * symbols B0000… are bought 10 each. */
typedef struct rebalance {
    exec_request request;
    broker_credential credentials[1];
    exec_target *targets;
} rebalance;

static exec_request *make_rebalance(rebalance *r, const char *api_key, size_t sells, size_t buys)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request.broker, sizeof r->request.broker, "parallel");
    r->credentials[0] = (broker_credential){"api_key", api_key};
    r->request.credentials = r->credentials;
    r->request.credential_count = 1;
    r->targets = calloc(sells + buys, sizeof *r->targets);
    for (size_t i = 0; i < sells + buys; i++) { /* buys first: request order is not plan order */
        bool buy = i < buys;
        snprintf(r->targets[i].symbol, sizeof r->targets[i].symbol, "%s%04zu", buy ? "B" : "H",
                 buy ? i : i - buys);
        r->targets[i].target_quantity = buy ? 10 : 0;
    }
    r->request.targets = r->targets;
    r->request.target_count = sells + buys;
    return &r->request;
}

typedef struct progress_log {
    atomic_int inside;
    atomic_int overlapped;
    atomic_size_t calls;
} progress_log;

static void on_progress(void *context, const exec_result *result, const exec_leg *leg)
{
    progress_log *log = context;
    (void)result;
    if (atomic_fetch_add(&log->inside, 1) != 0)
        atomic_fetch_add(&log->overlapped, 1);
    ck_assert_int_ne(leg->status, LEG_PLANNED);
    atomic_fetch_add(&log->calls, 1);
    atomic_fetch_sub(&log->inside, 1);
}

static void run(env *e, exec_request *request, const engine_call_options *options,
                exec_result *result)
{
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(engine_execute(e->eng, request, options, result, &error) == PTX_OK, "execute: %s",
                  error.message);
}

static void assert_all_filled(const exec_result *result, size_t legs)
{
    ck_assert_uint_eq(result->leg_count, legs);
    for (size_t i = 0; i < result->leg_count; i++)
        ck_assert_msg(result->legs[i].status == LEG_FILLED, "%s: %s %s", result->legs[i].symbol,
                      leg_status_name(result->legs[i].status), result->legs[i].reason);
    for (size_t i = 0; i < result->position_count; i++)
        ck_assert_int_eq(result->positions[i].residual, 0);
    ck_assert_int_eq(result->status, EXEC_COMPLETED);
}

/* 40 legs at 20 orders/s with latency and orders that stay open a while:
 * all filled, placed concurrently, never a 429, never a buy before the last
 * sell was final, no id twice, progress one call at a time. */
START_TEST(test_concurrent_rebalance_inside_the_limit)
{
    env e;
    env_open(&e, "latency_ms = 20\nrate_limit_per_second = 20\nfill_after_ms = 30\n"
                 "holdings_count = 20\n");
    rebalance r;
    progress_log log;
    atomic_init(&log.inside, 0);
    atomic_init(&log.overlapped, 0);
    atomic_init(&log.calls, 0);
    engine_call_options options = {.progress = on_progress, .progress_context = &log};
    exec_result result;
    run(&e, make_rebalance(&r, "k1", 15, 25), &options, &result);
    assert_all_filled(&result, 40);
    ck_assert_uint_eq(atomic_load(&log.calls), 40);
    ck_assert_int_eq(atomic_load(&log.overlapped), 0);
    ck_assert_int_eq(counter(&e, "orders"), 40);
    ck_assert_int_eq(counter(&e, "too_many_requests"), 0);
    ck_assert_int_le(counter(&e, "max_in_window"), 20);
    ck_assert_int_eq(counter(&e, "buys_placed_early"), 0);
    ck_assert_int_eq(counter(&e, "sells_before_buys"), 1);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 1);
    ck_assert_int_gt(counter(&e, "max_concurrent"), 1); /* it did run side by side */
    for (size_t i = 0; i < result.leg_count; i++) {
        const exec_leg *leg = &result.legs[i];
        ck_assert_uint_eq(leg->attempts, 1);
        if (leg->side == BROKER_SIDE_SELL)
            ck_assert_uint_le(leg->sequence, 15);
        else
            ck_assert_uint_gt(leg->sequence, 15);
    }
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* The day's first rebalance asks the facts of its 30 symbols side by side
 * (instruments_prefetch), once each; the next asks only for its 5 new ones. */
START_TEST(test_cold_instrument_facts_asked_side_by_side)
{
    env e;
    env_open(&e, "latency_ms = 20\nrate_limit_per_second = 50\ninstruments = 1\n"
                 "holdings_count = 10\n");
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "cold", 10, 20), NULL, &result);
    assert_all_filled(&result, 30);
    ck_assert_int_eq(counter(&e, "instrument_calls"), 30);
    ck_assert_int_gt(counter(&e, "max_concurrent_instruments"), 1);
    exec_result_free(&result);
    free(r.targets);
    run(&e, make_rebalance(&r, "warm", 0, 25), NULL, &result);
    assert_all_filled(&result, 5);
    ck_assert_int_eq(counter(&e, "instrument_calls"), 35);
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* 3,000 symbols (the cache grows past its first 1,024 buckets): each
 * asked once; buying 10 more of each finds every one cached. */
START_TEST(test_instrument_cache_grows)
{
    env e;
    env_open(&e, "rate_limit_per_second = 0\ninstruments = 1\n");
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "first", 0, 3000), NULL, &result);
    assert_all_filled(&result, 3000);
    ck_assert_int_eq(counter(&e, "instrument_calls"), 3000);
    exec_result_free(&result);
    for (size_t i = 0; i < r.request.target_count; i++)
        r.targets[i].target_quantity = 20;
    run(&e, &r.request, NULL, &result);
    assert_all_filled(&result, 3000);
    ck_assert_int_eq(counter(&e, "instrument_calls"), 3000);
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* With no retries allowed a single 429 would fail a leg: the limiter keeps
 * the placements of two executions of one account, one after the other,
 * inside the broker's rolling second together. */
START_TEST(test_two_executions_share_the_account_limit)
{
    env e;
    env_open(&e, "max_retries = 0\nlatency_ms = 5\nrate_limit_per_second = 6\n"
                 "holdings_count = 0\nmax_in_flight = 8\n");
    rebalance first, second;
    exec_result one, two;
    run(&e, make_rebalance(&first, "shared", 0, 8), NULL, &one);
    assert_all_filled(&one, 8);
    make_rebalance(&second, "shared", 0, 8);
    for (size_t i = 0; i < 8; i++)
        second.targets[i].target_quantity = 20; /* 8 more buys of the same symbols */
    run(&e, &second.request, NULL, &two);
    assert_all_filled(&two, 8);
    ck_assert_int_eq(counter(&e, "too_many_requests"), 0);
    ck_assert_int_le(counter(&e, "max_in_window"), 6);
    ck_assert_int_eq(counter(&e, "orders"), 16);
    exec_result_free(&one);
    exec_result_free(&two);
    free(first.targets);
    free(second.targets);
    env_close(&e);
}
END_TEST

/* The host believes the account may place 50 orders a second, the broker
 * allows 10: the broker refuses, each refusal carries a retry-after hint
 * that holds the whole account, and every leg still fills within its
 * retries (with the 1-2 ms backoff alone they would not). */
START_TEST(test_retry_after_from_the_broker)
{
    env e;
    env_open(&e, "max_retries = 20\nlatency_ms = 2\nrate_limit_per_second = 50\n"
                 "broker_rate_limit_per_second = 10\nmax_in_flight = 6\nholdings_count = 0\n");
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "k", 0, 24), NULL, &result);
    assert_all_filled(&result, 24);
    int64_t refused = counter(&e, "too_many_requests");
    ck_assert_int_gt(refused, 0);
    ck_assert_uint_eq(result.retries.transient, (size_t)refused);
    ck_assert_int_le(counter(&e, "max_in_window"), 10);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 1);
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* The token expires after 5 placements while 8 workers place: one new
 * login serves them all, and every leg fills. */
START_TEST(test_expired_token_logged_in_again_once)
{
    env e;
    env_open(&e, "latency_ms = 10\nrate_limit_per_second = 0\nmax_in_flight = 8\n"
                 "expire_after_places = 5\nholdings_count = 0\n");
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "k", 0, 24), NULL, &result);
    assert_all_filled(&result, 24);
    ck_assert_int_eq(counter(&e, "authentications"), 2); /* the first login and one more */
    ck_assert_uint_eq(result.retries.reauthentications, 1);
    ck_assert_int_eq(counter(&e, "max_places_per_id"), 1);
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* Orders that never fill are given up at order_timeout_ms and cancelled,
 * followed from the one queue of due reads. */
START_TEST(test_open_orders_cancelled_after_timeout)
{
    env e;
    env_open(&e, "latency_ms = 1\nrate_limit_per_second = 0\nfill_after_ms = 100000\n"
                 "order_timeout_ms = 80\nholdings_count = 4\nmax_in_flight = 4\n");
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "k", 4, 8), NULL, &result);
    ck_assert_uint_eq(result.leg_count, 12);
    for (size_t i = 0; i < result.leg_count; i++) {
        ck_assert_int_eq(result.legs[i].status, LEG_CANCELLED);
        ck_assert_ptr_nonnull(strstr(result.legs[i].reason, "cancelled after"));
    }
    ck_assert_int_eq(counter(&e, "buys_placed_early"), 0);
    exec_result_free(&result);
    free(r.targets);
    env_close(&e);
}
END_TEST

/* With the journal on, every leg's final state is recorded from the
 * workers, as it would be one at a time. */
START_TEST(test_journal_records_every_worker)
{
    env e;
    env_open(&e, "latency_ms = 2\nrate_limit_per_second = 0\nmax_in_flight = 8\n"
                 "holdings_count = 10\nfill_after_ms = 5\n");
    char *path = tu_format("%s/journal.db", e.root);
    journal *records = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(path, NULL, &records, &error), PTX_OK);
    engine_set_journal(e.eng, records);
    rebalance r;
    exec_result result;
    run(&e, make_rebalance(&r, "k", 10, 30), NULL, &result);
    assert_all_filled(&result, 40);
    exec_result loaded;
    leg_state *states = NULL;
    ck_assert_int_eq(journal_load(records, result.execution_id, &loaded, &states, &error), PTX_OK);
    ck_assert_uint_eq(loaded.leg_count, 40);
    for (size_t i = 0; i < loaded.leg_count; i++)
        ck_assert_str_eq(leg_state_name(states[i]), "FILLED");
    free(states);
    exec_result_free(&loaded);
    exec_result_free(&result);
    engine_set_journal(e.eng, NULL);
    journal_close(records);
    free(path);
    free(r.targets);
    env_close(&e);
}
END_TEST

static Suite *engine_parallel_suite(void)
{
    Suite *suite = suite_create("engine_parallel");
    TCase *tc = tcase_create("parallel");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cold_instrument_facts_asked_side_by_side);
    tcase_add_test(tc, test_instrument_cache_grows);
    tcase_add_test(tc, test_concurrent_rebalance_inside_the_limit);
    tcase_add_test(tc, test_two_executions_share_the_account_limit);
    tcase_add_test(tc, test_retry_after_from_the_broker);
    tcase_add_test(tc, test_expired_token_logged_in_again_once);
    tcase_add_test(tc, test_open_orders_cancelled_after_timeout);
    tcase_add_test(tc, test_journal_records_every_worker);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(engine_parallel_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
