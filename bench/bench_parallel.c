/*
 * bench_parallel RATE SELLS BUYS [off|normal] [parallel|SIMULATED]: one
 * rebalance of SELLS + BUYS legs (issue 12) against a broker that answers
 * each call after latency_ms = 50 and refuses placements beyond RATE per
 * rolling second itself:
 *   parallel   the fixture tests/plugins/parallel.so (the default), which
 *              takes parallel calls on one session and meters placements
 *              only (it declares so: ABI 1.2 get_rate_limits);
 *   SIMULATED  an in-tree simulated plugin (zerodha, angelone, …) with
 *              rate_limit_per_second = RATE, every fault rate 0 and the
 *              market's defaults: always open, cash unlimited, a market order
 *              fills whole at its first read (fill_latency_ms = 0, liquidity
 *              = 0). It meters placements per second only (rate_limits =
 *              orders) and declares so. Its 429s are the lines of its
 *              rate_limit_log. Holdings to sell are bought by a first,
 *              untimed execution; then a plan of the rebalance caches every
 *              instrument's facts (unless BENCH_PARALLEL_COLD is set non-empty: the
 *              day's first rebalance, which asks them one by one), and a
 *              1.1 s pause lets every rate window forget the set-up.
 * The account holds SELLS symbols, all sold; BUYS new symbols are bought. The
 * journal is off, or on with journal_sync = normal in a scratch folder.
 * Prints one line
 *   parallel broker=NAME rate=R sells=S buys=B journal=J wall_s=X bound_s=Y ratio=Z
 *   too_many_requests=T [max_in_window=M max_concurrent=C]
 * where X is engine_execute's wall time (login, holdings, plan, every order
 * placed and read filled, reconcile), Y = legs / RATE, Z = X / Y; the last
 * two are the fixture's counters. Exits 1 when a leg did not fill.
 *
 * Plugins are taken from $PTEXEC_BUILD_DIR (default build): tests/plugins
 * for the fixture, plugins for the simulated ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "config.h"
#include "engine.h"
#include "journal.h"
#include "log.h"
#include "registry.h"

#define BENCH_LATENCY_MS 50

typedef struct bench_setup {
    const char *broker; /* "parallel" or a simulated plugin's name */
    bool simulated;
    char directory[64];
    char ini_path[128];
    char journal_path[128];
    char refused_path[128]; /* the simulated broker's rate_limit_log */
    config cfg;
    registry *reg;
    engine *eng;
    journal *records;
} bench_setup;

static int bench_write_ini(bench_setup *setup, unsigned rate, unsigned sells)
{
    const char *build = getenv("PTEXEC_BUILD_DIR");
    snprintf(setup->directory, sizeof setup->directory, "/tmp/ptexec-parallel-XXXXXX");
    if (mkdtemp(setup->directory) == NULL)
        return -1;
    snprintf(setup->ini_path, sizeof setup->ini_path, "%s/brokers.ini", setup->directory);
    snprintf(setup->refused_path, sizeof setup->refused_path, "%s/refused.log", setup->directory);
    FILE *file = fopen(setup->ini_path, "w");
    if (file == NULL)
        return -1;
    fprintf(file,
            "[host]\nplugin_dir = %s/%s\n\n"
            "[broker.%s]\nplugin = %s.so\nmax_retries = 3\nretry_base_ms = 100\n"
            "poll_interval_ms = 50\nlatency_ms = %d\nrate_limit_per_second = %u\n",
            build && *build ? build : "build", setup->simulated ? "plugins" : "tests/plugins",
            setup->broker, setup->broker, BENCH_LATENCY_MS, rate);
    if (setup->simulated)
        fprintf(file, "mode = simulated\ninitial_holdings =\nrate_limit_log = %s\n",
                setup->refused_path);
    else
        fprintf(file, "holdings_count = %u\n", sells);
    fprintf(file, "%s\n", getenv("BENCH_PARALLEL_EXTRA") ? getenv("BENCH_PARALLEL_EXTRA") : "");
    return fclose(file) == 0 ? 0 : -1;
}

