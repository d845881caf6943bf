/* The scheduler: one mutex, one condition variable for the workers (one
 * more for the execution's thread waiting on a phase), and FIFOs of jobs.
 *
 *   reads     orders just accepted: their first read is immediate
 *   due[k]    open orders whose next read waits poll_interval_ms << k (at
 *             most a second); every job of one FIFO waits the same interval,
 *             so each FIFO is in due order and the next due read is at the
 *             head of one of them — a dozen FIFOs instead of a priority queue
 *   places    the phase's legs not yet taken (a cursor over the caller's array)
 *
 * A worker takes a read before a placement (reads are quick and do not wait
 * for an order token; placements may), sleeps until the earliest due read
 * when there is nothing else (one worker arms that timer, the others wait
 * plainly), and runs the job without the lock. A job exists only while its
 * order is open, so memory follows the open orders, not the legs. */
#include "scheduler.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "legs.h"
#include "retry.h"

#define SCHEDULER_STEPS 16 /* poll_interval_ms >= 1 reaches one second in 11 */

typedef struct scheduler_job {
    struct scheduler_job *next;
    exec_leg *leg;
    broker_order order;   /* the broker's latest word on it */
    int64_t started_ms;   /* monotonic: when following began */
    int64_t due_us;       /* monotonic: when the next read may start */
    unsigned step;        /* index of the FIFO of its current wait */
    unsigned interval_ms; /* its current wait */
    unsigned waits;       /* waits so far */
} scheduler_job;

typedef struct scheduler_queue {
    scheduler_job *head, *tail;
} scheduler_queue;

typedef struct scheduler_worker {
    scheduler *owner;
    session session;
    pthread_t thread;
} scheduler_worker;

struct scheduler {
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* work queued, or stopping (monotonic clock) */
    pthread_cond_t phase_done; /* the phase's last leg is done */
    scheduler_queue reads;
    scheduler_queue due[SCHEDULER_STEPS];
    exec_leg *const *places;
    size_t place_count, next_place;
    size_t unfinished; /* legs of the phase not yet done */
    bool timer_armed;  /* a worker sleeps until timer_due_us */
    int64_t timer_due_us;
    bool stopping;
    session *opened;
    record_run *records;
    scheduler_done_fn done;
    void *context;
    scheduler_worker *workers;
    size_t worker_count;
};

static void queue_push(scheduler_queue *queue, scheduler_job *job)
{
    job->next = NULL;
    if (queue->tail != NULL)
        queue->tail->next = job;
    else
        queue->head = job;
    queue->tail = job;
}

static scheduler_job *queue_pop(scheduler_queue *queue)
{
    scheduler_job *job = queue->head;
    if (job == NULL)
        return NULL;
    queue->head = job->next;
    if (queue->head == NULL)
        queue->tail = NULL;
    return job;
}

/* The FIFO whose head is due first, or NULL when none waits. */
static scheduler_queue *scheduler_earliest(scheduler *sc)
{
    scheduler_queue *earliest = NULL;
    for (unsigned k = 0; k < SCHEDULER_STEPS; k++) {
        scheduler_queue *queue = &sc->due[k];
        if (queue->head != NULL &&
            (earliest == NULL || queue->head->due_us < earliest->head->due_us))
            earliest = queue;
    }
    return earliest;
}

static struct timespec scheduler_deadline(int64_t due_us)
{
    struct timespec deadline = {.tv_sec = (time_t)(due_us / 1000000),
                                .tv_nsec = (long)(due_us % 1000000) * 1000};
    return deadline;
}

/* Waits for work; the earliest due read gets one worker's timer. Caller
 * holds the lock. */
static void scheduler_wait(scheduler *sc, const scheduler_queue *earliest)
{
    if (earliest == NULL || sc->timer_armed) {
        pthread_cond_wait(&sc->wake, &sc->lock);
        return;
    }
    sc->timer_armed = true;
    sc->timer_due_us = earliest->head->due_us;
    struct timespec deadline = scheduler_deadline(sc->timer_due_us);
    pthread_cond_timedwait(&sc->wake, &sc->lock, &deadline);
    sc->timer_armed = false;
}

