/* brokers.ini parsing: defaults, ${ENV}, FILE:LINE errors, paths, overrides
 * and warnings about unknown keys. */
#include "config.h"
#include "log.h"
#include "testutil.h"

/* A temporary folder with an ini file; stderr goes to `log_path`. */
typedef struct ini_dir {
    char *root;
    char *ini;
    char *log_path;
} ini_dir;

static ini_dir ini_dir_new(const char *text)
{
    ini_dir dir;
    dir.root = tu_tempdir();
    dir.ini = tu_format("%s/brokers.ini", dir.root);
    dir.log_path = tu_format("%s/stderr.log", dir.root);
    tu_write_file(dir.ini, text);
    int fd = open(dir.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    unsetenv("PTEXEC_LISTEN");
    return dir;
}

/* Removes the folder and releases the paths. */
static void ini_dir_free(ini_dir *dir)
{
    char *command = tu_format("rm -rf '%s'", dir->root);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(dir->root);
    free(dir->ini);
    free(dir->log_path);
}

static void load_ok(const ini_dir *dir, config *cfg)
{
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(config_load(dir->ini, cfg, &error) == PTX_OK, "%s", error.message);
}

/* Loads a file expected to be refused; returns the error message (heap). */
static char *load_error(const ini_dir *dir)
{
    config cfg;
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_int_eq(config_load(dir->ini, &cfg, &error), PTX_CONFIG);
    ck_assert_int_eq(error.status, PTX_CONFIG);
    ck_assert_ptr_null(cfg.path); /* released on failure */
    return strdup(error.message);
}

/* Asserts that `message` is exactly "INI:LINE: reason". */
static void assert_error(const ini_dir *dir, int line, const char *reason)
{
    char *message = load_error(dir);
    char *expected = tu_format("%s:%d: %s", dir->ini, line, reason);
    ck_assert_str_eq(message, expected);
    free(expected);
    free(message);
}

START_TEST(test_defaults)
{
    ini_dir dir = ini_dir_new("[host]\n");
    config cfg;
    load_ok(&dir, &cfg);
    char *real = realpath(dir.root, NULL);
    char *journal = tu_format("%s/ptexec.db", real);
    char *plugins = tu_format("%s/plugins", real);
    ck_assert_str_eq(cfg.path, dir.ini);
    ck_assert_str_eq(cfg.directory, real);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8000");
    ck_assert_str_eq(cfg.journal, journal);
    ck_assert_str_eq(cfg.plugin_dir, plugins);
    ck_assert_str_eq(cfg.api_token, "");
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_str_eq(cfg.log_format, "text");
    ck_assert_uint_eq(cfg.max_symbols, 10000);
    ck_assert_uint_eq(cfg.body_limit, 1048576);
    ck_assert_uint_eq(cfg.broker_count, 0);
    ck_assert_uint_eq(cfg.notifier_count, 0);
    config_free(&cfg);
    config_free(&cfg); /* safe on a zeroed struct */
    free(real);
    free(journal);
    free(plugins);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_committed_brokers_ini)
{
    ini_dir dir = ini_dir_new("");
    char *path = tu_format("%s/brokers.ini", tu_source_dir());
    config cfg;
    ptx_error error;
    ck_assert_msg(config_load(path, &cfg, &error) == PTX_OK, "%s", error.message);
    static const char *const names[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
    ck_assert_uint_eq(cfg.broker_count, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(cfg.brokers[i].name, names[i]);
        ck_assert_str_eq(config_get(&cfg.brokers[i], "mode"), "simulated");
        ck_assert_ptr_eq(config_find_broker(&cfg, names[i]), &cfg.brokers[i]);
    }
    ck_assert_str_eq(config_get(&cfg.brokers[0], "plugin"), "zerodha.so");
    ck_assert_str_eq(config_get(&cfg.brokers[0], "initial_holdings"), "RELIANCE:10,TCS:5,INFY:8");
    ck_assert_uint_eq(cfg.notifier_count, 1);
    ck_assert_str_eq(cfg.notifiers[0].name, "log"); /* a section without keys still counts */
    ck_assert_str_eq(cfg.api_token, "");
    ck_assert_msg(strstr(cfg.plugin_dir, "/build/plugins") != NULL, "%s", cfg.plugin_dir);
    char *log = tu_read_file(dir.log_path);
    ck_assert_msg(strstr(log, "WARN") == NULL, "warnings for the committed file:\n%s", log);
    config_free(&cfg);
    free(log);
    free(path);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_env_expansion)
{
    setenv("PTX_TEST_TOKEN", "s3cret", 1);
    setenv("PTX_TEST_HOST", "10.0.0.1", 1);
    setenv("PTX_TEST_PORT_X", "9001", 1);
    ini_dir dir = ini_dir_new("");
    tu_write_file(dir.ini, "[host]\napi_token = pre-${PTX_TEST_TOKEN}-post\n"
                           "listen = ${PTX_TEST_HOST}:${PTX_TEST_PORT_X}\n"
                           "[broker.a]\nplugin = a.so\naccess_token = ${PTX_TEST_TOKEN}\n"
                           "note = costs $5 {not a reference}\n");
    config cfg;
    load_ok(&dir, &cfg);
    ck_assert_str_eq(cfg.api_token, "pre-s3cret-post");
    ck_assert_str_eq(cfg.listen, "10.0.0.1:9001");
    const config_section *broker = config_find_broker(&cfg, "a");
    ck_assert_ptr_nonnull(broker);
    ck_assert_str_eq(config_get(broker, "access_token"), "s3cret");
    ck_assert_str_eq(config_get(broker, "note"), "costs $5 {not a reference}");
    ck_assert_ptr_null(config_get(broker, "absent"));
    config_free(&cfg);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_unset_env_is_an_error)
{
    unsetenv("PTX_TEST_UNSET_VAR");
    ini_dir dir = ini_dir_new("[host]\nlisten = 127.0.0.1:1\n[broker.a]\nplugin = a.so\n"
                              "api_key = ${PTX_TEST_UNSET_VAR}\n");
    assert_error(&dir, 5, "environment variable PTX_TEST_UNSET_VAR (used by 'api_key') is not set");
    tu_write_file(dir.ini, "[host]\napi_token = ${PTX_TEST_UNTERMINATED\n");
    assert_error(&dir, 2, "unterminated ${ in the value of 'api_token'");
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_secret_values_stay_out_of_errors)
{
    setenv("PTX_TEST_SECRET", "hunter2", 1);
    ini_dir dir = ini_dir_new("[host]\nmax_symbols = ${PTX_TEST_SECRET}\n");
    char *message = load_error(&dir);
    ck_assert_ptr_null(strstr(message, "hunter2"));
    ck_assert_ptr_nonnull(strstr(message, ":2: max_symbols must be an integer"));
    free(message);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_malformed_lines)
{
    ini_dir dir = ini_dir_new("; comment\n[host]\nlisten = 127.0.0.1:1\nthis line has no equals\n");
    assert_error(&dir, 4, "malformed line (expected [section], key = value or a comment)");
    tu_write_file(dir.ini, "[host]\n[broker.a\nplugin = a.so\n");
    assert_error(&dir, 2, "malformed line (expected [section], key = value or a comment)");
    tu_write_file(dir.ini, "[host]\nlisten = 1\n\n[broker.a]\nplugin = a.so\n[broker.a]\n");
    assert_error(&dir, 6, "duplicate section [broker.a] (first at line 4)");
    tu_write_file(dir.ini, "[host]\nlisten = 1\nlisten = 2\n");
    assert_error(&dir, 3, "duplicate key 'listen' (first at line 2)");
    tu_write_file(dir.ini, "listen = 1\n[host]\n");
    assert_error(&dir, 1, "key 'listen' is outside any [section]");
    tu_write_file(dir.ini, "[host]\nplugin_dir = x\n    continued\n");
    assert_error(&dir, 3,
                 "indented line continues the value of 'plugin_dir'; write each value on one line");
    tu_write_file(dir.ini, "[host]\n[broker.bad name]\n");
    assert_error(&dir, 2,
                 "bad section name [broker.bad name]: the part after '.' must be letters, "
                 "digits, '_' or '-'");
    char *long_line = tu_format("[host]\napi_token = %0300d\n", 7);
    tu_write_file(dir.ini, long_line);
    assert_error(&dir, 2, "line longer than 198 characters");
    free(long_line);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_unreadable_file)
{
    ini_dir dir = ini_dir_new("");
    char *missing = tu_format("%s/nope.ini", dir.root);
    config cfg;
    ptx_error error;
    ck_assert_int_eq(config_load(missing, &cfg, &error), PTX_CONFIG);
    char *expected = tu_format("%s: cannot open: No such file or directory", missing);
    ck_assert_str_eq(error.message, expected);
    free(expected);
    free(missing);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_relative_paths)
{
    ini_dir dir = ini_dir_new("[host]\nplugin_dir = ../lib/plugins\njournal = data/j.db\n");
    config cfg;
    load_ok(&dir, &cfg);
    char *real = realpath(dir.root, NULL);
    char *plugins = tu_format("%s/../lib/plugins", real);
    char *journal = tu_format("%s/data/j.db", real);
    ck_assert_str_eq(cfg.plugin_dir, plugins);
    ck_assert_str_eq(cfg.journal, journal);
    config_free(&cfg);

    /* Absolute paths stay; a relative ini path still resolves to its folder. */
    tu_write_file(dir.ini, "[host]\nplugin_dir = /opt/plugins\njournal = :memory:\n");
    ck_assert_int_eq(chdir(dir.root), 0);
    ck_assert_int_eq(chdir(".."), 0);
    char *relative = tu_format("%s/brokers.ini", strrchr(dir.root, '/') + 1);
    ptx_error error;
    ck_assert_msg(config_load(relative, &cfg, &error) == PTX_OK, "%s", error.message);
    ck_assert_str_eq(cfg.plugin_dir, "/opt/plugins");
    ck_assert_str_eq(cfg.journal, ":memory:");
    ck_assert_str_eq(cfg.directory, real);
    config_free(&cfg);
    free(relative);
    free(real);
    free(plugins);
    free(journal);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_listen_override)
{
    ini_dir dir = ini_dir_new("[host]\nlisten = 127.0.0.1:1\n");
    setenv("PTEXEC_LISTEN", "0.0.0.0:9999", 1);
    config cfg;
    load_ok(&dir, &cfg);
    ck_assert_str_eq(cfg.listen, "0.0.0.0:9999");
    config_free(&cfg);
    setenv("PTEXEC_LISTEN", "", 1);
    load_ok(&dir, &cfg);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:1");
    config_free(&cfg);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_unknown_keys_warned)
{
    ini_dir dir = ini_dir_new("[host]\ncolour = blue\nlisten = 127.0.0.1:1\nmax_connections = 4\n"
                              "[weird]\nx = 1\n[broker.a]\nplugin = a.so\nflavour = x\n"
                              "[notify.log]\n");
    config cfg;
    load_ok(&dir, &cfg);
    char *log = tu_read_file(dir.log_path);
    char *host_key =
        tu_format("WARN  config: %s:2: unknown key 'colour' in [host] ignored", dir.ini);
    char *section = tu_format("WARN  config: %s:5: unknown section [weird] ignored", dir.ini);
    ck_assert_msg(strstr(log, host_key) != NULL, "missing \"%s\" in:\n%s", host_key, log);
    ck_assert_msg(strstr(log, section) != NULL, "missing \"%s\" in:\n%s", section, log);
    ck_assert_msg(strstr(log, "max_connections") == NULL, "known key warned:\n%s", log);
    ck_assert_msg(strstr(log, "flavour") == NULL, "broker keys are their owner's:\n%s", log);
    ck_assert_uint_eq(cfg.notifier_count, 1);

    /* Broker keys are checked by their owner against two lists. */
    static const char *const host_keys[] = {"plugin", NULL};
    static const char *const plugin_keys[] = {"seed", NULL};
    config_warn_unknown(&cfg, config_find_broker(&cfg, "a"), "broker", host_keys, plugin_keys);
    free(log);
    log = tu_read_file(dir.log_path);
    char *broker_key =
        tu_format("WARN  config: %s:9: unknown key 'flavour' in [broker.a] ignored", dir.ini);
    ck_assert_msg(strstr(log, broker_key) != NULL, "missing \"%s\" in:\n%s", broker_key, log);
    config_free(&cfg);
    free(log);
    free(host_key);
    free(section);
    free(broker_key);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_bad_values_refused)
{
    ini_dir dir = ini_dir_new("[host]\nlisten = 127.0.0.1:1\nlog_level = loud\n");
    assert_error(&dir, 3, "log_level must be one of error|warn|info|debug");
    tu_write_file(dir.ini, "[host]\nlog_format = xml\n");
    assert_error(&dir, 2, "log_format must be one of text|json");
    tu_write_file(dir.ini, "[host]\nmax_symbols = -5\n");
    assert_error(&dir, 2, "max_symbols must be an integer from 1 to 100000000");
    tu_write_file(dir.ini, "[host]\nmax_symbols = 12abc\n");
    assert_error(&dir, 2, "max_symbols must be an integer from 1 to 100000000");
    tu_write_file(dir.ini, "[host]\n\nbody_limit = 0\n");
    assert_error(&dir, 3, "body_limit must be an integer from 1 to 1073741824");
    tu_write_file(dir.ini, "[host]\nlisten =\n");
    assert_error(&dir, 2, "listen must not be empty");

    tu_write_file(dir.ini, "[host]\nlog_level = debug\nlog_format = json\nmax_symbols = 5\n"
                           "body_limit = 2048\n");
    config cfg;
    load_ok(&dir, &cfg);
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_str_eq(cfg.log_format, "json");
    ck_assert_uint_eq(cfg.max_symbols, 5);
    ck_assert_uint_eq(cfg.body_limit, 2048);
    config_free(&cfg);
    ini_dir_free(&dir);
}
END_TEST

START_TEST(test_get_uint)
{
    ini_dir dir = ini_dir_new("[host]\n[broker.a]\nplugin = a.so\nretries = 7\nbig = 99\n"
                              "neg = -1\nempty =\n");
    config cfg;
    load_ok(&dir, &cfg);
    const config_section *broker = config_find_broker(&cfg, "a");
    unsigned long value = 123;
    ptx_error error;
    ck_assert_int_eq(config_get_uint(&cfg, broker, "absent", 0, 10, &value, &error), PTX_OK);
    ck_assert_uint_eq(value, 123);
    ck_assert_int_eq(config_get_uint(&cfg, broker, "retries", 0, 10, &value, &error), PTX_OK);
    ck_assert_uint_eq(value, 7);
    ck_assert_int_eq(config_get_uint(&cfg, broker, "big", 0, 10, &value, &error), PTX_CONFIG);
    char *expected = tu_format("%s:5: big must be an integer from 0 to 10", dir.ini);
    ck_assert_str_eq(error.message, expected);
    ck_assert_uint_eq(value, 7);
    ck_assert_int_eq(config_get_uint(&cfg, broker, "neg", 0, 10, &value, &error), PTX_CONFIG);
    ck_assert_int_eq(config_get_uint(&cfg, broker, "empty", 0, 10, &value, &error), PTX_CONFIG);
    ck_assert_ptr_null(config_find_broker(&cfg, "b"));
    config_free(&cfg);
    free(expected);
    ini_dir_free(&dir);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");
    TCase *parsing = tcase_create("parsing");
    tcase_set_timeout(parsing, 10);
    tcase_add_test(parsing, test_defaults);
    tcase_add_test(parsing, test_committed_brokers_ini);
    tcase_add_test(parsing, test_env_expansion);
    tcase_add_test(parsing, test_unset_env_is_an_error);
    tcase_add_test(parsing, test_secret_values_stay_out_of_errors);
    tcase_add_test(parsing, test_malformed_lines);
    tcase_add_test(parsing, test_unreadable_file);
    tcase_add_test(parsing, test_relative_paths);
    tcase_add_test(parsing, test_listen_override);
    tcase_add_test(parsing, test_unknown_keys_warned);
    tcase_add_test(parsing, test_bad_values_refused);
    tcase_add_test(parsing, test_get_uint);
    suite_add_tcase(suite, parsing);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(config_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
