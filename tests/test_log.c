/* Logging: the text and JSON line formats, levels, one line per record. */
#include <pthread.h>

#include "log.h"
#include "testutil.h"

/* Sends stderr to a fresh file and returns its path (heap). */
static char *capture_stderr(void)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/stderr.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    free(dir);
    return path;
}

/* Removes the capture file and its folder, and frees `path`. */
static void release_capture(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return lines;
}

/* True when `text` is "YYYY-MM-DDTHH:MM:SS.mmmZ" followed by `rest`. */
static bool starts_with_timestamp(const char *text, const char *rest)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        bool digit = text[i] >= '0' && text[i] <= '9';
        if (shape[i] == 'd' ? !digit : text[i] != shape[i])
            return false;
    }
    return strncmp(text + sizeof shape - 1, rest, strlen(rest)) == 0;
}

START_TEST(test_text_format)
{
    char *path = capture_stderr();
    log_configure(LOG_INFO, false);
    log_write(LOG_INFO, "engine", "placed %d legs", 3);
    log_write(LOG_WARN, "config", "two\nlines");
    log_write(LOG_DEBUG, "engine", "hidden at info");
    char *text = tu_read_file(path);
    ck_assert_uint_eq(count_lines(text), 2);
    ck_assert_msg(starts_with_timestamp(text, " INFO  engine: placed 3 legs\n"), "%s", text);
    const char *second = strchr(text, '\n') + 1;
    ck_assert_msg(starts_with_timestamp(second, " WARN  config: two lines\n"), "%s", second);
    free(text);
    release_capture(path);
}
END_TEST

START_TEST(test_json_format)
{
    char *path = capture_stderr();
    log_configure(LOG_DEBUG, true);
    log_write(LOG_DEBUG, "re\"gistry", "quote \" backslash \\ newline \n tab \t bell \a end");
    char *text = tu_read_file(path);
    ck_assert_uint_eq(count_lines(text), 1);
    ck_assert_msg(strncmp(text, "{\"ts\":\"", 7) == 0, "%s", text);
    ck_assert_msg(starts_with_timestamp(text + 7,
                                        "\",\"level\":\"debug\",\"module\":\"re\\\"gistry\","
                                        "\"msg\":\"quote \\\" backslash \\\\ newline \\n "
                                        "tab \\t bell \\u0007 end\"}\n"),
                  "%s", text);
    free(text);
    release_capture(path);
}
END_TEST

START_TEST(test_levels)
{
    log_level level = LOG_DEBUG;
    ck_assert(log_parse_level("error", &level) && level == LOG_ERROR);
    ck_assert(log_parse_level("warn", &level) && level == LOG_WARN);
    ck_assert(log_parse_level("info", &level) && level == LOG_INFO);
    ck_assert(log_parse_level("debug", &level) && level == LOG_DEBUG);
    ck_assert(!log_parse_level("loud", &level));
    ck_assert(!log_parse_level(NULL, &level));
    log_configure(LOG_WARN, false);
    ck_assert(log_enabled(LOG_ERROR));
    ck_assert(log_enabled(LOG_WARN));
    ck_assert(!log_enabled(LOG_INFO));
}
END_TEST

static void *write_many(void *context)
{
    const char *module = context;
    for (int i = 0; i < 2000; i++)
        log_write(LOG_INFO, module, "record %d with some padding to make lines longer", i);
    return NULL;
}

START_TEST(test_lines_never_interleave)
{
    char *path = capture_stderr();
    log_configure(LOG_INFO, false);
    static const char *const modules[] = {"alpha", "beta", "gamma", "delta"};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, write_many, (void *)modules[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    char *text = tu_read_file(path);
    ck_assert_uint_eq(count_lines(text), 8000);
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        ck_assert_msg(starts_with_timestamp(line, " INFO  "), "broken line: %.80s", line);
    free(text);
    release_capture(path);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *suite = suite_create("log");
    TCase *formats = tcase_create("formats");
    tcase_set_timeout(formats, 20);
    tcase_add_test(formats, test_text_format);
    tcase_add_test(formats, test_json_format);
    tcase_add_test(formats, test_levels);
    tcase_add_test(formats, test_lines_never_interleave);
    suite_add_tcase(suite, formats);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(log_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
