/* Check suite for order types (host/legs.c, order_type = limit): limit
 * orders priced from a fresh quote ± limit_offset_bps on the tick, and a
 * limit the market does not reach cancelled at order_timeout_ms with the
 * reason. Runs the real simulated plugins. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "idempotency.h"
#include "registry.h"
#include "render.h"
#include "engine_fixture.h"
#include "testutil.h"

/* True when `price` is a whole number of 5 paise ticks. */
static bool on_tick(double price)
{
    double ticks = price / 0.05;
    return fabs(ticks - round(ticks)) < 1e-6;
}

/* A buy 10 bps above the quote and a sell 10 bps below it, on the tick:
 * both cross the touch (no spread) and fill. */
START_TEST(test_limit_orders_fill)
{
    env e;
    env_open(&e, "order_type = limit\n");
    exec_result result;
    execute(&e, brokers[_i], "limit", "HDFCBANK:7,TCS:2", false, &result);
    const exec_leg *buy = leg_of(&result, "HDFCBANK"), *sell = leg_of(&result, "TCS");
    ck_assert_int_eq(buy->status, LEG_FILLED);
    ck_assert_int_eq(sell->status, LEG_FILLED);
    ck_assert(buy->limit_price >= 990.0 * 1.001 - 1e-9 && buy->limit_price < 990.0 * 1.001 + 0.05);
    ck_assert(sell->limit_price <= 3100.0 * 0.999 + 1e-9 &&
              sell->limit_price > 3100.0 * 0.999 - 0.05);
    ck_assert(on_tick(buy->limit_price) && on_tick(sell->limit_price));
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"order_type\":\"LIMIT\",\"limit_price\":"));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* At the quote with a spread, a buy limit never reaches the ask: cancelled
 * at order_timeout_ms, reported with the price and the reason. */
START_TEST(test_limit_not_reached)
{
    env e;
    env_open(&e, "order_type = limit\nlimit_offset_bps = 0\nspread_bps = 40\n"
                 "order_timeout_ms = 60\n");
    exec_result result;
    execute(&e, "zerodha", "unreached", "HDFCBANK:7", false, &result);
    const exec_leg *buy = leg_of(&result, "HDFCBANK");
    ck_assert_int_eq(buy->status, LEG_CANCELLED);
    ck_assert_int_eq(buy->filled_quantity, 0);
    ck_assert_ptr_nonnull(strstr(buy->reason, "not reached"));
    ck_assert_int_eq(result.positions[0].residual, 7);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"unfilled_reason\":\"limit "));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* The default stays a market order: no limit price, nothing rendered. */
START_TEST(test_market_by_default)
{
    env e;
    env_open(&e, "");
    exec_result result;
    execute(&e, "zerodha", "market", "HDFCBANK:7", false, &result);
    ck_assert(leg_of(&result, "HDFCBANK")->limit_price == 0.0);
    char *text = render_result(&result, NULL);
    ck_assert_ptr_null(strstr(text, "limit_price"));
    free(text);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* The request chooses: "order_type":"limit" over a market broker, and
 * "market" over a limit one; it takes part in the idempotency hash. */
START_TEST(test_order_type_per_request)
{
    env e;
    env_open(&e, "");
    test_request t;
    exec_result result;
    ptx_error error;
    exec_request *request = make_request(&t, "zerodha", "asks-limit", "HDFCBANK:7", false);
    request->order_type = EXEC_ORDER_LIMIT;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
    ck_assert(leg_of(&result, "HDFCBANK")->limit_price > 0.0);
    ck_assert_int_eq(leg_of(&result, "HDFCBANK")->status, LEG_FILLED);
    exec_result_free(&result);
    env_close(&e);

    env_open(&e, "order_type = limit\n");
    request = make_request(&t, "zerodha", "asks-market", "HDFCBANK:7", false);
    request->order_type = EXEC_ORDER_MARKET;
    ck_assert_int_eq(engine_execute(e.eng, request, NULL, &result, &error), PTX_OK);
    ck_assert(leg_of(&result, "HDFCBANK")->limit_price == 0.0);
    exec_result_free(&result);
    env_close(&e);

    char plain[IDS_SHA256_HEX_MAX], limit[IDS_SHA256_HEX_MAX];
    request = make_request(&t, "zerodha", "hash", "HDFCBANK:7", false);
    idempotency_request_hash(request, "0123456789abcdef", plain);
    request->order_type = EXEC_ORDER_LIMIT;
    idempotency_request_hash(request, "0123456789abcdef", limit);
    ck_assert_str_ne(plain, limit);
}
END_TEST

static Suite *orders_suite(void)
{
    Suite *suite = suite_create("orders");
    TCase *basic = tcase_create("orders");
    tcase_add_loop_test(basic, test_limit_orders_fill, 0, (int)BROKER_COUNT);
    tcase_add_test(basic, test_limit_not_reached);
    tcase_add_test(basic, test_market_by_default);
    tcase_add_test(basic, test_order_type_per_request);
    suite_add_tcase(suite, basic);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(orders_suite());
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
