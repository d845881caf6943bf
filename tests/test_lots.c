/* Check suite for host/lots.c and what the engine does with it: deltas
 * rounded to whole lots with the residual's reason, legs above the freeze
 * quantity split into child orders under their own client order ids, and
 * the reported leg summing its children. Runs the real simulated plugins
 * (their NFO futures have lots and freeze quantities; NSE equities lot 1). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "registry.h"
#include "render.h"
#include "testutil.h"

static const char *const brokers[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
#define BROKER_COUNT (sizeof brokers / sizeof brokers[0])

typedef struct env {
    char *dir;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
} env;

static void env_open(env *e, const char *broker_extra)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_write_ini(e->dir, broker_extra, NULL);
    ptx_error error;
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
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

typedef struct test_request {
    exec_request request;
    broker_credential credentials[2];
    exec_target targets[8];
} test_request;

/* `targets` is "SYMBOL:QTY,…". */
static exec_request *make_request(test_request *t, const char *broker, const char *account,
                                  const char *targets, bool dry_run)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "%s", broker);
    t->credentials[0] = (broker_credential){"api_key", account};
    t->credentials[1] = (broker_credential){"access_token", "demo"};
    t->request.credentials = t->credentials;
    t->request.credential_count = 2;
    t->request.dry_run = dry_run;
    char *copy = strdup(targets);
    size_t count = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        *colon = '\0';
        snprintf(t->targets[count].symbol, sizeof t->targets[count].symbol, "%s", item);
        t->targets[count++].target_quantity = strtoll(colon + 1, NULL, 10);
    }
    free(copy);
    t->request.targets = t->targets;
    t->request.target_count = count;
    return &t->request;
}

static void execute(env *e, const char *broker, const char *account, const char *targets,
                    bool dry_run, exec_result *result)
{
    test_request t;
    ptx_error error;
    ck_assert_msg(engine_execute(e->eng, make_request(&t, broker, account, targets, dry_run), NULL,
                                 result, &error) == PTX_OK,
                  "%s: %s", broker, error.message);
}

static const exec_position *position_of(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->position_count; i++)
        if (strcmp(result->positions[i].symbol, symbol) == 0)
            return &result->positions[i];
    ck_abort_msg("no position %s", symbol);
    return NULL;
}

/* NIFTY futures, lot 65: a delta of 100 trades 65 and reports 35 rounded
 * off, with the reason on the position; an equity (lot 1) is untouched. */
START_TEST(test_delta_rounded_to_lots)
{
    env e;
    env_open(&e, "");
    const char *broker = brokers[_i];
    exec_result result;
    execute(&e, broker, "lots", "NIFTY26DECFUT:100,RELIANCE:13", false, &result);
    ck_assert_uint_eq(result.leg_count, 2);
    ck_assert_str_eq(result.legs[0].symbol, "NIFTY26DECFUT");
    ck_assert_int_eq(result.legs[0].quantity, 65);
    ck_assert_int_eq(result.legs[0].status, LEG_FILLED);
    ck_assert_int_eq(result.legs[1].quantity, 3);
    const exec_position *future = position_of(&result, "NIFTY26DECFUT");
    ck_assert_int_eq(future->after, 65);
    ck_assert_int_eq(future->residual, 35);
    ck_assert_int_eq(future->rounded, 35);
    ck_assert_int_eq(position_of(&result, "RELIANCE")->rounded, 0);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"rounded\":35,\"unfilled_reason\":\"35 not traded: "
                                       "rounded to whole lots of 65\""));
    ck_assert_ptr_null(strstr(text, "children"));
    free(text);
    exec_result_free(&result);
    /* Less than a lot: nothing to place, the whole delta has its reason. */
    execute(&e, broker, "lots", "NIFTY26DECFUT:129", false, &result);
    ck_assert_uint_eq(result.leg_count, 0);
    ck_assert_int_eq(result.status, EXEC_NOOP);
    ck_assert_int_eq(position_of(&result, "NIFTY26DECFUT")->rounded, 64);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* NIFTY futures, freeze 1755 (27 lots): 40 lots become children of 1755 and
 * 845, each with its own client order id; the result reports one leg. */
