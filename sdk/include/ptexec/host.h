/*
 * ptexec host library, API version 1 (libptexec.so.1).
 *
 * This is the only header a front-end needs: the ptexec command line, its
 * HTTP server, and any other program that runs executions in-process (a
 * portfolio model in C or, through ctypes, in Python). It opens a host from a
 * brokers.ini configuration (plugins, journal, notification sinks), runs and
 * plans executions given as the JSON body of POST /execute and answers with
 * the same JSON the HTTP API answers, reads holdings and the journal's
 * history, and reports readiness. Nothing of the host's internals is visible
 * here, and no third-party type crosses it. Build with
 * `pkg-config --cflags --libs ptexec`.
 *
 * Versioning
 *   The soname carries the major version (libptexec.so.1). A minor version
 *   (PTEXEC_API_MINOR) only adds functions and constants; it never changes
 *   the signature or meaning of a function, the layout of a structure below,
 *   or the value of a status, and never removes anything. Any other change
 *   gets a new soname (libptexec.so.2) and a new major version. The JSON
 *   documents follow design §2.5: fields may be added, never removed or
 *   renamed. A program built against 1.N runs against 1.M for every M >= N.
 *
 * Threading
 *   A host handle may be used from several threads at once: every function
 *   that takes a ptexec_host may be called concurrently with any other,
 *   except ptexec_close, which must be the last call on the handle and may
 *   not run while another call on it is running. Executions for different
 *   broker accounts run in parallel; two for one account are serialized (the
 *   second waits up to [host] account_wait_ms, then fails with
 *   PTEXEC_BUSY). ptexec_open_* and ptexec_close may be called on any thread;
 *   the plugins' create and destroy run on that thread. Logging settings
 *   ([host] log_level, log_format) are process-wide: the last host opened
 *   sets them. Functions without a host (ptexec_strerror, ptexec_free, …) may
 *   be called from any thread at any time.
 *
 * Ownership
 *   Strings passed in are borrowed for the duration of the call. Text the
 *   library returns through a `char **` is heap memory owned by the caller,
 *   released with ptexec_free (never with another allocator's free). Strings
 *   returned as `const char *` are owned by the library; each function says
 *   how long they stay valid. Every structure below is caller-owned.
 *
 * Processes
 *   One trading host per journal file: a host that executes takes an
 *   exclusive lock on "<journal>.lock", and a second one (in this or another
 *   process, e.g. `ptexec serve`) runs with its journal unavailable, refusing
 *   executions with PTEXEC_JOURNAL. Open a host with PTEXEC_OPEN_RECORDS_ONLY
 *   to read history beside a running server. Opening a trading host probes
 *   every plugin in a child process (fork); do not open one while another
 *   thread of the process holds locks a child would need.
 */
#ifndef PTEXEC_HOST_H
#define PTEXEC_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PTEXEC_API_MAJOR 1
#define PTEXEC_API_MINOR 0

#if defined(__GNUC__)
#define PTEXEC_API __attribute__((visibility("default")))
#define PTEXEC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define PTEXEC_API
#define PTEXEC_PRINTF(fmt_index, first_arg)
#endif

/* Buffer sizes, including the terminating NUL. */
#define PTEXEC_EXECUTION_ID_MAX 40     /* "ex-" + 26 characters */
#define PTEXEC_IDEMPOTENCY_KEY_MAX 129 /* 1-128 printable ASCII characters */
#define PTEXEC_BROKER_NAME_MAX 64      /* a [broker.NAME] suffix */
#define PTEXEC_EXECUTION_STATUS_MAX 16 /* "COMPLETED", "PARTIAL", … */
#define PTEXEC_ERROR_CODE_MAX 32       /* "invalid_request", … */
#define PTEXEC_ERROR_FIELD_MAX 128     /* "target_portfolio[1].target_quantity" */
#define PTEXEC_ERROR_MESSAGE_MAX 512

/*
 * One status for every function; 0 is success. Columns: name, value,
 * description (ptexec_strerror), the stable snake_case code of error bodies
 * (ptexec_status_code), and the HTTP status the server answers with
 * (ptexec_http_status). A failed execution request never placed an order.
 */
