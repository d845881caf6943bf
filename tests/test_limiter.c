/* Check suite for host/limiter.c: bursts, rolling windows (a call counts for
 * a whole window after it returned), retry-after, handles of one account
 * sharing a state, accounts independent, memory kept to the busy accounts.
 * Most tests drive the limiter with their own clock (the *_at functions), so
 * nothing depends on how fast the machine is. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "limiter.h"
#include "retry.h"

#define MS 1000
#define SECOND (1000 * MS)

static limiter_account *open_account(limiter *table, const char *id, unsigned orders_per_second,
                                     unsigned orders_per_minute, unsigned reads_per_second)
{
    limiter_rates rates = {orders_per_second, orders_per_minute, reads_per_second, 0};
    limiter_account *account = NULL;
    ck_assert_int_eq(limiter_open(table, "zerodha", id, &rates, &account), PTX_OK);
    ck_assert_ptr_nonnull(account);
    return account;
}

static bool try_at(limiter_account *account, limiter_class class, int64_t now, int64_t *wait)
{
    return limiter_try_acquire(account, class, now, wait);
}

/* A full burst goes at once; the next call waits until the first slice's
 * calls have been out of the window for a whole second. */
START_TEST(burst_then_window)
{
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", 5, 0, 0);
    int64_t t0 = 100 * SECOND, wait = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert(try_at(account, LIMITER_ORDERS, t0, &wait));
        ck_assert_int_eq(wait, 0);
    }
    ck_assert(!try_at(account, LIMITER_ORDERS, t0, &wait));
    ck_assert_int_gt(wait, SECOND); /* in flight: none can come back sooner */
    for (int i = 0; i < 5; i++)
        limiter_done_at(account, LIMITER_ORDERS, true, t0 + 50 * MS);
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + SECOND, &wait));
    ck_assert_int_gt(wait, 50 * MS);
    ck_assert_int_le(wait, 70 * MS);
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + SECOND + 50 * MS, &wait));
    ck_assert(try_at(account, LIMITER_ORDERS, t0 + SECOND + 50 * MS + wait, &wait));
    /* Reads are counted apart: unlimited here. */
    ck_assert(try_at(account, LIMITER_READS, t0, &wait));
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

/* A call that never reached the broker gives its place back at once. */
START_TEST(unsent_call_gives_its_place_back)
{
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", 1, 0, 0);
    int64_t t0 = 10 * SECOND, wait = 0;
    ck_assert(try_at(account, LIMITER_ORDERS, t0, &wait));
    limiter_done_at(account, LIMITER_ORDERS, false, t0);
    ck_assert(try_at(account, LIMITER_ORDERS, t0, &wait));
    limiter_done_at(account, LIMITER_ORDERS, true, t0);
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + SECOND / 2, &wait));
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

/* The minute window holds even when the second window has room. */
START_TEST(per_minute_limit)
{
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", 100, 3, 0);
    int64_t t0 = 1000 * SECOND, wait = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert(try_at(account, LIMITER_ORDERS, t0 + i * MS, &wait));
        limiter_done_at(account, LIMITER_ORDERS, true, t0 + i * MS);
    }
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + 2 * SECOND, &wait));
    ck_assert_int_gt(wait, 55 * SECOND);
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + 60 * SECOND, &wait));
    ck_assert(try_at(account, LIMITER_ORDERS, t0 + 61 * SECOND, &wait));
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

/* Reads have a minute window of their own: it holds while the read second
 * has room, and orders are not counted in it. */
START_TEST(reads_per_minute_limit)
{
    limiter *table = limiter_create();
    limiter_rates rates = {.orders_per_second = 100, .reads_per_second = 50, .reads_per_minute = 4};
    limiter_account *account = NULL;
    ck_assert_int_eq(limiter_open(table, "angelone", "A", &rates, &account), PTX_OK);
    int64_t t0 = 2000 * SECOND, wait = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert(try_at(account, LIMITER_READS, t0 + i * SECOND, &wait));
        limiter_done_at(account, LIMITER_READS, true, t0 + i * SECOND);
    }
    ck_assert(!try_at(account, LIMITER_READS, t0 + 5 * SECOND, &wait));
    ck_assert_int_gt(wait, 50 * SECOND);
    for (int i = 0; i < 10; i++) { /* orders are counted apart */
        ck_assert(try_at(account, LIMITER_ORDERS, t0 + 5 * SECOND, &wait));
        limiter_done_at(account, LIMITER_ORDERS, true, t0 + 5 * SECOND);
    }
    ck_assert(!try_at(account, LIMITER_READS, t0 + 59 * SECOND, &wait));
    ck_assert(try_at(account, LIMITER_READS, t0 + 61 * SECOND, &wait));
    ck_assert(!try_at(account, LIMITER_READS, t0 + 61 * SECOND, &wait)); /* the 2nd: 1 s later */
    ck_assert(try_at(account, LIMITER_READS, t0 + 61 * SECOND + wait, &wait));
    limiter_done_at(account, LIMITER_READS, true, t0 + 62 * SECOND);
    limiter_done_at(account, LIMITER_READS, true, t0 + 62 * SECOND);
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

