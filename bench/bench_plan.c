/*
 * bench_plan N: time plan_build on the synthetic portfolio of N symbols (half
 * held, a quarter bought, a quarter sold; see bench_common.h). Prints one line
 *   plan symbols=N ns_per_symbol=X peak_rss_mib=Y legs=L runs=R
 * where X is the mean over R runs of at least ~0.3 s in all. Exits 1 when the
 * plan is not the expected one. Run each size in its own process so that the
 * peak RSS belongs to that size (scripts/bench.sh does).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "holdings.h"
#include "plan.h"

#define BENCH_MIN_TOTAL_NS 300000000LL
#define BENCH_MIN_RUNS 3

static holdings *bench_holdings(size_t count)
{
    holdings *held = holdings_create(count / 2 + 1);
    char symbol[BROKER_SYMBOL_MAX];
    for (size_t i = 0; held != NULL && i < count; i++) {
        if (!bench_is_held(i))
            continue;
        bench_symbol(i, symbol);
        if (!holdings_set(held, symbol, BENCH_HELD_QUANTITY)) {
            holdings_free(held);
            return NULL;
        }
    }
    return held;
}

/* True when the execution order runs every SELL before every BUY. */
static int bench_sells_first(const plan *built)
{
    int buying = 0;
    for (size_t i = 0; i < built->count; i++) {
        const plan_leg *leg = &built->legs[built->order[i]];
        if (leg->sequence != i + 1 || (buying && leg->side == BROKER_SIDE_SELL))
            return 0;
        buying = leg->side == BROKER_SIDE_BUY;
    }
    return 1;
}

/* Builds the plan once; returns its duration in ns, or -1 when it is wrong. */
static int64_t bench_plan_once(const holdings *held, const exec_target *targets, size_t count)
{
    plan built;
    ptx_error error;
    int64_t start = bench_now_ns();
    ptx_status status = plan_build(held, targets, count, &built, &error);
    int64_t elapsed = bench_now_ns() - start;
    if (status != PTX_OK) {
        fprintf(stderr, "plan_build: %s\n", error.message);
        return -1;
    }
    size_t legs = built.count;
    int sells_first = bench_sells_first(&built);
    plan_free(&built);
    if (legs != bench_expected_legs(count) || !sells_first) {
        fprintf(stderr, "plan_build: %zu legs (want %zu), sells first: %d\n", legs,
                bench_expected_legs(count), sells_first);
        return -1;
    }
    return elapsed;
}

int main(int argc, char **argv)
{
    size_t count = bench_parse_size(argc, argv, "SYMBOLS");
    holdings *held = bench_holdings(count);
    exec_target *targets = bench_targets(count);
    if (held == NULL || targets == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int64_t total = 0;
    int runs = 0;
    while (runs < BENCH_MIN_RUNS || total < BENCH_MIN_TOTAL_NS) {
        int64_t elapsed = bench_plan_once(held, targets, count);
        if (elapsed < 0)
            return 1;
        total += elapsed;
        runs++;
    }
    printf("plan symbols=%zu ns_per_symbol=%.1f peak_rss_mib=%.1f legs=%zu runs=%d\n", count,
           (double)total / runs / (double)count, bench_peak_rss_kib() / 1024.0,
           bench_expected_legs(count), runs);
    holdings_free(held);
    free(targets);
    return 0;
}