#define PTEXEC_STATUS_MAP(X)                                                                       \
    X(OK, 0, "ok", "ok", 200)                                                                      \
    X(PARSE, 1, "malformed JSON", "invalid_json", 400)                                             \
    X(INVALID, 2, "invalid request", "invalid_request", 422)                                       \
    X(CONFIG, 3, "invalid configuration", "invalid_config", 500)                                   \
    X(NOT_FOUND, 4, "not found", "not_found", 404)                                                 \
    X(AUTH, 5, "broker authentication failed", "broker_auth_failed", 401)                          \
    X(UNAVAILABLE, 6, "broker unavailable", "broker_unavailable", 503)                             \
    X(BUSY, 7, "account busy", "account_busy", 409)                                                \
    X(NOMEM, 8, "out of memory", "internal_error", 500)                                            \
    X(IO, 9, "input/output error", "io_error", 500)                                                \
    X(PLUGIN, 10, "plugin refused", "plugin_refused", 500)                                         \
    X(INTERNAL, 11, "internal error", "internal_error", 500)                                       \
    X(CONFLICT, 12, "idempotency key reused with a different request", "idempotency_conflict",     \
      409)                                                                                         \
    X(IN_PROGRESS, 13, "an execution with this idempotency key is still running", "in_progress",   \
      409)                                                                                         \
    X(JOURNAL, 14, "journal unavailable", "journal_unavailable", 503)                              \
    X(MARKET_CLOSED, 15, "market closed", "market_closed", 409)

typedef enum ptexec_status {
#define PTEXEC_STATUS_ENUM_(name, value, text, code, http) PTEXEC_##name = value,
    PTEXEC_STATUS_MAP(PTEXEC_STATUS_ENUM_)
#undef PTEXEC_STATUS_ENUM_
} ptexec_status;

/* Returns a static description of `status` ("unknown status" outside the
 * table); never NULL. */
PTEXEC_API const char *ptexec_strerror(ptexec_status status);

/* Returns the static snake_case code of `status` used in error bodies
 * ("invalid_request", …; "internal_error" outside the table). */
PTEXEC_API const char *ptexec_status_code(ptexec_status status);

/* Returns the HTTP status code the server answers a failure of `status`
 * with (200 for PTEXEC_OK, 500 outside the table). */
PTEXEC_API unsigned ptexec_http_status(ptexec_status status);

/*
 * Detail of a failure, always caller-owned and never holding a secret.
 * `status` is the failure, `code` its stable error code, `field` the request
 * field it concerns as a JSON path ("" when none), `message` text for
 * humans, and `http_status` the HTTP status the server answers with. The
 * error body of the HTTP API is {"error":{"code","message","field"}} built
 * from these (ptexec_error_json). Functions that take a `ptexec_error *`
 * accept NULL and fill it only on failure.
 */
typedef struct ptexec_error {
    ptexec_status status;
    unsigned http_status;
    char code[PTEXEC_ERROR_CODE_MAX];
    char field[PTEXEC_ERROR_FIELD_MAX];
    char message[PTEXEC_ERROR_MESSAGE_MAX];
} ptexec_error;

/* Releases text the library returned through a `char **`; NULL is fine. */
PTEXEC_API void ptexec_free(void *text);

/* The library's version, e.g. "0.1.0" (static). */
PTEXEC_API const char *ptexec_version(void);

/* ---- opening a host ------------------------------------------------------ */

typedef struct ptexec_host ptexec_host;

/* Flags of ptexec_open_*. */
#define PTEXEC_OPEN_RECORDS_ONLY                                                                   \
    0x1u /* configuration and journal only: no plugins, no journal                                 \
            lock, no recovery; history and show work, executions                                   \
            fail with PTEXEC_UNAVAILABLE */

/*
 * Opens a host from the brokers.ini file at `path`: reads the configuration
 * (relative paths resolve against the file's folder), sets the process's
 * logging, loads every configured plugin (a refused one is logged and listed
 * by ptexec_refused, never stopping the others), creates the notification
 * sinks, and opens the journal and looks for executions a previous process
 * left running. A journal that cannot be opened or is locked by another
 * trading host does not fail the open: executions are then refused with
 * PTEXEC_JOURNAL (see ptexec_ready). Returns PTEXEC_OK with *out set (release
 * with ptexec_close), or PTEXEC_CONFIG ("FILE:LINE: reason"), PTEXEC_NOMEM,
 * with *out NULL. `flags` is 0 or PTEXEC_OPEN_RECORDS_ONLY.
 */
