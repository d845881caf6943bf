#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct collector {
    holdings *map;
    bool failed;
} collector;

static int session_collect(void *context, const char *symbol, int64_t quantity)
{
    collector *into = context;
    if (holdings_add(into->map, symbol, quantity))
        return 0;
    into->failed = true;
    return 1;
}

static ptx_status session_unknown_broker(registry *reg, const char *name, ptx_error *error)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < registry_count(reg) && used < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                         registry_broker_name(registry_at(reg, i)));
        used += n > 0 ? (size_t)n : 0;
    }
    return ptx_fail(error, PTX_NOT_FOUND, "broker", "unknown broker '%s' (configured: %s)", name,
                    used ? names : "none");
}

static void session_auth_init(session *s)
{
    s->auth = &s->auth_state;
    pthread_mutex_init(&s->auth->lock, NULL);
    atomic_init(&s->auth->logins, 0);
    atomic_init(&s->auth->failed, false);
    s->auth->message[0] = '\0';
}

ptx_status session_open(session *s, registry *reg, const exec_request *request,
                        broker_text *account_id, ptx_error *error)
{
    memset(s, 0, sizeof *s);
    memset(account_id, 0, sizeof *account_id);
    s->broker = registry_find(reg, request->broker);
    if (s->broker == NULL)
        return session_unknown_broker(reg, request->broker, error);
    s->plugin = registry_broker_plugin(s->broker);
    s->instance = registry_broker_instance(s->broker);
    s->settings = registry_broker_settings(s->broker);
    s->features = registry_broker_features(s->broker);
    s->limit_orders = request->order_type == EXEC_ORDER_DEFAULT
                          ? s->settings->limit_orders
                          : request->order_type == EXEC_ORDER_LIMIT;
    retry_rng_seed(&s->rng);

    broker_credentials credentials = {request->credential_count, request->credentials};
    broker_text detail = {""};
    registry_broker_enter(s->broker);
    broker_status status =
        s->plugin->open_session(s->instance, &credentials, &s->handle, account_id, &detail);
    if (status != BROKER_OK && detail.text[0] == '\0')
        snprintf(detail.text, sizeof detail.text, "%s", s->plugin->errmsg(s->instance, NULL));
    registry_broker_leave(s->broker);
    if (status == BROKER_OK) {
        session_auth_init(s);
        return PTX_OK;
    }
    s->handle = NULL;
    const char *text = detail.text[0] ? detail.text : broker_strerror(status);
    if (status == BROKER_INVALID)
        return ptx_fail(error, PTX_INVALID, "credentials", "%s", text);
    if (status == BROKER_AUTH)
        return ptx_fail(error, PTX_AUTH, "credentials", "%s", text);
    return ptx_fail(error, PTX_UNAVAILABLE, NULL, "broker '%s': %s", request->broker, text);
}

void session_close(session *s)
{
    if (s->handle == NULL || s->worker)
        return;
    registry_broker_enter(s->broker);
    s->plugin->close_session(s->instance, s->handle);
    registry_broker_leave(s->broker);
    s->handle = NULL;
    pthread_mutex_destroy(&s->auth->lock);
}

void session_worker(session *worker, const session *opened)
{
    memset(worker, 0, sizeof *worker);
    worker->broker = opened->broker;
    worker->plugin = opened->plugin;
    worker->instance = opened->instance;
    worker->handle = opened->handle;
    worker->settings = opened->settings;
    worker->features = opened->features;
    worker->limit_orders = opened->limit_orders;
    worker->facts = opened->facts;
    worker->account = opened->account;
    worker->limits = opened->limits;
    worker->auth = opened->auth;
    worker->worker = true;
    retry_rng_seed(&worker->rng);
}

void session_merge(session *into, const session *worker)
{
    into->retries.transient += worker->retries.transient;
    into->retries.unknown_lookups += worker->retries.unknown_lookups;
    into->retries.reauthentications += worker->retries.reauthentications;
    into->call_us += worker->call_us;
    into->calls += worker->calls;
}

bool session_auth_failed(const session *s)
{
    return s->auth != NULL && atomic_load(&s->auth->failed);
}

const char *session_auth_message(const session *s)
{
    return s->auth != NULL ? s->auth->message : "";
}

int64_t session_mean_call_us(const session *s)
{
    return s->calls > 0 ? s->call_us / s->calls : 0;
}

