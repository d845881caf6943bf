/* Check suite for host/notify.c: the notify.log sink writes the summary and
 * the legs that did not fill, and nothing secret; unknown sinks are refused
 * with FILE:LINE. Log output is captured by pointing stderr at a file inside
 * the forked test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "testutil.h"

#define SECRET "s3cr3t-Notify-77"

typedef struct capture {
    char *path;
    int saved;
} capture;

static void capture_begin(capture *cap)
{
    char *dir = tu_tempdir();
    cap->path = tu_format("%s/stderr", dir);
    free(dir);
    fflush(stderr);
    cap->saved = dup(STDERR_FILENO);
    int fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* Restores stderr and returns what was written (heap). */
static char *capture_end(capture *cap)
{
    fflush(stderr);
    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    char *text = tu_read_file(cap->path);
    unlink(cap->path);
    free(cap->path);
    return text;
}

static exec_leg leg_of(const char *symbol, broker_side side, int64_t quantity, leg_status status,
                       const char *reason)
{
    exec_leg leg;
    memset(&leg, 0, sizeof leg);
    snprintf(leg.symbol, sizeof leg.symbol, "%s", symbol);
    snprintf(leg.reason, sizeof leg.reason, "%s", reason);
    leg.side = side;
    leg.quantity = quantity;
    leg.status = status;
    return leg;
}

/* A partial execution of four legs: one filled, one rejected, one failed,
 * one partially filled. */
static void partial_result(exec_result *result, exec_leg legs[4])
{
    memset(result, 0, sizeof *result);
    snprintf(result->execution_id, sizeof result->execution_id, "ex-01NOTIFY");
    snprintf(result->broker, sizeof result->broker, "zerodha");
    snprintf(result->account_hash, sizeof result->account_hash, "a1b2c3d4e5f60718");
    result->status = EXEC_PARTIAL;
    legs[0] = leg_of("TCS", BROKER_SIDE_SELL, 5, LEG_FILLED, "");
    legs[1] = leg_of("RELIANCE", BROKER_SIDE_BUY, 10, LEG_REJECTED, "insufficient funds");
    legs[2] = leg_of("INFY", BROKER_SIDE_BUY, 3, LEG_FAILED, "broker unavailable after 5 retries");
    legs[3] = leg_of("HDFC", BROKER_SIDE_SELL, 8, LEG_PARTIALLY_FILLED, "remainder expired");
    legs[3].filled_quantity = 6;
    result->legs = legs;
    result->leg_count = 4;
    result->summary =
        (exec_summary){.orders = 4, .filled = 1, .failed = 1, .rejected = 1, .partially_filled = 1};
}

static config log_only_config(config_section *section)
{
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    memset(section, 0, sizeof *section);
    cfg.path = (char *)"/etc/ptexec/brokers.ini";
    section->name = (char *)"log";
    section->line = 7;
    cfg.notifiers = section;
    cfg.notifier_count = 1;
    return cfg;
}

START_TEST(test_log_sink_summary_and_failed_legs)
{
    log_configure(LOG_INFO, false);
    config_section section;
    config cfg = log_only_config(&section);
    ptx_error error;
    notify *notifier = notify_create(&cfg, &error);
    ck_assert_msg(notifier != NULL, "%s", error.message);

    /* The request the result came from carries a credential; the sink must
     * never see it. */
    const char *body = "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"" SECRET "\"},"
                       "\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":0}]}";
    exec_request request;
    ck_assert_int_eq(request_parse_execute(body, strlen(body), NULL, &request, &error), PTX_OK);

    exec_result result;
    exec_leg legs[4];
    partial_result(&result, legs);
    capture cap;
    capture_begin(&cap);
    notify_execution(notifier, &result);
    char *text = capture_end(&cap);

    ck_assert_msg(strstr(text, "execution ex-01NOTIFY broker=zerodha account=a1b2c3d4e5f60718 "
                               "status=PARTIAL orders=4 filled=1 failed=1 rejected=1 "
                               "partially_filled=1") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "RELIANCE BUY 10: REJECTED (filled 0): insufficient funds") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "INFY BUY 3: FAILED (filled 0): broker unavailable after 5 "
                               "retries") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "HDFC SELL 8: PARTIALLY_FILLED (filled 6): remainder expired") !=
                      NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "TCS SELL") == NULL, "a FILLED leg is not listed: %s", text);
    ck_assert_msg(strstr(text, SECRET) == NULL, "credential leaked: %s", text);
    /* One INFO summary and three WARN lines. */
    size_t lines = 0, warnings = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    for (const char *p = text; (p = strstr(p, "WARN")) != NULL; p++)
        warnings++;
    ck_assert_uint_eq(lines, 4);
    ck_assert_uint_eq(warnings, 3);
    free(text);
    request_free(&request);
    notify_destroy(notifier);
}
END_TEST

