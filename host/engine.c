/* The execution engine: design §1 steps 1–8 for one request.
 *
 * One execution runs on the caller's thread with a `run` on its stack. Every
 * plugin call goes through run_call_once (broker lock, errmsg copied while
 * the lock is held); run_call adds the policy shared by every step: TRANSIENT
 * is retried with full-jitter backoff up to max_retries, AUTH is answered by
 * one re-authentication and a retry, and an AUTH that survives it marks the
 * run as unable to place. The leg functions add what is particular to
 * placing: UNKNOWN is resolved with find_order before anything is resent,
 * accepted orders are followed with get_order to a terminal state. Nothing
 * here is done per leg beyond O(1) work, and nothing is logged per leg above
 * debug level. */
#include "engine.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "locks.h"
#include "log.h"
#include "notify.h"
#include "plan.h"
#include "render.h"
#include "retry.h"

#define ENGINE_POLL_MAX_MS 1000u
#define PTX_JOURNAL_MESSAGE_MAX 512
#define ENGINE_UNRECORDED_RETRY_MS 1000 /* between retries of unrecorded ends */
#define ENGINE_NOT_SENT_REASON "not sent: ptexec stopped before placing this leg"

/* An execution whose end the journal could not record (journal_finish
 * failed): kept, with a copy of its legs, so that the next execution
 * retries recording it. Until then its idempotency key answers
 * in_progress. */
typedef struct unrecorded {
    struct unrecorded *next;
    exec_result result; /* id, broker, account hash, legs and response (copies) */
    exec_status status;
} unrecorded;

struct engine {
    registry *reg;
    struct notify *notifier;
    locks *accounts;
    journal *journal;                            /* NULL: no journal */
    char owner[IDS_EXECUTION_ID_MAX];            /* marks the executions this process runs */
    char journal_error[PTX_JOURNAL_MESSAGE_MAX]; /* "" unless the journal is unusable */
    pthread_mutex_t unrecorded_lock;
    unrecorded *unrecorded;              /* under unrecorded_lock */
    atomic_size_t unrecorded_count;      /* its length, read without the lock */
    _Atomic int64_t unrecorded_retry_us; /* no retry before this (retry_monotonic_us) */
};

/* Everything one execution needs. */
typedef struct run {
    registry_broker *broker;
    const broker_plugin *plugin;
    broker_instance *instance;
    broker_session *session;
    const broker_settings *settings;
    locks_account *account;
    retry_rng rng;
    char message[BROKER_MESSAGE_MAX]; /* detail of the last failed plugin call */
    bool auth_failed;                 /* re-authentication failed: place nothing more */
    char auth_message[BROKER_MESSAGE_MAX];
    journal *journal;    /* NULL when this run is not journaled */
    exec_result *result; /* the execution being journaled */
    bool journal_broken; /* a journal write failed: place nothing more */
    char journal_message[PTX_JOURNAL_MESSAGE_MAX];
    engine *eng;
    journal_run *journal_run; /* the execution's run in the journal (journal_begin) */
    const char *owner;        /* the engine's owner mark for journal rows */
    exec_retries retries;     /* what this run retried, by class */
} run;

typedef enum call_kind {
    CALL_AUTHENTICATE,
    CALL_HOLDINGS,
    CALL_PLACE,
    CALL_GET,
    CALL_FIND,
    CALL_CANCEL
} call_kind;

/* One plugin operation with its arguments and what the retries did. */
typedef struct call {
    call_kind kind;
    const broker_order_request *request; /* CALL_PLACE */
    const char *id;                      /* order id, or client order id for CALL_FIND */
    broker_order *order;                 /* CALL_PLACE, GET, FIND, CANCEL */
    holdings *map;                       /* CALL_HOLDINGS: result, owned by the caller */
    size_t expected;                     /* CALL_HOLDINGS: sizing hint */
    unsigned *place_count;               /* CALL_PLACE: incremented per place_order */
    exec_leg *leg;                       /* CALL_PLACE: the leg, for the journal */
    unsigned tries;                      /* calls made by run_call */
} call;

typedef struct collector {
    holdings *map;
    bool failed;
} collector;

static int engine_collect(void *context, const char *symbol, int64_t quantity)
{
    collector *into = context;
    if (holdings_add(into->map, symbol, quantity))
        return 0;
    into->failed = true;
    return 1;
}

/* ---- journal ----------------------------------------------------------- */

/*
 * Records `state` of `leg` in the journal (no-op without one), committed
 * before this returns. A failure stops all further placing; when the order
 * may already be at the broker it is logged at error level with the client
 * order id, never silently.
 */
static bool run_journal(run *r, exec_leg *leg, leg_state state, const char *detail)
{
    if (r->journal == NULL)
        return true;
    ptx_error error;
    size_t index = (size_t)(leg - r->result->legs);
    ptx_status status = journal_leg(r->journal_run, index, state, leg, detail, &error);
    if (status == PTX_OK)
        return true;
    if (!r->journal_broken)
        snprintf(r->journal_message, sizeof r->journal_message, "%s", error.message);
    r->journal_broken = true;
    if (state == LEG_STATE_SENDING)
        log_write(LOG_ERROR, "engine",
                  "execution %s: journal write failed before placing leg %zu (client order id "
                  "%s); it is not placed and placing stops: %s",
                  r->result->execution_id, leg->sequence, leg->client_order_id, error.message);
    else
        log_write(LOG_ERROR, "engine",
                  "execution %s: leg %zu %s %s %lld (client order id %s, order id %s): state %s "
                  "NOT RECORDED in the journal; the order may exist at the broker: %s",
                  r->result->execution_id, leg->sequence, side_name(leg->side), leg->symbol,
                  (long long)leg->quantity, leg->client_order_id,
                  leg->order_id[0] ? leg->order_id : "unknown", leg_state_name(state),
                  error.message);
    return false;
}

/*
 * Before place_order: SENDING is committed first. If any journal write of
 * the run failed, nothing more is placed: the leg is not sent.
 */
static bool run_journal_sending(run *r, exec_leg *leg)
{
    if (r->journal == NULL)
        return true;
    return !r->journal_broken && run_journal(r, leg, LEG_STATE_SENDING, NULL);
}

/* ---- plugin calls ------------------------------------------------------ */

static broker_status run_get_holdings(run *r, call *c)
{
    holdings_free(c->map);
    c->map = holdings_create(c->expected);
    if (c->map == NULL) {
        snprintf(r->message, sizeof r->message, "out of memory reading holdings");
        return BROKER_INTERNAL;
    }
    collector into = {c->map, false};
    broker_status status = r->plugin->get_holdings(r->instance, r->session, engine_collect, &into);
    if (status == BROKER_OK && into.failed) {
        snprintf(r->message, sizeof r->message,
                 "holdings could not be stored (bad symbol or out "
                 "of memory)");
        return BROKER_INTERNAL;
    }
    return status;
}

static broker_status run_dispatch(run *r, call *c)
{
    const broker_plugin *p = r->plugin;
    switch (c->kind) {
    case CALL_AUTHENTICATE:
        return p->authenticate(r->instance, r->session);
    case CALL_HOLDINGS:
        return run_get_holdings(r, c);
    case CALL_PLACE:
        return p->place_order(r->instance, r->session, c->request, c->order);
    case CALL_GET:
        return p->get_order(r->instance, r->session, c->id, c->order);
    case CALL_FIND:
        return p->find_order(r->instance, r->session, c->id, c->order);
    case CALL_CANCEL:
        if (p->cancel_order == NULL)
            return BROKER_UNSUPPORTED;
        return p->cancel_order(r->instance, r->session, c->id, c->order);
    }
    return BROKER_INTERNAL;
}

