#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_EXEC_STATUSES 6 /* EXEC_COMPLETED … EXEC_RECOVERED */
#define METRICS_LEG_STATUSES 6  /* LEG_PLANNED … LEG_CANCELLED */
#define METRICS_ERROR_CODES 15  /* PTX_OK … PTX_JOURNAL */

static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,  5,     10,   30,  60};
#define METRICS_BUCKETS (sizeof duration_bounds / sizeof duration_bounds[0])

static const char *const http_routes[] = {
    "/execute", "/plan",    "/holdings", "/brokers",      "/executions", "/executions/{id}",
    "/health",  "/metrics", "/docs",     "/openapi.json", "other"};
#define METRICS_ROUTES (sizeof http_routes / sizeof http_routes[0])

static const unsigned http_codes[] = {200, 204, 304, 400, 401, 403, 404, 405, 408,
                                      409, 413, 415, 422, 429, 500, 502, 503, 0};
#define METRICS_CODES (sizeof http_codes / sizeof http_codes[0]) /* 0 = any other */

typedef struct broker_counters {
    char *name;
    uint64_t executions[METRICS_EXEC_STATUSES];
    uint64_t orders[METRICS_LEG_STATUSES];
    uint64_t attempts;
    uint64_t retries;
    uint64_t retries_by_class[3]; /* transient, unknown_lookup, reauthentication */
    uint64_t filled_quantity;
    uint64_t replays; /* stored responses returned for a reused idempotency key */
} broker_counters;

struct metrics {
    pthread_mutex_t lock;
    broker_counters *brokers; /* broker_count configured + 1 "other" */
    size_t broker_count;
    uint64_t errors[METRICS_ERROR_CODES];
    uint64_t buckets[METRICS_BUCKETS]; /* non-cumulative; summed when rendered */
    uint64_t duration_count;
    double duration_sum;
    uint64_t http[METRICS_ROUTES][METRICS_CODES];
    double http_seconds[METRICS_ROUTES];
    size_t in_flight;
};

metrics *metrics_create(const char *const *brokers, size_t broker_count)
{
    metrics *stats = calloc(1, sizeof *stats);
    if (stats == NULL)
        return NULL;
    stats->brokers = calloc(broker_count + 1, sizeof *stats->brokers);
    if (stats->brokers == NULL) {
        free(stats);
        return NULL;
    }
    stats->broker_count = broker_count + 1;
    for (size_t i = 0; i <= broker_count; i++) {
        stats->brokers[i].name = strdup(i < broker_count ? brokers[i] : "other");
        if (stats->brokers[i].name == NULL) {
            metrics_free(stats);
            return NULL;
        }
    }
    pthread_mutex_init(&stats->lock, NULL);
    return stats;
}

void metrics_free(metrics *stats)
{
    if (stats == NULL)
        return;
    for (size_t i = 0; i < stats->broker_count; i++)
        free(stats->brokers[i].name);
    free(stats->brokers);
    pthread_mutex_destroy(&stats->lock);
    free(stats);
}

static broker_counters *find_broker(metrics *stats, const char *name)
{
    for (size_t i = 0; i + 1 < stats->broker_count; i++)
        if (name != NULL && strcmp(stats->brokers[i].name, name) == 0)
            return &stats->brokers[i];
    return &stats->brokers[stats->broker_count - 1];
}

void metrics_execution_begin(metrics *stats)
{
    pthread_mutex_lock(&stats->lock);
    stats->in_flight++;
    pthread_mutex_unlock(&stats->lock);
}

static void count_duration(metrics *stats, double seconds)
{
    size_t i = 0;
    while (i < METRICS_BUCKETS && seconds > duration_bounds[i])
        i++;
    if (i < METRICS_BUCKETS)
        stats->buckets[i]++;
    stats->duration_count++;
    stats->duration_sum += seconds;
}

static void count_result(metrics *stats, broker_counters *counters, const exec_result *result)
{
    if ((unsigned)result->status < METRICS_EXEC_STATUSES)
        counters->executions[result->status]++;
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        if ((unsigned)leg->status < METRICS_LEG_STATUSES)
            counters->orders[leg->status]++;
        counters->attempts += leg->attempts;
        if (leg->attempts > 1)
            counters->retries += leg->attempts - 1;
        if (leg->filled_quantity > 0)
            counters->filled_quantity += (uint64_t)leg->filled_quantity;
    }
    counters->retries_by_class[0] += result->retries.transient;
    counters->retries_by_class[1] += result->retries.unknown_lookups;
    counters->retries_by_class[2] += result->retries.reauthentications;
    if (result->finished_ms >= result->started_ms)
        count_duration(stats, (double)(result->finished_ms - result->started_ms) / 1000.0);
}

