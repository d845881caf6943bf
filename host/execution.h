/* The domain of one execution: the request's targets, legs, positions,
 * summary and result, and the status tables of legs, executions and the
 * journal's leg states. Every host module may include it; it includes no
 * other host module but ids and status. */
#ifndef PTEXEC_EXECUTION_H
#define PTEXEC_EXECUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "ids.h"
#include "status.h"

#define REQUEST_BROKER_MAX 64
#define REQUEST_IDEMPOTENCY_KEY_MAX 129
#define REQUEST_QUANTITY_MAX 1000000000LL

/* Leg status as reported (design §2.5). */
#define LEG_STATUS_MAP(X)                                                                          \
    X(PLANNED)                                                                                     \
    X(FILLED)                                                                                      \
    X(PARTIALLY_FILLED)                                                                            \
    X(REJECTED)                                                                                    \
    X(FAILED)                                                                                      \
    X(CANCELLED)

/* Execution status. RECOVERED: finished by recovery after ptexec stopped
 * mid-run. RUNNING exists only in the journal, while it runs. */
#define EXEC_STATUS_MAP(X)                                                                         \
    X(COMPLETED)                                                                                   \
    X(PARTIAL)                                                                                     \
    X(FAILED)                                                                                      \
    X(NOOP)                                                                                        \
    X(PLANNED)                                                                                     \
    X(RECOVERED)                                                                                   \
    X(RUNNING)

/* A leg's state in the journal, in the order a leg passes them: the intent
 * (PENDING_SEND), the call (SENDING), its unknown outcome (UNKNOWN) or
 * acceptance (ACCEPTED), then a final state. NOT_SENT: recovery proved the
 * broker never got the leg. */
#define LEG_STATE_MAP(X)                                                                           \
    X(PENDING_SEND, false)                                                                         \
    X(SENDING, false)                                                                              \
    X(UNKNOWN, false)                                                                              \
    X(ACCEPTED, false)                                                                             \
    X(FILLED, true)                                                                                \
    X(PARTIALLY_FILLED, true)                                                                      \
    X(REJECTED, true)                                                                              \
    X(CANCELLED, true)                                                                             \
    X(FAILED, true)                                                                                \
    X(NOT_SENT, true)

typedef enum leg_status {
#define EXECUTION_ENUM_(name) LEG_##name,
    LEG_STATUS_MAP(EXECUTION_ENUM_)
#undef EXECUTION_ENUM_
} leg_status;

typedef enum exec_status {
#define EXECUTION_ENUM_(name) EXEC_##name,
    EXEC_STATUS_MAP(EXECUTION_ENUM_)
#undef EXECUTION_ENUM_
} exec_status;

typedef enum leg_state {
#define EXECUTION_ENUM_(name, final) LEG_STATE_##name,
    LEG_STATE_MAP(EXECUTION_ENUM_)
#undef EXECUTION_ENUM_
        LEG_STATE_COUNT
} leg_state;

/* The order type a request asks for; DEFAULT: the broker's `order_type`. */
typedef enum exec_order_type {
    EXEC_ORDER_DEFAULT,
    EXEC_ORDER_MARKET,
    EXEC_ORDER_LIMIT
} exec_order_type;

typedef struct exec_target {
    char symbol[BROKER_SYMBOL_MAX]; /* trimmed, upper-cased */
    int64_t target_quantity;
} exec_target;

typedef struct exec_request {
    char broker[REQUEST_BROKER_MAX];
    broker_credential *credentials; /* keys and values owned by the request */
    size_t credential_count;
    exec_target *targets; /* request order */
    size_t target_count;
    bool dry_run;
    char idempotency_key[REQUEST_IDEMPOTENCY_KEY_MAX]; /* "" when absent */
    exec_order_type order_type; /* the broker's order_type unless the request names one */
} exec_request;

typedef struct exec_leg {
    char symbol[BROKER_SYMBOL_MAX];
    broker_side side;
    int64_t quantity;
    size_t sequence;     /* 1-based place in execution order */
    size_t target_index; /* index in the request's target_portfolio */
    leg_status status;
    char reason[BROKER_MESSAGE_MAX]; /* "" when none (rendered as null) */
    char order_id[BROKER_ORDER_ID_MAX];
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    int64_t filled_quantity;
    double average_price;
    unsigned attempts;          /* place_order calls made */
    double charges;             /* the order's charges in rupees, as the broker reports them */
    int64_t requested_quantity; /* the quantity before the funds gate cut it; 0: not cut */
    double limit_price;         /* a limit order's price; 0 for a market order */
    /* Re-pricing (legs.c): a limit order cancelled at the end of its time
     * slice and resubmitted for the rest at a fresh price gets a new client
     * order id (attempt `reprices`); what the earlier orders filled is kept
     * here, and filled_quantity, average_price and charges always include it. */
    unsigned reprices;      /* orders cancelled and resubmitted (journaled) */
    unsigned reprice_round; /* time slices looked at so far (this run only) */
    int64_t prior_filled;   /* filled by the leg's earlier orders */
    double prior_value;     /* their fills' value in rupees */
    double prior_charges;   /* their charges */
    bool outcome_unknown;   /* FAILED, but the order may exist: lookups by client
                               order id failed (journaled as UNKNOWN) */
} exec_leg;