START_TEST(test_dry_run_not_sent)
{
    config_section section;
    config cfg = log_only_config(&section);
    ptx_error error;
    notify *notifier = notify_create(&cfg, &error);
    ck_assert_ptr_nonnull(notifier);
    exec_result result;
    exec_leg legs[4];
    partial_result(&result, legs);
    result.status = EXEC_PLANNED;
    for (size_t i = 0; i < 4; i++)
        legs[i].status = LEG_PLANNED;
    capture cap;
    capture_begin(&cap);
    notify_execution(notifier, &result);
    notify_execution(NULL, &result);
    char *text = capture_end(&cap);
    ck_assert_str_eq(text, "");
    free(text);
    notify_destroy(notifier);
}
END_TEST

START_TEST(test_no_sinks)
{
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    ptx_error error;
    notify *notifier = notify_create(&cfg, &error);
    ck_assert_ptr_nonnull(notifier);
    exec_result result;
    exec_leg legs[4];
    partial_result(&result, legs);
    capture cap;
    capture_begin(&cap);
    notify_execution(notifier, &result);
    char *text = capture_end(&cap);
    ck_assert_str_eq(text, "");
    free(text);
    notify_destroy(notifier);
    notify_destroy(NULL);
}
END_TEST

START_TEST(test_unknown_sink_struct)
{
    config_section sections[2];
    config cfg = log_only_config(&sections[0]);
    memset(&sections[1], 0, sizeof sections[1]);
    sections[1].name = (char *)"pager";
    sections[1].line = 12;
    cfg.notifiers = sections;
    cfg.notifier_count = 2;
    ptx_error error;
    ck_assert_ptr_null(notify_create(&cfg, &error));
    ck_assert_int_eq(error.status, PTX_CONFIG);
    ck_assert_msg(strstr(error.message,
                         "/etc/ptexec/brokers.ini:12: unknown notification sink 'pager'") != NULL,
                  "%s", error.message);
}
END_TEST

START_TEST(test_sections_from_ini)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/brokers.ini", dir);
    tu_write_file(path, "[host]\nlog_level = info\n\n[notify.log]\nformat = fancy\n\n"
                        "[notify.smoke_signal]\nurl = http://example.invalid\n");
    config cfg;
    ptx_error error;
    ck_assert_msg(config_load(path, &cfg, &error) == PTX_OK, "%s", error.message);
    capture cap;
    capture_begin(&cap);
    notify *notifier = notify_create(&cfg, &error);
    char *text = capture_end(&cap);
    ck_assert_ptr_null(notifier);
    char *expected = tu_format("%s:7: unknown notification sink 'smoke_signal'", path);
    ck_assert_msg(strstr(error.message, expected) != NULL, "%s", error.message);
    char *warning = tu_format("%s:5: unknown key 'format' in [notify.log]", path);
    ck_assert_msg(strstr(text, warning) != NULL, "%s", text);
    free(warning);
    free(expected);
    free(text);
    config_free(&cfg);

    tu_write_file(path, "[host]\nlog_level = info\n\n[notify.log]\n");
    ck_assert_msg(config_load(path, &cfg, &error) == PTX_OK, "%s", error.message);
    notifier = notify_create(&cfg, &error);
    ck_assert_msg(notifier != NULL, "%s", error.message);
    notify_destroy(notifier);
    config_free(&cfg);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *suite = suite_create("notify");
    TCase *tc = tcase_create("notify");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_log_sink_summary_and_failed_legs);
    tcase_add_test(tc, test_dry_run_not_sent);
    tcase_add_test(tc, test_no_sinks);
    tcase_add_test(tc, test_unknown_sink_struct);
    tcase_add_test(tc, test_sections_from_ini);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(notify_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
