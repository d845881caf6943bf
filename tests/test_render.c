/* Check suite for host/render.c: the documents of design §2.5, byte for
 * byte where the order of fields is part of the contract. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "holdings.h"
#include "json.h"
#include "registry.h"
#include "render.h"
#include "testutil.h"

static exec_leg make_leg(const char *symbol, broker_side side, int64_t quantity, size_t sequence,
                         leg_status status, int64_t filled, double price)
{
    exec_leg leg;
    memset(&leg, 0, sizeof leg);
    snprintf(leg.symbol, sizeof leg.symbol, "%s", symbol);
    leg.side = side;
    leg.quantity = quantity;
    leg.sequence = sequence;
    leg.status = status;
    leg.filled_quantity = filled;
    leg.average_price = price;
    leg.attempts = status == LEG_PLANNED ? 0 : 1;
    if (status != LEG_PLANNED) {
        snprintf(leg.order_id, sizeof leg.order_id, "ORD-%zu", sequence);
        snprintf(leg.client_order_id, sizeof leg.client_order_id, "tag%zu", sequence);
    }
    return leg;
}

static exec_position make_position(const char *symbol, int64_t before, int64_t target,
                                   int64_t after)
{
    exec_position position;
    memset(&position, 0, sizeof position);
    snprintf(position.symbol, sizeof position.symbol, "%s", symbol);
    position.before = before;
    position.target = target;
    position.after = after;
    position.residual = target - after;
    return position;
}

/* The seed's example: BUY RELIANCE 10 and SELL TCS 5, in request order, the
 * SELL executed first. */
static void seed_result(exec_result *result, exec_leg legs[2], exec_position positions[2])
{
    memset(result, 0, sizeof *result);
    snprintf(result->execution_id, sizeof result->execution_id, "ex-01TEST");
    snprintf(result->broker, sizeof result->broker, "zerodha");
    snprintf(result->account_hash, sizeof result->account_hash, "0123456789abcdef");
    result->status = EXEC_COMPLETED;
    legs[0] = make_leg("RELIANCE", BROKER_SIDE_BUY, 10, 2, LEG_FILLED, 10, 2950.5);
    legs[1] = make_leg("TCS", BROKER_SIDE_SELL, 5, 1, LEG_FILLED, 5, 3890.25);
    positions[0] = make_position("RELIANCE", 10, 20, 20);
    positions[1] = make_position("TCS", 5, 0, 0);
    result->legs = legs;
    result->leg_count = 2;
    result->positions = positions;
    result->position_count = 2;
    result->reconciled = true;
    result->summary = (exec_summary){.orders = 2, .filled = 2};
}

START_TEST(test_seed_result_exact)
{
    exec_result result;
    exec_leg legs[2];
    exec_position positions[2];
    seed_result(&result, legs, positions);
    size_t length = 0;
    char *text = render_result(&result, &length);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(
        text, "{\"execution_id\":\"ex-01TEST\",\"broker\":\"zerodha\",\"status\":\"COMPLETED\","
              "\"results\":["
              "{\"symbol\":\"RELIANCE\",\"quantity\":10,\"side\":\"BUY\",\"status\":\"FILLED\","
              "\"reason\":null,\"sequence\":2,\"order_id\":\"ORD-2\",\"client_order_id\":\"tag2\","
              "\"filled_quantity\":10,\"average_price\":2950.5,\"attempts\":1},"
              "{\"symbol\":\"TCS\",\"quantity\":5,\"side\":\"SELL\",\"status\":\"FILLED\","
              "\"reason\":null,\"sequence\":1,\"order_id\":\"ORD-1\",\"client_order_id\":\"tag1\","
              "\"filled_quantity\":5,\"average_price\":3890.25,\"attempts\":1}],"
              "\"positions\":["
              "{\"symbol\":\"RELIANCE\",\"before\":10,\"target\":20,\"after\":20,\"residual\":0},"
              "{\"symbol\":\"TCS\",\"before\":5,\"target\":0,\"after\":0,\"residual\":0}],"
              "\"summary\":{\"orders\":2,\"filled\":2,\"failed\":0,\"rejected\":0,"
              "\"partially_filled\":0,\"cancelled\":0},"
              "\"reconciled\":true}");
    ck_assert_uint_eq(length, strlen(text));
    ck_assert_msg(strstr(text, "0123456789abcdef") == NULL, "account hash is not in the body");
    free(text);
}
END_TEST

