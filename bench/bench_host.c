/*
 * bench_host CONFIG MODE SECONDS THREADS: in-process executions through the
 * public host library (<ptexec/host.h>, linked against libptexec.so alone),
 * for comparison with the same requests over HTTP (bench/host_bench.sh).
 * MODE is "notrade" (a 20-symbol portfolio equal to what a new account holds:
 * no legs) or "trade" (20 legs every execution: the targets flip between two
 * portfolios every round over each thread's 64 accounts), the requests of
 * bench/wrk_execute.lua. THREADS threads share one host for SECONDS seconds.
 * Prints one line
 *   host mode=M threads=T executions=N seconds=S executions_per_s=X
 * and exits 1 when an execution fails.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ptexec/host.h>

#define BENCH_ACCOUNTS 64
#define BENCH_SYMBOLS 20
#define BENCH_BODY_MAX 4096

typedef struct bench_thread {
    pthread_t thread;
    ptexec_host *host;
    int index;
    int trade;
    double deadline;
    long executions;
    long failures;
} bench_thread;

static double now_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* The target portfolio of wrk_execute.lua: the initial holdings (no trade),
 * or one less of each held symbol and 3 of 17 others (20 legs). */
static int write_targets(char *out, size_t size, int trade)
{
    static const char *const held[] = {"RELIANCE", "TCS", "INFY"};
    static const int quantities[] = {10, 5, 8};
    int used = snprintf(out, size, "[");
    for (int i = 0; i < BENCH_SYMBOLS && used > 0 && (size_t)used < size; i++) {
        char symbol[16];
        int quantity;
        if (i < 3) {
            snprintf(symbol, sizeof symbol, "%s", held[i]);
            quantity = trade ? quantities[i] - 1 : quantities[i];
        } else {
            snprintf(symbol, sizeof symbol, "SYM%d", i - 2);
            quantity = trade ? 3 : 0;
        }
        used += snprintf(out + used, size - (size_t)used,
                         "%s{\"symbol\":\"%s\",\"target_quantity\":%d}", i ? "," : "", symbol,
                         quantity);
    }
    if (used > 0 && (size_t)used < size)
        used += snprintf(out + used, size - (size_t)used, "]");
    return used;
}

static void *bench_run(void *context)
{
    bench_thread *t = context;
    char trade_targets[BENCH_BODY_MAX], notrade_targets[BENCH_BODY_MAX], body[BENCH_BODY_MAX];
    write_targets(trade_targets, sizeof trade_targets, 1);
    write_targets(notrade_targets, sizeof notrade_targets, 0);
    for (long counter = 1; now_s() < t->deadline; counter++) {
        const char *targets =
            t->trade && (counter / BENCH_ACCOUNTS) % 2 == 0 ? trade_targets : notrade_targets;
        int length = snprintf(body, sizeof body,
                              "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"t%d-%ld\","
                              "\"access_token\":\"t\"},\"target_portfolio\":%s}",
                              t->index, counter % BENCH_ACCOUNTS, targets);
        ptexec_result result;
        if (ptexec_execute(t->host, body, (size_t)length, NULL, &result, NULL) == PTEXEC_OK)
            t->executions++;
        else
            t->failures++;
        ptexec_free(result.body);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_host CONFIG notrade|trade SECONDS THREADS\n");
        return 2;
    }
    ptexec_host *host = NULL;
    ptexec_error error;
    if (ptexec_open_file(argv[1], 0, &host, &error) != PTEXEC_OK) {
        fprintf(stderr, "bench_host: %s\n", error.message);
        return 2;
    }
    int trade = strcmp(argv[2], "trade") == 0;
    double seconds = atof(argv[3]);
    int count = atoi(argv[4]) > 0 ? atoi(argv[4]) : 1;
    bench_thread *threads = calloc((size_t)count, sizeof *threads);
    double started = now_s();
    for (int i = 0; threads != NULL && i < count; i++) {
        threads[i] =
            (bench_thread){.host = host, .index = i, .trade = trade, .deadline = started + seconds};
        pthread_create(&threads[i].thread, NULL, bench_run, &threads[i]);
    }
    long executions = 0, failures = 0;
    for (int i = 0; threads != NULL && i < count; i++) {
        pthread_join(threads[i].thread, NULL);
        executions += threads[i].executions;
        failures += threads[i].failures;
    }
    double elapsed = now_s() - started;
    printf("host mode=%s threads=%d executions=%ld seconds=%.2f executions_per_s=%.0f\n", argv[2],
           count, executions, elapsed, (double)executions / elapsed);
    free(threads);
    ptexec_close(host);
    if (failures > 0)
        fprintf(stderr, "bench_host: %ld executions failed\n", failures);
    return failures > 0 || threads == NULL ? 1 : 0;
}