/* A retry-after holds every class of the account, not other accounts. */
START_TEST(retry_after_holds_the_account)
{
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", 10, 0, 10);
    limiter_account *other = open_account(table, "B", 10, 0, 10);
    int64_t t0 = 50 * SECOND, wait = 0;
    limiter_defer_at(account, 200, t0);
    limiter_defer_at(account, 50, t0); /* a shorter hint never shortens the wait */
    ck_assert(!try_at(account, LIMITER_ORDERS, t0 + 100 * MS, &wait));
    ck_assert_int_eq(wait, 100 * MS);
    ck_assert(!try_at(account, LIMITER_READS, t0 + 150 * MS, &wait));
    ck_assert_int_eq(wait, 50 * MS);
    ck_assert(try_at(other, LIMITER_ORDERS, t0 + 100 * MS, &wait));
    ck_assert(try_at(account, LIMITER_ORDERS, t0 + 200 * MS, &wait));
    /* Also without any rate limit. */
    limiter_account *unlimited = open_account(table, "C", 0, 0, 0);
    limiter_defer_at(unlimited, 30, t0);
    ck_assert(!try_at(unlimited, LIMITER_READS, t0, &wait));
    ck_assert_int_eq(wait, 30 * MS);
    ck_assert(try_at(unlimited, LIMITER_READS, t0 + 30 * MS, &wait));
    limiter_close(table, account);
    limiter_close(table, other);
    limiter_close(table, unlimited);
    limiter_destroy(table);
}
END_TEST

/* Two executions of one account (two handles, one after the other or at
 * once) share one state; another account has its own. */
START_TEST(one_account_shared_two_accounts_independent)
{
    limiter *table = limiter_create();
    int64_t now = retry_monotonic_us(), wait = 0;
    limiter_account *first = open_account(table, "A", 2, 0, 0);
    limiter_account *second = open_account(table, "A", 2, 0, 0);
    ck_assert_ptr_eq(first, second);
    ck_assert(try_at(first, LIMITER_ORDERS, now, &wait));
    limiter_done_at(first, LIMITER_ORDERS, true, now);
    limiter_close(table, first);
    ck_assert(try_at(second, LIMITER_ORDERS, now, &wait));
    limiter_done_at(second, LIMITER_ORDERS, true, now);
    limiter_close(table, second);
    /* Closed, but its calls are in the window: a later execution sees them. */
    ck_assert_uint_eq(limiter_count(table), 1);
    limiter_account *later = open_account(table, "A", 2, 0, 0);
    ck_assert(!try_at(later, LIMITER_ORDERS, now, &wait));
    limiter_account *other = open_account(table, "B", 2, 0, 0);
    ck_assert(try_at(other, LIMITER_ORDERS, now, &wait));
    ck_assert(try_at(other, LIMITER_ORDERS, now, &wait));
    ck_assert(!try_at(other, LIMITER_ORDERS, now, &wait));
    limiter_close(table, later);
    limiter_close(table, other);
    limiter_destroy(table);
}
END_TEST

/* However calls overlap and whenever during a call the broker counts it, no
 * rolling second sees more than the limit: random call lengths and start
 * times on a simulated clock, each call counted at a random point of it. */
