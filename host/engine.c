/* The execution engine: the steps of design §1, in order, for one request.
 * Each step lives in a module of its own (see engine.h); this file only
 * sequences them. One execution runs on the caller's thread; its step 7 runs
 * on a few worker threads too (scheduler.c) when the plugin allows parallel
 * calls on one session. */
#include "engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "funds.h"
#include "idempotency.h"
#include "instruments.h"
#include "legs.h"
#include "limiter.h"
#include "locks.h"
#include "log.h"
#include "lots.h"
#include "plan.h"
#include "positions.h"
#include "preflight.h"
#include "recovery.h"
#include "record.h"
#include "retry.h"
#include "scheduler.h"
#include "session.h"

/* Bounds of the default max_in_flight (README, "Configuration"). */
#define ENGINE_PARALLEL_MIN_CALL_US 500 /* below: one leg at a time */
#define ENGINE_IN_FLIGHT_MIN 4
#define ENGINE_IN_FLIGHT_MAX 64
#define ENGINE_CALLS_PER_LEG 4 /* place and first read, doubled for polls and retries */

struct engine {
    registry *reg;
    locks *accounts;
    limiter *limits;
    record *records;
    instruments *facts; /* instrument facts of every broker, for the pre-flight gate */
    ids_key account_key;
};

/* What finishing a leg needs, from whichever thread finishes it. */
typedef struct engine_placing {
    engine *eng;
    session *s;
    record_run *records;
    exec_result *result;
    const engine_call_options *options;
    pthread_mutex_t progress_lock; /* progress callbacks one at a time */
} engine_placing;

/* Step 1 (defensive): the engine can be called without request.c. */
static ptx_status engine_check_request(const exec_request *request, ptx_error *error)
{
    if (request->target_count > 0 && request->targets == NULL)
        return ptx_fail(error, PTX_INVALID, "target_portfolio", "targets missing");
    for (size_t i = 0; i < request->target_count; i++) {
        const exec_target *target = &request->targets[i];
        char field[80];
        if (target->symbol[0] == '\0' || memchr(target->symbol, '\0', BROKER_SYMBOL_MAX) == NULL) {
            snprintf(field, sizeof field, "target_portfolio[%zu].symbol", i);
            return ptx_fail(error, PTX_INVALID, field, "symbol must be 1-32 characters");
        }
        if (target->target_quantity < 0 || target->target_quantity > REQUEST_QUANTITY_MAX) {
            snprintf(field, sizeof field, "target_portfolio[%zu].target_quantity", i);
            return ptx_fail(error, PTX_INVALID, field, "target_quantity must be 0..%lld",
                            (long long)REQUEST_QUANTITY_MAX);
        }
    }
    return PTX_OK;
}

/* Gives every leg its client order id, before the intent is recorded. */
static void engine_name_legs(const session *s, exec_result *result)
{
    const broker_capabilities *caps = &s->plugin->capabilities;
    for (size_t i = 0; i < result->leg_count; i++)
        ids_client_order_id(result->execution_id, i, caps->tag_min_length, caps->tag_max_length,
                            result->legs[i].client_order_id,
                            sizeof result->legs[i].client_order_id);
}

/* A leg is final: its reason, its record, the log, then progress. Any
 * thread of the execution. */
static void engine_leg_done(void *context, exec_leg *leg)
{
    engine_placing *placing = context;
    const engine_call_options *options = placing->options;
    if (leg->status != LEG_FILLED && leg->reason[0] == '\0')
        legs_reason(leg, "%s", "no reason given by the broker");
    record_leg(placing->records, leg, leg_state_of_leg(leg), leg->reason);
    if (log_enabled(LOG_DEBUG))
        log_write(LOG_DEBUG, "engine", "execution %s leg %zu %s %s %lld: %s",
                  placing->result->execution_id, leg->sequence, side_name(leg->side), leg->symbol,
                  (long long)leg->quantity, leg_status_name(leg->status));
    if (options->progress == NULL)
        return;
    pthread_mutex_lock(&placing->progress_lock);
    options->progress(options->progress_context, placing->result, leg);
    pthread_mutex_unlock(&placing->progress_lock);
}