static broker_status session_get_holdings(session *s, session_request *c)
{
    holdings_free(c->map);
    c->map = holdings_create(c->expected);
    if (c->map == NULL) {
        snprintf(s->message, sizeof s->message, "out of memory reading holdings");
        return BROKER_INTERNAL;
    }
    collector into = {c->map, false};
    broker_status status = s->plugin->get_holdings(s->instance, s->handle, session_collect, &into);
    if (status == BROKER_OK && into.failed) {
        snprintf(s->message, sizeof s->message,
                 "holdings could not be stored (bad symbol or out of memory)");
        return BROKER_INTERNAL;
    }
    return status;
}

/* The optional 1.1 calls; the registry leaves an absent one NULL. */
static broker_status session_dispatch_v1_1(session *s, session_request *c)
{
    const broker_plugin *p = s->plugin;
    switch (c->op) {
    case SESSION_PLACE_EX:
        return p->place_order_ex ? p->place_order_ex(s->instance, s->handle, c->params, c->detail)
                                 : BROKER_UNSUPPORTED;
    case SESSION_GET_EX:
        return p->get_order_ex ? p->get_order_ex(s->instance, s->handle, c->id, c->detail)
                               : BROKER_UNSUPPORTED;
    case SESSION_POSITIONS:
        return p->get_positions
                   ? p->get_positions(s->instance, s->handle, c->positions_emit, c->emit_context)
                   : BROKER_UNSUPPORTED;
    case SESSION_OPEN_ORDERS:
        return p->get_open_orders ? p->get_open_orders(s->instance, s->handle, c->open_orders_emit,
                                                       c->emit_context)
                                  : BROKER_UNSUPPORTED;
    case SESSION_FUNDS:
        return p->get_funds ? p->get_funds(s->instance, s->handle, c->funds) : BROKER_UNSUPPORTED;
    case SESSION_INSTRUMENT:
        return p->get_instrument ? p->get_instrument(s->instance, s->handle, c->id, c->instrument)
                                 : BROKER_UNSUPPORTED;
    case SESSION_MARKET:
        return p->get_market_session
                   ? p->get_market_session(s->instance, s->handle, BROKER_EXCHANGE_NSE, c->market)
                   : BROKER_UNSUPPORTED;
    default:
        return BROKER_INTERNAL;
    }
}

static broker_status session_dispatch(session *s, session_request *c)
{
    const broker_plugin *p = s->plugin;
    switch (c->op) {
    case SESSION_AUTHENTICATE:
        return p->authenticate(s->instance, s->handle);
    case SESSION_HOLDINGS:
        return session_get_holdings(s, c);
    case SESSION_PLACE:
        return p->place_order(s->instance, s->handle, c->request, c->order);
    case SESSION_GET:
        return p->get_order(s->instance, s->handle, c->id, c->order);
    case SESSION_FIND:
        return p->find_order(s->instance, s->handle, c->id, c->order);
    case SESSION_CANCEL:
        if (p->cancel_order == NULL)
            return BROKER_UNSUPPORTED;
        return p->cancel_order(s->instance, s->handle, c->id, c->order);
    case SESSION_QUOTE:
        if (p->get_quote == NULL)
            return BROKER_UNSUPPORTED;
        return p->get_quote(s->instance, s->handle, c->id, c->price);
    default:
        return session_dispatch_v1_1(s, c);
    }
}

/* Places and cancels count as orders in the limiter, the rest as reads. */
static limiter_class session_class(session_op op)
{
    return op == SESSION_PLACE || op == SESSION_PLACE_EX || op == SESSION_CANCEL ? LIMITER_ORDERS
                                                                                 : LIMITER_READS;
}

/* Places are announced to the hook before the call. */
static bool session_before_place(session *s, session_request *c)
{
    (*c->place_count)++;
    if (c->before_place == NULL || c->before_place(c->hook_context, s))
        return true;
    (*c->place_count)--;
    c->tries++;
    return false;
}

/* Calls the plugin under the broker lock and keeps its error text and, after
 * TRANSIENT, its retry-after hint. */
static broker_status session_invoke(session *s, session_request *c, unsigned *retry_after_ms)
{
    s->message[0] = '\0';
    registry_broker_enter(s->broker);
    broker_status status = session_dispatch(s, c);
    if (status != BROKER_OK && s->message[0] == '\0') {
        const char *text = s->plugin->errmsg(s->instance, s->handle);
        snprintf(s->message, sizeof s->message, "%s",
                 text && *text ? text : broker_strerror(status));
    }
    if (status == BROKER_TRANSIENT && s->plugin->retry_after_ms != NULL)
        *retry_after_ms = s->plugin->retry_after_ms(s->instance, s->handle);
    registry_broker_leave(s->broker);
    return status;
}