START_TEST(never_more_than_the_limit_in_any_window)
{
    enum { CALLS = 3000, LIMIT = 7 };
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", LIMIT, 0, 0);
    int64_t *counted = calloc(CALLS, sizeof *counted);
    int64_t ends[16] = {0};
    int64_t now = 5 * SECOND;
    retry_rng rng = {0x1234567u};
    size_t made = 0;
    while (made < CALLS) {
        now += (int64_t)(retry_rng_next(&rng) % (30 * MS));
        for (int slot = 0; slot < 16; slot++) { /* calls that returned by now */
            if (ends[slot] != 0 && ends[slot] <= now) {
                limiter_done_at(account, LIMITER_ORDERS, true, ends[slot]);
                ends[slot] = 0;
            }
        }
        int64_t wait = 0;
        for (int slot = 0; slot < 16 && made < CALLS; slot++) {
            if (ends[slot] != 0 || !try_at(account, LIMITER_ORDERS, now, &wait))
                continue;
            int64_t length = 1 + (int64_t)(retry_rng_next(&rng) % (200 * MS));
            ends[slot] = now + length;
            counted[made++] = now + (int64_t)(retry_rng_next(&rng) % (uint64_t)length);
        }
    }
    /* counted[] is not sorted; sort it (insertion, nearly sorted already). */
    for (size_t i = 1; i < CALLS; i++)
        for (size_t j = i; j > 0 && counted[j - 1] > counted[j]; j--) {
            int64_t swap = counted[j];
            counted[j] = counted[j - 1];
            counted[j - 1] = swap;
        }
    /* Brokers count in whole milliseconds: at most LIMIT in any [t, t + 1 s). */
    for (size_t i = 0; i + LIMIT < CALLS; i++)
        ck_assert_msg(counted[i + LIMIT] / MS - counted[i] / MS >= 1000,
                      "%d calls within one second at %lld", LIMIT + 1, (long long)counted[i]);
    free(counted);
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

typedef struct racer {
    limiter_account *account;
    int64_t starts[20];
} racer;

static void *race(void *context)
{
    racer *r = context;
    for (int i = 0; i < 20; i++) {
        limiter_acquire(r->account, LIMITER_ORDERS);
        r->starts[i] = retry_monotonic_us();
        limiter_done(r->account, LIMITER_ORDERS, true);
    }
    return NULL;
}

/* Threads sharing an account on the real clock: the blocking acquire keeps
 * them inside the limit too (each call counted when acquire returned). */
START_TEST(threads_share_the_limit)
{
    enum { THREADS = 4, LIMIT = 25 };
    limiter *table = limiter_create();
    limiter_account *account = open_account(table, "A", LIMIT, 0, 0);
    racer racers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        racers[i].account = account;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    int64_t all[THREADS * 20];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        for (int k = 0; k < 20; k++)
            all[n++] = racers[i].starts[k];
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && all[j - 1] > all[j]; j--) {
            int64_t swap = all[j];
            all[j] = all[j - 1];
            all[j - 1] = swap;
        }
    for (size_t i = 0; i + LIMIT < n; i++)
        ck_assert_int_ge(all[i + LIMIT] - all[i], SECOND);
    limiter_close(table, account);
    limiter_destroy(table);
}
END_TEST

/* Idle accounts are dropped at close; ones with calls in the window stay
 * until it has passed, then a sweep drops them. */
START_TEST(memory_stays_with_busy_accounts)
{
    limiter *table = limiter_create();
    char id[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof id, "idle-%d", i);
        limiter_close(table, open_account(table, id, 10, 0, 10));
    }
    ck_assert_uint_eq(limiter_count(table), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "busy-%d", i);
        limiter_account *account = open_account(table, id, 10, 0, 10);
        limiter_acquire(account, LIMITER_READS);
        limiter_done(account, LIMITER_READS, true);
        limiter_close(table, account);
    }
    ck_assert_uint_eq(limiter_count(table), 5000);
    retry_sleep_ms(1100);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "later-%d", i);
        limiter_close(table, open_account(table, id, 10, 0, 10));
    }
    ck_assert_uint_eq(limiter_count(table), 0);
    limiter_destroy(table);
}
END_TEST

static Suite *limiter_suite(void)
{
    Suite *suite = suite_create("limiter");
    TCase *tc = tcase_create("limiter");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, burst_then_window);
    tcase_add_test(tc, unsent_call_gives_its_place_back);
    tcase_add_test(tc, per_minute_limit);
    tcase_add_test(tc, reads_per_minute_limit);
    tcase_add_test(tc, retry_after_holds_the_account);
    tcase_add_test(tc, one_account_shared_two_accounts_independent);
    tcase_add_test(tc, never_more_than_the_limit_in_any_window);
    tcase_add_test(tc, threads_share_the_limit);
    tcase_add_test(tc, memory_stays_with_busy_accounts);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(limiter_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
