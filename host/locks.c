/* Per-account locks: a hash table of account entries guarded by one mutex,
 * with one condition variable (monotonic clock) for every waiter. An entry
 * exists while its account is held or waited for; locks_release drops it
 * otherwise, so a server that sees millions of accounts keeps only the busy
 * ones. Nothing here runs per leg (rate limits live in limiter.c). */
#include "locks.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCKS_SWEEP_MIN 1024 /* entries kept before the first sweep */

struct locks_account {
    struct locks_account *next; /* in its bucket */
    uint64_t hash;
    bool held;
    unsigned waiters;
    size_t broker_length;
    char key[]; /* broker NUL account_id NUL */
};

struct locks {
    pthread_mutex_t mutex;
    pthread_cond_t released;
    locks_account **buckets; /* a power of two of them */
    size_t bucket_count;
    size_t count;
    size_t sweep_at; /* entries past which the next acquire sweeps idle ones */
};

locks *locks_create(void)
{
    locks *table = calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    table->bucket_count = 64;
    table->sweep_at = LOCKS_SWEEP_MIN;
    table->buckets = calloc(table->bucket_count, sizeof *table->buckets);
    if (table->buckets == NULL) {
        free(table);
        return NULL;
    }
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&table->released, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&table->mutex, NULL);
    return table;
}

static void locks_account_free(locks_account *account)
{
    free(account);
}

void locks_destroy(locks *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        locks_account *account = table->buckets[i];
        while (account != NULL) {
            locks_account *next = account->next;
            locks_account_free(account);
            account = next;
        }
    }
    free(table->buckets);
    pthread_cond_destroy(&table->released);
    pthread_mutex_destroy(&table->mutex);
    free(table);
}

/* FNV-1a over broker, a NUL, and the account id. */
static uint64_t locks_hash(const char *broker, const char *account_id)
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

static bool locks_matches(const locks_account *account, uint64_t hash, const char *broker,
                          const char *account_id)
{
    return account->hash == hash && strcmp(account->key, broker) == 0 &&
           strcmp(account->key + account->broker_length + 1, account_id) == 0;
}

/* Doubles the bucket array when the table is fuller than one entry per
 * bucket; stays as it is when memory runs out. Caller holds the mutex. */
static void locks_grow(locks *table)
{
    if (table->count < table->bucket_count)
        return;
    size_t count = table->bucket_count * 2;
    locks_account **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        for (locks_account *account = table->buckets[i], *next; account != NULL; account = next) {
            next = account->next;
            locks_account **bucket = &buckets[account->hash & (count - 1)];
            account->next = *bucket;
            *bucket = account;
        }
    }
    free(table->buckets);
    table->buckets = buckets;
    table->bucket_count = count;
}

/* Finds or adds the entry; the caller holds the mutex. NULL on OOM. */
static locks_account *locks_entry(locks *table, const char *broker, const char *account_id)
{
    uint64_t hash = locks_hash(broker, account_id);
    for (locks_account *account = table->buckets[hash & (table->bucket_count - 1)]; account != NULL;
         account = account->next)
        if (locks_matches(account, hash, broker, account_id))
            return account;
    size_t broker_length = strlen(broker), account_length = strlen(account_id);
    locks_account *account = calloc(1, sizeof *account + broker_length + account_length + 2);
    if (account == NULL)
        return NULL;
    account->hash = hash;
    account->broker_length = broker_length;
    memcpy(account->key, broker, broker_length + 1);
    memcpy(account->key + broker_length + 1, account_id, account_length + 1);
    locks_grow(table);
    locks_account **bucket = &table->buckets[hash & (table->bucket_count - 1)];
    account->next = *bucket;
    *bucket = account;
    table->count++;
    return account;
}

/* True when nothing refers to the entry any more. Caller holds the mutex. */
static bool locks_idle(const locks_account *account)
{
    return !account->held && account->waiters == 0;
}

/* Drops the entry when nothing refers to it any more. Caller holds the mutex. */
static void locks_reclaim(locks *table, locks_account *account)
{
    if (!locks_idle(account))
        return;
    locks_account **link = &table->buckets[account->hash & (table->bucket_count - 1)];
    while (*link != NULL && *link != account)
        link = &(*link)->next;
    if (*link == NULL)
        return;
    *link = account->next;
    table->count--;
    locks_account_free(account);
}

size_t locks_count(locks *table)
{
    pthread_mutex_lock(&table->mutex);
    size_t count = table->count;
    pthread_mutex_unlock(&table->mutex);
    return count;
}

/* Drops every entry nobody refers to any more (release drops most already;
 * this catches entries a failed wait left). Run when the table has doubled
 * since the last sweep, so O(1) per acquire. Caller holds the mutex. */
static void locks_sweep(locks *table)
{
    for (size_t b = 0; b < table->bucket_count; b++) {
        locks_account **link = &table->buckets[b];
        while (*link != NULL) {
            locks_account *account = *link;
            if (!locks_idle(account)) {
                link = &account->next;
                continue;
            }
            *link = account->next;
            table->count--;
            locks_account_free(account);
        }
    }
    table->sweep_at = table->count * 2 > LOCKS_SWEEP_MIN ? table->count * 2 : LOCKS_SWEEP_MIN;
}

static struct timespec locks_deadline(unsigned timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

ptx_status locks_acquire(locks *table, const char *broker, const char *account_id,
                         unsigned timeout_ms, locks_account **out)
{
    struct timespec deadline = locks_deadline(timeout_ms);
    ptx_status status = PTX_OK;
    pthread_mutex_lock(&table->mutex);
    if (table->count >= table->sweep_at)
        locks_sweep(table);
    locks_account *account = locks_entry(table, broker, account_id);
    if (account == NULL)
        status = PTX_NOMEM;
    if (account != NULL)
        account->waiters++; /* keeps the entry alive while this thread waits */
    while (status == PTX_OK && account->held) {
        if (timeout_ms == 0 ||
            pthread_cond_timedwait(&table->released, &table->mutex, &deadline) == ETIMEDOUT)
            status = account->held ? PTX_BUSY : PTX_OK;
    }
    if (account != NULL)
        account->waiters--;
    if (status == PTX_OK) {
        account->held = true;
        *out = account;
    } else if (account != NULL) {
        locks_reclaim(table, account);
    }
    pthread_mutex_unlock(&table->mutex);
    return status;
}

void locks_release(locks *table, locks_account *account)
{
    pthread_mutex_lock(&table->mutex);
    account->held = false;
    if (account->waiters > 0)
        pthread_cond_broadcast(&table->released);
    locks_reclaim(table, account);
    pthread_mutex_unlock(&table->mutex);
}