typedef struct exec_position {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t before;
    int64_t target;
    int64_t after;
    int64_t residual; /* target - after */
    int64_t rounded;  /* not traded: the delta's part below a whole lot (or past the
                         child-order cap) */
    int64_t lot_size; /* the instrument's lot; 0 or 1 when not known */
} exec_position;

typedef struct exec_summary {
    size_t orders;
    size_t filled;
    size_t failed;
    size_t rejected;
    size_t partially_filled;
    size_t cancelled;
} exec_summary;

/* What the engine retried during one execution, by outcome class. */
typedef struct exec_retries {
    size_t transient;         /* plugin calls repeated after a TRANSIENT failure */
    size_t unknown_lookups;   /* find_order lookups after an UNKNOWN outcome */
    size_t reauthentications; /* logins after the session expired mid-run (AUTH) */
} exec_retries;

/* The pre-flight verdicts of an execution (ABI 1.1 plugins that tell the
 * market's session): checked before the first order, shown by a dry run. */
typedef struct exec_preflight {
    bool checked; /* false: the plugin does not tell (1.0) */
    broker_market_state market;
    int64_t next_open_ms;     /* 0 when unknown */
    int64_t token_expires_ms; /* 0 when unknown */
    bool token_valid;
    char reason[BROKER_MESSAGE_MAX]; /* the broker's words when not open */
} exec_preflight;

typedef struct exec_result {
    char execution_id[IDS_EXECUTION_ID_MAX];
    char broker[REQUEST_BROKER_MAX];
    char account_hash[IDS_ACCOUNT_HASH_MAX];
    exec_status status;
    exec_leg *legs; /* request order */
    size_t leg_count;
    exec_position *positions; /* every target symbol, request order */
    size_t position_count;
    bool reconciled; /* false when the second holdings read failed */
    exec_summary summary;
    exec_retries retries;
    exec_preflight preflight;
    bool charges_known; /* the plugin reports charges (1.1 order detail) */
    double charges;     /* the sum of the legs' charges */
    int64_t started_ms; /* wall clock */
    int64_t finished_ms;
    /* The exact response text stored in the journal (heap); front-ends print
     * it so that a replay is byte-identical. NULL without a journal and for
     * dry runs. */
    char *response;
    /* True when this is the stored outcome of an earlier execution with the
     * same idempotency key: nothing was placed, `response` is authoritative. */
    bool replayed;
} exec_result;

/* Frees what an execution stored in *result and zeroes it; safe on a zeroed
 * struct. */
void exec_result_free(exec_result *result);

/* Counts the legs of `result` by status into result->summary (a leg split
 * into child orders counts once, as exec_leg_combine reports it), sums
 * their charges and sets result->status from them. */
void exec_result_summarize(exec_result *result);

/* The legs of one planned leg are adjacent in result->legs: its child
 * orders (freeze slicing), or the leg alone. Returns the index after the
 * group that starts at `begin` (< leg_count). */
size_t exec_leg_group_end(const exec_result *result, size_t begin);

/* How many planned legs result->legs holds (groups of children). */
size_t exec_result_parent_count(const exec_result *result);

/* The leg as reported: legs[begin, end) (one group) summed into *out:
 * quantity, fill, charges and attempts added, price weighted by fill,
 * FILLED when every child filled, PARTIALLY_FILLED when some quantity did,
 * else the status of the first child that did not; the first child's ids,
 * sequence and first reason. */
void exec_leg_combine(const exec_result *result, size_t begin, size_t end, exec_leg *out);

/* Static names: "FILLED", …; "COMPLETED", …; "PENDING_SEND", …; "BUY"/"SELL".
 * Never NULL ("UNKNOWN" for a value outside the table). Any thread. */
const char *leg_status_name(leg_status status);
const char *exec_status_name(exec_status status);
const char *leg_state_name(leg_state state);
const char *side_name(broker_side side);

/* Parses a name of the table back; false when `name` is not in it. */
bool exec_status_parse(const char *name, exec_status *out);
bool leg_state_parse(const char *name, leg_state *out);

/* True for the final journal states (FILLED … NOT_SENT). */
bool leg_state_is_final(leg_state state);

/* The journal state that records the outcome of `leg`: its status, UNKNOWN
 * for a FAILED leg whose order may exist, NOT_SENT for a leg never placed. */
leg_state leg_state_of_leg(const exec_leg *leg);

/* The status a leg in journal state `state` is reported with (NOT_SENT and
 * the non-final states report FAILED). */
leg_status leg_status_of_state(leg_state state);

#endif
