/*
 * ptexec broker plugin SDK, ABI version 1.2.
 *
 * This is the only header a broker plugin needs. It defines the entry point a
 * plugin exports as the dynamic symbol `broker_plugin_v1`, the descriptor that
 * entry hands back, the services table
 * the host lends to every plugin instance, and the fixed-size, caller-owned
 * structures that cross the boundary. Nothing else of the host is visible to a
 * plugin, and a plugin links no host symbol.
 *
 * Versioning
 *   The major version is part of the symbol name. Both tables below start with
 *   abi_major, abi_minor and size. A minor version only appends fields; a
 *   reader never touches a field that lies beyond the `size` the other side
 *   reported. The host refuses a descriptor whose abi_major is not 1, whose
 *   size is smaller than BROKER_PLUGIN_V1_0_SIZE, or whose required callbacks
 *   are NULL, or whose size is smaller than the size of the minor version it
 *   declares: BROKER_PLUGIN_V1_1_SIZE for abi_minor 1, BROKER_PLUGIN_V1_2_SIZE
 *   for abi_minor 2 or more. The 1.0 data structures (broker_order,
 *   broker_order_request, …) are frozen; 1.1 added optional callbacks whose
 *   structures start with their own `size` so that they can grow again (see
 *   "ABI 1.1" below); 1.2 added get_rate_limits (see "ABI 1.2"). A 1.0 or 1.1
 *   plugin loads and trades unchanged: the host reads its descriptor only up
 *   to its `size`.
 *
 * Threading
 *   The host calls `broker_plugin_v1`'s `create` and `destroy` on its main
 *   thread. Calls that name one instance are serialized by the host unless the
 *   descriptor sets BROKER_CAP_CONCURRENT_SESSIONS, in which case calls on
 *   *different sessions* of one instance may run in parallel (calls on one
 *   session are always serialized) and the plugin locks its own shared state.
 *   Different instances may always run in parallel, so a plugin keeps no
 *   unlocked mutable globals. A plugin never calls exit(), never installs
 *   signal handlers, and never starts a thread that outlives `destroy`.
 *
 *   BROKER_CAP_PARALLEL_SESSION_CALLS (1.1) lifts the per-session rule too:
 *   calls on one session may then run in parallel. The host then asks
 *   errmsg and retry_after_ms about a failed call on the thread that made
 *   it, right after it returned and before that thread's next call, so such
 *   a plugin keeps that detail per calling thread (thread-local), not per
 *   session.
 *
 * Ownership
 *   Every pointer the host passes in is valid for the duration of the call
 *   only, unless said otherwise. Every output structure is owned by the caller
 *   and filled by the plugin; no heap memory changes hands in either
 *   direction. The host zeroes every output structure before the call (and
 *   sets `size` in the 1.1 ones); a field the plugin leaves alone reads as 0
 *   or "". Each callback below says which fields the plugin must fill.
 *
 * Configuration
 *   config_get sees the whole [broker.NAME] section, the host's own keys
 *   included (plugin, mode, seed, max_retries, …). config_keys lists only the
 *   keys the plugin itself reads; listing a host key there is harmless.
 */
#ifndef PTEXEC_BROKER_PLUGIN_H
#define PTEXEC_BROKER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BROKER_ABI_MAJOR 1
#define BROKER_ABI_MINOR 2

/* Name of the one dynamic symbol every plugin exports. */
#define BROKER_PLUGIN_SYMBOL "broker_plugin_v1"

/* Mark the descriptor so that it is the only exported symbol when the plugin
 * is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define BROKER_EXPORT __attribute__((visibility("default")))
#else
#define BROKER_EXPORT
#endif

/* Buffer sizes, including the terminating NUL. */
#define BROKER_SYMBOL_MAX 33          /* canonical symbol: 1..32 of A-Z 0-9 & - _ . */
#define BROKER_CLIENT_ORDER_ID_MAX 32 /* the host's client order id (broker tag) */
#define BROKER_ORDER_ID_MAX 64        /* the broker's order id */
#define BROKER_ACCOUNT_ID_MAX 64      /* stable identity of an account, not a secret */
#define BROKER_STATE_NAME_MAX 32      /* the broker's own word for an order state (1.1) */
#define BROKER_MESSAGE_MAX 256        /* human-readable detail */