/* After a worker took a job: if reads still wait and no worker watches the
 * clock for them, wake one to do so. Caller holds the lock. */
static void scheduler_hand_on(scheduler *sc)
{
    if (!sc->timer_armed && scheduler_earliest(sc) != NULL)
        pthread_cond_signal(&sc->wake);
}

/* The next job (a read: *job) or leg to place (*leg); false when stopping.
 * Caller holds the lock. */
static bool scheduler_next(scheduler *sc, scheduler_job **job, exec_leg **leg)
{
    *job = NULL;
    *leg = NULL;
    while (!sc->stopping) {
        *job = queue_pop(&sc->reads);
        scheduler_queue *earliest = scheduler_earliest(sc);
        if (*job == NULL && earliest != NULL && earliest->head->due_us <= retry_monotonic_us())
            *job = queue_pop(earliest);
        if (*job == NULL && sc->next_place < sc->place_count)
            *leg = sc->places[sc->next_place++];
        if (*job != NULL || *leg != NULL) {
            scheduler_hand_on(sc);
            return true;
        }
        scheduler_wait(sc, earliest);
    }
    return false;
}

/* Queues `job` for its next read. Caller holds the lock. */
static void scheduler_queue_read(scheduler *sc, scheduler_job *job, bool first)
{
    if (first) {
        queue_push(&sc->reads, job);
        pthread_cond_signal(&sc->wake);
        return;
    }
    queue_push(&sc->due[job->step], job);
    if (sc->timer_armed && job->due_us < sc->timer_due_us)
        pthread_cond_broadcast(&sc->wake); /* the timer must look again */
    else
        pthread_cond_signal(&sc->wake);
}

/* Sets when `job`'s next read is due: poll_interval_ms after the first
 * read, each wait then twice the last up to a second (legs_follow's
 * schedule), but never past the end of its time slice (legs_deadline_ms); `step` names the wait's
 * FIFO. */
static void scheduler_plan_read(const session *s, scheduler_job *job)
{
    unsigned next = legs_next_interval(job->interval_ms);
    if (job->waits++ > 0 && next != job->interval_ms && job->step + 1 < SCHEDULER_STEPS) {
        job->interval_ms = next;
        job->step++;
    }
    int64_t now_us = retry_monotonic_us();
    int64_t deadline_us = legs_deadline_ms(s, job->leg, job->started_ms) * 1000;
    job->due_us = now_us + (int64_t)job->interval_ms * 1000;
    job->due_us = job->due_us < deadline_us ? job->due_us : deadline_us;
}

/* Places `leg`; returns the job that follows its open order, or NULL when
 * the leg is final already. */
static scheduler_job *scheduler_place(scheduler_worker *w, exec_leg *leg)
{
    session *s = &w->session;
    broker_order order;
    if (leg->status != LEG_PLANNED) /* refused by the pre-flight gate */
        return NULL;
    if (!legs_submit(s, w->owner->records, leg, &order))
        return NULL;
    if (legs_order_is_final(&order)) {
        legs_finish(leg, &order);
        return NULL;
    }
    scheduler_job *job = malloc(sizeof *job);
    if (job == NULL) { /* follow it on this worker, the sequential way */
        legs_follow(s, w->owner->records, leg, &order);
        return NULL;
    }
    memset(job, 0, sizeof *job);
    job->leg = leg;
    job->order = order;
    job->started_ms = retry_monotonic_ms();
    job->interval_ms = s->settings->poll_interval_ms;
    return job;
}

/* The leg is final: tell the caller, then count it done. */
static void scheduler_finish(scheduler_worker *w, exec_leg *leg)
{
    scheduler *sc = w->owner;
    sc->done(sc->context, leg);
    pthread_mutex_lock(&sc->lock);
    if (--sc->unfinished == 0)
        pthread_cond_signal(&sc->phase_done);
    pthread_mutex_unlock(&sc->lock);
}

