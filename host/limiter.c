/* The limiter: a hash table of account entries under one mutex; each entry
 * has its own mutex for its windows. A window counts the calls in flight and,
 * in LIMITER_SLICES time slices, the calls that returned within the last
 * window length: a call that returned in slice k is forgotten once slice k
 * ends plus one window (and a millisecond of margin: brokers count in whole
 * milliseconds), so in any rolling window the broker sees at most `limit`
 * calls, whenever during a call it counted it. This is a token bucket of
 * `limit` tokens (the burst) whose tokens come back one window after their
 * call returned; a bucket that refills continuously would let twice the rate
 * through in a rolling second, which brokers answer with 429s. Waiters sleep
 * for the computed time (no timer thread) and look again. */
#include "limiter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

#define LIMITER_SLICES 100
#define LIMITER_RING (LIMITER_SLICES + 3) /* live slices after an expiry, with room */
#define LIMITER_MARGIN_US 1000
#define LIMITER_SECOND_US 1000000
#define LIMITER_MINUTE_US 60000000
#define LIMITER_SWEEP_MIN 1024

typedef struct limiter_window {
    unsigned limit;
    int64_t window_us;
    int64_t slice_us;
    unsigned in_flight;
    unsigned used;  /* sum of counts */
    int64_t oldest; /* slice index of the oldest slice that may count */
    unsigned counts[LIMITER_RING];
} limiter_window;

enum { LIMITER_SECOND, LIMITER_MINUTE, LIMITER_WINDOWS };

struct limiter_account {
    struct limiter_account *next; /* in its bucket */
    uint64_t hash;
    unsigned refs; /* open handles (table mutex) */
    pthread_mutex_t lock;
    _Atomic int64_t blocked_until_us; /* retry-after: nothing starts before */
    atomic_bool limited;              /* some window exists */
    limiter_rates rates;              /* under lock; all 0 at first */
    limiter_window *windows[LIMITER_CLASS_COUNT][LIMITER_WINDOWS]; /* NULL: no limit */
    size_t broker_length;
    char key[]; /* broker NUL account_id NUL */
};

struct limiter {
    pthread_mutex_t mutex;
    limiter_account **buckets; /* a power of two of them */
    size_t bucket_count;
    size_t count;
    size_t sweep_at;
    int64_t sweep_us;
};

limiter *limiter_create(void)
{
    limiter *table = calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    table->bucket_count = 64;
    table->sweep_at = LIMITER_SWEEP_MIN;
    table->buckets = calloc(table->bucket_count, sizeof *table->buckets);
    if (table->buckets == NULL) {
        free(table);
        return NULL;
    }
    pthread_mutex_init(&table->mutex, NULL);
    return table;
}

static void limiter_account_free(limiter_account *account)
{
    for (int c = 0; c < LIMITER_CLASS_COUNT; c++)
        for (int w = 0; w < LIMITER_WINDOWS; w++)
            free(account->windows[c][w]);
    pthread_mutex_destroy(&account->lock);
    free(account);
}

void limiter_destroy(limiter *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        for (limiter_account *account = table->buckets[i], *next; account != NULL; account = next) {
            next = account->next;
            limiter_account_free(account);
        }
    }
    free(table->buckets);
    pthread_mutex_destroy(&table->mutex);
    free(table);
}

size_t limiter_count(limiter *table)
{
    pthread_mutex_lock(&table->mutex);
    size_t count = table->count;
    pthread_mutex_unlock(&table->mutex);
    return count;
}

/* ---- windows ---- */

static int64_t window_slice(const limiter_window *w, int64_t now_us)
{
    return now_us / w->slice_us;
}

/* When the calls of slice `slice` stop counting. */
static int64_t window_expiry(const limiter_window *w, int64_t slice)
{
    return (slice + 1) * w->slice_us + w->window_us + LIMITER_MARGIN_US;
}

/* Forgets the slices that no longer count; leaves `oldest` on a slice with
 * calls, or on the current slice when none is left. */
static void window_expire(limiter_window *w, int64_t now_us)
{
    while (w->used > 0) {
        unsigned *count = &w->counts[w->oldest % LIMITER_RING];
        if (*count > 0 && window_expiry(w, w->oldest) > now_us)
            return;
        w->used -= *count;
        *count = 0;
        w->oldest++;
    }
    w->oldest = window_slice(w, now_us);
}

/* 0 when one more call fits, else how long until one may. */
static int64_t window_wait(limiter_window *w, int64_t now_us)
{
    if (w == NULL)
        return 0;
    window_expire(w, now_us);
    if (w->in_flight + w->used < w->limit)
        return 0;
    if (w->used > 0)
        return window_expiry(w, w->oldest) - now_us;
    return w->window_us + LIMITER_MARGIN_US; /* all in flight: none returns sooner */
}