/* Makes one plugin call under the broker lock and keeps its error text. */
static broker_status run_call_once(run *r, call *c)
{
    if (c->kind == CALL_PLACE) {
        locks_pace_wait(r->account, r->settings->rate_limit_per_second);
        (*c->place_count)++;
        if (!run_journal_sending(r, c->leg)) {
            (*c->place_count)--;
            c->tries++;
            snprintf(r->message, sizeof r->message, "journal unavailable: %.200s",
                     r->journal_message);
            return BROKER_INTERNAL;
        }
    }
    c->tries++;
    r->message[0] = '\0';
    registry_broker_enter(r->broker);
    broker_status status = run_dispatch(r, c);
    if (status != BROKER_OK && r->message[0] == '\0') {
        const char *text = r->plugin->errmsg(r->instance, r->session);
        snprintf(r->message, sizeof r->message, "%s",
                 text && *text ? text : broker_strerror(status));
    }
    registry_broker_leave(r->broker);
    if (c->kind == CALL_PLACE)
        locks_pace_done(r->account, r->settings->rate_limit_per_second);
    return status;
}

static void run_backoff(run *r, unsigned retry)
{
    retry_sleep_ms(
        retry_backoff_ms(&r->rng, r->settings->retry_base_ms, r->settings->retry_max_ms, retry));
}

/* Calls `c`, retrying TRANSIENT up to max_retries times. */
static broker_status run_call_transient(run *r, call *c)
{
    for (unsigned retry = 0;; retry++) {
        broker_status status = run_call_once(r, c);
        if (status != BROKER_TRANSIENT || retry >= r->settings->max_retries)
            return status;
        r->retries.transient++;
        run_backoff(r, retry);
    }
}

static void run_mark_auth_failed(run *r)
{
    if (!r->auth_failed)
        snprintf(r->auth_message, sizeof r->auth_message, "%s", r->message);
    r->auth_failed = true;
}

/* Logs in again after BROKER_AUTH. Returns true when the new login worked. */
static bool run_reauthenticate(run *r)
{
    call login = {.kind = CALL_AUTHENTICATE};
    r->retries.reauthentications++;
    broker_status status = run_call_transient(r, &login);
    if (status == BROKER_OK) {
        log_write(LOG_DEBUG, "engine", "session expired; logged in again");
        return true;
    }
    return false;
}

/*
 * Calls `c` with the policy every step shares: TRANSIENT retried with
 * backoff, AUTH answered by one new login and a retry. An AUTH that the
 * login does not cure marks the run as unable to place (r->auth_failed).
 */
static broker_status run_call(run *r, call *c)
{
    bool logged_in_again = false;
    for (;;) {
        broker_status status = run_call_transient(r, c);
        if (status != BROKER_AUTH || c->kind == CALL_AUTHENTICATE)
            return status;
        if (!logged_in_again && run_reauthenticate(r)) {
            logged_in_again = true;
            continue;
        }
        run_mark_auth_failed(r);
        return BROKER_AUTH;
    }
}

/* ---- legs -------------------------------------------------------------- */

