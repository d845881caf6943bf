#include "instruments.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

/* The facts of broker_instrument without its reason text (256 bytes,
 * almost always empty), which is kept on the heap only when there is one: a
 * million cached symbols take ~140 MB rather than ~400. */
typedef struct entry {
    struct entry *next;
    const registry_broker *broker;
    int64_t fetched_ms;
    char *reason; /* NULL when none */
    char symbol[BROKER_SYMBOL_MAX];
    broker_exchange exchange;
    int listed, tradable;
    int64_t lot_size, freeze_quantity;
    double tick_size, lower_band, upper_band, last_price;
} entry;

struct instruments {
    pthread_mutex_t lock;
    entry **buckets;
    size_t bucket_count, count;
};

#define INSTRUMENTS_BUCKETS 1024

instruments *instruments_create(void)
{
    instruments *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return NULL;
    cache->bucket_count = INSTRUMENTS_BUCKETS;
    cache->buckets = calloc(cache->bucket_count, sizeof *cache->buckets);
    if (cache->buckets == NULL) {
        free(cache);
        return NULL;
    }
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

void instruments_destroy(instruments *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->bucket_count; i++)
        for (entry *e = cache->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e->reason);
            free(e);
        }
    free(cache->buckets);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static size_t bucket_of(const instruments *cache, const registry_broker *broker, const char *symbol)
{
    uint64_t hash = 1469598103934665603ull ^ (uint64_t)(uintptr_t)broker;
    for (const unsigned char *p = (const unsigned char *)symbol; *p; p++)
        hash = (hash ^ *p) * 1099511628211ull;
    return (size_t)(hash % cache->bucket_count);
}

/* The cached facts of `e` into *out, with its reason. */
static void copy_out(const entry *e, broker_instrument *out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    memcpy(out->symbol, e->symbol, sizeof out->symbol);
    out->exchange = e->exchange;
    out->listed = e->listed;
    out->tradable = e->tradable;
    out->lot_size = e->lot_size;
    out->freeze_quantity = e->freeze_quantity;
    out->tick_size = e->tick_size;
    out->lower_band = e->lower_band;
    out->upper_band = e->upper_band;
    out->last_price = e->last_price;
    if (e->reason != NULL)
        memcpy(out->reason, e->reason, strnlen(e->reason, sizeof out->reason - 1));
}

/* The live entry of (broker, symbol) under the lock, or NULL. */
static entry *find(instruments *cache, size_t bucket, const registry_broker *broker,
                   const char *symbol, int64_t now)
{
    for (entry *e = cache->buckets[bucket]; e != NULL; e = e->next)
        if (e->broker == broker && strcmp(e->symbol, symbol) == 0)
            return now - e->fetched_ms < INSTRUMENTS_TTL_MS ? e : NULL;
    return NULL;
}

/* Doubles the buckets when entries outnumber them twice over, so that a
 * lookup stays a few comparisons at any portfolio size (fixed buckets made a
 * 1M-symbol execution quadratic: 103 µs per symbol). Caller holds the lock. */
static void grow(instruments *cache)
{
    if (cache->count < cache->bucket_count * 2)
        return;
    size_t count = cache->bucket_count * 2;
    entry **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL)
        return; /* longer chains, still correct */
    entry **old = cache->buckets;
    size_t old_count = cache->bucket_count;
    cache->buckets = buckets;
    cache->bucket_count = count;
    for (size_t i = 0; i < old_count; i++)
        for (entry *e = old[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t b = bucket_of(cache, e->broker, e->symbol);
            e->next = buckets[b];
            buckets[b] = e;
        }
    free(old);
}

