#include "record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "render.h"
#include "retry.h"

#define RECORD_UNRECORDED_RETRY_MS 1000 /* between retries of unrecorded ends */

/* An execution whose end the journal could not record: kept, with a copy of
 * its legs, so that the next execution retries recording it. Until then its
 * idempotency key answers in_progress. */
typedef struct unrecorded {
    struct unrecorded *next;
    exec_result result; /* id, broker, account hash, legs and response (copies) */
    exec_status status;
} unrecorded;

struct record {
    journal *journal; /* NULL: no journal */
    notify *notifier;
    char owner[IDS_EXECUTION_ID_MAX];
    char unavailable[RECORD_MESSAGE_MAX]; /* "" unless the journal is unusable */
    pthread_mutex_t lock;
    unrecorded *unrecorded;              /* under lock */
    atomic_size_t unrecorded_count;      /* its length, read without the lock */
    _Atomic int64_t unrecorded_retry_us; /* no retry before this */
};

record *record_create(journal *records, notify *notifier)
{
    record *rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return NULL;
    rec->journal = records;
    rec->notifier = notifier;
    ids_new_execution_id(rec->owner);
    pthread_mutex_init(&rec->lock, NULL);
    return rec;
}

void record_destroy(record *rec)
{
    if (rec == NULL)
        return;
    while (rec->unrecorded != NULL) { /* a restart's recovery finishes them */
        unrecorded *u = rec->unrecorded;
        rec->unrecorded = u->next;
        exec_result_free(&u->result);
        free(u);
    }
    pthread_mutex_destroy(&rec->lock);
    free(rec);
}

void record_set_journal(record *rec, journal *records)
{
    rec->journal = records;
}

journal *record_journal(record *rec)
{
    return rec->journal;
}

const char *record_owner(record *rec)
{
    return rec->owner;
}

void record_set_unavailable(record *rec, const char *message)
{
    snprintf(rec->unavailable, sizeof rec->unavailable, "%s",
             message && *message ? message : "journal unavailable");
}

/* Remembers an execution whose end could not be journaled; without memory,
 * it stays unrecorded until a restart recovers it. */
static void record_keep_unrecorded(record *rec, const exec_result *result, exec_status status)
{
    unrecorded *u = calloc(1, sizeof *u);
    size_t legs = result->leg_count ? result->leg_count : 1;
    if (u != NULL && result->response != NULL) {
        u->result.legs = malloc(legs * sizeof *u->result.legs);
        u->result.response = strdup(result->response);
    }
    if (u == NULL || u->result.legs == NULL || u->result.response == NULL) {
        if (u != NULL)
            exec_result_free(&u->result);
        free(u);
        return;
    }
    memcpy(u->result.execution_id, result->execution_id, sizeof u->result.execution_id);
    memcpy(u->result.broker, result->broker, sizeof u->result.broker);
    memcpy(u->result.account_hash, result->account_hash, sizeof u->result.account_hash);
    if (result->leg_count > 0)
        memcpy(u->result.legs, result->legs, result->leg_count * sizeof *u->result.legs);
    u->result.leg_count = result->leg_count;
    u->status = status;
    pthread_mutex_lock(&rec->lock);
    u->next = rec->unrecorded;
    rec->unrecorded = u;
    atomic_fetch_add(&rec->unrecorded_count, 1);
    pthread_mutex_unlock(&rec->lock);
}

/* Records the end of `u` again, with every leg's final state. */
static bool record_again(record *rec, unrecorded *u)
{
    journal_run *jr = NULL;
    ptx_error error;
    if (journal_resume(rec->journal, &u->result, NULL, &jr, &error) != PTX_OK)
        return false;
    bool recorded = true;
    for (size_t i = 0; i < u->result.leg_count && recorded; i++) {
        const exec_leg *leg = &u->result.legs[i];
        recorded = journal_leg(jr, i, leg_state_of_leg(leg), leg,
                               "recorded again after a journal failure", &error) == PTX_OK;
    }
    const char *status = exec_status_name(u->status);
    recorded = recorded && journal_finish(jr, u->status, u->result.response, &error) == PTX_OK;
    journal_run_end(jr);
    if (recorded)
        log_write(LOG_WARN, "engine",
                  "execution %s broker=%s account=%s: its outcome (%s) is now recorded in the "
                  "journal",
                  u->result.execution_id, u->result.broker, u->result.account_hash, status);
    return recorded;
}