/* Concurrent calls for one execution: max_in_flight, or enough to keep the
 * rate busy at the latency measured so far (each leg takes a place and a
 * read, doubled for polls and retries), within bounds; never more than the
 * legs. */
/* `wanted` workers within the bounds, never more than `items`. */
static size_t engine_bounded(size_t wanted, size_t items)
{
    wanted = wanted < ENGINE_IN_FLIGHT_MIN ? ENGINE_IN_FLIGHT_MIN : wanted;
    wanted = wanted > ENGINE_IN_FLIGHT_MAX ? ENGINE_IN_FLIGHT_MAX : wanted;
    return wanted < items ? wanted : items;
}

static size_t engine_in_flight(const session *s, size_t legs)
{
    size_t wanted = s->settings->max_in_flight;
    if (wanted == 0) {
        uint64_t rate = s->settings->rate_limit_per_second;
        uint64_t latency_us = (uint64_t)session_mean_call_us(s);
        /* A broker that answers in microseconds gains nothing from workers:
         * starting them cost more than the calls (20-leg trades over HTTP at
         * zero latency: 3.7k req/s with workers, 17k one at a time). */
        if (latency_us < ENGINE_PARALLEL_MIN_CALL_US)
            return 1;
        if (rate == 0)
            wanted = latency_us >= 1000 ? ENGINE_IN_FLIGHT_MAX : ENGINE_IN_FLIGHT_MIN;
        else
            wanted = (size_t)((rate * latency_us * ENGINE_CALLS_PER_LEG + 999999) / 1000000);
        return engine_bounded(wanted, legs);
    }
    return wanted < legs ? wanted : legs;
}

/* Step 7 with workers: the sells, every one final, then the buys. False
 * when nothing was placed because no worker could be started. */
static bool engine_place_parallel(session *s, engine_placing *placing, const plan *p)
{
    size_t count = placing->result->leg_count;
    size_t workers = engine_in_flight(s, count);
    exec_leg **order = workers > 1 ? malloc(count * sizeof *order) : NULL;
    scheduler *sc = order != NULL
                        ? scheduler_start(s, placing->records, workers, engine_leg_done, placing)
                        : NULL;
    if (sc == NULL) {
        free(order);
        return false;
    }
    log_write(LOG_DEBUG, "engine", "execution %s: %zu legs on %zu workers (mean call %lld us)",
              placing->result->execution_id, count, scheduler_workers(sc),
              (long long)session_mean_call_us(s));
    size_t sells = 0;
    for (size_t k = 0; k < count; k++) {
        order[k] = &placing->result->legs[p->leg_order[k]];
        sells += order[k]->side == BROKER_SIDE_SELL;
    }
    scheduler_run(sc, order, sells); /* plan order: every sell before any buy */
    funds_gate(s, placing->eng->facts, placing->result);
    scheduler_run(sc, order + sells, count - sells);
    scheduler_stop(sc);
    free(order);
    return true;
}

/* Step 7 one leg at a time: the sells, the funds gate, the buys. */
static void engine_place_serial(session *s, engine_placing *placing, const plan *p)
{
    exec_result *result = placing->result;
    bool buying = false;
    for (size_t k = 0; k < result->leg_count; k++) {
        exec_leg *leg = &result->legs[p->leg_order[k]];
        if (leg->side == BROKER_SIDE_BUY && !buying) {
            buying = true;
            funds_gate(s, placing->eng->facts, result);
        }
        if (leg->status == LEG_PLANNED) /* not refused by a gate */
            legs_place(s, placing->records, leg);
        engine_leg_done(placing, leg);
    }
}

/* Step 7: places the legs in execution order (sells first, then the funds
 * gate, then the buys), concurrently where the plugin allows it, else one
 * at a time. */
