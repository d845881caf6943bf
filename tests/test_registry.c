/* The plugin registry: file-name and permission hygiene, the probe child,
 * ABI checks, settings, host services, and one log line per refusal. */
#include <pthread.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "testutil.h"

/* A temporary folder holding brokers.ini and a plugins/ folder (0755). */
typedef struct loader_dir {
    char *root;
    char *plugins;
    char *ini;
    char *log_path;
} loader_dir;

static loader_dir loader_dir_new(void)
{
    loader_dir dir;
    dir.root = tu_tempdir();
    dir.plugins = tu_format("%s/plugins", dir.root);
    dir.ini = tu_format("%s/brokers.ini", dir.root);
    dir.log_path = tu_format("%s/stderr.log", dir.root);
    ck_assert_int_eq(mkdir(dir.plugins, 0755), 0);
    ck_assert_int_eq(chmod(dir.plugins, 0755), 0);
    return dir;
}

/* Removes the folder and releases the paths. */
static void loader_dir_free(loader_dir *dir)
{
    char *command = tu_format("rm -rf '%s'", dir->root);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(dir->root);
    free(dir->plugins);
    free(dir->ini);
    free(dir->log_path);
}

/* Sends this (forked) test's stderr, and so every log line, to a file. */
static void capture_log(const loader_dir *dir)
{
    int fd = open(dir->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
}

static char *fixture_path(const char *name)
{
    return tu_format("%s/tests/plugins/%s.so", tu_build_dir(), name);
}

/* Copies fixture NAME.so from the build into the plugin folder as `as`. */
static void install_fixture(const loader_dir *dir, const char *name, const char *as, mode_t mode)
{
    char *source = fixture_path(name);
    char *target = tu_format("%s/%s", dir->plugins, as);
    char *command = tu_format("cp '%s' '%s'", source, target);
    ck_assert_msg(access(source, R_OK) == 0, "fixture %s is not built", source);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(chmod(target, mode), 0);
    free(command);
    free(target);
    free(source);
}

/* Writes brokers.ini (plugin_dir relative to it) with `sections`, loads
 * the configuration and the registry. */
static registry *load_sections(const loader_dir *dir, const char *sections, config *cfg)
{
    char *text = tu_format("[host]\nplugin_dir = plugins\n\n%s", sections);
    tu_write_file(dir->ini, text);
    free(text);
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(config_load(dir->ini, cfg, &error) == PTX_OK, "config: %s", error.message);
    registry *reg = NULL;
    ck_assert_int_eq(registry_load(cfg, &reg, &error), PTX_OK);
    ck_assert_ptr_nonnull(reg);
    return reg;
}

static size_t count_occurrences(const char *text, const char *needle)
{
    size_t count = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        count++;
    return count;
}

/* The one log line that contains `needle`, as a heap string. */
static char *line_with(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    ck_assert_msg(hit != NULL, "no log line contains \"%s\" in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    const char *end = strchr(hit, '\n');
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

START_TEST(test_good_plugin_loads)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    config cfg;
    registry *reg =
        load_sections(&dir, "[broker.good]\nplugin = good.so\ngreeting = hello\n", &cfg);

    ck_assert_uint_eq(registry_count(reg), 1);
    ck_assert_uint_eq(registry_refused_count(reg), 0);
    registry_broker *broker = registry_find(reg, "good");
    ck_assert_ptr_nonnull(broker);
    ck_assert_ptr_eq(registry_at(reg, 0), broker);
    ck_assert_str_eq(registry_broker_name(broker), "good");
    ck_assert_str_eq(registry_broker_file(broker), "good.so");
    ck_assert_str_eq(registry_broker_plugin(broker)->name, "good");
    ck_assert_ptr_nonnull(registry_broker_instance(broker));
    const broker_settings *settings = registry_broker_settings(broker);
    ck_assert_str_eq(settings->mode, "simulated");
    ck_assert_uint_eq(settings->max_retries, 3);
    ck_assert_uint_eq(settings->retry_base_ms, 100);
    ck_assert_uint_eq(settings->retry_max_ms, 5000);
    ck_assert_uint_eq(settings->order_timeout_ms, 30000);
    ck_assert_uint_eq(settings->poll_interval_ms, 50);
    ck_assert_uint_eq(settings->rate_limit_per_second, 7); /* the plugin's hint */
    ck_assert_uint_eq(settings->rate_limit_per_minute, 0);
    ck_assert_uint_eq(settings->read_rate_limit_per_second, 7); /* reads follow orders */
    ck_assert_uint_eq(settings->max_in_flight, 0);              /* sized by the engine */
    ck_assert_ptr_null(registry_find(reg, "other"));
    ck_assert_ptr_null(registry_find_refusal(reg, "good"));

    char *log = tu_read_file(dir.log_path);
    ck_assert_msg(strstr(log, " good: created: greeting=hello random=") != NULL,
                  "plugin log line not tagged with the broker name:\n%s", log);
    ck_assert_msg(strstr(log, "refused") == NULL, "unexpected refusal:\n%s", log);
    registry_free(reg);
    config_free(&cfg);
    free(log);
    loader_dir_free(&dir);
}
END_TEST

/* How a refusal case prepares its plugin file. */
typedef struct refusal_case {
    const char *section; /* [broker.SECTION] */
    const char *plugin;  /* value of plugin =, NULL for none */
    const char *fixture; /* fixture to install as `plugin`, NULL for none */
    const char *text;    /* or: text to write as the plugin file */
    mode_t mode;         /* of the installed file */
    const char *extra;   /* more lines of the section */
    const char *stage;   /* expected stage */
    const char *reason;  /* expected part of the reason */
} refusal_case;

static const refusal_case refusal_cases[] = {
    {"missing", "missing.so", NULL, NULL, 0, "", "open", "No such file or directory"},
    {"notelf", "notelf.so", NULL,
     "this is a text file pretending to be a shared object, long enough to be read as a header\n"
     "and then some more text so that the loader checks the ELF magic and refuses it\n",
     0755, "", "open", "ELF"},
    {"unresolved", "unresolved.so", "unresolved", NULL, 0755, "", "open",
     "undefined symbol: fixture_function_nobody_defines"},
    {"no_symbol", "no_symbol.so", "no_symbol", NULL, 0755, "", "symbol",
     "no symbol broker_plugin_v1"},
    {"entry_error", "entry_error.so", "entry_error", NULL, 0755, "", "abi",
     "broker_plugin_v1 returned UNSUPPORTED"},
    {"abi_major2", "abi_major2.so", "abi_major2", NULL, 0755, "", "abi",
     "abi_major is 2; this host supports 1"},
    {"size_small", "size_small.so", "size_small", NULL, 0755, "", "abi",
     "is smaller than the v1.0 size"},
    {"size_minor", "size_minor.so", "size_minor", NULL, 0755, "", "abi",
     "declares ABI 1.1 but its size"},
    {"size_minor2", "size_minor2.so", "size_minor2", NULL, 0755, "", "abi",
     "declares ABI 1.2 but its size"},
    {"null_callback", "null_callback.so", "null_callback", NULL, 0755, "", "abi",
     "required callback get_order is NULL"},
    {"wrong_name", "wrong_name.so", "wrong_name", NULL, 0755, "", "abi",
     "descriptor name 'somebody_else' does not match section [broker.wrong_name]"},
    {"crash_ctor", "crash_ctor.so", "crash_ctor", NULL, 0755, "", "open",
     "crashed while loading (signal 11)"},
    {"slash", "sub/good.so", NULL, NULL, 0, "", "open", "bare file name in plugin_dir (no '/')"},
    {"parent", "../plugins/good.so", NULL, NULL, 0, "", "open", "(no '/')"},
    {"dotdot", "..good.so", NULL, NULL, 0, "", "open", "must not contain '..'"},
    {"suffix", "good.dll", NULL, NULL, 0, "", "open", "must end in .so"},
    {"world_file", "world_file.so", "good", NULL, 0757, "", "open",
     "world_file.so is world-writable (mode 0757)"},
    {"group_file", "group_file.so", "good", NULL, 0775, "", "open",
     "group_file.so is group-writable (mode 0775)"},
    {"no_plugin_key", NULL, NULL, NULL, 0, "mode = simulated\n", "open", "has no 'plugin' key"},
};

static void prepare_case(const loader_dir *dir, const refusal_case *test)
{
    if (test->fixture != NULL)
        install_fixture(dir, test->fixture, test->plugin, test->mode);
    if (test->text != NULL) {
        char *path = tu_format("%s/%s", dir->plugins, test->plugin);
        tu_write_file(path, test->text);
        ck_assert_int_eq(chmod(path, test->mode), 0);
        free(path);
    }
}

/* Each broken plugin sits between two good ones: it is refused with one log
 * line naming the file, the stage and the reason; the others still load. */
START_TEST(test_refusal)
{
    const refusal_case *test = &refusal_cases[_i];
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    install_fixture(&dir, "newer_minor", "newer_minor.so", 0755);
    prepare_case(&dir, test);
    char *plugin_line = test->plugin ? tu_format("plugin = %s\n", test->plugin) : strdup("");
    char *sections = tu_format("[broker.good]\nplugin = good.so\n\n[broker.%s]\n%s%s\n"
                               "[broker.newer_minor]\nplugin = newer_minor.so\n",
                               test->section, plugin_line, test->extra);
    config cfg;
    registry *reg = load_sections(&dir, sections, &cfg);

    ck_assert_uint_eq(registry_count(reg), 2);
    ck_assert_ptr_nonnull(registry_find(reg, "good"));
    ck_assert_ptr_nonnull(registry_find(reg, "newer_minor"));
    ck_assert_ptr_null(registry_find(reg, test->section));
    ck_assert_uint_eq(registry_refused_count(reg), 1);
    ck_assert_str_eq(registry_refused_name(reg, 0), test->section);

    char *prefix = tu_format("plugin %s: refused at %s: ", test->plugin ? test->plugin : "(unset)",
                             test->stage);
    const char *message = registry_find_refusal(reg, test->section);
    ck_assert_ptr_nonnull(message);
    ck_assert_str_eq(message, registry_refused_message(reg, 0));
    ck_assert_msg(strncmp(message, prefix, strlen(prefix)) == 0, "\"%s\" does not start \"%s\"",
                  message, prefix);
    ck_assert_msg(strstr(message, test->reason) != NULL, "\"%s\" lacks \"%s\"", message,
                  test->reason);

    char *log = tu_read_file(dir.log_path);
    ck_assert_uint_eq(count_occurrences(log, "refused at"), 1);
    char *line = line_with(log, prefix);
    ck_assert_msg(strstr(line, " ERROR registry: ") != NULL, "not an error line: %s", line);
    ck_assert_msg(strstr(line, message) != NULL, "log line \"%s\" differs from \"%s\"", line,
                  message);
    registry_free(reg);
    config_free(&cfg);
    free(line);
    free(log);
    free(prefix);
    free(sections);
    free(plugin_line);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_world_writable_plugin_dir)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    install_fixture(&dir, "newer_minor", "newer_minor.so", 0755);
    ck_assert_int_eq(chmod(dir.plugins, 0777), 0);
    config cfg;
    registry *reg = load_sections(
        &dir, "[broker.good]\nplugin = good.so\n[broker.newer_minor]\nplugin = newer_minor.so\n",
        &cfg);
    ck_assert_uint_eq(registry_count(reg), 0);
    ck_assert_uint_eq(registry_refused_count(reg), 2);
    char *log = tu_read_file(dir.log_path);
    ck_assert_uint_eq(count_occurrences(log, "refused at"), 2);
    char *expected =
        tu_format("plugin good.so: refused at open: plugin_dir %s is world-writable", dir.plugins);
    ck_assert_msg(strstr(log, expected) != NULL, "missing \"%s\" in:\n%s", expected, log);
    ck_assert_msg(strstr(log, "plugin newer_minor.so: refused at open: plugin_dir") != NULL, "%s",
                  log);
    registry_free(reg);
    config_free(&cfg);
    free(expected);
    free(log);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_crashing_constructor_spares_host)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "crash_ctor", "crash_ctor.so", 0755);
    install_fixture(&dir, "good", "good.so", 0755);
    pid_t before = getpid();
    config cfg;
    registry *reg = load_sections(
        &dir, "[broker.crash_ctor]\nplugin = crash_ctor.so\n[broker.good]\nplugin = good.so\n",
        &cfg);
    ck_assert_int_eq(getpid(), before);
    ck_assert_ptr_nonnull(registry_find(reg, "good"));
    ck_assert_str_eq(registry_find_refusal(reg, "crash_ctor"),
                     "plugin crash_ctor.so: refused at open: crashed while loading (signal 11)");
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_create_failure_refused_at_init)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    install_fixture(&dir, "newer_minor", "newer_minor.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir,
                                  "[broker.good]\nplugin = good.so\nfail_create = yes\n"
                                  "[broker.newer_minor]\nplugin = newer_minor.so\n",
                                  &cfg);
    ck_assert_ptr_null(registry_find(reg, "good"));
    ck_assert_ptr_nonnull(registry_find(reg, "newer_minor"));
    ck_assert_str_eq(registry_find_refusal(reg, "good"),
                     "plugin good.so: refused at init: create returned CONFIG: fixture refused to "
                     "start: fail_create is set");
    char *log = tu_read_file(dir.log_path);
    ck_assert_uint_eq(count_occurrences(log, "plugin good.so: refused at init"), 1);
    registry_free(reg);
    config_free(&cfg);
    free(log);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_bad_settings_refused_at_init)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    install_fixture(&dir, "newer_minor", "newer_minor.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir,
                                  "[broker.good]\nplugin = good.so\nmode = paper\n"
                                  "[broker.newer_minor]\nplugin = newer_minor.so\n"
                                  "max_retries = many\n",
                                  &cfg);
    ck_assert_uint_eq(registry_count(reg), 0);
    char *mode =
        tu_format("plugin good.so: refused at init: %s:6: mode must be simulated or live", dir.ini);
    char *retries = tu_format("plugin newer_minor.so: refused at init: %s:9: max_retries must be "
                              "an integer from 0 to 100",
                              dir.ini);
    ck_assert_str_eq(registry_find_refusal(reg, "good"), mode);
    ck_assert_str_eq(registry_find_refusal(reg, "newer_minor"), retries);
    char *log = tu_read_file(dir.log_path);
    ck_assert_uint_eq(count_occurrences(log, mode), 1);
    ck_assert_uint_eq(count_occurrences(log, retries), 1);
    registry_free(reg);
    config_free(&cfg);
    free(log);
    free(mode);
    free(retries);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_settings_parsed)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir,
                                  "[broker.good]\nplugin = good.so\nmode = live\nmax_retries = 5\n"
                                  "retry_base_ms = 1\nretry_max_ms = 9\norder_timeout_ms = 700\n"
                                  "poll_interval_ms = 2\nrate_limit_per_second = 0\n"
                                  "rate_limit_per_minute = 400\nmax_in_flight = 12\n",
                                  &cfg);
    const broker_settings *settings = registry_broker_settings(registry_find(reg, "good"));
    ck_assert_str_eq(settings->mode, "live");
    ck_assert_uint_eq(settings->max_retries, 5);
    ck_assert_uint_eq(settings->retry_base_ms, 1);
    ck_assert_uint_eq(settings->retry_max_ms, 9);
    ck_assert_uint_eq(settings->order_timeout_ms, 700);
    ck_assert_uint_eq(settings->poll_interval_ms, 2);
    ck_assert_uint_eq(settings->rate_limit_per_second, 0);
    ck_assert_uint_eq(settings->rate_limit_per_minute, 400);
    ck_assert_uint_eq(settings->read_rate_limit_per_second, 0); /* follows the order rate */
    ck_assert_uint_eq(settings->max_in_flight, 12);
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

