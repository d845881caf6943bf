/* Backoff with full jitter, clocks and sleeps. */
#include "retry.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

void retry_rng_seed(retry_rng *rng)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)retry_monotonic_us() * 0x9e3779b97f4a7c15ull;
    rng->state = seed != 0 ? seed : 0x2545f4914f6cdd1dull;
}

uint64_t retry_rng_next(retry_rng *rng)
{
    uint64_t x = rng->state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

unsigned retry_backoff_ms(retry_rng *rng, unsigned base_ms, unsigned max_ms, unsigned retry)
{
    if (base_ms == 0)
        return 0;
    uint64_t ceiling = base_ms;
    for (unsigned i = 0; i < retry && ceiling < max_ms; i++)
        ceiling *= 2;
    if (max_ms > 0 && ceiling > max_ms)
        ceiling = max_ms;
    return (unsigned)(retry_rng_next(rng) % (ceiling + 1));
}

static int64_t retry_clock_us(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int64_t retry_monotonic_us(void)
{
    return retry_clock_us(CLOCK_MONOTONIC);
}

int64_t retry_monotonic_ms(void)
{
    return retry_clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t retry_wall_ms(void)
{
    return retry_clock_us(CLOCK_REALTIME) / 1000;
}

void retry_sleep_us(int64_t microseconds)
{
    if (microseconds <= 0)
        return;
    struct timespec delay = {.tv_sec = (time_t)(microseconds / 1000000),
                             .tv_nsec = (long)(microseconds % 1000000) * 1000};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;
}

void retry_sleep_ms(unsigned milliseconds)
{
    retry_sleep_us((int64_t)milliseconds * 1000);
}
