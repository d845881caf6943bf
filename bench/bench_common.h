/* Helpers shared by the benchmarks: the synthetic portfolio, clocks, peak
 * RSS. Static inline so that each bench/NAME.c stays one program. */
#ifndef PTEXEC_BENCH_COMMON_H
#define PTEXEC_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "request.h"

/* Quantity held of every held symbol. */
#define BENCH_HELD_QUANTITY 100

/*
 * The synthetic portfolio of `count` symbols "S0000000", "S0000001", …:
 * every even symbol is held (BENCH_HELD_QUANTITY), every odd one is not, and
 * the targets cycle through four cases so that half the symbols trade:
 *   i % 4 == 0  held, target unchanged      -> no leg
 *   i % 4 == 1  not held, target 50         -> BUY 50
 *   i % 4 == 2  held, target 40             -> SELL 60
 *   i % 4 == 3  not held, target 0          -> no leg
 */
static inline void bench_symbol(size_t index, char symbol[BROKER_SYMBOL_MAX])
{
    snprintf(symbol, BROKER_SYMBOL_MAX, "S%07zu", index);
}

static inline int bench_is_held(size_t index)
{
    return index % 2 == 0;
}

static inline int64_t bench_target(size_t index)
{
    static const int64_t targets[4] = {BENCH_HELD_QUANTITY, 50, 40, 0};
    return targets[index % 4];
}

/* Number of legs the portfolio of `count` symbols must produce. */
static inline size_t bench_expected_legs(size_t count)
{
    return count / 4 + (count % 4 > 1) + count / 4 + (count % 4 > 2);
}

/* The targets of the portfolio (heap; the caller frees), or NULL on OOM. */
static inline exec_target *bench_targets(size_t count)
{
    exec_target *targets = calloc(count ? count : 1, sizeof *targets);
    if (targets == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        bench_symbol(i, targets[i].symbol);
        targets[i].target_quantity = bench_target(i);
    }
    return targets;
}

/* Monotonic time in nanoseconds. */
static inline int64_t bench_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Peak resident set size of this process so far, in KiB. */
static inline long bench_peak_rss_kib(void)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1;
    return usage.ru_maxrss;
}

/* Parses argv[1] as the portfolio size; exits with a usage line otherwise. */
static inline size_t bench_parse_size(int argc, char **argv, const char *usage)
{
    char *end = NULL;
    unsigned long long size = argc >= 2 ? strtoull(argv[1], &end, 10) : 0;
    if (argc < 2 || end == argv[1] || *end != '\0' || size == 0 || size > 100000000ULL) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        exit(2);
    }
    return (size_t)size;
}

#endif
