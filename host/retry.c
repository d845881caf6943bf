/* Backoff with full jitter, clocks and sleeps. */
#include "retry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* Jitter needs no secrecy: each thread seeds once from getrandom() and then
 * derives every further seed with splitmix64, so an execution costs no
 * system call for its seed. */
void retry_rng_seed(retry_rng *rng)
{
    static _Thread_local uint64_t stream;
    static _Thread_local bool seeded;
    if (!seeded) {
        if (getrandom(&stream, sizeof stream, GRND_NONBLOCK) != (ssize_t)sizeof stream)
            stream = (uint64_t)retry_monotonic_us() * 0x9e3779b97f4a7c15ull;
        seeded = true;
    }
    uint64_t z = (stream += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    rng->state = z != 0 ? z : 0x2545f4914f6cdd1dull;
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
