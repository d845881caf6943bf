/* Check suite for host/funds.c: after the sells, buys the cash cannot pay
 * for are scaled down in whole lots or refused (on_insufficient_funds), the
 * largest first or pro rata (funds_policy), each with its reason, before any
 * of them is sent. Runs the real simulated plugins with `initial_cash`. */
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

/* 100,000 of cash and TCS 5 sold (about 15,600): HDFCBANK 200 (about
 * 198,000) is cut to what the cash pays for, in whole shares; the broker
 * rejects nothing. */
START_TEST(test_buy_scaled_down)
{
    env e;
    env_open(&e, "initial_cash = 100000\n");
    exec_result result;
    execute(&e, brokers[_i], "scale", "TCS:0,HDFCBANK:200", false, &result);
    const exec_leg *sell = leg_of(&result, "TCS"), *buy = leg_of(&result, "HDFCBANK");
    ck_assert_int_eq(sell->status, LEG_FILLED);
    ck_assert_int_eq(buy->status, LEG_FILLED);
    ck_assert_int_eq(buy->requested_quantity, 200);
    ck_assert_int_gt(buy->quantity, 100);
    ck_assert_int_lt(buy->quantity, 118); /* 115,600 / 990 */
    ck_assert_int_gt(position_of(&result, "HDFCBANK")->residual, 0);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"requested_quantity\":200"));
    ck_assert_ptr_nonnull(strstr(text, "\"unfilled_reason\":\"buy scaled down"));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* on_insufficient_funds = reject: the buy that does not fit is refused
 * whole, never sent, with the amounts; the one that fits is placed. */
START_TEST(test_buy_refused)
{
    env e;
    env_open(&e, "initial_cash = 100000\non_insufficient_funds = reject\n");
    exec_result result;
    execute(&e, brokers[_i], "reject", "HDFCBANK:200,ITC:50", false, &result);
    const exec_leg *big = leg_of(&result, "HDFCBANK"), *small = leg_of(&result, "ITC");
    ck_assert_int_eq(big->status, LEG_REJECTED);
    ck_assert_uint_eq(big->attempts, 0);
    ck_assert_int_eq(big->filled_quantity, 0);
    ck_assert_ptr_nonnull(strstr(big->reason, "insufficient funds"));
    ck_assert_ptr_nonnull(strstr(big->reason, "on_insufficient_funds = reject"));
    ck_assert_int_eq(small->status, LEG_FILLED);
    ck_assert_int_eq(small->quantity, 50);
    ck_assert_int_eq(position_of(&result, "HDFCBANK")->after, 0);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Two buys worth about 81,000 and 99,000 against 100,000: largest first
 * fills HDFCBANK whole and cuts ITC; pro rata cuts both. */
START_TEST(test_funds_policy)
{
    env e;
    env_open(&e, "initial_cash = 100000\n");
    exec_result result;
    execute(&e, "zerodha", "largest", "ITC:200,HDFCBANK:100", false, &result);
    ck_assert_int_eq(leg_of(&result, "HDFCBANK")->quantity, 100);
    ck_assert_int_eq(leg_of(&result, "HDFCBANK")->requested_quantity, 0);
    ck_assert_int_lt(leg_of(&result, "ITC")->quantity, 10);
    exec_result_free(&result);
    env_close(&e);
    env_open(&e, "initial_cash = 100000\nfunds_policy = pro_rata\n");
    execute(&e, "zerodha", "prorata", "ITC:200,HDFCBANK:100", false, &result);
    const exec_leg *itc = leg_of(&result, "ITC"), *hdfc = leg_of(&result, "HDFCBANK");
    ck_assert_int_gt(itc->quantity, 100);
    ck_assert_int_lt(itc->quantity, 200);
    ck_assert_int_gt(hdfc->quantity, 45);
    ck_assert_int_lt(hdfc->quantity, 100);
    ck_assert_int_eq(itc->status, LEG_FILLED);
    ck_assert_int_eq(hdfc->status, LEG_FILLED);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Futures in whole lots: 30 lots of NIFTY (about 5.1 crore, two children)
 * against 2 crore are cut to 11 lots (17.03 lakh each): the first child
 * shrinks, the second is refused. */
START_TEST(test_scaled_in_whole_lots)
{
    env e;
    env_open(&e, "initial_cash = 20000000\n");
    exec_result result;
    execute(&e, "zerodha", "lots", "NIFTY26DECFUT:1950", false, &result);
    int64_t placed = 0;
    for (size_t i = 0; i < result.leg_count; i++) {
        ck_assert_int_eq(result.legs[i].quantity % 65, 0);
        placed += result.legs[i].filled_quantity;
    }
    ck_assert_int_eq(placed, 65 * 11);
    ck_assert_int_eq(position_of(&result, "NIFTY26DECFUT")->after, 65 * 11);
    ck_assert_uint_eq(result.leg_count, 2);
    ck_assert_int_eq(result.legs[1].status, LEG_REJECTED);
    ck_assert_int_eq(result.legs[1].requested_quantity, 195);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* Ample cash (no initial_cash): nothing is cut. */
START_TEST(test_ample_cash_untouched)
{
    env e;
    env_open(&e, "");
    exec_result result;
    execute(&e, "zerodha", "ample", "HDFCBANK:2000,ITC:5000", false, &result);
    ck_assert_int_eq(leg_of(&result, "HDFCBANK")->quantity, 2000);
    ck_assert_int_eq(leg_of(&result, "ITC")->requested_quantity, 0);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

static Suite *funds_suite(void)
{
    Suite *suite = suite_create("funds");
    TCase *basic = tcase_create("funds");
    tcase_add_loop_test(basic, test_buy_scaled_down, 0, (int)BROKER_COUNT);
    tcase_add_loop_test(basic, test_buy_refused, 0, (int)BROKER_COUNT);
    tcase_add_test(basic, test_funds_policy);
    tcase_add_test(basic, test_scaled_in_whole_lots);
    tcase_add_test(basic, test_ample_cash_untouched);
    suite_add_tcase(suite, basic);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(funds_suite());
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