START_TEST(test_failed_and_planned_legs)
{
    exec_leg legs[3];
    legs[0] = make_leg("INFY", BROKER_SIDE_BUY, 4, 2, LEG_REJECTED, 0, 0);
    snprintf(legs[0].reason, sizeof legs[0].reason, "RMS: \"margin\" exceeded\nby 1200");
    legs[0].order_id[0] = '\0';
    legs[1] = make_leg("HDFC", BROKER_SIDE_SELL, 7, 1, LEG_PARTIALLY_FILLED, 3, 1601.1);
    snprintf(legs[1].reason, sizeof legs[1].reason, "remainder cancelled");
    legs[2] = make_leg("TCS", BROKER_SIDE_BUY, 1, 3, LEG_PLANNED, 0, 0);
    exec_result result;
    memset(&result, 0, sizeof result);
    result.status = EXEC_PARTIAL;
    result.legs = legs;
    result.leg_count = 3;
    result.summary = (exec_summary){.orders = 3, .rejected = 1, .partially_filled = 1};
    char *text = render_result(&result, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "{\"symbol\":\"INFY\",\"quantity\":4,\"side\":\"BUY\","
                               "\"status\":\"REJECTED\",\"reason\":\"RMS: \\\"margin\\\" "
                               "exceeded\\nby 1200\",\"sequence\":2,\"order_id\":null,"
                               "\"client_order_id\":\"tag2\",\"filled_quantity\":0,"
                               "\"average_price\":null,\"attempts\":1}") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "\"status\":\"PARTIALLY_FILLED\",\"reason\":\"remainder "
                               "cancelled\"") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "\"filled_quantity\":3,\"average_price\":1601.1,") != NULL, "%s",
                  text);
    ck_assert_msg(strstr(text, "\"status\":\"PLANNED\",\"reason\":null,\"sequence\":3,"
                               "\"order_id\":null,\"client_order_id\":null") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "\"status\":\"PARTIAL\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "\"positions\":[]") != NULL, "%s", text);

    char why[160];
    json_value *document = json_parse(text, strlen(text), why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    const json_value *first = json_first(json_get(document, "results"));
    ck_assert_str_eq(json_string(json_get(first, "reason")), "RMS: \"margin\" exceeded\nby 1200");
    json_free(document);
    free(text);
}
END_TEST

START_TEST(test_error_rendering)
{
    ptx_error error;
    ptx_fail(&error, PTX_INVALID, "target_portfolio[1].target_quantity",
             "target_portfolio[1].target_quantity must be an integer between 0 and 1000000000, "
             "got number 1e3");
    size_t length = 0;
    char *text = render_error(&error, &length);
    ck_assert_str_eq(text, "{\"error\":{\"code\":\"invalid_request\",\"message\":"
                           "\"target_portfolio[1].target_quantity must be an integer between 0 "
                           "and 1000000000, got number 1e3\",\"field\":"
                           "\"target_portfolio[1].target_quantity\"}}");
    ck_assert_uint_eq(length, strlen(text));
    free(text);

    ptx_fail(&error, PTX_PARSE, NULL, "malformed JSON at byte 7: \"unexpected\"");
    text = render_error(&error, NULL);
    ck_assert_str_eq(text, "{\"error\":{\"code\":\"invalid_json\",\"message\":"
                           "\"malformed JSON at byte 7: \\\"unexpected\\\"\",\"field\":null}}");
    free(text);

    ptx_fail(&error, PTX_AUTH, "", "%s", "");
    text = render_error(&error, NULL);
    ck_assert_str_eq(text, "{\"error\":{\"code\":\"broker_auth_failed\",\"message\":"
                           "\"broker authentication failed\",\"field\":null}}");
    free(text);
}
END_TEST