static void engine_place_all(engine *eng, session *s, record_run *records, exec_result *result,
                             const plan *p, const engine_call_options *options)
{
    engine_placing placing = {eng, s, records, result, options, PTHREAD_MUTEX_INITIALIZER};
    const registry_features *features = registry_broker_features(s->broker);
    if (!features->parallel_session_calls || !engine_place_parallel(s, &placing, p))
        engine_place_serial(s, &placing, p);
    pthread_mutex_destroy(&placing.progress_lock);
}

/* Lots and the gate read instrument facts one leg at a time, from the
 * cache; the ones it lacks are asked for side by side first where the
 * plugin allows parallel calls (a cold 200-leg rebalance at 50 ms per call
 * would otherwise wait 10 s before its first order). */
static void engine_prefetch_facts(engine *eng, session *s, const exec_request *request,
                                  const plan *p)
{
    if (!registry_broker_features(s->broker)->parallel_session_calls || p->count < 2)
        return;
    size_t workers = engine_in_flight(s, p->count);
    uint64_t reads = s->settings->read_rate_limit_per_second;
    if (workers >= 2 && s->settings->max_in_flight == 0) { /* one read each, at the read rate */
        uint64_t latency_us = (uint64_t)session_mean_call_us(s);
        workers = engine_bounded(reads == 0 ? ENGINE_IN_FLIGHT_MAX
                                            : (size_t)((reads * latency_us + 999999) / 1000000) + 1,
                                 p->count);
    }
    const char **symbols = workers >= 2 ? malloc(p->count * sizeof *symbols) : NULL;
    if (symbols == NULL)
        return;
    for (size_t i = 0; i < p->count; i++)
        symbols[i] = request->targets[p->legs[i].target_index].symbol;
    instruments_prefetch(eng->facts, s, symbols, p->count, workers);
    free(symbols);
}

/* The gate before the first order; a dry run shows its verdicts and is
 * never refused by them. */
static ptx_status engine_preflight(engine *eng, session *s, const exec_request *request,
                                   exec_result *result, ptx_error *error)
{
    ptx_status status = preflight_session(s, result, error);
    if (request->dry_run) {
        ptx_error_clear(error);
        status = PTX_OK;
    }
    if (status == PTX_OK)
        preflight_instruments(s, eng->facts, result);
    return status;
}

/* Steps 3–9 once the account is ours and the session is open. */
static ptx_status engine_run(engine *eng, session *s, const exec_request *request,
                             const char *request_hash, const engine_call_options *options,
                             exec_result *result, ptx_error *error)
{
    holdings *current = NULL;
    plan p = {0};
    record_run records;
    memset(&records, 0, sizeof records);
    ptx_status status = session_login(s, error); /* 3 */
    if (status == PTX_OK)                        /* 4 */
        status = positions_read(s, request->target_count + 16, &current, error);
    if (status == PTX_OK) /* 5, 6 */
        status = plan_build(current, request->targets, request->target_count, &p, error);
    if (status == PTX_OK) {
        engine_prefetch_facts(eng, s, request, &p);
        lots_apply(s, eng->facts, request, &p);
        status = positions_from_plan(result, request, current, &p, error);
    }
    holdings_free(current);
    if (status == PTX_OK && result->leg_count > 0)
        status = engine_preflight(eng, s, request, result, error);
    if (status != PTX_OK || request->dry_run) {
        result->status = result->leg_count > 0 ? EXEC_PLANNED : EXEC_NOOP;
        result->summary.orders = exec_result_parent_count(result);
        goto cleanup;
    }
    engine_name_legs(s, result);
    status =
        record_begin(eng->records, result, request->idempotency_key, request_hash, &records, error);
    if (status != PTX_OK)
        goto cleanup;
    engine_place_all(eng, s, &records, result, &p, options); /* 7 */
    result->charges_known = s->features->get_order_ex || s->features->place_order_ex;
    positions_reconcile(s, result); /* 8 */
    exec_result_summarize(result);
    result->retries = s->retries;
    result->finished_ms = retry_wall_ms();
    record_finish(&records, result->status); /* 9 */
cleanup:
    record_end(&records);
    plan_free(&p);
    return status;
}