static void window_done(limiter_window *w, bool sent, int64_t now_us)
{
    if (w == NULL || w->in_flight == 0)
        return;
    w->in_flight--;
    if (!sent)
        return;
    window_expire(w, now_us);
    int64_t slice = window_slice(w, now_us);
    if (slice < w->oldest) /* another thread's clock read came later */
        slice = w->oldest;
    w->counts[slice % LIMITER_RING]++;
    w->used++;
}

static bool window_idle(limiter_window *w, int64_t now_us)
{
    if (w == NULL)
        return true;
    window_expire(w, now_us);
    return w->in_flight == 0 && w->used == 0;
}

/* A window of `limit` calls per `window_us`; NULL for no limit (or OOM,
 * which then limits nothing rather than stopping every call). */
static limiter_window *window_create(unsigned limit, int64_t window_us)
{
    if (limit == 0)
        return NULL;
    limiter_window *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->limit = limit;
    w->window_us = window_us;
    w->slice_us = window_us / LIMITER_SLICES;
    return w;
}

/* Sets the entry's windows for `rates`, keeping them when unchanged. Caller
 * holds the entry's lock. */
static void limiter_configure(limiter_account *account, const limiter_rates *rates)
{
    if (memcmp(&account->rates, rates, sizeof *rates) == 0)
        return;
    for (int c = 0; c < LIMITER_CLASS_COUNT; c++)
        for (int w = 0; w < LIMITER_WINDOWS; w++) {
            free(account->windows[c][w]);
            account->windows[c][w] = NULL;
        }
    account->rates = *rates;
    account->windows[LIMITER_ORDERS][LIMITER_SECOND] =
        window_create(rates->orders_per_second, LIMITER_SECOND_US);
    account->windows[LIMITER_ORDERS][LIMITER_MINUTE] =
        window_create(rates->orders_per_minute, LIMITER_MINUTE_US);
    account->windows[LIMITER_READS][LIMITER_SECOND] =
        window_create(rates->reads_per_second, LIMITER_SECOND_US);
    account->windows[LIMITER_READS][LIMITER_MINUTE] =
        window_create(rates->reads_per_minute, LIMITER_MINUTE_US);
    atomic_store(&account->limited, rates->orders_per_second || rates->orders_per_minute ||
                                        rates->reads_per_second || rates->reads_per_minute);
}

/* ---- calls ---- */

bool limiter_try_acquire(limiter_account *account, limiter_class class, int64_t now_us,
                         int64_t *wait_us)
{
    *wait_us = 0;
    if (account == NULL)
        return true;
    int64_t blocked = atomic_load(&account->blocked_until_us);
    if (blocked > now_us) {
        *wait_us = blocked - now_us;
        return false;
    }
    if (!atomic_load(&account->limited))
        return true;
    pthread_mutex_lock(&account->lock);
    limiter_window **windows = account->windows[class];
    for (int w = 0; w < LIMITER_WINDOWS; w++) {
        int64_t wait = window_wait(windows[w], now_us);
        *wait_us = wait > *wait_us ? wait : *wait_us;
    }
    if (*wait_us == 0)
        for (int w = 0; w < LIMITER_WINDOWS; w++)
            if (windows[w] != NULL)
                windows[w]->in_flight++;
    pthread_mutex_unlock(&account->lock);
    return *wait_us == 0;
}

void limiter_acquire(limiter_account *account, limiter_class class)
{
    int64_t wait_us = 0;
    while (!limiter_try_acquire(account, class, retry_monotonic_us(), &wait_us))
        retry_sleep_us(wait_us);
}

void limiter_done_at(limiter_account *account, limiter_class class, bool sent, int64_t now_us)
{
    if (account == NULL || !atomic_load(&account->limited))
        return;
    pthread_mutex_lock(&account->lock);
    for (int w = 0; w < LIMITER_WINDOWS; w++)
        window_done(account->windows[class][w], sent, now_us);
    pthread_mutex_unlock(&account->lock);
}

void limiter_done(limiter_account *account, limiter_class class, bool sent)
{
    limiter_done_at(account, class, sent, retry_monotonic_us());
}

void limiter_defer_at(limiter_account *account, unsigned milliseconds, int64_t now_us)
{
    if (account == NULL || milliseconds == 0)
        return;
    int64_t until = now_us + (int64_t)milliseconds * 1000;
    int64_t blocked = atomic_load(&account->blocked_until_us);
    while (blocked < until &&
           !atomic_compare_exchange_weak(&account->blocked_until_us, &blocked, until))
        ;
}

void limiter_defer(limiter_account *account, unsigned milliseconds)
{
    limiter_defer_at(account, milliseconds, retry_monotonic_us());
}

/* ---- the table ---- */

