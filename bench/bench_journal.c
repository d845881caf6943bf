/*
 * Engine-level throughput of 20-leg executions with the journal off, on with
 * journal_sync = normal, and on with journal_sync = full (issue 4). Each run
 * is one process: `bench_journal MODE [EXECUTIONS]`, MODE off|normal|full.
 * Every execution flips 20 target quantities between 10 and 20, so each one
 * places, follows and journals 20 legs. Prints one line:
 *   journal mode=M executions=N legs=L executions_per_s=X legs_per_s=Y
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "journal.h"
#include "registry.h"

#define BENCH_LEGS 20

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *plugin_dir(void)
{
    const char *build = getenv("PTEXEC_BUILD_DIR");
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/plugins", build && *build ? build : "build");
    return dir;
}

static int write_ini(const char *path)
{
    FILE *file = fopen(path, "w");
    if (file == NULL)
        return -1;
    fprintf(file,
            "[host]\nplugin_dir = %s\nlog_level = warn\n\n"
            "[broker.zerodha]\nplugin = zerodha.so\nseed = 1\nretry_base_ms = 1\n"
            "poll_interval_ms = 1\nrate_limit_per_second = 0\ninitial_holdings =\n"
            "transient_failure_rate = 0\nunknown_outcome_rate = 0\n",
            plugin_dir());
    return fclose(file);
}

static size_t executed; /* across calls, so every execution flips all targets */

static int run(engine *eng, size_t executions)
{
    broker_credential credentials[] = {{"api_key", "bench"}, {"access_token", "bench"}};
    exec_target targets[BENCH_LEGS];
    exec_request request = {.credentials = credentials,
                            .credential_count = 2,
                            .targets = targets,
                            .target_count = BENCH_LEGS};
    snprintf(request.broker, sizeof request.broker, "zerodha");
    for (size_t i = 0; i < BENCH_LEGS; i++)
        snprintf(targets[i].symbol, sizeof targets[i].symbol, "SYM%02zu", i);
    for (size_t n = 0; n < executions; n++) {
        for (size_t i = 0; i < BENCH_LEGS; i++)
            targets[i].target_quantity = executed % 2 ? 10 : 20;
        executed++;
        exec_result result;
        ptx_error error;
        if (engine_execute(eng, &request, NULL, &result, &error) != PTX_OK ||
            result.status != EXEC_COMPLETED || result.leg_count != BENCH_LEGS) {
            fprintf(stderr, "execution %zu failed: %s\n", n, error.message);
            exec_result_free(&result);
            return -1;
        }
        exec_result_free(&result);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "normal";
    size_t executions = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
    char dir[] = "/tmp/ptexec-bench-journal-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char ini[4200], path[4200];
    snprintf(ini, sizeof ini, "%s/brokers.ini", dir);
    snprintf(path, sizeof path, "%s/journal.db", dir);
    config cfg;
    registry *reg = NULL;
    journal *records = NULL;
    ptx_error error;
    int status = 1;
    if (write_ini(ini) != 0 || config_load(ini, &cfg, &error) != PTX_OK)
        return 1;
    if (registry_load(&cfg, &reg, &error) != PTX_OK)
        goto done;
    engine *eng = engine_create(reg, NULL);
    journal_options options = {.sync = JOURNAL_SYNC_NORMAL};
    if (strcmp(mode, "off") != 0) {
        if (!journal_parse_sync(mode, &options.sync) ||
            journal_open(path, &options, &records, &error) != PTX_OK) {
            fprintf(stderr, "journal: %s\n", error.message);
            engine_destroy(eng);
            goto done;
        }
        engine_set_journal(eng, records);
    }
    run(eng, 6); /* warm-up */
    int64_t started = now_ns();
    if (run(eng, executions) == 0) {
        double seconds = (double)(now_ns() - started) / 1e9;
        printf("journal mode=%s executions=%zu legs=%d executions_per_s=%.1f legs_per_s=%.0f\n",
               mode, executions, BENCH_LEGS, (double)executions / seconds,
               (double)executions * BENCH_LEGS / seconds);
        status = 0;
    }
    engine_destroy(eng);
    journal_close(records);
done:
    registry_free(reg);
    config_free(&cfg);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        status = 1;
    return status;
}