/*
 * One status for every operation. 0 is success; the others are the outcome
 * classes the host acts on when it places an order (sdk/README.md, "Outcome
 * classes"). The plugin decides the class, the host decides what to do.
 */
#define BROKER_STATUS_MAP(X)                                                                       \
    X(OK, 0, "ok")                                                                                 \
    X(TRANSIENT, 1, "transient failure before the request reached the broker; safe to retry")      \
    X(UNKNOWN, 2, "outcome unknown: the request may have reached the broker")                      \
    X(REJECTED, 3, "refused by the broker")                                                        \
    X(AUTH, 4, "authentication failed or the session expired")                                     \
    X(NOT_FOUND, 5, "no such order")                                                               \
    X(INVALID, 6, "invalid input, such as missing credential fields")                              \
    X(CONFIG, 7, "invalid plugin configuration")                                                   \
    X(UNSUPPORTED, 8, "operation not supported by this plugin")                                    \
    X(INTERNAL, 9, "internal plugin error")

typedef enum broker_status {
#define BROKER_STATUS_ENUM_(name, value, text) BROKER_##name = value,
    BROKER_STATUS_MAP(BROKER_STATUS_ENUM_)
#undef BROKER_STATUS_ENUM_
} broker_status;

/* Returns a static description of `status`; never NULL. */
static inline const char *broker_strerror(broker_status status)
{
    switch (status) {
#define BROKER_STATUS_TEXT_(name, value, text)                                                     \
    case BROKER_##name:                                                                            \
        return text;
        BROKER_STATUS_MAP(BROKER_STATUS_TEXT_)
#undef BROKER_STATUS_TEXT_
    }
    return "unknown status";
}

/* Returns the short upper-case name of `status` ("OK", "TRANSIENT", …). */
static inline const char *broker_status_name(broker_status status)
{
    switch (status) {
#define BROKER_STATUS_NAME_(name, value, text)                                                     \
    case BROKER_##name:                                                                            \
        return #name;
        BROKER_STATUS_MAP(BROKER_STATUS_NAME_)
#undef BROKER_STATUS_NAME_
    }
    return "UNKNOWN_STATUS";
}

typedef enum broker_side { BROKER_SIDE_BUY = 1, BROKER_SIDE_SELL = 2 } broker_side;

/*
 * State of an order at the broker. OPEN covers every non-terminal state the
 * broker knows (received, validation pending, open, trigger pending, …). The
 * other four are terminal. PARTIALLY_FILLED is terminal: some quantity filled
 * and the remainder was cancelled or expired.
 */
typedef enum broker_order_state {
    BROKER_ORDER_OPEN = 0,
    BROKER_ORDER_FILLED = 1,
    BROKER_ORDER_PARTIALLY_FILLED = 2,
    BROKER_ORDER_REJECTED = 3,
    BROKER_ORDER_CANCELLED = 4
} broker_order_state;

typedef enum broker_log_level {
    BROKER_LOG_ERROR = 0,
    BROKER_LOG_WARN = 1,
    BROKER_LOG_INFO = 2,
    BROKER_LOG_DEBUG = 3
} broker_log_level;

/* One credential, such as {"api_key", "…"}. Keys and values are never NULL
 * (values may be ""). Values are secrets: a plugin never logs them and never
 * copies them into error text. */
typedef struct broker_credential {
    const char *key;
    const char *value;
} broker_credential;

typedef struct broker_credentials {
    size_t count;
    const broker_credential *items;
} broker_credentials;

/* An order the host wants placed. `symbol` is the canonical symbol (for
 * example "RELIANCE"); the plugin maps it to the broker's instrument format.
 * `client_order_id` is unique per execution and leg, and already fits the
 * tag rules the descriptor declares; the plugin sends it as the broker's tag. */
typedef struct broker_order_request {
    char symbol[BROKER_SYMBOL_MAX];
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    broker_side side;
    int64_t quantity;
} broker_order_request;

/* What the broker says of one order. `message` carries the broker's wording of
 * a rejection or cancellation, empty otherwise. */
typedef struct broker_order {
    char order_id[BROKER_ORDER_ID_MAX];
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    char symbol[BROKER_SYMBOL_MAX];
    broker_side side;
    broker_order_state state;
    int64_t quantity;
    int64_t filled_quantity;
    double average_price;
    char message[BROKER_MESSAGE_MAX];
} broker_order;