static int bench_open(bench_setup *setup, unsigned rate, unsigned sells, bool journaled)
{
    ptx_error error;
    ptx_error_clear(&error);
    if (bench_write_ini(setup, rate, sells) != 0 ||
        config_load(setup->ini_path, &setup->cfg, &error) != PTX_OK ||
        registry_load(&setup->cfg, &setup->reg, &error) != PTX_OK) {
        fprintf(stderr, "setup: %s\n", error.message);
        return -1;
    }
    if (registry_find(setup->reg, setup->broker) == NULL) {
        fprintf(stderr, "%s.so not loaded: %s\n", setup->broker,
                registry_find_refusal(setup->reg, setup->broker));
        return -1;
    }
    setup->eng = engine_create(setup->reg, NULL);
    if (setup->eng == NULL)
        return -1;
    if (!journaled)
        return 0;
    snprintf(setup->journal_path, sizeof setup->journal_path, "%s/journal.db", setup->directory);
    if (journal_open(setup->journal_path, NULL, &setup->records, &error) != PTX_OK) {
        fprintf(stderr, "journal: %s\n", error.message);
        return -1;
    }
    engine_set_journal(setup->eng, setup->records);
    return 0;
}

static void bench_close(bench_setup *setup)
{
    engine_destroy(setup->eng);
    journal_close(setup->records);
    registry_free(setup->reg);
    config_free(&setup->cfg);
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", setup->directory);
    if (setup->directory[0] != '\0' && system(command) != 0)
        fprintf(stderr, "could not remove %s\n", setup->directory);
}

/* The simulated broker's refusals: the lines of its rate_limit_log. */
static long long bench_refused(const bench_setup *setup)
{
    FILE *file = fopen(setup->refused_path, "r");
    long long lines = 0;
    if (file == NULL)
        return 0;
    for (int c; (c = fgetc(file)) != EOF;)
        lines += c == '\n';
    fclose(file);
    return lines;
}

/* The broker's counter `name`, through get_quote (tests/plugins/parallel.c). */
static long long bench_counter(bench_setup *setup, const char *name)
{
    registry_broker *broker = registry_find(setup->reg, setup->broker);
    const broker_plugin *plugin = registry_broker_plugin(broker);
    broker_instance *instance = registry_broker_instance(broker);
    broker_credential key = {"api_key", "counter"};
    broker_credentials credentials = {1, &key};
    broker_session *session = NULL;
    broker_text account, error;
    double value = -1;
    if (plugin->open_session(instance, &credentials, &session, &account, &error) != BROKER_OK)
        return -1;
    plugin->get_quote(instance, session, name, &value);
    plugin->close_session(instance, session);
    return (long long)value;
}

static exec_target *bench_rebalance(unsigned sells, unsigned buys)
{
    exec_target *targets = calloc(sells + buys, sizeof *targets);
    for (unsigned i = 0; targets != NULL && i < sells + buys; i++) {
        bool sell = i < sells;
        snprintf(targets[i].symbol, sizeof targets[i].symbol, "%s%04u", sell ? "H" : "B",
                 sell ? i : i - sells);
        targets[i].target_quantity = sell ? 0 : 10;
    }
    return targets;
}

static int bench_execute(bench_setup *setup, exec_target *targets, size_t count, bool dry_run,
                         int64_t *elapsed)
{
    broker_credential credentials[] = {{"api_key", "bench"}, {"access_token", "demo"}};
    exec_request request;
    memset(&request, 0, sizeof request);
    snprintf(request.broker, sizeof request.broker, "%s", setup->broker);
    request.credentials = credentials;
    request.credential_count = 2;
    request.targets = targets;
    request.target_count = count;
    request.dry_run = dry_run;
    exec_result result;
    ptx_error error;
    ptx_error_clear(&error);
    int64_t start = bench_now_ns();
    ptx_status status = engine_execute(setup->eng, &request, NULL, &result, &error);
    *elapsed = bench_now_ns() - start;
    if (status != PTX_OK) {
        fprintf(stderr, "engine_execute: %s\n", error.message);
        return -1;
    }
    exec_status expected = dry_run ? EXEC_PLANNED : EXEC_COMPLETED;
    int verdict = result.status == expected && result.leg_count == count ? 0 : -1;
    if (verdict != 0)
        fprintf(stderr, "execution %s with %zu legs\n", exec_status_name(result.status),
                result.leg_count);
    exec_result_free(&result);
    return verdict;
}

