/* One execution's session with its broker (design §1 step 3) and the policy
 * every plugin call follows: TRANSIENT retried with full-jitter backoff up to
 * max_retries, AUTH answered by one new login and a retry, placements paced
 * to the account's rate limit. */
#ifndef PTEXEC_SESSION_H
#define PTEXEC_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <ptexec/broker_plugin.h>

#include "execution.h"
#include "holdings.h"
#include "locks.h"
#include "registry.h"
#include "retry.h"
#include "status.h"

typedef struct session {
    registry_broker *broker;
    const broker_plugin *plugin;
    broker_instance *instance;
    broker_session *handle; /* NULL until session_open succeeds */
    const broker_settings *settings;
    const registry_features *features; /* which ABI 1.1 calls the plugin has */
    locks_account *account;            /* set by the engine once the account is held */
    retry_rng rng;
    char message[BROKER_MESSAGE_MAX]; /* detail of the last failed plugin call */
    bool auth_failed;                 /* re-authentication failed: place nothing more */
    char auth_message[BROKER_MESSAGE_MAX];
    exec_retries retries; /* what this session retried, by class */
} session;

typedef enum session_op {
    SESSION_AUTHENTICATE,
    SESSION_HOLDINGS,
    SESSION_PLACE,
    SESSION_GET,
    SESSION_FIND,
    SESSION_CANCEL,
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

/* Step 3: logs in (a first login is not a retry). PTX_AUTH or
 * PTX_UNAVAILABLE naming the broker when it fails. */
ptx_status session_login(session *s, ptx_error *error);

/* Maps a failed pre-trade call (`what`, e.g. "get_holdings", after `tries`
 * calls) to the caller's error: PTX_AUTH or PTX_UNAVAILABLE. */
ptx_status session_refused(session *s, const char *what, broker_status status, unsigned tries,
                           ptx_error *error);

/* Makes `c` with the policy above. An AUTH that the new login does not cure
 * sets s->auth_failed. Returns the plugin's final status; s->message says
 * why it failed. */
broker_status session_call(session *s, session_request *c);

#endif