/* A piece of caller-owned text, used for error detail and identities. */
typedef struct broker_text {
    char text[BROKER_MESSAGE_MAX];
} broker_text;

/*
 * Called by get_holdings once per held symbol, with the canonical symbol and
 * the quantity held (settled + T1). The strings are valid during the call
 * only. Return 0 to continue, non-zero to stop early (get_holdings then
 * returns BROKER_OK). The host's emit only copies: it never calls back into
 * the plugin, so the plugin may call it while holding its own locks.
 */
typedef int (*broker_holding_fn)(void *context, const char *symbol, int64_t quantity);

/* ==== ABI 1.1 data ====
 * Every 1.1 structure starts with `size`: the writer of an input sets it to
 * sizeof as it was built; for an output the host sets it (and zeroes the
 * rest) and the plugin writes no byte past it (BROKER_FITS). A reader treats
 * a field beyond `size` as 0. Enums are fixed: new values only at the end. */

/* True when `field` of *object (type `type`) lies within object->size. */
#define BROKER_FITS(object, type, field)                                                           \
    ((object)->size >= offsetof(type, field) + sizeof((object)->field))

typedef enum broker_exchange {
    BROKER_EXCHANGE_NSE = 0, /* cash market: equities */
    BROKER_EXCHANGE_BSE = 1,
    BROKER_EXCHANGE_NFO = 2, /* NSE futures and options */
    BROKER_EXCHANGE_BFO = 3
} broker_exchange;

/* DELIVERY: cash-and-carry (CNC; for futures: carry forward, NRML).
 * INTRADAY: squared off the same day (MIS). */
typedef enum broker_product {
    BROKER_PRODUCT_DELIVERY = 0,
    BROKER_PRODUCT_INTRADAY = 1
} broker_product;

typedef enum broker_order_type {
    BROKER_ORDER_MARKET = 0,
    BROKER_ORDER_LIMIT = 1
} broker_order_type;

/* DAY: stays open until filled, cancelled or the session ends. IOC: what
 * cannot fill at once is cancelled. */
typedef enum broker_validity { BROKER_VALIDITY_DAY = 0, BROKER_VALIDITY_IOC = 1 } broker_validity;

/* Flags of broker_order_params. */
#define BROKER_ORDER_FLAG_AMO 0x1u /* after-market order: queued for the next open */

/*
 * An order with everything a real broker needs (place_order_ex). The zeroed
 * struct with `base` filled is the 1.0 order: NSE, DELIVERY, MARKET, DAY, no
 * protection. `market_protection`: MARKET only; a percentage 0 < x ≤ 100,
 * -1 = the broker's automatic value, 0 = none. `limit_price`: LIMIT only.
 */
typedef struct broker_order_params {
    uint32_t size; /* sizeof(broker_order_params) as the host built it */
    broker_order_request base;
    broker_exchange exchange;
    broker_product product;
    broker_order_type order_type;
    broker_validity validity;
    double limit_price;
    double market_protection;
    uint32_t flags; /* BROKER_ORDER_FLAG_* */
} broker_order_params;

/* What an order cost, in rupees, as the broker's contract note shows it;
 * all zero until something filled. `total` is the sum of the others. */
typedef struct broker_charges {
    double brokerage;
    double stt;          /* securities transaction tax */
    double exchange_fee; /* exchange transaction charges */
    double sebi_fee;
    double stamp_duty;
    double gst;
    double total;
} broker_charges;

/*
 * An order in detail (place_order_ex, get_order_ex). `order` holds the 1.0
 * view, filled exactly as get_order fills it; a broker's "cancelled with
 * fills" is state PARTIALLY_FILLED there, with the broker's own word in
 * `broker_state` ("CANCELLED", "1", …). The plugin fills every field it knows.
 */
typedef struct broker_order_detail {
    uint32_t size; /* set by the host */
    broker_order order;
    broker_exchange exchange;
    broker_product product;
    broker_order_type order_type;
    broker_validity validity;
    double limit_price;
    int64_t pending_quantity;   /* still working at the exchange */
    int64_t cancelled_quantity; /* cancelled or expired, never to fill */
    broker_charges charges;
    char broker_state[BROKER_STATE_NAME_MAX];
    int64_t updated_ms; /* broker's time of the last change, ms since the epoch; 0 unknown */
} broker_order_detail;