PTEXEC_API ptexec_status ptexec_open_file(const char *path, unsigned flags, ptexec_host **out,
                                          ptexec_error *error);

/*
 * The same from configuration text of `length` bytes (brokers.ini syntax).
 * Relative paths in it resolve against `directory` (NULL: the current
 * directory); messages name the configuration "(configuration text)".
 */
PTEXEC_API ptexec_status ptexec_open_text(const char *text, size_t length, const char *directory,
                                          unsigned flags, ptexec_host **out, ptexec_error *error);

/*
 * Closes the host: commits and closes the journal, flushes the sinks,
 * destroys the plugin instances and frees everything the host holds. NULL is
 * fine. No other call on `host` may be running or follow.
 */
PTEXEC_API void ptexec_close(ptexec_host *host);

/*
 * The effective value of `key` in [`section`] ("host", "broker.NAME",
 * "notify.NAME") with ${ENV} references expanded, or NULL when absent. For
 * [host] plugin_dir, listen, journal (resolved paths; journal "" when off),
 * api_token, log_level and log_format it is the value the host uses, with
 * defaults and PTEXEC_LISTEN applied. Valid until ptexec_close.
 */
PTEXEC_API const char *ptexec_config_string(const ptexec_host *host, const char *section,
                                            const char *key);

/*
 * Reads the unsigned integer `key` of [`section`] into *value, or
 * `fallback` when absent. PTEXEC_CONFIG ("FILE:LINE: …") when it is not an
 * integer in [minimum, maximum].
 */
PTEXEC_API ptexec_status ptexec_config_uint(const ptexec_host *host, const char *section,
                                            const char *key, unsigned long minimum,
                                            unsigned long maximum, unsigned long fallback,
                                            unsigned long *value, ptexec_error *error);

/* ---- executions ----------------------------------------------------------- */

/*
 * One leg as it reaches its final state, for the progress callback. Strings
 * are valid during the callback only. `side` is "BUY" or "SELL", `status`
 * the leg status ("FILLED", "REJECTED", …), `reason` "" when none.
 */
typedef struct ptexec_leg {
    const char *execution_id;
    const char *broker;
    const char *symbol;
    const char *side;
    int64_t quantity;
    size_t sequence;  /* 1-based place in execution order */
    size_t leg_count; /* legs of the execution */
    const char *status;
    const char *reason;
    const char *order_id;
    const char *client_order_id;
    int64_t filled_quantity;
    double average_price;
    unsigned attempts;
} ptexec_leg;

/* Called on the executing thread as each leg reaches its final state, in
 * execution order. It must not call ptexec_close. */
typedef void (*ptexec_progress_fn)(void *context, const ptexec_leg *leg);

/* How ptexec_execute formats the response text. */
typedef enum ptexec_format {
    PTEXEC_FORMAT_JSON = 0, /* the JSON the HTTP API answers with */
    PTEXEC_FORMAT_TEXT = 1  /* the tables of `ptexec … --format text` */
} ptexec_format;

/* Options of one execution; a zeroed struct (or NULL) means none. */
typedef struct ptexec_execute_options {
    /* The Idempotency-Key header form, NULL for none: 1-128 printable ASCII
     * characters (anything else, "" too, is PTEXEC_INVALID with field
     * "Idempotency-Key"); if the body has an idempotency_key too, both must
     * be equal (PTEXEC_INVALID, field "idempotency_key"). */
    const char *idempotency_key;
    int dry_run; /* non-zero: plan only, whatever the body says */
    ptexec_format format;
    ptexec_progress_fn progress; /* may be NULL */
    void *progress_context;
} ptexec_execute_options;