/* Loads fixture `declared` with `extra` in its section; returns its settings
 * copied out. */
static broker_settings declared_settings(const char *extra, char **log)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "declared", "declared.so", 0755);
    config cfg;
    char *section = tu_format("[broker.declared]\nplugin = declared.so\n%s", extra);
    registry *reg = load_sections(&dir, section, &cfg);
    registry_broker *broker = registry_find(reg, "declared");
    ck_assert_msg(broker != NULL, "%s", registry_find_refusal(reg, "declared"));
    ck_assert(registry_broker_features(broker)->get_rate_limits);
    broker_settings settings = *registry_broker_settings(broker);
    registry_free(reg);
    config_free(&cfg);
    *log = tu_read_file(dir.log_path);
    free(section);
    loader_dir_free(&dir);
    return settings;
}

/* The limits a 1.2 plugin declares replace the capability's rate (7/s) as
 * the defaults, 0 included: reads are not paced per second. */
START_TEST(test_declared_limits_are_the_defaults)
{
    char *log = NULL;
    broker_settings settings = declared_settings("", &log);
    ck_assert_uint_eq(settings.rate_limit_per_second, 9);
    ck_assert_uint_eq(settings.rate_limit_per_minute, 300);
    ck_assert_uint_eq(settings.read_rate_limit_per_second, 0);
    ck_assert_uint_eq(settings.read_rate_limit_per_minute, 120);
    ck_assert_msg(strstr(log, "WARN") == NULL, "%s", log);
    free(log);
}
END_TEST

