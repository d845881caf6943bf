/* Host-wide status codes and the caller-owned error record. */
#ifndef PTEXEC_STATUS_H
#define PTEXEC_STATUS_H

#include <stddef.h>

/* One status for every host function; 0 is success. The third column is the
 * stable code that appears in HTTP error bodies. */
#define PTX_STATUS_MAP(X)                                                                          \
    X(OK, 0, "ok", "ok")                                                                           \
    X(PARSE, 1, "malformed JSON", "invalid_json")                                                  \
    X(INVALID, 2, "invalid request", "invalid_request")                                            \
    X(CONFIG, 3, "invalid configuration", "invalid_config")                                        \
    X(NOT_FOUND, 4, "not found", "not_found")                                                      \
    X(AUTH, 5, "broker authentication failed", "broker_auth_failed")                               \
    X(UNAVAILABLE, 6, "broker unavailable", "broker_unavailable")                                  \
    X(BUSY, 7, "account busy", "account_busy")                                                     \
    X(NOMEM, 8, "out of memory", "internal_error")                                                 \
    X(IO, 9, "input/output error", "io_error")                                                     \
    X(PLUGIN, 10, "plugin refused", "plugin_refused")                                              \
    X(INTERNAL, 11, "internal error", "internal_error")                                            \
    X(CONFLICT, 12, "idempotency key reused with a different request", "idempotency_conflict")     \
    X(IN_PROGRESS, 13, "an execution with this idempotency key is still running", "in_progress")   \
    X(JOURNAL, 14, "journal unavailable", "journal_unavailable")                                   \
    X(MARKET_CLOSED, 15, "market closed", "market_closed")

typedef enum ptx_status {
#define PTX_STATUS_ENUM_(name, value, text, code) PTX_##name = value,
    PTX_STATUS_MAP(PTX_STATUS_ENUM_)
#undef PTX_STATUS_ENUM_
} ptx_status;

/* Detail of a failure: the status, the request field it concerns (a JSON path
 * such as "target_portfolio[1].target_quantity", or "" when none) and a
 * message for humans. Always caller-owned; never holds secrets. */
typedef struct ptx_error {
    ptx_status status;
    char field[128];
    char message[512];
} ptx_error;

/* Returns a static description of `status`; never NULL. Any thread. */
const char *ptx_strerror(ptx_status status);

/* Returns the stable snake_case code of `status` used in error bodies. */
const char *ptx_status_code(ptx_status status);

/* Fills `error` (which may be NULL) with `status`, `field` (may be NULL) and a
 * printf-style message, and returns `status` so callers can write
 * `return ptx_fail(err, PTX_INVALID, "broker", "unknown broker '%s'", name);`. */
ptx_status ptx_fail(ptx_error *error, ptx_status status, const char *field, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears `error` to PTX_OK with empty field and message. */
void ptx_error_clear(ptx_error *error);

#endif