/*
 * One symbol of the account (get_positions): holdings and today's delivery
 * trades together. `settled` is in the demat account; `t1` was bought on the
 * last trading day and settles next; `unsellable` is the part of settled + t1
 * that cannot be sold now (pledged, collateral, blocked). `bought_today` and
 * `sold_today` are today's filled delivery quantities (the broker's
 * "positions"). What the account will hold: settled + t1 + bought − sold.
 */
typedef struct broker_position {
    uint32_t size; /* set by the plugin: sizeof as it was built */
    char symbol[BROKER_SYMBOL_MAX];
    broker_exchange exchange;
    int64_t settled;
    int64_t t1;
    int64_t unsellable;
    int64_t bought_today;
    int64_t sold_today;
    double average_price; /* of the holding; 0 unknown */
} broker_position;

/* An order that is still working (get_open_orders). */
typedef struct broker_open_order {
    uint32_t size; /* set by the plugin */
    char order_id[BROKER_ORDER_ID_MAX];
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    char symbol[BROKER_SYMBOL_MAX];
    broker_side side;
    int64_t quantity;
    int64_t pending_quantity; /* quantity - filled - cancelled */
} broker_open_order;

/* Return 0 to continue, non-zero to stop (the call still returns BROKER_OK).
 * The record is valid during the call only; the host reads no field beyond
 * its `size`, never calls back into the plugin, and may be called with the
 * plugin's locks held. */
typedef int (*broker_position_fn)(void *context, const broker_position *position);
typedef int (*broker_open_order_fn)(void *context, const broker_open_order *order);

/* Money of the account for new orders, in rupees (get_funds). */
typedef struct broker_funds {
    uint32_t size;         /* set by the host */
    double available_cash; /* what a new order may use now */
    double margin_used;    /* blocked by open orders and today's positions */
    double opening_balance;
} broker_funds;

/*
 * Facts of one instrument (get_instrument). `listed` 0: the broker does not
 * know the symbol. `tradable` 0: listed but not tradable now (suspended,
 * expired contract), with the broker's wording in `reason`. Prices must be
 * multiples of `tick_size` within [lower_band, upper_band]; quantities
 * multiples of `lot_size`, each order at most `freeze_quantity` (0 = none).
 */
typedef struct broker_instrument {
    uint32_t size; /* set by the host */
    char symbol[BROKER_SYMBOL_MAX];
    broker_exchange exchange;
    int listed;
    int tradable;
    int64_t lot_size;
    double tick_size;
    int64_t freeze_quantity;
    double lower_band, upper_band; /* today's price band; 0, 0 when none */
    double last_price;
    char reason[BROKER_MESSAGE_MAX];
} broker_instrument;

typedef enum broker_market_state {
    BROKER_MARKET_CLOSED = 0, /* weekend, holiday, or outside hours */
    BROKER_MARKET_OPEN = 1,
    BROKER_MARKET_PRE_OPEN = 2 /* orders collected, not matched yet */
} broker_market_state;

/* The exchange's session as the broker sees it (get_market_session). Times
 * are ms since the Unix epoch by the broker's clock; 0 = not known. */
typedef struct broker_market_session {
    uint32_t size; /* set by the host */
    broker_market_state state;
    int amo_accepted; /* while not OPEN: orders are taken as AMO */
    int64_t now_ms;
    int64_t next_open_ms;            /* next start of normal trading (future, or now when OPEN) */
    int64_t next_close_ms;           /* end of the current or next session */
    int64_t token_expires_ms;        /* when this session's login stops working */
    char reason[BROKER_MESSAGE_MAX]; /* the broker's words when CLOSED ("holiday: …") */
} broker_market_session;

/* ==== ABI 1.2 data ==== */

/*
 * The limits the broker meters per account (get_rate_limits), in calls per
 * rolling window; 0 = the broker does not meter that (the host then does
 * not pace it). Orders are place_order(_ex) and cancel_order; reads are
 * every other session call (authenticate, holdings, positions, order
 * status, look-ups, funds, instruments, the market session). Like the 1.1
 * outputs it starts with `size`, set by the host; a field beyond it reads
 * as 0.
 */