/* A brokers.ini key wins over the declared limit, key by key. */
START_TEST(test_config_beats_declared_limits)
{
    char *log = NULL;
    broker_settings all = declared_settings("rate_limit_per_second = 5\nrate_limit_per_minute = 0\n"
                                            "read_rate_limit_per_second = 3\n"
                                            "read_rate_limit_per_minute = 60\n",
                                            &log);
    ck_assert_uint_eq(all.rate_limit_per_second, 5);
    ck_assert_uint_eq(all.rate_limit_per_minute, 0);
    ck_assert_uint_eq(all.read_rate_limit_per_second, 3);
    ck_assert_uint_eq(all.read_rate_limit_per_minute, 60);
    ck_assert_msg(strstr(log, "unknown") == NULL, "read_rate_limit_per_minute warned:\n%s", log);
    free(log);
    broker_settings some = declared_settings("rate_limit_per_second = 5\n", &log);
    ck_assert_uint_eq(some.rate_limit_per_second, 5);
    ck_assert_uint_eq(some.rate_limit_per_minute, 300);
    ck_assert_uint_eq(some.read_rate_limit_per_second, 0); /* declared, not the order rate */
    ck_assert_uint_eq(some.read_rate_limit_per_minute, 120);
    free(log);
}
END_TEST