static void leg_reason(exec_leg *leg, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void leg_reason(exec_leg *leg, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(leg->reason, sizeof leg->reason, format, args);
    va_end(args);
}

static void leg_failed(exec_leg *leg, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void leg_failed(exec_leg *leg, const char *format, ...)
{
    leg->status = LEG_FAILED;
    va_list args;
    va_start(args, format);
    vsnprintf(leg->reason, sizeof leg->reason, format, args);
    va_end(args);
}

static bool order_is_terminal(const broker_order *order)
{
    return order->state != BROKER_ORDER_OPEN;
}

/* The journal state of a leg that is done: NOT_SENT for a leg never
 * placed, UNKNOWN for one whose order may exist (see journal_settle), else
 * its status. */
static const char *order_message(const broker_order *order, const char *fallback)
{
    return order->message[0] != '\0' ? order->message : fallback;
}

/* Copies a terminal broker state into the leg. */
static void leg_finish(exec_leg *leg, const broker_order *order)
{
    leg->filled_quantity = order->filled_quantity;
    leg->average_price = order->average_price;
    switch (order->state) {
    case BROKER_ORDER_FILLED:
        leg->status = LEG_FILLED;
        if (leg->filled_quantity == 0)
            leg->filled_quantity = leg->quantity;
        leg->reason[0] = '\0';
        return;
    case BROKER_ORDER_PARTIALLY_FILLED:
        leg->status = LEG_PARTIALLY_FILLED;
        leg_reason(leg, "filled %lld of %lld; remainder cancelled/expired: %s",
                   (long long)leg->filled_quantity, (long long)leg->quantity,
                   order_message(order, "no reason given"));
        return;
    case BROKER_ORDER_REJECTED:
        leg->status = LEG_REJECTED;
        leg_reason(leg, "%s", order_message(order, "rejected by the broker"));
        return;
    case BROKER_ORDER_CANCELLED:
        leg->status = LEG_CANCELLED;
        leg_reason(leg, "cancelled: %s", order_message(order, "no reason given"));
        return;
    case BROKER_ORDER_OPEN:
        break;
    }
    leg_failed(leg, "order %s still open", leg->order_id);
}

/* The order is still open after order_timeout_ms: cancel it if the plugin
 * can, and report the leg as it honestly stands. */
static void run_give_up(run *r, exec_leg *leg, broker_order *order, int64_t waited_ms)
{
    leg->filled_quantity = order->filled_quantity;
    leg->average_price = order->average_price;
    if (r->plugin->cancel_order != NULL && !r->auth_failed) {
        broker_order cancelled = *order;
        call cancel = {.kind = CALL_CANCEL, .id = leg->order_id, .order = &cancelled};
        broker_status status = run_call(r, &cancel);
        if (status != BROKER_OK || !order_is_terminal(&cancelled)) {
            call get = {.kind = CALL_GET, .id = leg->order_id, .order = &cancelled};
            status = run_call(r, &get);
        }
        if (status == BROKER_OK && order_is_terminal(&cancelled)) {
            leg_finish(leg, &cancelled);
            if (leg->status == LEG_CANCELLED)
                leg_reason(leg, "cancelled after %lld ms still open: %s", (long long)waited_ms,
                           order_message(&cancelled, "cancelled on request"));
            return;
        }
        if (status == BROKER_OK) {
            leg->filled_quantity = cancelled.filled_quantity;
            leg->average_price = cancelled.average_price;
        }
    }
    leg_failed(leg, "order %s still open at the broker after %lld ms", leg->order_id,
               (long long)waited_ms);
}

/* Copies the NUL-terminated `text` into `out` (`size` bytes), truncating;
 * what snprintf("%s") does, without the format machinery (this runs per leg). */
static void engine_copy_text(char *out, size_t size, const char *text)
{
    size_t length = strnlen(text, size - 1);
    memcpy(out, text, length);
    out[length] = '\0';
}

/* Follows an accepted order with get_order until it is terminal or the
 * order timeout passes. The first read is immediate; then the interval
 * starts at poll_interval_ms and doubles up to one second. */
static void run_follow(run *r, exec_leg *leg, broker_order *order)
{
    engine_copy_text(leg->order_id, sizeof leg->order_id, order->order_id);
    int64_t started = retry_monotonic_ms();
    unsigned interval = r->settings->poll_interval_ms;
    for (bool first = true; !order_is_terminal(order); first = false) {
        if (!first) {
            int64_t waited = retry_monotonic_ms() - started;
            int64_t left = (int64_t)r->settings->order_timeout_ms - waited;
            if (left <= 0) {
                run_give_up(r, leg, order, waited);
                return;
            }
            retry_sleep_ms(interval < left ? interval : (unsigned)left);
            interval = interval == 0 ? 1 : interval * 2;
            interval = interval > ENGINE_POLL_MAX_MS ? ENGINE_POLL_MAX_MS : interval;
        }
        broker_order latest = *order;
        call get = {.kind = CALL_GET, .id = leg->order_id, .order = &latest};
        broker_status status = run_call(r, &get);
        if (status == BROKER_OK) {
            *order = latest;
        } else if (r->auth_failed) {
            leg->filled_quantity = order->filled_quantity;
            leg_failed(leg,
                       "order %s accepted but not followed to a final state: broker "
                       "authentication failed: %s",
                       leg->order_id, r->auth_message);
            return;
        }
    }
    leg_finish(leg, order);
}

/* The broker holds the order: journal it as ACCEPTED, then follow it. */
static void run_accepted(run *r, exec_leg *leg, broker_order *order, const char *detail)
{
    engine_copy_text(leg->order_id, sizeof leg->order_id, order->order_id);
    run_journal(r, leg, LEG_STATE_ACCEPTED, detail);
    run_follow(r, leg, order);
}

typedef enum lookup_outcome { LOOKUP_ADOPTED, LOOKUP_ABSENT, LOOKUP_FAILED } lookup_outcome;

/* After UNKNOWN: asks the broker for the order by client order id. */
/* True when what the broker found by client order id can be this leg: the
 * fields the plugin filled in agree with the leg. A mismatch means the id was
 * reused (e.g. a broker with very short tags), and adopting it would report a
 * trade that never happened. */
static bool order_matches_leg(const broker_order *order, const exec_leg *leg)
{
    if (order->client_order_id[0] != '\0' &&
        strcmp(order->client_order_id, leg->client_order_id) != 0)
        return false;
    if (order->symbol[0] != '\0' && strcmp(order->symbol, leg->symbol) != 0)
        return false;
    if (order->side != 0 && order->side != leg->side)
        return false;
    return order->quantity <= 0 || order->quantity == leg->quantity;
}

static lookup_outcome run_lookup(run *r, exec_leg *leg, broker_order *order)
{
    call find = {.kind = CALL_FIND, .id = leg->client_order_id, .order = order};
    r->retries.unknown_lookups++;
    broker_status status = run_call(r, &find);
    if (status == BROKER_OK && !order_matches_leg(order, leg)) {
        leg_failed(leg,
                   "outcome unknown: the broker's order %s for client order id %s is %s %s %lld, "
                   "not this leg; not adopted",
                   order->order_id, leg->client_order_id, side_name(order->side), order->symbol,
                   (long long)order->quantity);
        return LOOKUP_FAILED;
    }
    if (status == BROKER_OK)
        return LOOKUP_ADOPTED;
    if (status == BROKER_NOT_FOUND)
        return LOOKUP_ABSENT;
    if (r->auth_failed)
        leg_failed(leg,
                   "outcome unknown: the order may exist at the broker (client order id %s); "
                   "lookup stopped: broker authentication failed: %s",
                   leg->client_order_id, r->auth_message);
    else
        leg_failed(leg,
                   "outcome unknown: the order may exist at the broker (client order id %s); "
                   "%u lookups failed: %s",
                   leg->client_order_id, find.tries, r->message);
    leg->outcome_unknown = true; /* settled by the account's next execution */
    return LOOKUP_FAILED;
}

/* Places one leg and follows it to its final state. */
static void run_place_leg(run *r, exec_leg *leg)
{
    if (r->auth_failed) {
        leg_failed(leg, "not placed: broker authentication failed: %s", r->auth_message);
        return;
    }
    if (r->journal_broken) {
        leg_failed(leg, "not placed: journal unavailable: %s", r->journal_message);
        return;
    }
    broker_order_request request = {.side = leg->side, .quantity = leg->quantity};
    memcpy(request.symbol, leg->symbol, sizeof request.symbol);
    memcpy(request.client_order_id, leg->client_order_id, sizeof request.client_order_id);
    for (unsigned resends = 0;; resends++) {
        broker_order order;
        memset(&order, 0, sizeof order);
        call place = {.kind = CALL_PLACE,
                      .request = &request,
                      .order = &order,
                      .place_count = &leg->attempts,
                      .leg = leg};
        broker_status status = run_call(r, &place);
        switch (status) {
        case BROKER_OK:
            run_accepted(r, leg, &order, NULL);
            return;
        case BROKER_REJECTED:
            leg->status = LEG_REJECTED;
            leg_reason(leg, "%s", r->message);
            return;
        case BROKER_UNKNOWN: {
            run_journal(r, leg, LEG_STATE_UNKNOWN, r->message);
            lookup_outcome found = run_lookup(r, leg, &order);
            if (found == LOOKUP_ADOPTED) {
                run_accepted(r, leg, &order, "found by client order id after an unknown outcome");
                return;
            }
            if (found == LOOKUP_FAILED)
                return;
            if (resends < r->settings->max_retries)
                continue; /* the broker proved it absent: resending is safe */
            leg_failed(leg,
                       "not placed: outcome unknown on %u attempts, each time proven absent: %s",
                       leg->attempts, r->message);
            return;
        }
        case BROKER_TRANSIENT:
            leg_failed(leg, "not placed after %u attempts: %s", place.tries, r->message);
            return;
        case BROKER_AUTH:
            leg_failed(leg, "not placed: broker authentication failed: %s", r->auth_message);
            return;
        default:
            if (r->journal_broken)
                leg_failed(leg, "not placed: journal unavailable: %s", r->journal_message);
            else
                leg_failed(leg, "not placed: %s: %s", broker_status_name(status), r->message);
            return;
        }
    }
}

/* ---- the steps of one execution ---------------------------------------- */

static ptx_status engine_unknown_broker(engine *eng, const char *name, ptx_error *error)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < registry_count(eng->reg) && used < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                         registry_broker_name(registry_at(eng->reg, i)));
        used += n > 0 ? (size_t)n : 0;
    }
    return ptx_fail(error, PTX_NOT_FOUND, "broker", "unknown broker '%s' (configured: %s)", name,
                    used ? names : "none");
}

/* Step 1: finds the broker and prepares the run. */
static ptx_status run_init(run *r, engine *eng, const char *broker_name, ptx_error *error)
{
    memset(r, 0, sizeof *r);
    r->eng = eng;
    r->broker = registry_find(eng->reg, broker_name);
    if (r->broker == NULL)
        return engine_unknown_broker(eng, broker_name, error);
    r->plugin = registry_broker_plugin(r->broker);
    r->instance = registry_broker_instance(r->broker);
    r->settings = registry_broker_settings(r->broker);
    retry_rng_seed(&r->rng);
    return PTX_OK;
}