/* Retries recording the ends that could not be journaled, at most once per
 * RECORD_UNRECORDED_RETRY_MS, without holding the list while it writes. */
static void record_retry_unrecorded(record *rec)
{
    if (rec->journal == NULL || atomic_load(&rec->unrecorded_count) == 0)
        return;
    int64_t now = retry_monotonic_us();
    int64_t due = atomic_load(&rec->unrecorded_retry_us);
    if (now < due || !atomic_compare_exchange_strong(&rec->unrecorded_retry_us, &due,
                                                     now + RECORD_UNRECORDED_RETRY_MS * 1000))
        return;
    pthread_mutex_lock(&rec->lock);
    unrecorded *list = rec->unrecorded;
    rec->unrecorded = NULL;
    pthread_mutex_unlock(&rec->lock);
    unrecorded *kept = NULL, *last = NULL;
    while (list != NULL) {
        unrecorded *u = list;
        list = u->next;
        if (record_again(rec, u)) {
            atomic_fetch_sub(&rec->unrecorded_count, 1);
            exec_result_free(&u->result);
            free(u);
            continue;
        }
        u->next = kept;
        kept = u;
        if (last == NULL)
            last = u;
    }
    if (kept == NULL)
        return;
    pthread_mutex_lock(&rec->lock);
    last->next = rec->unrecorded;
    rec->unrecorded = kept;
    pthread_mutex_unlock(&rec->lock);
}

ptx_status record_check(record *rec, ptx_error *error)
{
    if (rec->unavailable[0] != '\0')
        return ptx_fail(error, PTX_JOURNAL, NULL,
                        "journal unavailable, execution refused before placing anything: %s",
                        rec->unavailable);
    ptx_error why;
    if (rec->journal != NULL && journal_check_file(rec->journal, &why) != PTX_OK)
        return ptx_fail(error, PTX_JOURNAL, NULL,
                        "journal unavailable, execution refused before placing anything: %s",
                        why.message);
    record_retry_unrecorded(rec);
    return PTX_OK;
}

static void record_run_init(record *rec, exec_result *result, record_run *run)
{
    memset(run, 0, sizeof *run);
    run->owner = rec;
    run->result = result;
    atomic_init(&run->broken, false);
    pthread_mutex_init(&run->lock, NULL);
}

/* Marks the run broken; the first reason stays. Any thread of the run. */
static void record_break(record_run *run, const char *message)
{
    pthread_mutex_lock(&run->lock);
    if (!atomic_load(&run->broken)) {
        snprintf(run->message, sizeof run->message, "%s", message);
        atomic_store(&run->broken, true);
    }
    pthread_mutex_unlock(&run->lock);
}

ptx_status record_begin(record *rec, exec_result *result, const char *key, const char *request_hash,
                        record_run *run, ptx_error *error)
{
    record_run_init(rec, result, run);
    if (rec->journal == NULL)
        return PTX_OK;
    if (result->leg_count == 0) { /* recorded whole, in one write, by record_finish */
        snprintf(run->key, sizeof run->key, "%s", key);
        snprintf(run->request_hash, sizeof run->request_hash, "%s", request_hash);
        run->noop = true;
        return PTX_OK;
    }
    ptx_status status =
        journal_begin(rec->journal, result, key, request_hash, rec->owner, &run->journal, error);
    if (status == PTX_JOURNAL)
        log_write(LOG_ERROR, "engine",
                  "execution %s refused before placing anything: journal unavailable: %s",
                  result->execution_id, error->message);
    return status;
}

ptx_status record_resume(record *rec, exec_result *result, const leg_state *states, record_run *run,
                         ptx_error *error)
{
    record_run_init(rec, result, run);
    return journal_resume(rec->journal, result, states, &run->journal, error);
}