/* A get_rate_limits that fails is warned about; the host paces as for 1.1. */
START_TEST(test_failed_declaration_keeps_the_capability_rates)
{
    char *log = NULL;
    broker_settings settings = declared_settings("declare_fail = yes\n", &log);
    ck_assert_uint_eq(settings.rate_limit_per_second, 7);
    ck_assert_uint_eq(settings.rate_limit_per_minute, 0);
    ck_assert_uint_eq(settings.read_rate_limit_per_second, 7);
    ck_assert_uint_eq(settings.read_rate_limit_per_minute, 0);
    ck_assert_msg(strstr(log, "get_rate_limits returned INTERNAL") != NULL, "%s", log);
    free(log);
}
END_TEST

START_TEST(test_unknown_broker_keys_warned)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir,
                                  "[broker.good]\nplugin = good.so\nseed = 4\ngreeting = hi\n"
                                  "colour = blue\nmax_retries = 2\n",
                                  &cfg);
    ck_assert_ptr_nonnull(registry_find(reg, "good"));
    char *log = tu_read_file(dir.log_path);
    char *expected =
        tu_format("WARN  config: %s:8: unknown key 'colour' in [broker.good]", dir.ini);
    ck_assert_msg(strstr(log, expected) != NULL, "missing \"%s\" in:\n%s", expected, log);
    ck_assert_uint_eq(count_occurrences(log, "unknown key"), 1);
    registry_free(reg);
    config_free(&cfg);
    free(expected);
    free(log);
    loader_dir_free(&dir);
}
END_TEST

