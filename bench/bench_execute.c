/*
 * bench_execute N [POLL_INTERVAL_MS]: one full engine_execute of the synthetic
 * portfolio of N symbols (see bench_common.h) against the simulated zerodha
 * plugin with every failure rate 0 and no rate limit. Prints one line
 *   execute symbols=N ns_per_symbol=X seed_ns_per_symbol=Y peak_rss_mib=Z legs=L
 *
 * The account first gets the even symbols through a seeding execution (N/2
 * BUY legs, timed as Y), so that in the measured execution about half the
 * symbols trade: a quarter BUY, a quarter SELL. (Seeding through the sim's
 * initial_holdings key would work too, but its parser is quadratic in the
 * number of symbols.) X covers engine_execute alone: authenticate, holdings,
 * plan, place and follow every order, reconcile. Exits 1 when an execution is
 * not COMPLETED with every position on target.
 *
 * Plugins are taken from $PTEXEC_BUILD_DIR/plugins, else from the build folder
 * this binary sits in (BUILD/bench/bench_execute -> BUILD/plugins). Run one
 * size per process so that the peak RSS belongs to that size.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "registry.h"

typedef struct bench_setup {
    char directory[64];
    char ini_path[128];
    config cfg;
    registry *reg;
    engine *eng;
} bench_setup;

static void bench_plugin_dir(const char *argv0, char *out, size_t out_size)
{
    const char *build = getenv("PTEXEC_BUILD_DIR");
    if (build != NULL && *build != '\0') {
        snprintf(out, out_size, "%s/plugins", build);
        return;
    }
    char self[PATH_MAX];
    if (realpath(argv0, self) == NULL) {
        snprintf(out, out_size, "build/plugins");
        return;
    }
    char *bench_dir = dirname(self);
    snprintf(out, out_size, "%s/../plugins", bench_dir);
}

static int bench_write_ini(bench_setup *setup, const char *plugin_dir, unsigned poll_interval_ms)
{
    snprintf(setup->directory, sizeof setup->directory, "/tmp/ptexec-bench-XXXXXX");
    if (mkdtemp(setup->directory) == NULL)
        return -1;
    snprintf(setup->ini_path, sizeof setup->ini_path, "%s/brokers.ini", setup->directory);
    FILE *file = fopen(setup->ini_path, "w");
    if (file == NULL)
        return -1;
    fprintf(file,
            "[host]\nplugin_dir = %s\nlog_level = warn\nmax_symbols = 100000000\n\n"
            "[broker.zerodha]\nplugin = zerodha.so\nmode = simulated\nseed = 1\n"
            "max_retries = 3\nretry_base_ms = 1\nretry_max_ms = 5\npoll_interval_ms = %u\n"
            "rate_limit_per_second = 0\ninitial_holdings =\n"
            "transient_failure_rate = 0\nunknown_outcome_rate = 0\nreject_rate = 0\n"
            "partial_fill_rate = 0\nauth_expiry_rate = 0\nlatency_ms = 0\n",
            plugin_dir, poll_interval_ms);
    return fclose(file) == 0 ? 0 : -1;
}

static int bench_open(bench_setup *setup, const char *plugin_dir, unsigned poll_interval_ms)
{
    ptx_error error;
    ptx_error_clear(&error);
    if (bench_write_ini(setup, plugin_dir, poll_interval_ms) != 0) {
        fprintf(stderr, "cannot write the benchmark configuration\n");
        return -1;
    }
    if (config_load(setup->ini_path, &setup->cfg, &error) != PTX_OK ||
        registry_load(&setup->cfg, &setup->reg, &error) != PTX_OK) {
        fprintf(stderr, "setup: %s\n", error.message);
        return -1;
    }
    if (registry_find(setup->reg, "zerodha") == NULL) {
        fprintf(stderr, "zerodha.so not loaded from %s\n", plugin_dir);
        return -1;
    }
    setup->eng = engine_create(setup->reg, NULL);
    return setup->eng != NULL ? 0 : -1;
}

static void bench_close(bench_setup *setup)
{
    if (setup->eng != NULL)
        engine_destroy(setup->eng);
    if (setup->reg != NULL)
        registry_free(setup->reg);
    config_free(&setup->cfg);
    if (setup->ini_path[0] != '\0')
        unlink(setup->ini_path);
    if (setup->directory[0] != '\0')
        rmdir(setup->directory);
}

/* Returns 0 when every leg FILLED and every position reached its target. */
static int bench_verify(const exec_result *result, size_t count, size_t expected_legs)
{
    size_t bad = 0;
    for (size_t i = 0; i < result->leg_count; i++)
        bad += result->legs[i].status != LEG_FILLED;
    for (size_t i = 0; i < result->position_count; i++)
        bad += result->positions[i].residual != 0;
    if (result->status != EXEC_COMPLETED || result->leg_count != expected_legs ||
        result->position_count != count || bad != 0) {
        fprintf(stderr, "execution %s: %zu legs (want %zu), %zu positions, %zu not on target\n",
                exec_status_name(result->status), result->leg_count, expected_legs,
                result->position_count, bad);
        return -1;
    }
    return 0;
}

