/*
 * Engine-level throughput of 20-leg executions with the journal off, on with
 * journal_sync = normal, and on with journal_sync = full (issue 4). Each run
 * is one process: `bench_journal MODE [EXECUTIONS [THREADS]]`, MODE
 * off|normal|full; THREADS (default 1) threads execute concurrently, each on
 * its own account, EXECUTIONS each. Every execution flips 20 target
 * quantities between 10 and 20, so each one places, follows and journals 20
 * legs. Prints one line:
 *   journal mode=M threads=T executions=N legs=L executions_per_s=X legs_per_s=Y
 * (N and X over all threads). `bench_journal compare [EXECUTIONS]` runs
 * every mode with 1 and with 8 threads (each run in its own process) and
 * adds the ratios normal/off and full/off:
 *   journal compare threads=T off=X normal=Y full=Z normal_vs_off=R full_vs_off=S
 */
#include <pthread.h>
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

#define BENCH_MAX_THREADS 64

typedef struct worker {
    pthread_t thread;
    engine *eng;
    size_t executions;
    size_t executed; /* across calls, so every execution flips all targets */
    char account[32];
    int status;
} worker;

static int run(worker *w, size_t executions)
{
    engine *eng = w->eng;
    broker_credential credentials[] = {{"api_key", w->account}, {"access_token", "bench"}};
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
            targets[i].target_quantity = w->executed % 2 ? 10 : 20;
        w->executed++;
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

static void *worker_main(void *context)
{
    worker *w = context;
    w->status = run(w, w->executions);
    return NULL;
}

/* Runs every worker's executions concurrently; 0 when all succeeded. */
static int run_all(worker *workers, size_t threads)
{
    int status = 0;
    for (size_t t = 0; t < threads; t++)
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0)
            return -1;
    for (size_t t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        status |= workers[t].status;
    }
    return status;
}

/* Runs `self MODE EXECUTIONS THREADS` and returns its executions_per_s. */
static double run_child(const char *self, const char *mode, size_t executions, size_t threads)
{
    char command[4300];
    snprintf(command, sizeof command, "'%s' %s %zu %zu", self, mode, executions, threads);
    FILE *child = popen(command, "r");
    if (child == NULL)
        return -1;
    char line[512];
    double rate = -1;
    while (fgets(line, sizeof line, child) != NULL) {
        const char *field = strstr(line, "executions_per_s=");
        if (field != NULL)
            rate = strtod(field + strlen("executions_per_s="), NULL);
    }
    return pclose(child) == 0 ? rate : -1;
}

static int compare(const char *self, size_t executions)
{
    static const size_t thread_counts[] = {1, 8};
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        size_t threads = thread_counts[t];
        double off = run_child(self, "off", executions, threads);
        double normal = run_child(self, "normal", executions, threads);
        double full = run_child(self, "full", executions, threads);
        if (off <= 0 || normal <= 0 || full <= 0) {
            fprintf(stderr, "bench_journal compare: a run failed\n");
            return 1;
        }
        printf("journal compare threads=%zu off=%.1f normal=%.1f full=%.1f normal_vs_off=%.3f "
               "full_vs_off=%.3f\n",
               threads, off, normal, full, normal / off, full / off);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "normal";
    if (strcmp(mode, "compare") == 0)
        return compare(argv[0], argc > 2 ? strtoul(argv[2], NULL, 10) : 300);
    size_t executions = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
    size_t threads = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
    if (threads < 1 || threads > BENCH_MAX_THREADS) {
        fprintf(stderr, "threads: 1 to %d\n", BENCH_MAX_THREADS);
        return 2;
    }
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
    worker workers[BENCH_MAX_THREADS];
    memset(workers, 0, sizeof workers);
    for (size_t t = 0; t < threads; t++) {
        workers[t].eng = eng;
        snprintf(workers[t].account, sizeof workers[t].account, "bench%zu", t);
        workers[t].executions = 6; /* warm-up */
    }
    int warm = run_all(workers, threads);
    for (size_t t = 0; t < threads; t++)
        workers[t].executions = executions;
    int64_t started = now_ns();
    if (warm == 0 && run_all(workers, threads) == 0) {
        double seconds = (double)(now_ns() - started) / 1e9;
        size_t total = executions * threads;
        printf("journal mode=%s threads=%zu executions=%zu legs=%d executions_per_s=%.1f "
               "legs_per_s=%.0f\n",
               mode, threads, total, BENCH_LEGS, (double)total / seconds,
               (double)total * BENCH_LEGS / seconds);
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