/* Runs one job or placement without the lock. */
static void scheduler_run_one(scheduler_worker *w, scheduler_job *job, exec_leg *leg)
{
    scheduler *sc = w->owner;
    bool first = job == NULL;
    if (job == NULL)
        job = scheduler_place(w, leg);
    else if (legs_poll(&w->session, sc->records, job->leg, &job->order, job->started_ms)) {
        leg = job->leg;
        free(job);
        job = NULL;
    } else {
        scheduler_plan_read(&w->session, job);
    }
    if (job == NULL) {
        scheduler_finish(w, leg);
        return;
    }
    pthread_mutex_lock(&sc->lock);
    scheduler_queue_read(sc, job, first);
    pthread_mutex_unlock(&sc->lock);
}

static void *scheduler_work(void *context)
{
    scheduler_worker *w = context;
    scheduler *sc = w->owner;
    pthread_mutex_lock(&sc->lock);
    scheduler_job *job;
    exec_leg *leg;
    while (scheduler_next(sc, &job, &leg)) {
        pthread_mutex_unlock(&sc->lock);
        scheduler_run_one(w, job, leg);
        pthread_mutex_lock(&sc->lock);
    }
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

static void scheduler_free(scheduler *sc)
{
    pthread_cond_destroy(&sc->wake);
    pthread_cond_destroy(&sc->phase_done);
    pthread_mutex_destroy(&sc->lock);
    free(sc->workers);
    free(sc);
}

static scheduler *scheduler_create(session *opened, record_run *records, size_t workers,
                                   scheduler_done_fn done, void *context)
{
    scheduler *sc = calloc(1, sizeof *sc);
    scheduler_worker *pool = calloc(workers ? workers : 1, sizeof *pool);
    if (sc == NULL || pool == NULL) {
        free(sc);
        free(pool);
        return NULL;
    }
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_cond_init(&sc->phase_done, NULL);
    pthread_mutex_init(&sc->lock, NULL);
    sc->opened = opened;
    sc->records = records;
    sc->done = done;
    sc->context = context;
    sc->workers = pool;
    return sc;
}

scheduler *scheduler_start(session *opened, record_run *records, size_t workers,
                           scheduler_done_fn done, void *context)
{
    scheduler *sc = scheduler_create(opened, records, workers, done, context);
    if (sc == NULL)
        return NULL;
    for (size_t i = 0; i < workers; i++) {
        scheduler_worker *w = &sc->workers[sc->worker_count];
        w->owner = sc;
        session_worker(&w->session, opened);
        if (pthread_create(&w->thread, NULL, scheduler_work, w) != 0)
            break;
        sc->worker_count++;
    }
    if (sc->worker_count == 0) {
        scheduler_free(sc);
        return NULL;
    }
    return sc;
}

size_t scheduler_workers(const scheduler *sc)
{
    return sc->worker_count;
}

void scheduler_run(scheduler *sc, exec_leg *const *legs, size_t count)
{
    if (count == 0)
        return;
    pthread_mutex_lock(&sc->lock);
    sc->places = legs;
    sc->place_count = count;
    sc->next_place = 0;
    sc->unfinished = count;
    pthread_cond_broadcast(&sc->wake);
    while (sc->unfinished > 0)
        pthread_cond_wait(&sc->phase_done, &sc->lock);
    sc->places = NULL;
    sc->place_count = sc->next_place = 0;
    pthread_mutex_unlock(&sc->lock);
}

void scheduler_stop(scheduler *sc)
{
    if (sc == NULL)
        return;
    pthread_mutex_lock(&sc->lock);
    sc->stopping = true;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
    for (size_t i = 0; i < sc->worker_count; i++) {
        pthread_join(sc->workers[i].thread, NULL);
        session_merge(sc->opened, &sc->workers[i].session);
    }
    scheduler_free(sc);
}
