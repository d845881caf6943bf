/*
 * ptexec broker plugin SDK, ABI version 1.
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
 *   are NULL. The data structures (broker_order, broker_order_request, …) are
 *   frozen for major version 1; new information arrives through new appended
 *   callbacks.
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
 * Ownership
 *   Every pointer the host passes in is valid for the duration of the call
 *   only, unless said otherwise. Every output structure is owned by the caller
 *   and filled by the plugin; no heap memory changes hands in either
 *   direction.
 */
#ifndef PTEXEC_BROKER_PLUGIN_H
#define PTEXEC_BROKER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BROKER_ABI_MAJOR 1
#define BROKER_ABI_MINOR 0

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
#define BROKER_MESSAGE_MAX 256        /* human-readable detail */

/*
 * One status for every operation. 0 is success; the others are the outcome
 * classes the host acts on (design §1 step 7). The plugin decides the class,
 * the host decides what to do about it.
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
 * returns BROKER_OK).
 */
typedef int (*broker_holding_fn)(void *context, const char *symbol, int64_t quantity);

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

typedef struct broker_capabilities {
    uint32_t flags;
    uint32_t tag_min_length;        /* shortest client order id the broker accepts */
    uint32_t tag_max_length;        /* longest one; the host never exceeds it */
    uint32_t rate_limit_per_second; /* order placements per second per account; 0 = none */
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
     * to the broker. Checks that the fields the broker needs are present
     * (BROKER_INVALID naming the missing field otherwise) and writes the
     * account's stable identity (not a secret, e.g. a client code) to
     * `account_id`. The plugin copies what it needs from `credentials`.
     * Required.
     */
    broker_status (*open_session)(broker_instance *instance, const broker_credentials *credentials,
                                  broker_session **session, broker_text *account_id,
                                  broker_text *error);
    /* Closes a session. Required. */
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
     * Detail of the last failed call on `session` (or, when `session` is NULL,
     * of the last failed instance-level call made by the calling thread).
     * Never NULL; may be "" (the host then reports the status text). Valid
     * until the next call on the same session or, for NULL, on the same
     * instance from the same thread. The host reads it with session == NULL
     * only after a failed authenticate-free instance call, so a plugin that
     * keeps no per-thread text may return "" there. Required.
     */
    const char *(*errmsg)(broker_instance *instance, broker_session *session);
} broker_plugin;

/* Size of the v1.0 descriptor: the host refuses anything smaller. */
#define BROKER_PLUGIN_V1_0_SIZE ((uint32_t)(offsetof(broker_plugin, errmsg) + sizeof(void *)))

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