/* Loads the good fixture with `seed` and returns what it logged as its first
 * two random numbers. */
static char *random_numbers_for(const char *seed_line)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    char *sections = tu_format("[broker.good]\nplugin = good.so\n%s", seed_line);
    config cfg;
    registry *reg = load_sections(&dir, sections, &cfg);
    ck_assert_ptr_nonnull(registry_find(reg, "good"));
    registry_free(reg);
    config_free(&cfg);
    char *log = tu_read_file(dir.log_path);
    char *line = line_with(log, "random=");
    char *numbers = strdup(strstr(line, "random=") + 7);
    free(line);
    free(log);
    free(sections);
    loader_dir_free(&dir);
    return numbers;
}

START_TEST(test_random_source_is_seeded)
{
    char *first = random_numbers_for("seed = 42\n");
    char *again = random_numbers_for("seed = 42\n");
    char *other = random_numbers_for("seed = 43\n");
    char *default_seed = random_numbers_for("");
    char *seed_one = random_numbers_for("seed = 1\n");
    ck_assert_str_eq(first, again);
    ck_assert_str_ne(first, other);
    ck_assert_str_eq(default_seed, seed_one);
    ck_assert_ptr_null(strstr(first, "0,0"));
    free(first);
    free(again);
    free(other);
    free(default_seed);
    free(seed_one);
}
END_TEST

typedef struct counter_run {
    registry_broker *broker;
    volatile long counter;
} counter_run;

static void *count_under_lock(void *context)
{
    counter_run *run = context;
    for (int i = 0; i < 200000; i++) {
        registry_broker_enter(run->broker);
        long value = run->counter;
        run->counter = value + 1;
        registry_broker_leave(run->broker);
    }
    return NULL;
}