/* Commits `state` of `leg` before the next broker call for it. */
static bool record_write(record_run *run, exec_leg *leg, leg_state state, const char *detail)
{
    if (run->journal == NULL)
        return true;
    ptx_error error;
    size_t index = (size_t)(leg - run->result->legs);
    const char *name = leg_state_name(state);
    ptx_status status = journal_leg(run->journal, index, state, leg, detail, &error);
    if (status == PTX_OK)
        return true;
    record_break(run, error.message);
    if (state == LEG_STATE_SENDING)
        log_write(LOG_ERROR, "engine",
                  "execution %s: journal write failed before placing leg %zu (client order id "
                  "%s); it is not placed and placing stops: %s",
                  run->result->execution_id, leg->sequence, leg->client_order_id, error.message);
    else
        log_write(LOG_ERROR, "engine",
                  "execution %s: leg %zu %s %s %lld (client order id %s, order id %s): state %s "
                  "NOT RECORDED in the journal; the order may exist at the broker: %s",
                  run->result->execution_id, leg->sequence, side_name(leg->side), leg->symbol,
                  (long long)leg->quantity, leg->client_order_id,
                  leg->order_id[0] ? leg->order_id : "unknown", name, error.message);
    return false;
}

bool record_leg(record_run *run, exec_leg *leg, leg_state state, const char *detail)
{
    return record_write(run, leg, state, detail);
}

bool record_sending(record_run *run, exec_leg *leg)
{
    return !atomic_load(&run->broken) && record_write(run, leg, LEG_STATE_SENDING, NULL);
}

/* Stores the response as the journal's record of the outcome. */
static void record_finish_journal(record_run *run, exec_status status)
{
    exec_result *result = run->result;
    const char *status_name = exec_status_name(status);
    ptx_error error;
    if (atomic_load(&run->broken)) {
        /* a leg state was not stored: record every leg's final state again */
        log_write(LOG_WARN, "engine", "execution %s: recording every leg's state again",
                  result->execution_id);
        for (size_t i = 0; i < result->leg_count; i++) {
            exec_leg *leg = &result->legs[i];
            record_write(run, leg, leg_state_of_leg(leg), "recorded again after a journal failure");
        }
    }
    if (result->response == NULL)
        ptx_fail(&error, PTX_NOMEM, NULL, "out of memory rendering the response");
    else if (journal_finish(run->journal, status, result->response, &error) == PTX_OK)
        return;
    log_write(LOG_ERROR, "engine",
              "execution %s finished %s but its outcome is NOT RECORDED in the journal: %s; "
              "recording it is retried before the next execution",
              result->execution_id, status_name, error.message);
    run->finish_failed = true;
    record_keep_unrecorded(run->owner, result, status);
}

/* An execution that placed nothing: one write, waited for only with a key. */
static void record_finish_noop(record_run *run)
{
    record *rec = run->owner;
    exec_result *result = run->result;
    ptx_error error;
    if (result->response != NULL &&
        journal_record_noop(rec->journal, result, run->key, run->request_hash, rec->owner,
                            result->response, &error) == PTX_OK)
        return;
    log_write(LOG_ERROR, "engine", "execution %s (%s, nothing placed) NOT RECORDED: %s",
              result->execution_id, exec_status_name(result->status),
              result->response ? error.message : "out of memory rendering the response");
}

void record_finish(record_run *run, exec_status status)
{
    exec_result *result = run->result;
    if (run->journal != NULL || run->noop) {
        free(result->response);
        result->response = render_result(result, NULL);
        if (run->noop)
            record_finish_noop(run);
        else
            record_finish_journal(run, status);
    }
    if (run->owner->notifier != NULL)
        notify_execution(run->owner->notifier, result);
}

void record_settle(record_run *run, size_t *remaining)
{
    ptx_error error;
    size_t left = 0;
    if (journal_settle(run->journal, &left, &error) != PTX_OK) {
        log_write(LOG_ERROR, "engine", "execution %s: settling its legs NOT RECORDED: %s",
                  run->result->execution_id, error.message);
        left = 1;
    }
    *remaining += left;
}

void record_end(record_run *run)
{
    journal_run_end(run->journal);
    run->journal = NULL;
    if (run->owner != NULL)
        pthread_mutex_destroy(&run->lock);
    run->owner = NULL;
}