/*
 * What an execution answered. `body` (heap, ptexec_free) is always set
 * unless memory ran out: the response document on success, the error body
 * {"error":{…}} on failure, as the HTTP API answers with `http_status`.
 * `execution_id` and `status` (COMPLETED, PARTIAL, FAILED, NOOP, PLANNED,
 * RECOVERED) are "" when the request failed before running; `replayed` is
 * non-zero when the body is the stored response of an earlier execution
 * with the same idempotency key (nothing was placed).
 */
typedef struct ptexec_result {
    char *body;
    size_t length;
    unsigned http_status;
    char execution_id[PTEXEC_EXECUTION_ID_MAX];
    char status[PTEXEC_EXECUTION_STATUS_MAX];
    int replayed;
} ptexec_result;

/*
 * Runs one execution of `request`, the JSON body of POST /execute of
 * `length` bytes (not necessarily NUL-terminated), as design §1 describes.
 * Returns PTEXEC_OK whenever the execution ran, even if legs failed (see
 * result->status). Otherwise nothing was placed, *error says why and
 * result->body holds the error body: PTEXEC_PARSE, PTEXEC_INVALID (naming
 * the field; also an unknown broker), PTEXEC_AUTH, PTEXEC_UNAVAILABLE,
 * PTEXEC_BUSY, PTEXEC_JOURNAL, PTEXEC_CONFLICT, PTEXEC_IN_PROGRESS,
 * PTEXEC_NOMEM or PTEXEC_INTERNAL (logged; the body then says only
 * "internal error"). Release result->body with ptexec_free in every case.
 */
PTEXEC_API ptexec_status ptexec_execute(ptexec_host *host, const char *request, size_t length,
                                        const ptexec_execute_options *options,
                                        ptexec_result *result, ptexec_error *error);

/* The same as a dry run (POST /plan): every leg PLANNED, nothing placed. */
PTEXEC_API ptexec_status ptexec_plan(ptexec_host *host, const char *request, size_t length,
                                     const ptexec_execute_options *options, ptexec_result *result,
                                     ptexec_error *error);

/*
 * Reads an account's holdings for the body of POST /holdings,
 * {"broker":…,"credentials":{…}}, answering {"broker":…,"holdings":
 * [{"symbol","quantity"},…]} sorted by symbol, in result->body (error body
 * on failure). Errors as ptexec_execute.
 */
PTEXEC_API ptexec_status ptexec_holdings(ptexec_host *host, const char *request, size_t length,
                                         ptexec_result *result, ptexec_error *error);

/* ---- brokers, history, health ------------------------------------------- */

/*
 * The loaded brokers into *text (heap, ptexec_free): JSON as GET /brokers,
 * {"brokers":[{"name","version","abi","mode","plugin","description"},…]} in
 * configuration order, or a table (PTEXEC_FORMAT_TEXT). PTEXEC_OK or
 * PTEXEC_NOMEM.
 */
PTEXEC_API ptexec_status ptexec_brokers(ptexec_host *host, ptexec_format format, char **text,
                                        size_t *length, ptexec_error *error);

/* Number of configured brokers whose plugin was refused. */
PTEXEC_API size_t ptexec_refused_count(const ptexec_host *host);

/*
 * The `index`-th refused broker (configuration order): its NAME and the
 * text of its log line, "plugin FILE: refused at STAGE: REASON" (either
 * pointer may be NULL). Valid until ptexec_close. PTEXEC_NOT_FOUND when
 * index >= ptexec_refused_count.
 */
PTEXEC_API ptexec_status ptexec_refused(const ptexec_host *host, size_t index, const char **name,
                                        const char **message);

/* Filter of ptexec_history; a zeroed struct lists the latest 50. */
typedef struct ptexec_history_query {
    size_t limit;       /* 1-10000; 0 means 50 */
    const char *broker; /* NULL or "" for all */
    const char *status; /* NULL or "" for all; RUNNING, COMPLETED, PARTIAL, FAILED, NOOP or
                           RECOVERED (any case) */
} ptexec_history_query;

/*
 * The journaled executions, newest first, as GET /executions answers
 * ({"executions":[{"execution_id","broker","account_hash","status",
 * "idempotency_key","orders","created_at","finished_at"},…]}) or as a table,
 * into *text (heap, ptexec_free). PTEXEC_INVALID for a bad query (field
 * "limit", "broker" or "status"), PTEXEC_JOURNAL when the journal is off,
 * unavailable or unreadable.
 */