START_TEST(test_calls_serialized)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir, "[broker.good]\nplugin = good.so\n", &cfg);
    counter_run run = {registry_find(reg, "good"), 0};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, count_under_lock, &run), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(run.counter, 800000);
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_open_file)
{
    char *good = fixture_path("good");
    const broker_plugin *plugin = NULL;
    void *handle = NULL;
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_int_eq(registry_open_file(good, &plugin, &handle, &error), PTX_OK);
    ck_assert_str_eq(plugin->name, "good");
    ck_assert_str_eq(plugin->version, "0.0.1");
    registry_unload_file(handle);

    char *crash = fixture_path("crash_ctor");
    char *expected =
        tu_format("plugin %s: refused at open: crashed while loading (signal 11)", crash);
    ck_assert_int_eq(registry_open_file(crash, &plugin, &handle, &error), PTX_PLUGIN);
    ck_assert_str_eq(error.message, expected);
    ck_assert_ptr_null(handle);

    char *newer = fixture_path("newer_minor");
    ck_assert_int_eq(registry_open_file(newer, &plugin, &handle, &error), PTX_OK);
    ck_assert_uint_gt(plugin->size, BROKER_PLUGIN_V1_0_SIZE);
    registry_unload_file(handle);

    ck_assert_int_eq(registry_open_file("no-such-plugin.so", &plugin, &handle, &error), PTX_PLUGIN);
    ck_assert_msg(strstr(error.message, "plugin no-such-plugin.so: refused at open: ") ==
                      error.message,
                  "%s", error.message);
    ck_assert_msg(strstr(error.message, "No such file or directory") != NULL, "%s", error.message);
    free(good);
    free(crash);
    free(expected);
    free(newer);
}
END_TEST

/* Lists the dynamic symbols `path` defines (one per line, heap string). */
static char *defined_symbols(const char *path)
{
    char *command = tu_format("nm -D --defined-only '%s' | awk '{print $NF}'", path);
    char *symbols = NULL;
    char *errors = NULL;
    int status = tu_run(command, &symbols, &errors);
    ck_assert_msg(status == 0, "nm %s failed: %s", path, errors);
    free(command);
    free(errors);
    return symbols;
}

START_TEST(test_shipped_plugins_export_one_symbol)
{
    static const char *const shipped[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        char *path = tu_format("%s/plugins/%s.so", tu_build_dir(), shipped[i]);
        ck_assert_msg(access(path, R_OK) == 0, "%s is not built", path);
        char *symbols = defined_symbols(path);
        ck_assert_msg(strcmp(symbols, "broker_plugin_v1\n") == 0,
                      "%s exports more than broker_plugin_v1:\n%s", path, symbols);
        free(symbols);
        free(path);
    }
    char *good = fixture_path("good");
    char *symbols = defined_symbols(good);
    ck_assert_str_eq(symbols, "broker_plugin_v1\n");
    free(symbols);
    free(good);
}
END_TEST

/* Collects what get_holdings emits: the quantity of RELIANCE. */
static int holding_of_reliance(void *context, const char *symbol, int64_t quantity)
{
    if (strcmp(symbol, "RELIANCE") == 0)
        *(int64_t *)context = quantity;
    return 0;
}

/* Opens a session on `broker` and places one BUY through the descriptor the
 * registry exposes, as the engine does; returns the order. */
static broker_order trade_once(registry_broker *broker)
{
    const broker_plugin *plugin = registry_broker_plugin(broker);
    broker_instance *instance = registry_broker_instance(broker);
    broker_credential key = {"api_key", "k"};
    broker_credentials credentials = {1, &key};
    broker_session *session = NULL;
    broker_text account, error;
    memset(&account, 0, sizeof account);
    memset(&error, 0, sizeof error);
    registry_broker_enter(broker);
    ck_assert_int_eq(plugin->open_session(instance, &credentials, &session, &account, &error),
                     BROKER_OK);
    ck_assert_int_eq(plugin->authenticate(instance, session), BROKER_OK);
    int64_t held = -1;
    ck_assert_int_eq(plugin->get_holdings(instance, session, holding_of_reliance, &held),
                     BROKER_OK);
    ck_assert_int_eq(held, 10);
    broker_order_request request = {.side = BROKER_SIDE_BUY, .quantity = 5};
    snprintf(request.symbol, sizeof request.symbol, "RELIANCE");
    snprintf(request.client_order_id, sizeof request.client_order_id, "T1");
    broker_order order;
    memset(&order, 0, sizeof order);
    ck_assert_int_eq(plugin->place_order(instance, session, &request, &order), BROKER_OK);
    plugin->close_session(instance, session);
    registry_broker_leave(broker);
    return order;
}

static void assert_no_features(const registry_features *features, unsigned minor)
{
    ck_assert_uint_eq(features->abi_minor, minor);
    ck_assert(!features->place_order_ex && !features->get_order_ex && !features->get_positions &&
              !features->get_open_orders && !features->get_funds && !features->get_instrument &&
              !features->get_market_session && !features->retry_after_ms &&
              !features->parallel_session_calls && !features->get_rate_limits);
}

/* A plugin built against the frozen 1.0 header loads and trades; the host's
 * view of its descriptor has every 1.1 callback NULL. */
