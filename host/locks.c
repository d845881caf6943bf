/* Per-account locks: a list of account entries guarded by one mutex, with
 * one condition variable (monotonic clock) for every waiter. Executions are
 * few compared with orders, so a list is enough; nothing here runs per leg
 * except the pacing, which touches only the holder's own entry. */
#include "locks.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry.h"

struct locks_account {
    struct locks_account *next;
    char *broker;
    char *account_id;
    bool held;
    int64_t *recent; /* ring of the last placements' completion times (µs) */
    unsigned recent_capacity;
    unsigned recent_count;
    unsigned recent_next; /* oldest entry once the ring is full */
};

struct locks {
    pthread_mutex_t mutex;
    pthread_cond_t released;
    locks_account *accounts;
};

locks *locks_create(void)
{
    locks *table = calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&table->released, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&table->mutex, NULL);
    return table;
}

void locks_destroy(locks *table)
{
    if (table == NULL)
        return;
    locks_account *account = table->accounts;
    while (account != NULL) {
        locks_account *next = account->next;
        free(account->broker);
        free(account->account_id);
        free(account->recent);
        free(account);
        account = next;
    }
    pthread_cond_destroy(&table->released);
    pthread_mutex_destroy(&table->mutex);
    free(table);
}

/* Finds or adds the entry; the caller holds the mutex. NULL on OOM. */
static locks_account *locks_entry(locks *table, const char *broker, const char *account_id)
{
    for (locks_account *account = table->accounts; account != NULL; account = account->next)
        if (strcmp(account->broker, broker) == 0 && strcmp(account->account_id, account_id) == 0)
            return account;
    locks_account *account = calloc(1, sizeof *account);
    if (account == NULL)
        return NULL;
    account->broker = strdup(broker);
    account->account_id = strdup(account_id);
    if (account->broker == NULL || account->account_id == NULL) {
        free(account->broker);
        free(account->account_id);
        free(account);
        return NULL;
    }
    account->next = table->accounts;
    table->accounts = account;
    return account;
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
    locks_account *account = locks_entry(table, broker, account_id);
    if (account == NULL)
        status = PTX_NOMEM;
    while (status == PTX_OK && account->held) {
        if (timeout_ms == 0 ||
            pthread_cond_timedwait(&table->released, &table->mutex, &deadline) == ETIMEDOUT)
            status = account->held ? PTX_BUSY : PTX_OK;
    }
    if (status == PTX_OK) {
        account->held = true;
        *out = account;
    }
    pthread_mutex_unlock(&table->mutex);
    return status;
}

void locks_release(locks *table, locks_account *account)
{
    pthread_mutex_lock(&table->mutex);
    account->held = false;
    pthread_cond_broadcast(&table->released);
    pthread_mutex_unlock(&table->mutex);
}

/* Sizes the ring for `per_second`; false when memory runs out. */
static bool locks_pace_ring(locks_account *account, unsigned per_second)
{
    if (account->recent_capacity == per_second)
        return true;
    int64_t *recent = calloc(per_second, sizeof *recent);
    if (recent == NULL)
        return false;
    free(account->recent);
    account->recent = recent;
    account->recent_capacity = per_second;
    account->recent_count = 0;
    account->recent_next = 0;
    return true;
}

void locks_pace_wait(locks_account *account, unsigned per_second)
{
    if (per_second == 0 || !locks_pace_ring(account, per_second))
        return;
    if (account->recent_count < per_second)
        return;
    /* One millisecond of margin: brokers count in whole milliseconds. */
    int64_t free_at = account->recent[account->recent_next] + 1001000;
    retry_sleep_us(free_at - retry_monotonic_us());
}

void locks_pace_done(locks_account *account, unsigned per_second)
{
    if (per_second == 0 || account->recent_capacity != per_second)
        return;
    account->recent[account->recent_next] = retry_monotonic_us();
    account->recent_next = (account->recent_next + 1) % per_second;
    if (account->recent_count < per_second)
        account->recent_count++;
}