/* Opens the session; writes the account id (not a secret) to `account_id`. */
static ptx_status run_open(run *r, const exec_request *request, broker_text *account_id,
                           ptx_error *error)
{
    broker_credentials credentials = {request->credential_count, request->credentials};
    broker_text detail = {""};
    memset(account_id, 0, sizeof *account_id);
    registry_broker_enter(r->broker);
    broker_status status =
        r->plugin->open_session(r->instance, &credentials, &r->session, account_id, &detail);
    if (status != BROKER_OK && detail.text[0] == '\0')
        snprintf(detail.text, sizeof detail.text, "%s", r->plugin->errmsg(r->instance, NULL));
    registry_broker_leave(r->broker);
    if (status == BROKER_OK)
        return PTX_OK;
    r->session = NULL;
    const char *text = detail.text[0] ? detail.text : broker_strerror(status);
    if (status == BROKER_INVALID)
        return ptx_fail(error, PTX_INVALID, "credentials", "%s", text);
    if (status == BROKER_AUTH)
        return ptx_fail(error, PTX_AUTH, "credentials", "%s", text);
    return ptx_fail(error, PTX_UNAVAILABLE, NULL, "broker '%s': %s", request->broker, text);
}

static void run_close(run *r)
{
    if (r->session == NULL)
        return;
    registry_broker_enter(r->broker);
    r->plugin->close_session(r->instance, r->session);
    registry_broker_leave(r->broker);
    r->session = NULL;
}

/* Maps a failed pre-trade step to the caller's error. */
static ptx_status run_refused(run *r, const char *broker_name, const char *what,
                              broker_status status, unsigned tries, ptx_error *error)
{
    if (status == BROKER_AUTH)
        return ptx_fail(error, PTX_AUTH, "credentials", "broker '%s' authentication failed: %s",
                        broker_name, r->message);
    return ptx_fail(error, PTX_UNAVAILABLE, NULL,
                    "broker '%s' unavailable: %s failed after %u "
                    "attempts: %s",
                    broker_name, what, tries, r->message);
}

/* Steps 3–4: logs in and reads the holdings into *out. */
static ptx_status run_login_and_read(run *r, const char *broker_name, size_t expected,
                                     holdings **out, ptx_error *error)
{
    call login = {.kind = CALL_AUTHENTICATE};
    r->retries.reauthentications++;
    broker_status status = run_call_transient(r, &login);
    if (status != BROKER_OK)
        return run_refused(r, broker_name, "authenticate", status, login.tries, error);
    call read = {.kind = CALL_HOLDINGS, .expected = expected};
    status = run_call(r, &read);
    if (status != BROKER_OK) {
        holdings_free(read.map);
        return run_refused(r, broker_name, "get_holdings", status, read.tries, error);
    }
    *out = read.map;
    return PTX_OK;
}

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

/* Step 5–6 output: the result's legs and positions from the plan. */
static ptx_status result_from_plan(exec_result *result, const exec_request *request,
                                   const holdings *current, const plan *p, ptx_error *error)
{
    result->legs = calloc(p->count > 0 ? p->count : 1, sizeof *result->legs);
    result->positions =
        calloc(request->target_count > 0 ? request->target_count : 1, sizeof *result->positions);
    if (result->legs == NULL || result->positions == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    result->leg_count = p->count;
    result->position_count = request->target_count;
    for (size_t i = 0; i < p->count; i++) {
        const plan_leg *planned = &p->legs[i];
        exec_leg *leg = &result->legs[i];
        memcpy(leg->symbol, request->targets[planned->target_index].symbol, sizeof leg->symbol);
        leg->side = planned->side;
        leg->quantity = planned->quantity;
        leg->sequence = planned->sequence;
        leg->target_index = planned->target_index;
        leg->status = LEG_PLANNED;
    }
    for (size_t i = 0; i < request->target_count; i++) {
        exec_position *position = &result->positions[i];
        memcpy(position->symbol, request->targets[i].symbol, sizeof position->symbol);
        position->before = holdings_get(current, position->symbol);
        position->target = request->targets[i].target_quantity;
        position->after = position->before;
        position->residual = position->target - position->after;
    }
    return PTX_OK;
}

static int64_t leg_signed_fill(const exec_leg *leg)
{
    return leg->side == BROKER_SIDE_BUY ? leg->filled_quantity : -leg->filled_quantity;
}

/* Step 8: reads the holdings again; without them, infers `after` from the
 * fills the broker reported. */
static void run_reconcile(run *r, exec_result *result)
{
    call read = {.kind = CALL_HOLDINGS, .expected = result->position_count + 16};
    broker_status status = run_call(r, &read);
    result->reconciled = status == BROKER_OK;
    if (result->reconciled) {
        for (size_t i = 0; i < result->position_count; i++)
            result->positions[i].after = holdings_get(read.map, result->positions[i].symbol);
    } else {
        log_write(LOG_WARN, "engine",
                  "execution %s: holdings could not be read again (%s); positions after are "
                  "inferred from reported fills",
                  result->execution_id, r->message);
        for (size_t i = 0; i < result->leg_count; i++)
            result->positions[result->legs[i].target_index].after +=
                leg_signed_fill(&result->legs[i]);
    }
    for (size_t i = 0; i < result->position_count; i++)
        result->positions[i].residual = result->positions[i].target - result->positions[i].after;
    holdings_free(read.map);
}

/* Gives every leg its client order id, before the intent is journaled. */
static void run_name_legs(run *r, exec_result *result)
{
    const broker_capabilities *caps = &r->plugin->capabilities;
    for (size_t i = 0; i < result->leg_count; i++)
        ids_client_order_id(result->execution_id, i, caps->tag_min_length, caps->tag_max_length,
                            result->legs[i].client_order_id,
                            sizeof result->legs[i].client_order_id);
}

/* Step 7: places the legs in execution order. */
static void run_place_all(run *r, exec_result *result, const plan *p,
                          const engine_call_options *options)
{
    for (size_t k = 0; k < p->count; k++) {
        exec_leg *leg = &result->legs[p->order[k]];
        run_place_leg(r, leg);
        if (leg->status != LEG_FILLED && leg->reason[0] == '\0')
            leg_reason(leg, "%s", "no reason given by the broker");
        run_journal(r, leg, leg_state_of_leg(leg), leg->reason);
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "engine", "execution %s leg %zu %s %s %lld: %s",
                      result->execution_id, leg->sequence, side_name(leg->side), leg->symbol,
                      (long long)leg->quantity, leg_status_name(leg->status));
        if (options->progress != NULL)
            options->progress(options->progress_context, result, leg);
    }
}

/* Remembers an execution whose end could not be journaled (see
 * `unrecorded`); without memory, it stays unrecorded until a restart
 * recovers it. */
static void engine_keep_unrecorded(engine *eng, const exec_result *result, exec_status status)
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
    pthread_mutex_lock(&eng->unrecorded_lock);
    u->next = eng->unrecorded;
    eng->unrecorded = u;
    atomic_fetch_add(&eng->unrecorded_count, 1);
    pthread_mutex_unlock(&eng->unrecorded_lock);
}