/* With the account held: recovery, the key's second look, then the run. */
static ptx_status engine_run_locked(engine *eng, session *s, const exec_request *request,
                                    const char *request_hash, const engine_call_options *options,
                                    exec_result *result, ptx_error *error)
{
    journal *records = record_journal(eng->records);
    ptx_status status = PTX_OK;
    if (records != NULL && !request->dry_run) /* a dry run never touches orders */
        status = recovery_account(s, eng->records, result->broker, result->account_hash, error);
    if (status == PTX_OK && request_hash[0] != '\0') {
        idempotency_state state = IDEMPOTENCY_UNUSED;
        status = idempotency_check(records, request, request_hash, result, &state, error);
        if (status == PTX_OK && state == IDEMPOTENCY_REPLAYED)
            return PTX_OK;
        if (status == PTX_OK && state == IDEMPOTENCY_RUNNING)
            return ptx_fail(error, PTX_IN_PROGRESS, "idempotency_key",
                            "the execution with idempotency key '%s' is still running",
                            request->idempotency_key);
    }
    if (status == PTX_OK)
        status = engine_run(eng, s, request, request_hash, options, result, error);
    return status;
}

/* Gives the session the account's limiter, at the broker's rates. */
static ptx_status engine_open_limits(engine *eng, session *s, const char *broker,
                                     const char *account_id)
{
    const broker_settings *settings = s->settings;
    limiter_rates rates = {settings->rate_limit_per_second, settings->rate_limit_per_minute,
                           settings->read_rate_limit_per_second,
                           settings->read_rate_limit_per_minute};
    return limiter_open(eng->limits, broker, account_id, &rates, &s->limits);
}

/* Step 2 and what surrounds it: the key's first look (no lock needed to
 * replay), the account lock, then the run. */
static ptx_status engine_serialize(engine *eng, session *s, const exec_request *request,
                                   const char *account_id, const engine_call_options *options,
                                   exec_result *result, ptx_error *error)
{
    journal *records = request->dry_run ? NULL : record_journal(eng->records);
    char request_hash[IDS_SHA256_HEX_MAX] = "";
    if (records != NULL && request->idempotency_key[0] != '\0') {
        idempotency_request_hash(request, result->account_hash, request_hash);
        idempotency_state state = IDEMPOTENCY_UNUSED;
        ptx_status status =
            idempotency_check(records, request, request_hash, result, &state, error);
        if (status != PTX_OK || state == IDEMPOTENCY_REPLAYED)
            return status;
    }
    ptx_status status = locks_acquire(eng->accounts, request->broker, account_id,
                                      options->lock_timeout_ms, &s->account);
    if (status == PTX_BUSY)
        return idempotency_busy(records, request, request_hash, result, error);
    if (status == PTX_OK)
        status = engine_open_limits(eng, s, request->broker, account_id);
    if (status != PTX_OK) {
        if (s->account != NULL)
            locks_release(eng->accounts, s->account);
        return ptx_fail(error, status, NULL, "out of memory");
    }
    status = engine_run_locked(eng, s, request, request_hash, options, result, error);
    limiter_close(eng->limits, s->limits);
    locks_release(eng->accounts, s->account);
    return status;
}

static void engine_log_result(const exec_result *result)
{
    const exec_summary *sum = &result->summary;
    log_write(LOG_DEBUG, "engine",
              "execution %s broker=%s account=%s status=%s orders=%zu filled=%zu "
              "partially_filled=%zu rejected=%zu cancelled=%zu failed=%zu reconciled=%s",
              result->execution_id, result->broker, result->account_hash,
              exec_status_name(result->status), sum->orders, sum->filled, sum->partially_filled,
              sum->rejected, sum->cancelled, sum->failed, result->reconciled ? "yes" : "no");
}

