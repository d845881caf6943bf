/* Check suite of host/metrics.c: counters and their Prometheus rendering. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const brokers[] = {"zerodha", "fyers"};

static exec_result make_result(exec_status status, int64_t duration_ms)
{
    static exec_leg legs[2];
    memset(legs, 0, sizeof legs);
    legs[0].status = LEG_FILLED;
    legs[0].attempts = 3;
    legs[0].filled_quantity = 10;
    legs[1].status = LEG_REJECTED;
    legs[1].attempts = 1;
    exec_result result = {.status = status, .legs = legs, .leg_count = 2};
    result.started_ms = 1000;
    result.finished_ms = 1000 + duration_ms;
    return result;
}

/* Asserts that `text` holds `line` as a whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t length = strlen(line);
    for (const char *at = strstr(text, line); at; at = strstr(at + 1, line))
        if ((at == text || at[-1] == '\n') && at[length] == '\n')
            return;
    ck_abort_msg("line '%s' not found in:\n%s", line, text);
}

START_TEST(counts_executions_and_legs_by_broker)
{
    metrics *stats = metrics_create(brokers, 2);
    ck_assert_ptr_nonnull(stats);
    exec_result result = make_result(EXEC_PARTIAL, 30);
    result.retries.transient = 3;
    result.retries.unknown_lookups = 1;
    result.retries.reauthentications = 2;
    metrics_execution_begin(stats);
    ck_assert_uint_eq(metrics_in_flight(stats), 1);
    metrics_execution_end(stats, "fyers", PTX_OK, &result);
    ck_assert_uint_eq(metrics_in_flight(stats), 0);
    char *text = metrics_render(stats, NULL);
    ck_assert_ptr_nonnull(text);
    assert_line(text, "ptexec_executions_total{broker=\"fyers\",status=\"PARTIAL\"} 1");
    assert_line(text, "ptexec_executions_total{broker=\"zerodha\",status=\"PARTIAL\"} 0");
    assert_line(text, "ptexec_orders_total{broker=\"fyers\",status=\"FILLED\"} 1");
    assert_line(text, "ptexec_orders_total{broker=\"fyers\",status=\"REJECTED\"} 1");
    assert_line(text, "ptexec_order_attempts_total{broker=\"fyers\"} 4");
    assert_line(text, "ptexec_order_retries_total{broker=\"fyers\"} 2");
    assert_line(text, "ptexec_retries_total{broker=\"fyers\",class=\"transient\"} 3");
    assert_line(text, "ptexec_retries_total{broker=\"fyers\",class=\"unknown_lookup\"} 1");
    assert_line(text, "ptexec_retries_total{broker=\"fyers\",class=\"reauthentication\"} 2");
    assert_line(text, "ptexec_retries_total{broker=\"zerodha\",class=\"transient\"} 0");
    assert_line(text, "ptexec_filled_quantity_total{broker=\"fyers\"} 10");
    assert_line(text, "ptexec_executions_in_flight 0");
    free(text);
    metrics_free(stats);
}
END_TEST

START_TEST(unknown_broker_names_do_not_grow_the_label_set)
{
    metrics *stats = metrics_create(brokers, 2);
    exec_result result = make_result(EXEC_COMPLETED, 1);
    metrics_execution_begin(stats);
    metrics_execution_end(stats, "attacker-chosen", PTX_OK, &result);
    char *text = metrics_render(stats, NULL);
    ck_assert_ptr_null(strstr(text, "attacker-chosen"));
    assert_line(text, "ptexec_executions_total{broker=\"other\",status=\"COMPLETED\"} 1");
    free(text);
    metrics_free(stats);
}
END_TEST

START_TEST(refusals_are_counted_by_code)
{
    metrics *stats = metrics_create(brokers, 2);
    metrics_execution_begin(stats);
    metrics_execution_end(stats, "zerodha", PTX_AUTH, NULL);
    metrics_execution_begin(stats);
    metrics_execution_end(stats, "zerodha", PTX_BUSY, NULL);
    char *text = metrics_render(stats, NULL);
    assert_line(text, "ptexec_execution_errors_total{code=\"broker_auth_failed\"} 1");
    assert_line(text, "ptexec_execution_errors_total{code=\"account_busy\"} 1");
    assert_line(text, "ptexec_execution_duration_seconds_count 0");
    free(text);
    metrics_free(stats);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative)
{
    metrics *stats = metrics_create(brokers, 2);
    const int64_t durations[] = {3, 40, 40, 700, 120000};
    for (size_t i = 0; i < 5; i++) {
        exec_result result = make_result(EXEC_COMPLETED, durations[i]);
        metrics_execution_begin(stats);
        metrics_execution_end(stats, "zerodha", PTX_OK, &result);
    }
    char *text = metrics_render(stats, NULL);
    assert_line(text, "ptexec_execution_duration_seconds_bucket{le=\"0.005\"} 1");
    assert_line(text, "ptexec_execution_duration_seconds_bucket{le=\"0.05\"} 3");
    assert_line(text, "ptexec_execution_duration_seconds_bucket{le=\"1\"} 4");
    assert_line(text, "ptexec_execution_duration_seconds_bucket{le=\"60\"} 4");
    assert_line(text, "ptexec_execution_duration_seconds_bucket{le=\"+Inf\"} 5");
    assert_line(text, "ptexec_execution_duration_seconds_count 5");
    assert_line(text, "ptexec_execution_duration_seconds_sum 120.783000");
    free(text);
    metrics_free(stats);
}
END_TEST

START_TEST(http_requests_by_route_and_code)
{
    metrics *stats = metrics_create(brokers, 2);
    metrics_http_request(stats, "/execute", 200, 12.0);
    metrics_http_request(stats, "/execute", 422, 1.0);
    metrics_http_request(stats, "/execute", 422, 1.0);
    metrics_http_request(stats, "/no/such/route", 404, 0.5);
    metrics_http_request(stats, "/health", 299, 0.5);
    char *text = metrics_render(stats, NULL);
    assert_line(text, "ptexec_http_requests_total{route=\"/execute\",code=\"200\"} 1");
    assert_line(text, "ptexec_http_requests_total{route=\"/execute\",code=\"422\"} 2");
    assert_line(text, "ptexec_http_requests_total{route=\"other\",code=\"404\"} 1");
    assert_line(text, "ptexec_http_requests_total{route=\"/health\",code=\"other\"} 1");
    ck_assert_ptr_null(strstr(text, "/no/such/route"));
    assert_line(text, "# TYPE ptexec_http_requests_total counter");
    assert_line(text, "# TYPE ptexec_execution_duration_seconds histogram");
    assert_line(text, "# TYPE ptexec_executions_in_flight gauge");
    free(text);
    metrics_free(stats);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *suite = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, counts_executions_and_legs_by_broker);
    tcase_add_test(tc, unknown_broker_names_do_not_grow_the_label_set);
    tcase_add_test(tc, refusals_are_counted_by_code);
    tcase_add_test(tc, histogram_buckets_are_cumulative);
    tcase_add_test(tc, http_requests_by_route_and_code);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(metrics_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
