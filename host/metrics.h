/* Counters of the HTTP server, rendered in the Prometheus text format
 * (version 0.0.4) for GET /metrics. */
#ifndef PTEXEC_METRICS_H
#define PTEXEC_METRICS_H

#include <stddef.h>

#include "execution.h"
#include "status.h"

typedef struct metrics metrics;

/*
 * Creates the counters for the `broker_count` broker names in `brokers`
 * (copied). Executions of other names are counted under broker "other", so
 * a client cannot grow the label set. NULL on OOM. Main thread.
 */
metrics *metrics_create(const char *const *brokers, size_t broker_count);

/* Frees the counters; NULL is fine. No other call may be running. */
void metrics_free(metrics *stats);

/* Counts one execution as in flight; pair with metrics_execution_end. Any thread. */
void metrics_execution_begin(metrics *stats);

/*
 * Ends an execution begun with metrics_execution_begin. When `status` is
 * PTX_OK, `result` (borrowed) is the finished execution: it is counted by
 * broker and status, its legs by broker and leg status, their attempts and
 * retries, and its duration goes into the histogram; a replayed result (the
 * stored response of an idempotency key used before) is counted only as a
 * replay of its broker. Otherwise the refusal is counted by its error code.
 * Any thread.
 */
void metrics_execution_end(metrics *stats, const char *broker, ptx_status status,
                           const exec_result *result);

/* Counts one answered HTTP request: `route` (a static name such as
 * "/execute"), the status `code` and its duration. Any thread. */
void metrics_http_request(metrics *stats, const char *route, unsigned code, double duration_ms);

/* Returns the current value of the in-flight gauge. Any thread. */
size_t metrics_in_flight(metrics *stats);

/* Renders every metric as Prometheus text. Returns a heap string (caller
 * frees) with its length in *length (may be NULL), or NULL on OOM. Any
 * thread. */
char *metrics_render(metrics *stats, size_t *length);

#endif