START_TEST(test_freeze_slicing)
{
    env e;
    env_open(&e, "");
    const char *broker = brokers[_i];
    exec_result result;
    execute(&e, broker, "freeze", "NIFTY26DECFUT:2600,RELIANCE:10", true, &result);
    ck_assert_uint_eq(result.leg_count, 2);
    ck_assert_int_eq(result.legs[0].quantity, 1755);
    ck_assert_int_eq(result.legs[1].quantity, 845);
    ck_assert_uint_eq(result.summary.orders, 1);
    exec_result_free(&result);
    execute(&e, broker, "freeze", "NIFTY26DECFUT:2600,TCS:3", false, &result);
    ck_assert_uint_eq(result.leg_count, 3); /* two children, then the TCS sell */
    ck_assert_int_eq(result.legs[2].side, BROKER_SIDE_SELL);
    ck_assert_uint_eq(result.legs[2].sequence, 1); /* sells first */
    ck_assert_uint_eq(result.legs[0].sequence, 2);
    ck_assert_uint_eq(result.legs[1].sequence, 3);
    ck_assert_str_ne(result.legs[0].client_order_id, result.legs[1].client_order_id);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    ck_assert_uint_eq(result.summary.orders, 2);
    ck_assert_uint_eq(result.summary.filled, 2);
    ck_assert_int_eq(position_of(&result, "NIFTY26DECFUT")->after, 2600);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"symbol\":\"NIFTY26DECFUT\",\"quantity\":2600,"
                                       "\"side\":\"BUY\",\"status\":\"FILLED\""));
    ck_assert_ptr_nonnull(strstr(text, "\"filled_quantity\":2600"));
    ck_assert_ptr_nonnull(strstr(text, "\"children\":[{\"client_order_id\""));
    ck_assert_ptr_nonnull(strstr(text, "\"quantity\":845,\"status\":\"FILLED\""));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* A child that fails leaves the leg PARTIALLY_FILLED with its reason, and
 * the position's residual says why. */
START_TEST(test_child_failure_reported)
{
    env e;
    env_open(&e, "reject_rate = 0.5\nseed = 7\n");
    exec_result result;
    bool seen = false;
    for (int run = 0; run < 20 && !seen; run++) {
        char account[32];
        snprintf(account, sizeof account, "child%d", run);
        execute(&e, "zerodha", account, "BANKNIFTY26DECFUT:3000", false, &result);
        exec_leg leg;
        exec_leg_combine(&result, 0, exec_leg_group_end(&result, 0), &leg);
        int64_t filled = 0;
        for (size_t i = 0; i < result.leg_count; i++)
            filled += result.legs[i].filled_quantity;
        ck_assert_int_eq(leg.filled_quantity, filled);
        ck_assert_int_eq(result.positions[0].after, filled);
        if (filled > 0 && filled < 3000) {
            seen = true;
            ck_assert_int_eq(leg.status, LEG_PARTIALLY_FILLED);
            ck_assert_str_ne(leg.reason, "");
            char *text = render_result(&result, NULL);
            ck_assert_ptr_nonnull(strstr(text, "\"unfilled_reason\":\""));
            free(text);
        }
        exec_result_free(&result);
    }
    ck_assert(seen);
    env_close(&e);
}
END_TEST

static Suite *lots_suite(void)
{
    Suite *suite = suite_create("lots");
    TCase *basic = tcase_create("lots");
    tcase_add_loop_test(basic, test_delta_rounded_to_lots, 0, (int)BROKER_COUNT);
    tcase_add_loop_test(basic, test_freeze_slicing, 0, (int)BROKER_COUNT);
    tcase_add_test(basic, test_child_failure_reported);
    suite_add_tcase(suite, basic);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(lots_suite());
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
