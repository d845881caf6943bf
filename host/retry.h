/* Backoff for retries: exponential with full jitter, plus the clocks and
 * sleeps the engine paces itself with. */
#ifndef PTEXEC_RETRY_H
#define PTEXEC_RETRY_H

#include <stdint.h>

/* A small random source for jitter; one per execution, not thread-safe. */
typedef struct retry_rng {
    uint64_t state;
} retry_rng;

/* Seeds `rng` from a per-thread splitmix64 stream that getrandom() seeded
 * once (falling back to the clock): distinct seeds, no system call. Any thread. */
void retry_rng_seed(retry_rng *rng);

/* Returns the next pseudo-random value of `rng`. */
uint64_t retry_rng_next(retry_rng *rng);

/*
 * Returns the delay before retry number `retry` (0 for the first retry):
 * a uniformly random value in [0, min(max_ms, base_ms * 2^retry)] ("full
 * jitter"). Returns 0 when base_ms is 0.
 */
unsigned retry_backoff_ms(retry_rng *rng, unsigned base_ms, unsigned max_ms, unsigned retry);

/* Monotonic clock in milliseconds and microseconds. Any thread. */
int64_t retry_monotonic_ms(void);
int64_t retry_monotonic_us(void);

/* Wall clock in milliseconds since the Unix epoch. Any thread. */
int64_t retry_wall_ms(void);

/* Sleeps the calling thread for `milliseconds` (or microseconds), resuming
 * after signals. */
void retry_sleep_ms(unsigned milliseconds);
void retry_sleep_us(int64_t microseconds);

#endif
