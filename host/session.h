/* One execution's session with its broker (design §1 step 3) and the policy
 * every plugin call follows: each call waits for its place in the account's
 * limiter (limiter.h); TRANSIENT is retried with full-jitter backoff (or
 * after the broker's retry-after hint) up to max_retries; AUTH is answered by
 * one new login and a retry. An execution placing concurrently gives each
 * worker thread a copy of its session (session_worker) that shares the login
 * state, so an expired token is logged in again once, not once per worker. */
#ifndef PTEXEC_SESSION_H
#define PTEXEC_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <ptexec/broker_plugin.h>

#include "execution.h"
#include "holdings.h"
#include "limiter.h"
#include "locks.h"
#include "registry.h"
#include "retry.h"
#include "status.h"

/* The login state of one session, shared by its workers. */
typedef struct session_auth {
    pthread_mutex_t lock;             /* held while one thread logs in again */
    atomic_uint logins;               /* logins made again after AUTH, so far */
    atomic_bool failed;               /* re-authentication failed: place nothing more */
    char message[BROKER_MESSAGE_MAX]; /* why; written once, before `failed` */
} session_auth;

typedef struct session {
    registry_broker *broker;
    const broker_plugin *plugin;
    broker_instance *instance;
    broker_session *handle; /* NULL until session_open succeeds */
    const broker_settings *settings;
    const registry_features *features; /* which ABI 1.1 calls the plugin has */
    bool limit_orders;                 /* the broker's order_type, or the request's */
    struct instruments *facts; /* the engine's instrument cache, for limit prices; may be NULL */
    locks_account *account;    /* set by the engine once the account is held */
    limiter_account *limits;   /* the account's limiter, set by the engine; NULL: none */
    session_auth *auth;        /* &auth_state, or the opening session's for a worker */
    session_auth auth_state;   /* unused in a worker */
    bool worker;               /* made by session_worker: closes nothing */
    retry_rng rng;
    char message[BROKER_MESSAGE_MAX]; /* detail of the last failed plugin call */
    exec_retries retries;             /* what this session retried, by class */
    int64_t call_us;                  /* time spent in plugin calls, and how many */
    unsigned calls;
} session;

typedef enum session_op {
    SESSION_AUTHENTICATE,
    SESSION_HOLDINGS,
    SESSION_PLACE,
    SESSION_GET,
    SESSION_FIND,
    SESSION_CANCEL,
    SESSION_QUOTE, /* id (symbol) → price; optional (1.0 get_quote) */
    /* ABI 1.1, optional: only where registry_features says the plugin has it */
    SESSION_PLACE_EX,    /* params → detail */
    SESSION_GET_EX,      /* id → detail */
    SESSION_POSITIONS,   /* positions_emit */
    SESSION_OPEN_ORDERS, /* open_orders_emit */
    SESSION_FUNDS,       /* funds */
    SESSION_INSTRUMENT,  /* id (symbol) → instrument */
    SESSION_MARKET       /* market */
} session_op;

/* Called before every place_order attempt; returning false stops the attempt
 * (the call then fails with BROKER_INTERNAL and `message` set by the hook). */
typedef bool (*session_place_hook)(void *context, session *s);

/* One plugin operation with its arguments and what the retries did. */
typedef struct session_request {
    session_op op;
    const broker_order_request *request;   /* PLACE */
    const char *id;                        /* order id; client order id for FIND */
    broker_order *order;                   /* PLACE, GET, FIND, CANCEL */
    holdings *map;                         /* HOLDINGS: result, owned by the caller */
    size_t expected;                       /* HOLDINGS: sizing hint */
    unsigned *place_count;                 /* PLACE, PLACE_EX: incremented per call */
    session_place_hook before_place;       /* PLACE, PLACE_EX: may be NULL */
    const broker_order_params *params;     /* PLACE_EX */
    broker_order_detail *detail;           /* PLACE_EX, GET_EX (size set, rest zeroed) */
    broker_position_fn positions_emit;     /* POSITIONS */
    broker_open_order_fn open_orders_emit; /* OPEN_ORDERS */
    void *emit_context;
    broker_funds *funds;           /* FUNDS */
    broker_instrument *instrument; /* INSTRUMENT */
    broker_market_session *market; /* MARKET */
    double *price;                 /* QUOTE: the last traded price */
    void *hook_context;
    unsigned tries; /* plugin calls made */
} session_request;

/* Finds broker `name` and opens a session with `request`'s credentials;
 * writes the account id (not a secret) to *account_id. PTX_NOT_FOUND (field
 * "broker"), PTX_INVALID / PTX_AUTH (field "credentials") or PTX_UNAVAILABLE.
 * Any thread. */
ptx_status session_open(session *s, registry *reg, const exec_request *request,
                        broker_text *account_id, ptx_error *error);

/* Closes the session; safe after a failed session_open. */
void session_close(session *s);

/* Makes *worker a copy of `opened` for another thread of the same
 * execution: the same broker session, account and limiter, the shared login
 * state, its own error text, random source and retry counts. Call it before
 * the thread starts; session_close on it closes nothing. */
void session_worker(session *worker, const session *opened);

/* Adds what `worker` retried and timed to `into`; after its thread ended. */
void session_merge(session *into, const session *worker);

/* True once logging in again failed (place nothing more); the message says
 * why (valid while the session is open). Any thread of the execution. */
bool session_auth_failed(const session *s);
const char *session_auth_message(const session *s);

/* Mean duration of the plugin calls made so far, in µs; 0 before any. */
int64_t session_mean_call_us(const session *s);

/* Step 3: logs in (a first login is not a retry). PTX_AUTH or
 * PTX_UNAVAILABLE naming the broker when it fails. */
ptx_status session_login(session *s, ptx_error *error);

/* Maps a failed pre-trade call (`what`, e.g. "get_holdings", after `tries`
 * calls) to the caller's error: PTX_AUTH or PTX_UNAVAILABLE. */
ptx_status session_refused(session *s, const char *what, broker_status status, unsigned tries,
                           ptx_error *error);

/* Makes `c` with the policy above. An AUTH that the new login does not cure
 * marks the login failed (session_auth_failed). Returns the plugin's final
 * status; s->message says why it failed. Several workers of one session may
 * call at once only when the plugin allows parallel session calls. */
broker_status session_call(session *s, session_request *c);

#endif