PTEXEC_API ptexec_status ptexec_history(ptexec_host *host, const ptexec_history_query *query,
                                        ptexec_format format, char **text, size_t *length,
                                        ptexec_error *error);

/*
 * One journaled execution as GET /executions/{id} answers: its row, its
 * stored `response` and every leg's timeline, into *json (heap,
 * ptexec_free). PTEXEC_NOT_FOUND for an unknown id, PTEXEC_JOURNAL as
 * ptexec_history.
 */
PTEXEC_API ptexec_status ptexec_history_get(ptexec_host *host, const char *execution_id,
                                            char **json, size_t *length, ptexec_error *error);

/*
 * Returns PTEXEC_OK when an execution could run now, else why not, with a
 * message in *error: PTEXEC_JOURNAL (the journal could not be opened or is
 * held by another process), PTEXEC_UNAVAILABLE (no broker loaded, or the
 * host was opened PTEXEC_OPEN_RECORDS_ONLY).
 */
PTEXEC_API ptexec_status ptexec_ready(ptexec_host *host, ptexec_error *error);

/* Liveness detail, as GET /health reports it. */
typedef struct ptexec_health {
    size_t brokers;              /* loaded */
    size_t refused_brokers;      /* configured but refused */
    size_t executions_in_flight; /* executions and holdings reads running now */
    const char *journal;         /* "ok", "off" or "unavailable" (static) */
    int ready;                   /* non-zero when ptexec_ready would return PTEXEC_OK */
} ptexec_health;

/* Fills *health. Any thread. */
PTEXEC_API void ptexec_health_get(ptexec_host *host, ptexec_health *health);

/* ---- front-end services -------------------------------------------------- */

/*
 * Renders the error body {"error":{"code":…,"message":…,"field":…}} (field
 * null when NULL or "") into *json (heap, ptexec_free), for errors a
 * front-end decides itself (unknown path, bad token, …). Bytes of `message`
 * or `field` that are not valid UTF-8 are written as the text \xNN, so the
 * body is always valid UTF-8. PTEXEC_OK or PTEXEC_NOMEM.
 */
PTEXEC_API ptexec_status ptexec_error_json(const char *code, const char *message, const char *field,
                                           char **json, size_t *length);

/*
 * Counts one answered HTTP request in the host's metrics: `route`, one of
 * the HTTP API's route names ("/execute", "/executions/{id}", …; any other
 * is counted as "other"), the status `code` and its duration.
 */
PTEXEC_API void ptexec_metrics_http_request(ptexec_host *host, const char *route, unsigned code,
                                            double duration_ms);

/*
 * Every metric of the host (executions and orders by broker and status,
 * refusals by code, attempts, retries, durations, in-flight executions,
 * HTTP requests) in the Prometheus text format 0.0.4, into *text (heap,
 * ptexec_free). PTEXEC_OK or PTEXEC_NOMEM.
 */
PTEXEC_API ptexec_status ptexec_metrics_text(ptexec_host *host, char **text, size_t *length);

typedef enum ptexec_log_level {
    PTEXEC_LOG_ERROR = 0,
    PTEXEC_LOG_WARN = 1,
    PTEXEC_LOG_INFO = 2,
    PTEXEC_LOG_DEBUG = 3
} ptexec_log_level;

/* Writes one line to the host's log (stderr, text or JSON lines as
 * configured), tagged with `module`. Never pass secrets. */
PTEXEC_API void ptexec_log(ptexec_log_level level, const char *module, const char *format, ...)
    PTEXEC_PRINTF(3, 4);

/*
 * Loads one plugin file for inspection without a configuration (the checks
 * and the child-process probe of a real load, no instance) and describes
 * its descriptor as text, one "name: value" line per field, into *text
 * (heap, ptexec_free). On failure error->message reads "plugin FILE: refused
 * at STAGE: REASON" (PTEXEC_PLUGIN).
 */
PTEXEC_API ptexec_status ptexec_plugin_describe(const char *path, char **text, size_t *length,
                                                ptexec_error *error);

#ifdef __cplusplus
}
#endif

#endif /* PTEXEC_HOST_H */