/* Stores fresh facts, replacing a stale entry of the same key. */
static void store(instruments *cache, const registry_broker *broker, const broker_instrument *facts,
                  int64_t now)
{
    grow(cache);
    size_t bucket = bucket_of(cache, broker, facts->symbol);
    entry *e = cache->buckets[bucket];
    while (e != NULL && !(e->broker == broker && strcmp(e->symbol, facts->symbol) == 0))
        e = e->next;
    if (e == NULL && (e = calloc(1, sizeof *e)) != NULL) {
        e->broker = broker;
        e->next = cache->buckets[bucket];
        cache->buckets[bucket] = e;
        cache->count++;
    }
    if (e == NULL)
        return; /* not cached: asked again next time */
    char *reason = facts->reason[0] != '\0' ? strdup(facts->reason) : NULL;
    free(e->reason);
    e->reason = reason;
    memcpy(e->symbol, facts->symbol, sizeof e->symbol);
    e->exchange = facts->exchange;
    e->listed = facts->listed;
    e->tradable = facts->tradable;
    e->lot_size = facts->lot_size;
    e->freeze_quantity = facts->freeze_quantity;
    e->tick_size = facts->tick_size;
    e->lower_band = facts->lower_band;
    e->upper_band = facts->upper_band;
    e->last_price = facts->last_price;
    e->fetched_ms = now;
}

bool instruments_get(instruments *cache, session *s, const char *symbol, broker_instrument *out)
{
    if (!s->features->get_instrument)
        return false;
    int64_t now = retry_monotonic_ms();
    pthread_mutex_lock(&cache->lock);
    entry *known = find(cache, bucket_of(cache, s->broker, symbol), s->broker, symbol, now);
    if (known != NULL)
        copy_out(known, out);
    pthread_mutex_unlock(&cache->lock);
    if (known != NULL)
        return true;
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    session_request ask = {.op = SESSION_INSTRUMENT, .id = symbol, .instrument = out};
    if (session_call(s, &ask) != BROKER_OK)
        return false;
    size_t length = strnlen(symbol, sizeof out->symbol - 1);
    memcpy(out->symbol, symbol, length); /* the key, whatever the plugin wrote */
    out->symbol[length] = '\0';
    pthread_mutex_lock(&cache->lock);
    store(cache, s->broker, out, now);
    pthread_mutex_unlock(&cache->lock);
    return true;
}

/* ---- prefetch: the facts of a rebalance's symbols side by side ---- */

typedef struct prefetch {
    instruments *cache;
    const char **symbols;
    size_t count;
    atomic_size_t next;
} prefetch;

typedef struct prefetch_worker {
    prefetch *job;
    session session;
    pthread_t thread;
} prefetch_worker;

static void *prefetch_work(void *context)
{
    prefetch_worker *w = context;
    for (size_t i; (i = atomic_fetch_add(&w->job->next, 1)) < w->job->count;) {
        if (session_auth_failed(&w->session))
            break;
        broker_instrument facts;
        (void)instruments_get(w->job->cache, &w->session, w->job->symbols[i], &facts);
    }
    return NULL;
}

/* The symbols of `symbols` not cached now, into `missing`; their count. */
static size_t prefetch_missing(instruments *cache, const session *s, const char *const *symbols,
                               size_t count, const char **missing)
{
    int64_t now = retry_monotonic_ms();
    size_t n = 0;
    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < count; i++)
        if (find(cache, bucket_of(cache, s->broker, symbols[i]), s->broker, symbols[i], now) ==
            NULL)
            missing[n++] = symbols[i];
    pthread_mutex_unlock(&cache->lock);
    return n;
}

void instruments_prefetch(instruments *cache, session *s, const char *const *symbols, size_t count,
                          size_t workers)
{
    if (!s->features->get_instrument || workers < 2 || count < 2)
        return;
    const char **missing = malloc(count * sizeof *missing);
    prefetch job = {cache, missing, 0, 0};
    if (missing != NULL)
        job.count = prefetch_missing(cache, s, symbols, count, missing);
    workers = job.count < workers ? job.count : workers;
    prefetch_worker *pool = workers >= 2 ? calloc(workers, sizeof *pool) : NULL;
    size_t started = 0;
    for (; pool != NULL && started < workers; started++) {
        pool[started].job = &job;
        session_worker(&pool[started].session, s);
        if (pthread_create(&pool[started].thread, NULL, prefetch_work, &pool[started]) != 0)
            break;
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(pool[i].thread, NULL);
        session_merge(s, &pool[i].session);
    }
    free(pool);
    free(missing); /* what was not fetched is asked one at a time by its first use */
}

size_t instruments_count(instruments *cache)
{
    pthread_mutex_lock(&cache->lock);
    size_t count = cache->count;
    pthread_mutex_unlock(&cache->lock);
    return count;
}
