#include "instruments.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

typedef struct entry {
    struct entry *next;
    const registry_broker *broker;
    int64_t fetched_ms;
    broker_instrument facts;
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

/* The live entry of (broker, symbol) under the lock, or NULL. */
static entry *find(instruments *cache, size_t bucket, const registry_broker *broker,
                   const char *symbol, int64_t now)
{
    for (entry *e = cache->buckets[bucket]; e != NULL; e = e->next)
        if (e->broker == broker && strcmp(e->facts.symbol, symbol) == 0)
            return now - e->fetched_ms < INSTRUMENTS_TTL_MS ? e : NULL;
    return NULL;
}

/* Stores fresh facts, replacing a stale entry of the same key. */
static void store(instruments *cache, size_t bucket, const registry_broker *broker,
                  const broker_instrument *facts, int64_t now)
{
    entry *e = cache->buckets[bucket];
    while (e != NULL && !(e->broker == broker && strcmp(e->facts.symbol, facts->symbol) == 0))
        e = e->next;
    if (e == NULL && (e = calloc(1, sizeof *e)) != NULL) {
        e->broker = broker;
        e->next = cache->buckets[bucket];
        cache->buckets[bucket] = e;
        cache->count++;
    }
    if (e == NULL)
        return; /* not cached: asked again next time */
    e->facts = *facts;
    e->fetched_ms = now;
}

bool instruments_get(instruments *cache, session *s, const char *symbol, broker_instrument *out)
{
    if (!s->features->get_instrument)
        return false;
    int64_t now = retry_monotonic_ms();
    size_t bucket = bucket_of(cache, s->broker, symbol);
    pthread_mutex_lock(&cache->lock);
    entry *known = find(cache, bucket, s->broker, symbol, now);
    if (known != NULL)
        *out = known->facts;
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
    store(cache, bucket, s->broker, out, now);
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