/* Makes one plugin call once the limiter gives it a place. */
static broker_status session_call_once(session *s, session_request *c, unsigned *retry_after_ms)
{
    limiter_class class = session_class(c->op);
    limiter_acquire(s->limits, class);
    if ((c->op == SESSION_PLACE || c->op == SESSION_PLACE_EX) && !session_before_place(s, c)) {
        limiter_done(s->limits, class, false);
        return BROKER_INTERNAL;
    }
    c->tries++;
    int64_t started = retry_monotonic_us();
    broker_status status = session_invoke(s, c, retry_after_ms);
    int64_t ended = retry_monotonic_us();
    limiter_done_at(s->limits, class, true, ended);
    s->call_us += ended - started;
    s->calls++;
    return status;
}

/* Calls `c`, retrying TRANSIENT up to max_retries times. A retry-after hint
 * holds the whole account in the limiter (or this call, without one) instead
 * of the backoff. */
static broker_status session_call_transient(session *s, session_request *c)
{
    for (unsigned retry = 0;; retry++) {
        unsigned retry_after_ms = 0;
        broker_status status = session_call_once(s, c, &retry_after_ms);
        limiter_defer(s->limits, retry_after_ms);
        if (status != BROKER_TRANSIENT || retry >= s->settings->max_retries)
            return status;
        s->retries.transient++;
        if (retry_after_ms > 0)
            retry_sleep_ms(s->limits != NULL ? 0 : retry_after_ms);
        else
            retry_sleep_ms(retry_backoff_ms(&s->rng, s->settings->retry_base_ms,
                                            s->settings->retry_max_ms, retry));
    }
}

/* Caller holds auth->lock. */
static void session_mark_auth_failed_locked(session *s)
{
    if (atomic_load(&s->auth->failed))
        return;
    snprintf(s->auth->message, sizeof s->auth->message, "%s", s->message);
    atomic_store(&s->auth->failed, true);
}

static void session_mark_auth_failed(session *s)
{
    pthread_mutex_lock(&s->auth->lock);
    session_mark_auth_failed_locked(s);
    pthread_mutex_unlock(&s->auth->lock);
}

/* Logs in again after BROKER_AUTH on a call that started when `seen`
 * logins had been made again; only these logins count as
 * re-authentications. When another worker has logged in since, its login
 * serves this call too. True when the session is logged in again. */
static bool session_reauthenticate(session *s, unsigned seen)
{
    session_auth *auth = s->auth;
    pthread_mutex_lock(&auth->lock);
    bool logged_in = !atomic_load(&auth->failed) && atomic_load(&auth->logins) != seen;
    if (!logged_in && !atomic_load(&auth->failed)) {
        session_request login = {.op = SESSION_AUTHENTICATE};
        s->retries.reauthentications++;
        logged_in = session_call_transient(s, &login) == BROKER_OK;
        if (logged_in) {
            atomic_fetch_add(&auth->logins, 1);
            log_write(LOG_DEBUG, "engine", "session expired; logged in again");
        } else {
            session_mark_auth_failed_locked(s); /* before another worker tries */
        }
    }
    pthread_mutex_unlock(&auth->lock);
    return logged_in;
}

broker_status session_call(session *s, session_request *c)
{
    bool logged_in_again = false;
    for (;;) {
        unsigned seen = atomic_load(&s->auth->logins);
        broker_status status = session_call_transient(s, c);
        if (status != BROKER_AUTH || c->op == SESSION_AUTHENTICATE)
            return status;
        if (!logged_in_again && session_reauthenticate(s, seen)) {
            logged_in_again = true;
            continue;
        }
        session_mark_auth_failed(s);
        return BROKER_AUTH;
    }
}

ptx_status session_refused(session *s, const char *what, broker_status status, unsigned tries,
                           ptx_error *error)
{
    const char *name = registry_broker_name(s->broker);
    if (status == BROKER_AUTH)
        return ptx_fail(error, PTX_AUTH, "credentials", "broker '%s' authentication failed: %s",
                        name, s->message);
    return ptx_fail(error, PTX_UNAVAILABLE, NULL,
                    "broker '%s' unavailable: %s failed after %u attempts: %s", name, what, tries,
                    s->message);
}

ptx_status session_login(session *s, ptx_error *error)
{
    session_request login = {.op = SESSION_AUTHENTICATE};
    broker_status status = session_call_transient(s, &login);
    if (status != BROKER_OK)
        return session_refused(s, "authenticate", status, login.tries, error);
    return PTX_OK;
}
