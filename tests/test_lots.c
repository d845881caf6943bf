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
#include "engine_fixture.h"
#include "testutil.h"

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