void metrics_execution_end(metrics *stats, const char *broker, ptx_status status,
                           const exec_result *result)
{
    pthread_mutex_lock(&stats->lock);
    if (stats->in_flight > 0)
        stats->in_flight--;
    if (status == PTX_OK && result != NULL && result->replayed)
        find_broker(stats, broker)->replays++;
    else if (status == PTX_OK && result != NULL)
        count_result(stats, find_broker(stats, broker), result);
    else if ((unsigned)status < METRICS_ERROR_CODES)
        stats->errors[status]++;
    pthread_mutex_unlock(&stats->lock);
}

void metrics_http_request(metrics *stats, const char *route, unsigned code, double duration_ms)
{
    size_t r = METRICS_ROUTES - 1;
    for (size_t i = 0; i + 1 < METRICS_ROUTES; i++)
        if (route != NULL && strcmp(route, http_routes[i]) == 0)
            r = i;
    size_t c = METRICS_CODES - 1;
    for (size_t i = 0; i + 1 < METRICS_CODES; i++)
        if (code == http_codes[i])
            c = i;
    pthread_mutex_lock(&stats->lock);
    stats->http[r][c]++;
    stats->http_seconds[r] += duration_ms / 1000.0;
    pthread_mutex_unlock(&stats->lock);
}

size_t metrics_in_flight(metrics *stats)
{
    pthread_mutex_lock(&stats->lock);
    size_t value = stats->in_flight;
    pthread_mutex_unlock(&stats->lock);
    return value;
}

/* A growing text buffer; after a failed allocation every append is a no-op. */
typedef struct text_buffer {
    char *data;
    size_t length;
    size_t capacity;
    bool failed;
} text_buffer;