/* FNV-1a over broker, a NUL, and the account id. */
static uint64_t limiter_hash(const char *broker, const char *account_id)
{
    uint64_t hash = 1469598103934665603ull;
    for (const char *p = broker;; p++) {
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
        if (*p == '\0')
            break;
    }
    for (const char *p = account_id; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
    return hash ^ (hash >> 29);
}

/* True when nothing refers to the entry and its windows remember nothing.
 * Caller holds the table mutex. */
static bool limiter_idle(limiter_account *account, int64_t now_us)
{
    if (account->refs > 0 || atomic_load(&account->blocked_until_us) > now_us)
        return false;
    bool idle = true;
    pthread_mutex_lock(&account->lock);
    for (int c = 0; c < LIMITER_CLASS_COUNT; c++)
        for (int w = 0; w < LIMITER_WINDOWS; w++)
            idle = idle && window_idle(account->windows[c][w], now_us);
    pthread_mutex_unlock(&account->lock);
    return idle;
}

/* Doubles the bucket array past one entry per bucket. Caller holds the mutex. */
static void limiter_grow(limiter *table)
{
    if (table->count < table->bucket_count)
        return;
    size_t count = table->bucket_count * 2;
    limiter_account **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        for (limiter_account *account = table->buckets[i], *next; account != NULL; account = next) {
            next = account->next;
            limiter_account **bucket = &buckets[account->hash & (count - 1)];
            account->next = *bucket;
            *bucket = account;
        }
    }
    free(table->buckets);
    table->buckets = buckets;
    table->bucket_count = count;
}

/* Drops every idle entry: when the table has doubled since the last sweep,
 * and at most once a second while it holds more than LIMITER_SWEEP_MIN.
 * Caller holds the mutex. */
static void limiter_sweep(limiter *table, int64_t now_us)
{
    for (size_t b = 0; b < table->bucket_count; b++) {
        limiter_account **link = &table->buckets[b];
        while (*link != NULL) {
            limiter_account *account = *link;
            if (!limiter_idle(account, now_us)) {
                link = &account->next;
                continue;
            }
            *link = account->next;
            table->count--;
            limiter_account_free(account);
        }
    }
    table->sweep_at = table->count * 2 > LIMITER_SWEEP_MIN ? table->count * 2 : LIMITER_SWEEP_MIN;
    table->sweep_us = now_us + LIMITER_SECOND_US;
}

static limiter_account *limiter_find(limiter *table, uint64_t hash, const char *broker,
                                     const char *account_id)
{
    for (limiter_account *account = table->buckets[hash & (table->bucket_count - 1)];
         account != NULL; account = account->next)
        if (account->hash == hash && strcmp(account->key, broker) == 0 &&
            strcmp(account->key + account->broker_length + 1, account_id) == 0)
            return account;
    return NULL;
}

/* Finds or adds the entry; caller holds the mutex. NULL on OOM. */
static limiter_account *limiter_entry(limiter *table, const char *broker, const char *account_id)
{
    uint64_t hash = limiter_hash(broker, account_id);
    limiter_account *account = limiter_find(table, hash, broker, account_id);
    if (account != NULL)
        return account;
    size_t broker_length = strlen(broker), account_length = strlen(account_id);
    account = calloc(1, sizeof *account + broker_length + account_length + 2);
    if (account == NULL)
        return NULL;
    account->hash = hash;
    account->broker_length = broker_length;
    memcpy(account->key, broker, broker_length + 1);
    memcpy(account->key + broker_length + 1, account_id, account_length + 1);
    pthread_mutex_init(&account->lock, NULL);
    limiter_grow(table);
    limiter_account **bucket = &table->buckets[hash & (table->bucket_count - 1)];
    account->next = *bucket;
    *bucket = account;
    table->count++;
    return account;
}

ptx_status limiter_open(limiter *table, const char *broker, const char *account_id,
                        const limiter_rates *rates, limiter_account **out)
{
    int64_t now_us = retry_monotonic_us();
    pthread_mutex_lock(&table->mutex);
    if (table->count >= table->sweep_at ||
        (table->count > LIMITER_SWEEP_MIN && now_us >= table->sweep_us))
        limiter_sweep(table, now_us);
    limiter_account *account = limiter_entry(table, broker, account_id);
    if (account != NULL) {
        account->refs++;
        pthread_mutex_lock(&account->lock);
        limiter_configure(account, rates);
        pthread_mutex_unlock(&account->lock);
    }
    pthread_mutex_unlock(&table->mutex);
    *out = account;
    return account != NULL ? PTX_OK : PTX_NOMEM;
}

void limiter_close(limiter *table, limiter_account *account)
{
    if (account == NULL)
        return;
    pthread_mutex_lock(&table->mutex);
    account->refs--;
    if (limiter_idle(account, retry_monotonic_us())) {
        limiter_account **link = &table->buckets[account->hash & (table->bucket_count - 1)];
        while (*link != NULL && *link != account)
            link = &(*link)->next;
        if (*link != NULL) {
            *link = account->next;
            table->count--;
            limiter_account_free(account);
        }
    }
    pthread_mutex_unlock(&table->mutex);
}