/* Executes `targets` once; *elapsed is the time engine_execute took. */
static int bench_run(engine *eng, exec_target *targets, size_t count, size_t expected_legs,
                     int64_t *elapsed)
{
    broker_credential credentials[] = {{"api_key", "bench"}, {"access_token", "bench"}};
    exec_request request;
    memset(&request, 0, sizeof request);
    snprintf(request.broker, sizeof request.broker, "zerodha");
    request.credentials = credentials;
    request.credential_count = 2;
    request.targets = targets;
    request.target_count = count;
    engine_call_options options = {.progress = NULL, .lock_timeout_ms = 0};
    exec_result result;
    ptx_error error;
    memset(&result, 0, sizeof result);
    ptx_error_clear(&error);
    int64_t start = bench_now_ns();
    ptx_status status = engine_execute(eng, &request, &options, &result, &error);
    *elapsed = bench_now_ns() - start;
    if (status != PTX_OK) {
        fprintf(stderr, "engine_execute: %s\n", error.message);
        return -1;
    }
    int verdict = bench_verify(&result, count, expected_legs);
    exec_result_free(&result);
    return verdict;
}

/* The seeding targets: every held symbol at BENCH_HELD_QUANTITY, others 0. */
static exec_target *bench_seed_targets(size_t count)
{
    exec_target *targets = bench_targets(count);
    for (size_t i = 0; targets != NULL && i < count; i++)
        targets[i].target_quantity = bench_is_held(i) ? BENCH_HELD_QUANTITY : 0;
    return targets;
}

int main(int argc, char **argv)
{
    size_t count = bench_parse_size(argc, argv, "SYMBOLS [POLL_INTERVAL_MS]");
    unsigned poll_interval_ms = argc >= 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 1;
    char plugin_dir[PATH_MAX + 16];
    bench_plugin_dir(argv[0], plugin_dir, sizeof plugin_dir);
    log_configure(LOG_WARN, false);

    bench_setup setup;
    memset(&setup, 0, sizeof setup);
    exec_target *seed = bench_seed_targets(count);
    exec_target *targets = bench_targets(count);
    int64_t seed_ns = 0, execute_ns = 0;
    int failed = seed == NULL || targets == NULL ||
                 bench_open(&setup, plugin_dir, poll_interval_ms) != 0 ||
                 bench_run(setup.eng, seed, count, (count + 1) / 2, &seed_ns) != 0 ||
                 bench_run(setup.eng, targets, count, bench_expected_legs(count), &execute_ns) != 0;
    if (!failed)
        printf("execute symbols=%zu ns_per_symbol=%.1f seed_ns_per_symbol=%.1f "
               "peak_rss_mib=%.1f legs=%zu\n",
               count, (double)execute_ns / (double)count, (double)seed_ns / (double)count,
               bench_peak_rss_kib() / 1024.0, bench_expected_legs(count));
    bench_close(&setup);
    free(seed);
    free(targets);
    return failed ? 1 : 0;
}