START_TEST(test_frozen_v1_0_plugin_trades)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good_v1_0", "good.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir, "[broker.good]\nplugin = good.so\n", &cfg);
    registry_broker *broker = registry_find(reg, "good");
    ck_assert_msg(broker != NULL, "%s", registry_find_refusal(reg, "good"));
    const broker_plugin *plugin = registry_broker_plugin(broker);
    ck_assert_uint_eq(plugin->abi_minor, 0);
    ck_assert_uint_eq(plugin->size, BROKER_PLUGIN_V1_0_SIZE);
    ck_assert_ptr_null(plugin->place_order_ex);
    ck_assert_ptr_null(plugin->get_funds);
    ck_assert_ptr_null(plugin->retry_after_ms);
    assert_no_features(registry_broker_features(broker), 0);
    broker_order order = trade_once(broker);
    ck_assert_int_eq(order.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(order.filled_quantity, 5);
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

/* A plugin of this minor that leaves every new callback NULL is a plain 1.0
 * broker. */
START_TEST(test_current_minor_without_new_callbacks)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "good", "good.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir, "[broker.good]\nplugin = good.so\n", &cfg);
    registry_broker *broker = registry_find(reg, "good");
    ck_assert_ptr_nonnull(broker);
    ck_assert_uint_eq(registry_broker_plugin(broker)->size, sizeof(broker_plugin));
    assert_no_features(registry_broker_features(broker), BROKER_ABI_MINOR);
    ck_assert_int_eq(trade_once(broker).state, BROKER_ORDER_FILLED);
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

/* A plugin built for 1.1 (its descriptor ends at retry_after_ms) loads;
 * without get_rate_limits the host paces as before 1.2: orders and reads at
 * the capability's rate, nothing per minute. */
START_TEST(test_v1_1_plugin_keeps_the_capability_rates)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "v1_1", "v1_1.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir, "[broker.v1_1]\nplugin = v1_1.so\n", &cfg);
    registry_broker *broker = registry_find(reg, "v1_1");
    ck_assert_msg(broker != NULL, "%s", registry_find_refusal(reg, "v1_1"));
    ck_assert_uint_eq(registry_broker_plugin(broker)->size, BROKER_PLUGIN_V1_1_SIZE);
    ck_assert_ptr_null(registry_broker_plugin(broker)->get_rate_limits);
    assert_no_features(registry_broker_features(broker), 1);
    const broker_settings *settings = registry_broker_settings(broker);
    ck_assert_uint_eq(settings->rate_limit_per_second, 7);
    ck_assert_uint_eq(settings->rate_limit_per_minute, 0);
    ck_assert_uint_eq(settings->read_rate_limit_per_second, 7);
    ck_assert_uint_eq(settings->read_rate_limit_per_minute, 0);
    ck_assert_int_eq(trade_once(broker).state, BROKER_ORDER_FILLED);
    registry_free(reg);
    config_free(&cfg);
    loader_dir_free(&dir);
}
END_TEST

START_TEST(test_extra_export_warned)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    install_fixture(&dir, "extra_symbol", "extra_symbol.so", 0755);
    config cfg;
    registry *reg = load_sections(&dir, "[broker.extra_symbol]\nplugin = extra_symbol.so\n", &cfg);
    ck_assert_ptr_nonnull(registry_find(reg, "extra_symbol"));
    char *log = tu_read_file(dir.log_path);
    char *line = line_with(log, "plugin extra_symbol.so: warned, not refused: exports 1 dynamic "
                                "symbol besides broker_plugin_v1 (fixture_stray_export)");
    ck_assert_msg(strstr(line, " WARN ") != NULL, "not a warning: %s", line);
    ck_assert_uint_eq(count_occurrences(log, "warned, not refused"), 1);
    registry_free(reg);
    config_free(&cfg);
    free(line);
    free(log);
    loader_dir_free(&dir);

    /* plugin check: the same line, and the plugin still opens. */
    dir = loader_dir_new();
    capture_log(&dir);
    char *path = fixture_path("extra_symbol");
    const broker_plugin *plugin = NULL;
    void *handle = NULL;
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_int_eq(registry_open_file(path, &plugin, &handle, &error), PTX_OK);
    registry_unload_file(handle);
    log = tu_read_file(dir.log_path);
    ck_assert_uint_eq(count_occurrences(log, "warned, not refused: exports 1 dynamic symbol"), 1);
    free(log);
    free(path);
    loader_dir_free(&dir);
}
END_TEST