typedef struct broker_rate_limits {
    uint32_t size; /* set by the host */
    uint32_t orders_per_second;
    uint32_t orders_per_minute;
    uint32_t reads_per_second;
    uint32_t reads_per_minute;
} broker_rate_limits;

/* Opaque handle the host gives each instance; passed back to every service. */
typedef struct broker_host broker_host;

/*
 * Services the host lends to a plugin instance. Every function may be called
 * from any thread that is inside a plugin call for that instance. The table
 * and the `broker_host` handle stay valid until `destroy` returns.
 */
typedef struct broker_host_services {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t size; /* sizeof the table as the host built it */

    /* Writes one log line, tagged with the broker's name. Never pass secrets. */
    void (*log)(broker_host *host, broker_log_level level, const char *format, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Returns the value of `key` in the broker's own brokers.ini section, with
     * ${ENV} references expanded, or NULL when absent. The string stays valid
     * until `destroy` returns. Read-only. */
    const char *(*config_get)(broker_host *host, const char *key);
    /* Wall-clock time in milliseconds since the Unix epoch. */
    int64_t (*now_ms)(broker_host *host);
    /* Monotonic time in milliseconds, for measuring intervals. */
    int64_t (*monotonic_ms)(broker_host *host);
    /* Sleeps the calling thread for `milliseconds`. */
    void (*sleep_ms)(broker_host *host, uint32_t milliseconds);
    /* Next value of the instance's random source, seeded from the section's
     * `seed` key (default 1): the same seed gives the same sequence. Safe to
     * call from parallel sessions; the sequence is then shared. */
    uint64_t (*random_u64)(broker_host *host);
} broker_host_services;

#define BROKER_HOST_SERVICES_V1_0_SIZE                                                             \
    ((uint32_t)(offsetof(broker_host_services, random_u64) + sizeof(void *)))

/* Capability flags. */
#define BROKER_CAP_PARTIAL_FILLS 0x1u       /* orders may end PARTIALLY_FILLED */
#define BROKER_CAP_CONCURRENT_SESSIONS 0x2u /* see "Threading" above */
#define BROKER_CAP_TAG_ALNUM_ONLY 0x4u      /* tags are [A-Za-z0-9] only */
/* 1.1: calls on one session may run in parallel (a stateless REST plugin can
 * promise it); implies BROKER_CAP_CONCURRENT_SESSIONS. Without it the host
 * keeps calls on one session serialized. */
#define BROKER_CAP_PARALLEL_SESSION_CALLS 0x8u

/* tag_max_length: the host's ids never exceed it, nor BROKER_CLIENT_ORDER_ID_MAX
 * - 1 (31) characters; 0 or anything larger means 31. */
typedef struct broker_capabilities {
    uint32_t flags;
    uint32_t tag_min_length; /* shortest client order id the broker accepts */
    uint32_t tag_max_length; /* longest one; the host never exceeds it */
    /* Order placements per second per account; 0 = none. The host's default
     * for rate_limit_per_second when get_rate_limits (1.2) is absent. */
    uint32_t rate_limit_per_second;
} broker_capabilities;

typedef struct broker_instance broker_instance; /* defined by the plugin */
typedef struct broker_session broker_session;   /* defined by the plugin */

typedef struct broker_plugin {
    uint32_t abi_major; /* BROKER_ABI_MAJOR */
    uint32_t abi_minor; /* BROKER_ABI_MINOR */
    uint32_t size;      /* sizeof(broker_plugin) as the plugin was built */

    const char *name;    /* must equal the brokers.ini section suffix */
    const char *version; /* the plugin's own version, e.g. "1.2.0" */
    const char *description;
    broker_capabilities capabilities;
    /* NULL-terminated list of the brokers.ini keys this plugin reads, so the
     * host can warn about unknown keys. May be NULL. */
    const char *const *config_keys;

    /*
     * Creates an instance for one configured broker section. `services` and
     * `host` stay valid until destroy returns. On failure returns non-zero,
     * leaves *instance NULL, and writes the reason to `error`.
     * Required. Main thread.
     */
    broker_status (*create)(const broker_host_services *services, broker_host *host,
                            broker_instance **instance, broker_text *error);
    /* Releases an instance and every session still open on it. Required. Main
     * thread. */
    void (*destroy)(broker_instance *instance);

    /*
     * Opens a session for one account from its credentials, without talking
     * to the broker: checks the fields the broker needs (BROKER_INVALID naming
     * the missing one), copies what it needs, and writes the account's stable,
     * non-secret identity to `account_id` — at most BROKER_ACCOUNT_ID_MAX - 1
     * characters (the buffer is larger; the host cuts the rest). On failure
     * *session stays NULL, the reason goes to `error`, and no close_session
     * follows. A session serves one execution or one holdings request, on the
     * thread that runs it; the host never reuses it. Required.
     */
    broker_status (*open_session)(broker_instance *instance, const broker_credentials *credentials,
                                  broker_session **session, broker_text *account_id,
                                  broker_text *error);
    /* Closes a session the host opened, exactly once, on the thread that ran
     * the execution (not necessarily the one that opened it); destroy closes
     * any left. Required. */
    void (*close_session)(broker_instance *instance, broker_session *session);

    /* Logs in, or logs in again after BROKER_AUTH. Required. */
    broker_status (*authenticate)(broker_instance *instance, broker_session *session);
    /* Emits every holding of the account through `emit`. Required. */
    broker_status (*get_holdings)(broker_instance *instance, broker_session *session,
                                  broker_holding_fn emit, void *context);
    /*
     * Places one order. BROKER_OK means the broker accepted it and `order` is
     * filled (order_id set; state is usually OPEN). BROKER_UNKNOWN means the
     * request may have reached the broker: the host will look it up with
     * find_order before sending it again. A refusal the broker gives at once
     * (bad symbol, insufficient holdings) may be returned as BROKER_REJECTED
     * with the reason in errmsg, or as BROKER_OK with state REJECTED and the
     * reason in order->message; the host treats both alike. Required.
     */
    broker_status (*place_order)(broker_instance *instance, broker_session *session,
                                 const broker_order_request *request, broker_order *order);
    /* Reads the current state of an order by the broker's id. Required. */
    broker_status (*get_order)(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order *order);
    /* Looks an order up by the client order id it was placed with.
     * BROKER_NOT_FOUND only when the broker proves it absent. Required. */
    broker_status (*find_order)(broker_instance *instance, broker_session *session,
                                const char *client_order_id, broker_order *order);
    /* Cancels an open order. Optional (NULL). */
    broker_status (*cancel_order)(broker_instance *instance, broker_session *session,
                                  const char *order_id, broker_order *order);
    /* Last traded price of a canonical symbol. Optional (NULL). */
    broker_status (*get_quote)(broker_instance *instance, broker_session *session,
                               const char *symbol, double *last_price);
    /*
     * Detail of the last failed call on `session`; with `session` NULL, of the
     * last failed open_session made by the calling thread (the only
     * session-less call after create). Never NULL; "" makes the host report
     * the status text. Valid until the next call on that session (or, for
     * NULL, the next open_session on that thread). Required.
     */
    const char *(*errmsg)(broker_instance *instance, broker_session *session);

    /* ==== ABI 1.1: optional (NULL) — the host falls back to the 1.0 calls ====
     * Threading and session rules are those of the 1.0 session calls; every
     * output struct arrives zeroed with `size` set by the host. */

    /* Places an order with exchange, product, type, price and validity.
     * Classes and fields as place_order, plus the detail. Without it the host
     * places market DAY delivery orders on NSE through place_order. */
    broker_status (*place_order_ex)(broker_instance *instance, broker_session *session,
                                    const broker_order_params *params, broker_order_detail *detail);
    /* The current state of an order in detail, charges included. Without it
     * the host follows orders with get_order and reports no charges. */
    broker_status (*get_order_ex)(broker_instance *instance, broker_session *session,
                                  const char *order_id, broker_order_detail *detail);
    /* Emits one broker_position per symbol held or traded today. Without it
     * the host reads get_holdings (settled + T1) and knows nothing of today. */
    broker_status (*get_positions)(broker_instance *instance, broker_session *session,
                                   broker_position_fn emit, void *context);
    /* Emits every order of the account that is still working. Without it the
     * host assumes there are none besides its own. */
    broker_status (*get_open_orders)(broker_instance *instance, broker_session *session,
                                     broker_open_order_fn emit, void *context);
    /* Fills the account's funds. Without it the host checks no cash before
     * placing; the broker's own rejection still arrives per order. */
    broker_status (*get_funds)(broker_instance *instance, broker_session *session,
                               broker_funds *funds);
    /* Fills the facts of a canonical symbol; an unknown one is BROKER_OK with
     * listed = 0 and the broker's wording in `reason`. Without it the host
     * checks no lots, ticks or bands. */
    broker_status (*get_instrument)(broker_instance *instance, broker_session *session,
                                    const char *symbol, broker_instrument *instrument);
    /* Fills the state of the exchange's session. Without it the host assumes
     * the market is open and learns otherwise from rejections. */
    broker_status (*get_market_session)(broker_instance *instance, broker_session *session,
                                        broker_exchange exchange, broker_market_session *market);
    /* After a call on `session` failed TRANSIENT: how long the broker asked
     * to wait before the next metered call, in ms (0: no hint). Without it
     * the host's own backoff applies. Never fails. */
    uint32_t (*retry_after_ms)(broker_instance *instance, broker_session *session);

    /* ==== ABI 1.2: optional (NULL) ==== */

    /*
     * Fills the limits this instance's broker meters per account, as
     * configured (a simulated broker: what it enforces; a live one: the
     * broker's published limits for the account type). The host calls it
     * once per instance, on the main thread, right after create returned
     * BROKER_OK and before any session is opened; `limits` arrives zeroed
     * with `size` set. On BROKER_OK every value is taken as the default of
     * the matching brokers.ini key (rate_limit_per_second,
     * rate_limit_per_minute, read_rate_limit_per_second,
     * read_rate_limit_per_minute), 0 included: 0 means "not metered", so the
     * host does not pace it; a key set in brokers.ini still wins. NULL, or
     * any other status (the host logs a warning), keeps the 1.1 defaults:
     * orders per second = capabilities.rate_limit_per_second, reads per
     * second = the order rate, nothing per minute.
     */
    broker_status (*get_rate_limits)(broker_instance *instance, broker_rate_limits *limits);
} broker_plugin;

/* Size of the v1.0 descriptor: the host refuses anything smaller. */
#define BROKER_PLUGIN_V1_0_SIZE ((uint32_t)(offsetof(broker_plugin, errmsg) + sizeof(void *)))
/* Size of the v1.1 descriptor: a plugin declaring abi_minor >= 1 is refused
 * when smaller. */
#define BROKER_PLUGIN_V1_1_SIZE                                                                    \
    ((uint32_t)(offsetof(broker_plugin, retry_after_ms) + sizeof(void *)))
/* Size of the v1.2 descriptor: a plugin declaring abi_minor >= 2 is refused
 * when smaller. */
#define BROKER_PLUGIN_V1_2_SIZE                                                                    \
    ((uint32_t)(offsetof(broker_plugin, get_rate_limits) + sizeof(void *)))

/*
 * The entry point every plugin exports under the name `broker_plugin_v1`.
 * The host calls it once, on its main thread, right after dlopen(), passing
 * the services table it will lend to instances (so the plugin can check the
 * host's minor version). On success it stores a pointer to the plugin's
 * static descriptor in *descriptor and returns BROKER_OK; the descriptor must
 * stay valid until the library is unloaded. Any other return value refuses
 * the plugin, and the host logs the status.
 */
typedef broker_status (*broker_plugin_entry_fn)(const broker_host_services *services,
                                                const broker_plugin **descriptor);

/* Declare the entry in a plugin's source with this macro so that its name and
 * type cannot drift from the ABI:
 *     BROKER_PLUGIN_ENTRY(services, descriptor) { *descriptor = &my; return BROKER_OK; } */
#define BROKER_PLUGIN_ENTRY(services, descriptor)                                                  \
    BROKER_EXPORT broker_status broker_plugin_v1(const broker_host_services *services,             \
                                                 const broker_plugin **descriptor);                \
    BROKER_EXPORT broker_status broker_plugin_v1(const broker_host_services *services,             \
                                                 const broker_plugin **descriptor)

#ifdef __cplusplus
}
#endif

#endif /* PTEXEC_BROKER_PLUGIN_H */