static void append(text_buffer *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void append(text_buffer *text, const char *format, ...)
{
    if (text->failed)
        return;
    for (;;) {
        va_list args;
        va_start(args, format);
        size_t room = text->capacity - text->length;
        int n = vsnprintf(text->data ? text->data + text->length : NULL, room, format, args);
        va_end(args);
        if (n < 0) {
            text->failed = true;
            return;
        }
        if ((size_t)n < room) {
            text->length += (size_t)n;
            return;
        }
        size_t capacity = text->capacity ? text->capacity * 2 : 8192;
        while (capacity - text->length <= (size_t)n)
            capacity *= 2;
        char *data = realloc(text->data, capacity);
        if (data == NULL) {
            text->failed = true;
            return;
        }
        text->data = data;
        text->capacity = capacity;
    }
}

static void header(text_buffer *text, const char *name, const char *type, const char *help)
{
    append(text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_executions(text_buffer *text, const metrics *stats)
{
    static const exec_status order[] = {EXEC_COMPLETED, EXEC_PARTIAL, EXEC_FAILED,
                                        EXEC_NOOP,      EXEC_PLANNED, EXEC_RECOVERED};
    header(text, "ptexec_executions_total", "counter",
           "Executions that ran (including dry runs), by broker and execution status.");
    for (size_t b = 0; b < stats->broker_count; b++)
        for (size_t s = 0; s < METRICS_EXEC_STATUSES; s++)
            append(text, "ptexec_executions_total{broker=\"%s\",status=\"%s\"} %llu\n",
                   stats->brokers[b].name, exec_status_name(order[s]),
                   (unsigned long long)stats->brokers[b].executions[order[s]]);
    header(text, "ptexec_execution_replays_total", "counter",
           "Executions answered with the stored response of an earlier one with the same "
           "idempotency key (nothing placed), by broker.");
    for (size_t b = 0; b < stats->broker_count; b++)
        append(text, "ptexec_execution_replays_total{broker=\"%s\"} %llu\n", stats->brokers[b].name,
               (unsigned long long)stats->brokers[b].replays);
    header(text, "ptexec_execution_errors_total", "counter",
           "Executions refused before any order was placed, by error code.");
    for (size_t s = 1; s < METRICS_ERROR_CODES; s++)
        if (s != PTX_NOMEM) /* shares the code internal_error with PTX_INTERNAL */
            append(text, "ptexec_execution_errors_total{code=\"%s\"} %llu\n",
                   ptx_status_code((ptx_status)s),
                   (unsigned long long)(stats->errors[s] +
                                        (s == PTX_INTERNAL ? stats->errors[PTX_NOMEM] : 0)));
}

static void render_orders(text_buffer *text, const metrics *stats)
{
    header(text, "ptexec_orders_total", "counter",
           "Order legs by broker and final leg status (PLANNED for dry runs).");
    for (size_t b = 0; b < stats->broker_count; b++)
        for (size_t s = 0; s < METRICS_LEG_STATUSES; s++)
            append(text, "ptexec_orders_total{broker=\"%s\",status=\"%s\"} %llu\n",
                   stats->brokers[b].name, leg_status_name((leg_status)s),
                   (unsigned long long)stats->brokers[b].orders[s]);
    header(text, "ptexec_order_attempts_total", "counter", "place_order calls made, by broker.");
    for (size_t b = 0; b < stats->broker_count; b++)
        append(text, "ptexec_order_attempts_total{broker=\"%s\"} %llu\n", stats->brokers[b].name,
               (unsigned long long)stats->brokers[b].attempts);
    header(text, "ptexec_order_retries_total", "counter",
           "place_order calls beyond the first one of a leg, by broker.");
    for (size_t b = 0; b < stats->broker_count; b++)
        append(text, "ptexec_order_retries_total{broker=\"%s\"} %llu\n", stats->brokers[b].name,
               (unsigned long long)stats->brokers[b].retries);
    static const char *const retry_classes[3] = {"transient", "unknown_lookup", "reauthentication"};
    header(text, "ptexec_retries_total", "counter",
           "What the engine retried, by broker and outcome class: transient (a call repeated "
           "after a TRANSIENT failure), unknown_lookup (find_order after an UNKNOWN outcome), "
           "reauthentication (a login after the session expired).");
    for (size_t b = 0; b < stats->broker_count; b++)
        for (size_t k = 0; k < 3; k++)
            append(text, "ptexec_retries_total{broker=\"%s\",class=\"%s\"} %llu\n",
                   stats->brokers[b].name, retry_classes[k],
                   (unsigned long long)stats->brokers[b].retries_by_class[k]);
    header(text, "ptexec_filled_quantity_total", "counter", "Shares filled, by broker.");
    for (size_t b = 0; b < stats->broker_count; b++)
        append(text, "ptexec_filled_quantity_total{broker=\"%s\"} %llu\n", stats->brokers[b].name,
               (unsigned long long)stats->brokers[b].filled_quantity);
}

static void render_durations(text_buffer *text, const metrics *stats)
{
    header(text, "ptexec_execution_duration_seconds", "histogram",
           "Wall time of executions that ran, from start to reconciliation.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cumulative += stats->buckets[i];
        append(text, "ptexec_execution_duration_seconds_bucket{le=\"%g\"} %llu\n",
               duration_bounds[i], (unsigned long long)cumulative);
    }
    append(text, "ptexec_execution_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
           (unsigned long long)stats->duration_count);
    append(text, "ptexec_execution_duration_seconds_sum %.6f\n", stats->duration_sum);
    append(text, "ptexec_execution_duration_seconds_count %llu\n",
           (unsigned long long)stats->duration_count);
    header(text, "ptexec_executions_in_flight", "gauge", "Executions running right now.");
    append(text, "ptexec_executions_in_flight %zu\n", stats->in_flight);
}

static void render_http(text_buffer *text, const metrics *stats)
{
    header(text, "ptexec_http_requests_total", "counter",
           "HTTP requests answered, by route and status code.");
    for (size_t r = 0; r < METRICS_ROUTES; r++)
        for (size_t c = 0; c < METRICS_CODES; c++) {
            if (stats->http[r][c] == 0)
                continue;
            char code[16];
            if (http_codes[c] == 0)
                snprintf(code, sizeof code, "other");
            else
                snprintf(code, sizeof code, "%u", http_codes[c]);
            append(text, "ptexec_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                   http_routes[r], code, (unsigned long long)stats->http[r][c]);
        }
    header(text, "ptexec_http_request_seconds_total", "counter",
           "Time spent answering HTTP requests, by route.");
    for (size_t r = 0; r < METRICS_ROUTES; r++)
        append(text, "ptexec_http_request_seconds_total{route=\"%s\"} %.6f\n", http_routes[r],
               stats->http_seconds[r]);
}

char *metrics_render(metrics *stats, size_t *length)
{
    text_buffer text = {0};
    pthread_mutex_lock(&stats->lock);
    render_executions(&text, stats);
    render_orders(&text, stats);
    render_durations(&text, stats);
    render_http(&text, stats);
    pthread_mutex_unlock(&stats->lock);
    if (text.failed || text.data == NULL) {
        free(text.data);
        return NULL;
    }
    if (length)
        *length = text.length;
    return text.data;
}