/* plugin_path: folders searched in order; the first holding the file wins; a
 * missing folder is skipped; an unsafe one refuses; symlinks are followed. */
START_TEST(test_plugin_path_search)
{
    loader_dir dir = loader_dir_new();
    capture_log(&dir);
    char *first = tu_format("%s/first", dir.root), *second = tu_format("%s/second", dir.root);
    ck_assert_int_eq(mkdir(first, 0755), 0);
    ck_assert_int_eq(mkdir(second, 0755), 0);
    ck_assert_int_eq(chmod(first, 0755), 0);
    ck_assert_int_eq(chmod(second, 0755), 0);
    install_fixture(&dir, "good", "good.so", 0755); /* in plugins/ */
    char *link = tu_format("%s/newer_minor.so", second);
    char *built = fixture_path("newer_minor");
    char *target = realpath(built, NULL);
    ck_assert_ptr_nonnull(target);
    ck_assert_int_eq(symlink(target, link), 0);
    free(built);
    char *text = tu_format("[host]\nplugin_path = missing : first:%s:plugins\n\n"
                           "[broker.good]\nplugin = good.so\n"
                           "[broker.newer_minor]\nplugin = newer_minor.so\n",
                           second);
    tu_write_file(dir.ini, text);
    config cfg;
    ptx_error error;
    ptx_error_clear(&error);
    ck_assert_msg(config_load(dir.ini, &cfg, &error) == PTX_OK, "%s", error.message);
    ck_assert_uint_eq(cfg.plugin_path_count, 4);
    registry *reg = NULL;
    ck_assert_int_eq(registry_load(&cfg, &reg, &error), PTX_OK);
    ck_assert_msg(registry_count(reg) == 2, "%s", registry_refused_message(reg, 0));
    registry_free(reg);
    /* A group-writable folder before the file refuses it. */
    ck_assert_int_eq(chmod(first, 0775), 0);
    ck_assert_int_eq(registry_load(&cfg, &reg, &error), PTX_OK);
    ck_assert_uint_eq(registry_count(reg), 0);
    ck_assert_ptr_nonnull(strstr(registry_find_refusal(reg, "good"), "group-writable"));
    registry_free(reg);
    config_free(&cfg);
    /* plugin_dir and plugin_path together are refused. */
    tu_write_file(dir.ini, "[host]\nplugin_dir = plugins\nplugin_path = plugins\n");
    ck_assert_int_eq(config_load(dir.ini, &cfg, &error), PTX_CONFIG);
    ck_assert_ptr_nonnull(strstr(error.message, "set plugin_path or plugin_dir, not both"));
    free(text);
    free(target);
    free(link);
    free(first);
    free(second);
    loader_dir_free(&dir);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *suite = suite_create("registry");
    TCase *loading = tcase_create("loading");
    tcase_set_timeout(loading, 30);
    tcase_add_test(loading, test_good_plugin_loads);
    tcase_add_loop_test(loading, test_refusal, 0,
                        (int)(sizeof refusal_cases / sizeof refusal_cases[0]));
    tcase_add_test(loading, test_world_writable_plugin_dir);
    tcase_add_test(loading, test_crashing_constructor_spares_host);
    tcase_add_test(loading, test_create_failure_refused_at_init);
    tcase_add_test(loading, test_open_file);
    tcase_add_test(loading, test_frozen_v1_0_plugin_trades);
    tcase_add_test(loading, test_current_minor_without_new_callbacks);
    tcase_add_test(loading, test_v1_1_plugin_keeps_the_capability_rates);
    tcase_add_test(loading, test_extra_export_warned);
    tcase_add_test(loading, test_plugin_path_search);
    suite_add_tcase(suite, loading);

    TCase *instances = tcase_create("instances");
    tcase_set_timeout(instances, 30);
    tcase_add_test(instances, test_settings_parsed);
    tcase_add_test(instances, test_declared_limits_are_the_defaults);
    tcase_add_test(instances, test_config_beats_declared_limits);
    tcase_add_test(instances, test_failed_declaration_keeps_the_capability_rates);
    tcase_add_test(instances, test_bad_settings_refused_at_init);
    tcase_add_test(instances, test_unknown_broker_keys_warned);
    tcase_add_test(instances, test_random_source_is_seeded);
    tcase_add_test(instances, test_calls_serialized);
    suite_add_tcase(suite, instances);

    TCase *shipped = tcase_create("shipped");
    tcase_set_timeout(shipped, 30);
    tcase_add_test(shipped, test_shipped_plugins_export_one_symbol);
    suite_add_tcase(suite, shipped);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(registry_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