/* Records the end of `u` again, with every leg's final state. */
static bool engine_record_again(engine *eng, unrecorded *u)
{
    journal_run *jr = NULL;
    ptx_error error;
    if (journal_resume(eng->journal, &u->result, NULL, &jr, &error) != PTX_OK)
        return false;
    bool recorded = true;
    for (size_t i = 0; i < u->result.leg_count && recorded; i++) {
        const exec_leg *leg = &u->result.legs[i];
        recorded = journal_leg(jr, i, leg_state_of_leg(leg), leg,
                               "recorded again after a journal failure", &error) == PTX_OK;
    }
    recorded = recorded && journal_finish(jr, u->status, u->result.response, &error) == PTX_OK;
    journal_run_end(jr);
    if (recorded)
        log_write(LOG_WARN, "engine",
                  "execution %s broker=%s account=%s: its outcome (%s) is now recorded in the "
                  "journal",
                  u->result.execution_id, u->result.broker, u->result.account_hash,
                  exec_status_name(u->status));
    return recorded;
}

/* Retries recording the executions whose end could not be journaled, at
 * most once per ENGINE_UNRECORDED_RETRY_MS, without holding the list while
 * it writes. */
static void engine_retry_unrecorded(engine *eng)
{
    if (eng->journal == NULL || atomic_load(&eng->unrecorded_count) == 0)
        return;
    int64_t now = retry_monotonic_us();
    int64_t due = atomic_load(&eng->unrecorded_retry_us);
    if (now < due || !atomic_compare_exchange_strong(&eng->unrecorded_retry_us, &due,
                                                     now + ENGINE_UNRECORDED_RETRY_MS * 1000))
        return;
    pthread_mutex_lock(&eng->unrecorded_lock);
    unrecorded *list = eng->unrecorded;
    eng->unrecorded = NULL;
    pthread_mutex_unlock(&eng->unrecorded_lock);
    unrecorded *kept = NULL, *last = NULL;
    while (list != NULL) {
        unrecorded *u = list;
        list = u->next;
        if (engine_record_again(eng, u)) {
            atomic_fetch_sub(&eng->unrecorded_count, 1);
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
    pthread_mutex_lock(&eng->unrecorded_lock);
    last->next = eng->unrecorded;
    eng->unrecorded = kept;
    pthread_mutex_unlock(&eng->unrecorded_lock);
}

/* Renders the finished execution into result->response and stores it as the
 * journal's record of the outcome. A failure is logged loudly: the orders are
 * at the broker whatever the journal says. */
static void run_journal_finish(run *r, exec_result *result, exec_status status)
{
    free(result->response);
    result->response = render_result(result, NULL);
    ptx_error error;
    if (r->journal_broken) {
        /* A leg state was not stored: write every leg's state again. */
        log_write(LOG_WARN, "engine", "execution %s: recording every leg's state again: %s",
                  result->execution_id, r->journal_message);
        for (size_t i = 0; i < result->leg_count; i++)
            run_journal(r, &result->legs[i], leg_state_of_leg(&result->legs[i]),
                        "recorded again after a journal failure");
    }
    if (result->response == NULL)
        ptx_fail(&error, PTX_NOMEM, NULL, "out of memory rendering the response");
    else if (journal_finish(r->journal_run, status, result->response, &error) == PTX_OK)
        return;
    log_write(LOG_ERROR, "engine",
              "execution %s finished %s but its outcome is NOT RECORDED in the journal: %s; "
              "recording it is retried before the next execution",
              result->execution_id, exec_status_name(status), error.message);
    engine_keep_unrecorded(r->eng, result, status);
}

/* Journals the intent of every leg before anything is placed. */
static ptx_status run_journal_begin(run *r, const exec_request *request, const char *request_hash,
                                    exec_result *result, ptx_error *error)
{
    r->result = result;
    ptx_status status = journal_begin(r->journal, result, request->idempotency_key, request_hash,
                                      r->owner, &r->journal_run, error);
    if (status == PTX_JOURNAL)
        log_write(LOG_ERROR, "engine",
                  "execution %s refused before placing anything: journal unavailable: %s",
                  result->execution_id, error->message);
    return status;
}

/* An execution that placed nothing: its whole row in one write, waited for
 * only when it has an idempotency key (see journal_record_noop). */
static ptx_status run_journal_noop(run *r, const exec_request *request, const char *request_hash,
                                   exec_result *result, ptx_error *error)
{
    free(result->response);
    result->response = render_result(result, NULL);
    if (result->response == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory rendering the response");
    return journal_record_noop(r->journal, result, request->idempotency_key, request_hash, r->owner,
                               result->response, error);
}

/* Steps 4–8 once the account is ours and the session is open. */
static ptx_status run_execute(run *r, const exec_request *request, const char *request_hash,
                              const engine_call_options *options, exec_result *result,
                              ptx_error *error)
{
    holdings *current = NULL;
    plan p = {0};
    ptx_status status =
        run_login_and_read(r, request->broker, request->target_count + 16, &current, error);
    if (status != PTX_OK)
        goto cleanup;
    status = plan_build(current, request->targets, request->target_count, &p, error);
    if (status != PTX_OK)
        goto cleanup;
    status = result_from_plan(result, request, current, &p, error);
    if (status != PTX_OK)
        goto cleanup;
    holdings_free(current);
    current = NULL;
    if (request->dry_run) {
        result->status = p.count > 0 ? EXEC_PLANNED : EXEC_NOOP;
        result->summary.orders = p.count;
        goto cleanup;
    }
    run_name_legs(r, result);
    bool noop = result->leg_count == 0;
    if (r->journal != NULL && !noop &&
        (status = run_journal_begin(r, request, request_hash, result, error)) != PTX_OK)
        goto cleanup;
    run_place_all(r, result, &p, options);
    run_reconcile(r, result);
    exec_result_summarize(result);
    result->retries = r->retries;
    if (r->journal != NULL && noop)
        status = run_journal_noop(r, request, request_hash, result, error);
    else if (r->journal != NULL)
        run_journal_finish(r, result, result->status);
cleanup:
    journal_run_end(r->journal_run);
    r->journal_run = NULL;
    holdings_free(current);
    plan_free(&p);
    return status;
}

/* ---- recovery ------------------------------------------------------------ */

/* The leg status a journal state stands for; *final when it is terminal. */
static leg_status status_of_journal_state(leg_state state, bool *final)
{
    *final = leg_state_is_final(state);
    return leg_status_of_state(state);
}

/* Settles one leg of an interrupted execution. Nothing is ever sent: a leg
 * that may be at the broker is looked up by its client order id. */
static void run_recover_leg(run *r, exec_leg *leg, leg_state state)
{
    bool final = false;
    leg_status status = status_of_journal_state(state, &final);
    if (final) {
        leg->status = status;
        return;
    }
    /* A leg left SENDING may or may not have reached the broker (and one
     * from a journal of an older ptexec may say PENDING_SEND though it was
     * sent): only the broker can tell. */
    broker_order order;
    memset(&order, 0, sizeof order);
    if (state == LEG_STATE_ACCEPTED && leg->order_id[0] != '\0') {
        snprintf(order.order_id, sizeof order.order_id, "%s", leg->order_id);
        order.state = BROKER_ORDER_OPEN;
        run_follow(r, leg, &order);
    } else {
        lookup_outcome found = run_lookup(r, leg, &order);
        if (found == LOOKUP_ABSENT) {
            if (state == LEG_STATE_PENDING_SEND)
                leg_failed(leg, "%s", ENGINE_NOT_SENT_REASON);
            else
                leg_failed(leg,
                           "not sent: ptexec stopped while placing this leg and the broker has "
                           "no order with client order id %s",
                           leg->client_order_id);
            run_journal(r, leg, LEG_STATE_NOT_SENT, "recovery: the broker has no such order");
            return;
        }
        if (found == LOOKUP_ADOPTED)
            run_accepted(r, leg, &order, "recovery: found by client order id");
    }
    if (leg->status != LEG_FILLED && leg->reason[0] == '\0')
        leg_reason(leg, "%s", "no reason given by the broker");
    run_journal(r, leg, leg_state_of_leg(leg), "recovery");
}

/* Legs of `result` in execution order (by sequence), into `order`. */
static void legs_by_sequence(const exec_result *result, size_t *order)
{
    bool valid = true;
    for (size_t i = 0; i < result->leg_count; i++)
        order[i] = SIZE_MAX;
    for (size_t i = 0; i < result->leg_count && valid; i++) {
        size_t sequence = result->legs[i].sequence;
        valid = sequence >= 1 && sequence <= result->leg_count && order[sequence - 1] == SIZE_MAX;
        if (valid)
            order[sequence - 1] = i;
    }
    for (size_t i = 0; !valid && i < result->leg_count; i++)
        order[i] = i;
}

static void engine_log_recovered(const exec_result *result)
{
    const exec_summary *s = &result->summary;
    log_write(LOG_INFO, "engine",
              "execution %s broker=%s account=%s RECOVERED after an interrupted run: orders=%zu "
              "filled=%zu partially_filled=%zu rejected=%zu cancelled=%zu failed=%zu",
              result->execution_id, result->broker, result->account_hash, s->orders, s->filled,
              s->partially_filled, s->rejected, s->cancelled, s->failed);
}

/* Finishes one execution a previous process left RUNNING. */
static ptx_status run_recover_one(run *r, engine *eng, const char *id, ptx_error *error)
{
    exec_result recovered;
    leg_state *states = NULL;
    ptx_status status = journal_load(eng->journal, id, &recovered, &states, error);
    if (status != PTX_OK)
        return status;
    size_t *order = calloc(recovered.leg_count ? recovered.leg_count : 1, sizeof *order);
    if (order == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory recovering %s", id);
        goto cleanup;
    }
    journal_run *saved_run = r->journal_run;
    status = journal_resume(eng->journal, &recovered, states, &r->journal_run, error);
    if (status != PTX_OK) {
        r->journal_run = saved_run;
        goto cleanup;
    }
    exec_result *saved = r->result;
    r->result = &recovered;
    legs_by_sequence(&recovered, order);
    for (size_t k = 0; k < recovered.leg_count; k++)
        run_recover_leg(r, &recovered.legs[order[k]], states[order[k]]);
    run_reconcile(r, &recovered);
    exec_result_summarize(&recovered);
    recovered.status = EXEC_RECOVERED;
    recovered.finished_ms = retry_wall_ms();
    run_journal_finish(r, &recovered, EXEC_RECOVERED);
    journal_run_end(r->journal_run);
    r->journal_run = saved_run;
    r->result = saved;
    engine_log_recovered(&recovered);
    if (eng->notifier != NULL)
        notify_execution(eng->notifier, &recovered);
cleanup:
    free(order);
    free(states);
    exec_result_free(&recovered);
    return status;
}

/* Asks the broker, by client order id, what became of a leg whose outcome
 * was unknown when its execution finished, and journals the answer. Nothing
 * is ever sent. An order still open, or a lookup that fails again, leaves
 * the leg UNKNOWN for the account's next execution. */
static void run_settle_leg(run *r, const char *execution_id, exec_leg *leg)
{
    broker_order order;
    memset(&order, 0, sizeof order);
    call find = {.kind = CALL_FIND, .id = leg->client_order_id, .order = &order};
    broker_status status = run_call(r, &find);
    leg_state state = LEG_STATE_UNKNOWN;
    char detail[BROKER_MESSAGE_MAX + 96];
    if (status == BROKER_NOT_FOUND) {
        state = LEG_STATE_NOT_SENT;
        snprintf(detail, sizeof detail,
                 "settled after the execution finished: the broker has no order with this "
                 "client order id");
    } else if (status == BROKER_OK && order_matches_leg(&order, leg)) {
        engine_copy_text(leg->order_id, sizeof leg->order_id, order.order_id);
        if (order_is_terminal(&order)) {
            leg_finish(leg, &order);
            state = leg_state_of_leg(leg);
            snprintf(detail, sizeof detail,
                     "settled after the execution finished: order %s is %s (%lld filled)",
                     leg->order_id, leg_state_name(state), (long long)leg->filled_quantity);
        } else {
            snprintf(detail, sizeof detail,
                     "order %s is still open at the broker; looked at again at the account's "
                     "next execution",
                     leg->order_id);
        }
    } else {
        log_write(LOG_WARN, "engine",
                  "execution %s leg %zu (client order id %s): outcome still unknown: %s",
                  execution_id, leg->sequence, leg->client_order_id,
                  status == BROKER_OK ? "the broker's order does not match the leg" : r->message);
        return;
    }
    log_write(LOG_WARN, "engine",
              "execution %s leg %zu %s %s %lld (client order id %s): reported FAILED with an "
              "unknown outcome; the broker now says %s: %s",
              execution_id, leg->sequence, side_name(leg->side), leg->symbol,
              (long long)leg->quantity, leg->client_order_id, leg_state_name(state), detail);
    run_journal(r, leg, state, detail);
}

/* Settles the unknown legs of one finished execution; adds how many are
 * still unknown to *remaining. Its stored response is left as it is. */
static ptx_status run_settle_one(run *r, engine *eng, const char *id, size_t *remaining,
                                 ptx_error *error)
{
    exec_result settled;
    leg_state *states = NULL;
    ptx_status status = journal_load(eng->journal, id, &settled, &states, error);
    if (status != PTX_OK)
        return status;
    journal_run *saved_run = r->journal_run;
    exec_result *saved = r->result;
    status = journal_resume(eng->journal, &settled, states, &r->journal_run, error);
    if (status == PTX_OK) {
        r->result = &settled;
        for (size_t i = 0; i < settled.leg_count; i++)
            if (states[i] == LEG_STATE_UNKNOWN)
                run_settle_leg(r, id, &settled.legs[i]);
        size_t left = 0;
        ptx_error written;
        if (journal_settle(r->journal_run, &left, &written) != PTX_OK) {
            log_write(LOG_ERROR, "engine", "execution %s: settling its legs NOT RECORDED: %s", id,
                      written.message);
            left = 1;
        }
        *remaining += left;
        journal_run_end(r->journal_run);
    }
    r->journal_run = saved_run;
    r->result = saved;
    free(states);
    exec_result_free(&settled);
    return status;
}

/* Logs in before recovery or settling talks to the broker. */
static ptx_status run_recover_login(run *r, const exec_result *result, ptx_error *error)
{
    call login = {.kind = CALL_AUTHENTICATE};
    broker_status logged_in = run_call_transient(r, &login);
    if (logged_in == BROKER_OK)
        return PTX_OK;
    return run_refused(r, result->broker, "authenticate", logged_in, login.tries, error);
}

/*
 * Recovers every execution of the run's account that a previous process left
 * RUNNING. Logs in first when there is any. Called with the account held.
 */
static ptx_status run_recover_account(run *r, engine *eng, const exec_result *result,
                                      ptx_error *error)
{
    char **ids = NULL, **unsettled = NULL;
    size_t count = 0, unsettled_count = 0;
    ptx_status status = journal_orphans(eng->journal, result->broker, result->account_hash,
                                        eng->owner, &ids, &count, error);
    bool logged_in = false;
    journal *saved = r->journal;
    r->journal = eng->journal;
    for (size_t i = 0; i < count && status == PTX_OK; i++) {
        if (!logged_in && (status = run_recover_login(r, result, error)) != PTX_OK)
            break;
        logged_in = true;
        log_write(LOG_INFO, "engine", "execution %s: recovering the interrupted run", ids[i]);
        status = run_recover_one(r, eng, ids[i], error);
    }
    /* after recovery, which may itself leave a leg UNKNOWN */
    if (status == PTX_OK)
        status = journal_unsettled(eng->journal, result->broker, result->account_hash, &unsettled,
                                   &unsettled_count, error);
    size_t remaining = 0;
    for (size_t i = 0; i < unsettled_count && status == PTX_OK; i++) {
        if (!logged_in && (status = run_recover_login(r, result, error)) != PTX_OK)
            break;
        logged_in = true;
        status = run_settle_one(r, eng, unsettled[i], &remaining, error);
    }
    r->journal = saved;
    r->journal_broken = false;
    journal_ids_free(ids, count);
    journal_ids_free(unsettled, unsettled_count);
    return status;
}

/* ---- idempotency ---------------------------------------------------------- */

/* Writes the hash that identifies a request for its idempotency key: broker,
 * account, dry_run and the normalised targets; never the credentials. */
static void engine_request_hash(const exec_request *request, const char *account_hash,
                                char out[IDS_SHA256_HEX_MAX])
{
    size_t capacity = 128 + request->target_count * (BROKER_SYMBOL_MAX + 24);
    char *text = malloc(capacity);
    if (text == NULL) {
        snprintf(out, IDS_SHA256_HEX_MAX, "%s", "unhashable");
        return;
    }
    size_t used = (size_t)snprintf(text, capacity, "ptexec-request-v1\n%s\n%s\n%d\n",
                                   request->broker, account_hash, request->dry_run ? 1 : 0);
    /* SYMBOL=QUANTITY\n per target, formatted by hand: snprintf per target
     * cost more than the hash. Each line fits BROKER_SYMBOL_MAX + 24. */
    for (size_t i = 0; i < request->target_count && used < capacity; i++) {
        const exec_target *target = &request->targets[i];
        size_t length = strnlen(target->symbol, BROKER_SYMBOL_MAX - 1);
        memcpy(text + used, target->symbol, length);
        used += length;
        text[used++] = '=';
        char digits[24];
        size_t count = 0;
        unsigned long long quantity = (unsigned long long)target->target_quantity;
        if (target->target_quantity < 0) { /* refused earlier; hashed the same way anyway */
            text[used++] = '-';
            quantity = 0 - quantity;
        }
        do {
            digits[count++] = (char)('0' + quantity % 10);
            quantity /= 10;
        } while (quantity != 0);
        while (count > 0)
            text[used++] = digits[--count];
        text[used++] = '\n';
    }
    ids_sha256_hex(text, used < capacity ? used : capacity, out);
    free(text);
}

/* Fills *result with the stored outcome of `row` (finished). */
static ptx_status engine_replay(engine *eng, const journal_execution *row, exec_result *result,
                                ptx_error *error)
{
    leg_state *states = NULL;
    exec_result stored;
    ptx_status status = journal_load(eng->journal, row->id, &stored, &states, error);
    if (status != PTX_OK)
        return status;
    for (size_t i = 0; i < stored.leg_count; i++) {
        bool final = false;
        stored.legs[i].status = status_of_journal_state(states[i], &final);
    }
    free(states);
    exec_result_summarize(&stored);
    if (!exec_status_parse(row->status, &stored.status))
        stored.status = EXEC_FAILED;
    stored.finished_ms = row->finished_ms;
    stored.response = strdup(row->response);
    stored.replayed = true;
    stored.reconciled = true;
    if (stored.response == NULL) {
        exec_result_free(&stored);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    }
    exec_result_free(result);
    *result = stored;
    log_write(LOG_INFO, "engine",
              "execution %s broker=%s account=%s: idempotency key reused with the same request; "
              "stored response returned, nothing placed",
              result->execution_id, result->broker, result->account_hash);
    return PTX_OK;
}

typedef enum key_state { KEY_UNUSED, KEY_REPLAYED, KEY_RUNNING } key_state;

/*
 * Looks the request's idempotency key up. PTX_OK with *state: KEY_UNUSED,
 * KEY_REPLAYED (*result holds the stored outcome) or KEY_RUNNING (its
 * execution has not finished). PTX_CONFLICT when the key belongs to another
 * request; PTX_JOURNAL on a read failure.
 */
static ptx_status engine_check_key(engine *eng, const exec_request *request,
                                   const char *request_hash, exec_result *result, key_state *state,
                                   ptx_error *error)
{
    journal_execution row;
    *state = KEY_UNUSED;
    ptx_status status = journal_find_key(eng->journal, request->broker, result->account_hash,
                                         request->idempotency_key, &row, error);
    if (status == PTX_NOT_FOUND) {
        ptx_error_clear(error);
        return PTX_OK;
    }
    if (status != PTX_OK)
        return status;
    if (strcmp(row.request_hash, request_hash) != 0) {
        status = ptx_fail(error, PTX_CONFLICT, "idempotency_key",
                          "idempotency key '%s' was already used for a different request on this "
                          "%s account (execution %s)",
                          request->idempotency_key, request->broker, row.id);
    } else if (row.response == NULL) {
        *state = KEY_RUNNING;
    } else {
        status = engine_replay(eng, &row, result, error);
        *state = status == PTX_OK ? KEY_REPLAYED : KEY_UNUSED;
    }
    journal_execution_clear(&row);
    return status;
}

/* The account is busy past the lock timeout: say whether it is this key. */
static ptx_status engine_busy(engine *eng, const exec_request *request, const char *request_hash,
                              exec_result *result, ptx_error *error)
{
    key_state state = KEY_UNUSED;
    if (request_hash[0] != '\0' &&
        engine_check_key(eng, request, request_hash, result, &state, error) != PTX_OK)
        return error->status;
    if (state == KEY_REPLAYED)
        return PTX_OK;
    if (state == KEY_RUNNING)
        return ptx_fail(error, PTX_IN_PROGRESS, "idempotency_key",
                        "the execution with idempotency key '%s' is still running; retry later",
                        request->idempotency_key);
    return ptx_fail(error, PTX_BUSY, NULL,
                    "account busy: another execution for this %s account is running",
                    request->broker);
}

/* ---- one execution --------------------------------------------------------- */

static void engine_log_result(const exec_result *result)
{
    const exec_summary *s = &result->summary;
    log_write(LOG_DEBUG, "engine",
              "execution %s broker=%s account=%s status=%s orders=%zu filled=%zu "
              "partially_filled=%zu rejected=%zu cancelled=%zu failed=%zu reconciled=%s",
              result->execution_id, result->broker, result->account_hash,
              exec_status_name(result->status), s->orders, s->filled, s->partially_filled,
              s->rejected, s->cancelled, s->failed, result->reconciled ? "yes" : "no");
}

static void engine_log_refused(const exec_result *result, const ptx_error *error)
{
    log_write(LOG_INFO, "engine", "execution %s broker=%s account=%s refused: %s: %s",
              result->execution_id, result->broker,
              result->account_hash[0] ? result->account_hash : "-", ptx_status_code(error->status),
              error->message);
}

/* With the account held: recovery, the key's second look, then the run. */
static ptx_status engine_run_locked(engine *eng, run *r, const exec_request *request,
                                    const char *request_hash, const engine_call_options *options,
                                    exec_result *result, ptx_error *error)
{
    ptx_status status = PTX_OK;
    if (eng->journal != NULL && !request->dry_run) /* a dry run never touches orders */
        status = run_recover_account(r, eng, result, error);
    if (status == PTX_OK && request_hash[0] != '\0') {
        key_state state = KEY_UNUSED;
        status = engine_check_key(eng, request, request_hash, result, &state, error);
        if (status == PTX_OK && state == KEY_REPLAYED)
            return PTX_OK;
        if (status == PTX_OK && state == KEY_RUNNING)
            return ptx_fail(error, PTX_IN_PROGRESS, "idempotency_key",
                            "the execution with idempotency key '%s' is still running",
                            request->idempotency_key);
    }
    if (status == PTX_OK)
        status = run_execute(r, request, request_hash, options, result, error);
    return status;
}

/* Steps 2–8 once the session is open: the key, the account lock, the run. */
static ptx_status engine_run(engine *eng, run *r, const exec_request *request,
                             const char *account_id, const engine_call_options *options,
                             exec_result *result, ptx_error *error)
{
    char request_hash[IDS_SHA256_HEX_MAX] = "";
    if (r->journal != NULL && request->idempotency_key[0] != '\0') {
        engine_request_hash(request, result->account_hash, request_hash);
        key_state state = KEY_UNUSED;
        ptx_status status = engine_check_key(eng, request, request_hash, result, &state, error);
        if (status != PTX_OK || state == KEY_REPLAYED)
            return status;
    }
    ptx_status status = locks_acquire(eng->accounts, request->broker, account_id,
                                      options->lock_timeout_ms, &r->account);
    if (status == PTX_BUSY)
        return engine_busy(eng, request, request_hash, result, error);
    if (status != PTX_OK)
        return ptx_fail(error, status, NULL, "out of memory");
    status = engine_run_locked(eng, r, request, request_hash, options, result, error);
    locks_release(eng->accounts, r->account);
    return status;
}

/* Refuses every execution while the journal's file is deleted or replaced. */
static ptx_status engine_check_journal_file(engine *eng, ptx_error *error)
{
    ptx_error file_error;
    if (journal_check_file(eng->journal, &file_error) == PTX_OK)
        return PTX_OK;
    return ptx_fail(error, PTX_JOURNAL, NULL,
                    "journal unavailable, execution refused before placing anything: %s",
                    file_error.message);
}

ptx_status engine_execute(engine *eng, const exec_request *request,
                          const engine_call_options *options, exec_result *result, ptx_error *error)
{
    static const engine_call_options no_options = {NULL, NULL, 0};
    ptx_error local_error;
    if (error == NULL)
        error = &local_error;
    ptx_error_clear(error);
    options = options ? options : &no_options;
    memset(result, 0, sizeof *result);
    ids_new_execution_id(result->execution_id);
    snprintf(result->broker, sizeof result->broker, "%s", request->broker);
    result->started_ms = retry_wall_ms();

    run r;
    broker_text account_id;
    ptx_status status = engine_check_request(request, error);
    if (status == PTX_OK && !request->dry_run)
        engine_retry_unrecorded(eng);
    if (status == PTX_OK && eng->journal_error[0] != '\0' && !request->dry_run)
        status = ptx_fail(error, PTX_JOURNAL, NULL,
                          "journal unavailable, execution refused before placing anything: %s",
                          eng->journal_error);
    if (status == PTX_OK && eng->journal != NULL && !request->dry_run)
        status = engine_check_journal_file(eng, error);
    if (status == PTX_OK)
        status = run_init(&r, eng, request->broker, error);
    if (status == PTX_OK)
        status = run_open(&r, request, &account_id, error);
    if (status != PTX_OK)
        goto refused;
    ids_account_hash(request->broker, account_id.text, result->account_hash);
    r.journal = request->dry_run ? NULL : eng->journal;
    r.owner = eng->owner;
    status = engine_run(eng, &r, request, account_id.text, options, result, error);
    run_close(&r);
    if (status != PTX_OK)
        goto refused;
    if (result->replayed)
        return PTX_OK;
    result->finished_ms = retry_wall_ms();
    engine_log_result(result);
    if (eng->notifier != NULL && !request->dry_run)
        notify_execution(eng->notifier, result);
    return PTX_OK;
refused:
    engine_log_refused(result, error);
    char execution_id[IDS_EXECUTION_ID_MAX];
    memcpy(execution_id, result->execution_id, sizeof execution_id);
    exec_result_free(result);
    memcpy(result->execution_id, execution_id, sizeof execution_id);
    return status;
}

ptx_status engine_holdings(engine *eng, const exec_request *request, holdings **out,
                           ptx_error *error)
{
    run r;
    broker_text account_id;
    *out = NULL;
    ptx_error_clear(error);
    ptx_status status = run_init(&r, eng, request->broker, error);
    if (status == PTX_OK)
        status = run_open(&r, request, &account_id, error);
    if (status == PTX_OK)
        status = run_login_and_read(&r, request->broker, 64, out, error);
    run_close(&r);
    return status;
}

engine *engine_create(registry *reg, struct notify *notifier)
{
    engine *eng = calloc(1, sizeof *eng);
    if (eng == NULL)
        return NULL;
    eng->reg = reg;
    eng->notifier = notifier;
    eng->accounts = locks_create();
    if (eng->accounts == NULL) {
        free(eng);
        return NULL;
    }
    ids_new_execution_id(eng->owner);
    pthread_mutex_init(&eng->unrecorded_lock, NULL);
    return eng;
}

void engine_set_journal(engine *eng, struct journal *records)
{
    eng->journal = records;
}

void engine_set_journal_error(engine *eng, const char *message)
{
    snprintf(eng->journal_error, sizeof eng->journal_error, "%s",
             message && *message ? message : "journal unavailable");
}

struct journal *engine_journal(engine *eng)
{
    return eng->journal;
}

size_t engine_recovery_pending(engine *eng)
{
    if (eng->journal == NULL)
        return 0;
    char **ids = NULL;
    size_t count = 0;
    ptx_error error;
    if (journal_orphans(eng->journal, NULL, NULL, eng->owner, &ids, &count, &error) != PTX_OK)
        return 0;
    for (size_t i = 0; i < count; i++) {
        journal_execution row;
        if (journal_get(eng->journal, ids[i], &row, &error) != PTX_OK)
            continue;
        log_write(LOG_WARN, "engine",
                  "execution %s broker=%s account=%s was interrupted: recovery pending; it is "
                  "resumed at the next request for this account",
                  row.id, row.broker, row.account_hash);
        journal_execution_clear(&row);
    }
    journal_ids_free(ids, count);
    return count;
}

void engine_destroy(engine *eng)
{
    if (eng == NULL)
        return;
    locks_destroy(eng->accounts);
    while (eng->unrecorded != NULL) { /* a restart's recovery finishes them */
        unrecorded *u = eng->unrecorded;
        eng->unrecorded = u->next;
        exec_result_free(&u->result);
        free(u);
    }
    pthread_mutex_destroy(&eng->unrecorded_lock);
    free(eng);
}