START_TEST(test_holdings_sorted)
{
    holdings *map = holdings_create(4);
    ck_assert(holdings_set(map, "TCS", 5));
    ck_assert(holdings_set(map, "INFY", 8));
    ck_assert(holdings_set(map, "RELIANCE", 10));
    ck_assert(holdings_set(map, "M&M", 0));
    char *text = render_holdings("zerodha", map, NULL);
    ck_assert_str_eq(text, "{\"broker\":\"zerodha\",\"holdings\":["
                           "{\"symbol\":\"INFY\",\"quantity\":8},"
                           "{\"symbol\":\"M&M\",\"quantity\":0},"
                           "{\"symbol\":\"RELIANCE\",\"quantity\":10},"
                           "{\"symbol\":\"TCS\",\"quantity\":5}]}");
    free(text);
    holdings_free(map);

    map = holdings_create(0);
    text = render_holdings("fyers", map, NULL);
    ck_assert_str_eq(text, "{\"broker\":\"fyers\",\"holdings\":[]}");
    free(text);
    holdings_free(map);
}
END_TEST

START_TEST(test_brokers_listing)
{
    char *dir = tu_tempdir();
    char *ini = tu_write_ini(dir, "", "");
    config cfg;
    ptx_error error;
    ck_assert_msg(config_load(ini, &cfg, &error) == PTX_OK, "%s", error.message);
    registry *reg = NULL;
    ck_assert_int_eq(registry_load(&cfg, &reg, &error), PTX_OK);
    size_t count = registry_count(reg);
    ck_assert_uint_gt(count, 0);
    char *text = render_brokers(reg, NULL);
    ck_assert_ptr_nonnull(text);
    char why[160];
    json_value *document = json_parse(text, strlen(text), why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    const json_value *list = json_get(document, "brokers");
    ck_assert_uint_eq(json_size(list), count);
    size_t index = 0;
    for (const json_value *item = json_first(list); item; item = json_next(item), index++) {
        registry_broker *broker = registry_at(reg, index);
        const broker_plugin *plugin = registry_broker_plugin(broker);
        ck_assert_str_eq(json_string(json_get(item, "name")), registry_broker_name(broker));
        ck_assert_str_eq(json_string(json_get(item, "version")), plugin->version);
        char abi[16]; /* the in-tree plugins are built against this header */
        snprintf(abi, sizeof abi, "%d.%d", BROKER_ABI_MAJOR, BROKER_ABI_MINOR);
        ck_assert_str_eq(json_string(json_get(item, "abi")), abi);
        ck_assert_str_eq(json_string(json_get(item, "mode")), "simulated");
        ck_assert_str_eq(json_string(json_get(item, "plugin")), registry_broker_file(broker));
        ck_assert_str_eq(json_string(json_get(item, "description")), plugin->description);
        ck_assert_str_eq(json_key(json_first(item)), "name");
    }
    char *expected_start = tu_format("{\"brokers\":[{\"name\":\"%s\",\"version\":",
                                     registry_broker_name(registry_at(reg, 0)));
    ck_assert_msg(strncmp(text, expected_start, strlen(expected_start)) == 0, "%s", text);
    free(expected_start);
    json_free(document);
    free(text);
    registry_free(reg);
    config_free(&cfg);
    unlink(ini);
    rmdir(dir);
    free(ini);
    free(dir);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *suite = suite_create("render");
    TCase *tc = tcase_create("render");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_seed_result_exact);
    tcase_add_test(tc, test_failed_and_planned_legs);
    tcase_add_test(tc, test_error_rendering);
    tcase_add_test(tc, test_holdings_sorted);
    tcase_add_test(tc, test_brokers_listing);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(render_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