/* Logs a refused execution and leaves only its id in *result. */
static ptx_status engine_refused(exec_result *result, const ptx_error *error)
{
    log_write(LOG_INFO, "engine", "execution %s broker=%s account=%s refused: %s: %s",
              result->execution_id, result->broker,
              result->account_hash[0] ? result->account_hash : "-", ptx_status_code(error->status),
              error->message);
    char execution_id[IDS_EXECUTION_ID_MAX];
    memcpy(execution_id, result->execution_id, sizeof execution_id);
    exec_result_free(result);
    memcpy(result->execution_id, execution_id, sizeof execution_id);
    return error->status;
}

ptx_status engine_execute(engine *eng, const exec_request *request,
                          const engine_call_options *options, exec_result *result, ptx_error *error)
{
    static const engine_call_options no_options = {NULL, NULL, 0};
    ptx_error local_error;
    error = error ? error : &local_error;
    options = options ? options : &no_options;
    ptx_error_clear(error);
    memset(result, 0, sizeof *result);
    ids_new_execution_id(result->execution_id);
    snprintf(result->broker, sizeof result->broker, "%s", request->broker);
    result->started_ms = retry_wall_ms();

    session s;
    broker_text account_id;
    ptx_status status = engine_check_request(request, error); /* 1 */
    if (status == PTX_OK && !request->dry_run)
        status = record_check(eng->records, error);
    if (status == PTX_OK)
        status = session_open(&s, eng->reg, request, &account_id, error);
    if (status != PTX_OK)
        return engine_refused(result, error);
    s.facts = eng->facts;
    ids_account_hash(&eng->account_key, request->broker, account_id.text, result->account_hash);
    status = engine_serialize(eng, &s, request, account_id.text, options, result, error);
    session_close(&s);
    if (status != PTX_OK)
        return engine_refused(result, error);
    if (!result->replayed) {
        result->finished_ms = retry_wall_ms();
        engine_log_result(result);
    }
    return PTX_OK;
}

ptx_status engine_holdings(engine *eng, const exec_request *request, holdings **out,
                           ptx_error *error)
{
    session s;
    broker_text account_id;
    *out = NULL;
    ptx_error_clear(error);
    ptx_status status = session_open(&s, eng->reg, request, &account_id, error);
    if (status == PTX_OK && engine_open_limits(eng, &s, request->broker, account_id.text) != PTX_OK)
        status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    if (status == PTX_OK)
        status = session_login(&s, error);
    if (status == PTX_OK)
        status = positions_read(&s, 64, out, error);
    limiter_close(eng->limits, s.limits);
    session_close(&s);
    return status;
}

engine *engine_create(registry *reg, struct notify *notifier)
{
    engine *eng = calloc(1, sizeof *eng);
    if (eng == NULL)
        return NULL;
    eng->reg = reg;
    eng->accounts = locks_create();
    eng->limits = limiter_create();
    eng->records = record_create(NULL, notifier);
    eng->facts = instruments_create();
    if (eng->accounts == NULL || eng->limits == NULL || eng->records == NULL ||
        eng->facts == NULL) {
        engine_destroy(eng);
        return NULL;
    }
    return eng;
}

void engine_set_journal(engine *eng, struct journal *records)
{
    record_set_journal(eng->records, records);
}

void engine_set_journal_error(engine *eng, const char *message)
{
    record_set_unavailable(eng->records, message);
}

void engine_set_account_key(engine *eng, const ids_key *key)
{
    eng->account_key = *key;
}

struct journal *engine_journal(engine *eng)
{
    return record_journal(eng->records);
}

size_t engine_recovery_pending(engine *eng)
{
    return recovery_pending(eng->records);
}

void engine_destroy(engine *eng)
{
    if (eng == NULL)
        return;
    locks_destroy(eng->accounts);
    limiter_destroy(eng->limits);
    record_destroy(eng->records);
    instruments_destroy(eng->facts);
    free(eng);
}