/* Untimed set-up of a simulated broker. Its account holds nothing at first:
 * an execution buys the symbols to be sold (as many as the fixture holds).
 * With `warm`, a plan of the rebalance then asks every instrument's facts,
 * which the engine keeps for hours (host/instruments.h), as a server that
 * ran the day's first rebalance has them. Then the rate windows (the
 * host's and the broker's) are let go by. */
static int bench_prepare(bench_setup *setup, unsigned sells, exec_target *targets, size_t count,
                         bool warm)
{
    if (!setup->simulated)
        return 0;
    int64_t elapsed = 0;
    int verdict = 0;
    if (sells > 0) {
        exec_target *held = bench_rebalance(sells, 0);
        for (unsigned i = 0; held != NULL && i < sells; i++)
            held[i].target_quantity = BENCH_HELD_QUANTITY;
        verdict = held != NULL ? bench_execute(setup, held, sells, false, &elapsed) : -1;
        free(held);
    }
    if (verdict == 0 && warm)
        verdict = bench_execute(setup, targets, count, true, &elapsed);
    usleep(1100 * 1000);
    return verdict;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s RATE SELLS BUYS [off|normal] [parallel|SIMULATED]\n",
                argv[0]);
        return 2;
    }
    unsigned rate = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned sells = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned buys = (unsigned)strtoul(argv[3], NULL, 10);
    bool journaled = argc >= 5 && strcmp(argv[4], "normal") == 0;
    if (rate == 0 || sells + buys == 0) {
        fprintf(stderr, "RATE and SELLS + BUYS must be positive\n");
        return 2;
    }
    log_configure(getenv("BENCH_DEBUG") ? LOG_DEBUG : LOG_WARN, false);
    bench_setup setup;
    memset(&setup, 0, sizeof setup);
    setup.broker = argc >= 6 ? argv[5] : "parallel";
    setup.simulated = strcmp(setup.broker, "parallel") != 0;
    exec_target *targets = bench_rebalance(sells, buys);
    int64_t elapsed = 0;
    const char *cold = getenv("BENCH_PARALLEL_COLD");
    bool warm = setup.simulated && (cold == NULL || *cold == '\0');
    int failed = targets == NULL || bench_open(&setup, rate, sells, journaled) != 0 ||
                 bench_prepare(&setup, sells, targets, sells + buys, warm) != 0 ||
                 bench_execute(&setup, targets, sells + buys, false, &elapsed) != 0;
    if (!failed) {
        double wall = (double)elapsed / 1e9, bound = (double)(sells + buys) / rate;
        printf("parallel broker=%s%s rate=%u sells=%u buys=%u journal=%s wall_s=%.3f bound_s=%.3f "
               "ratio=%.3f",
               setup.broker, setup.simulated && !warm ? " cold=1" : "", rate, sells, buys,
               journaled ? "normal" : "off", wall, bound, wall / bound);
        if (setup.simulated)
            printf(" too_many_requests=%lld\n", bench_refused(&setup));
        else
            printf(" too_many_requests=%lld max_in_window=%lld max_concurrent=%lld\n",
                   bench_counter(&setup, "?too_many_requests"),
                   bench_counter(&setup, "?max_in_window"),
                   bench_counter(&setup, "?max_concurrent"));
    }
    bench_close(&setup);
    free(targets);
    return failed ? 1 : 0;
}
