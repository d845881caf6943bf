#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include <ptexec/host.h>

#include "openapi.h"

#define HTTP_DEFAULT_MAX_CONNECTIONS 4096
#define HTTP_DEFAULT_MAX_PER_IP 256
#define HTTP_DEFAULT_HEADER_TIMEOUT_S 10
#define HTTP_DEFAULT_MAX_EXECUTIONS 256
#define HTTP_WORKERS_PER_CORE 8 /* default engine_workers: 8 per core */
#define HTTP_DEFAULT_GRACE_MS 10000
#define HTTP_DEFAULT_TIMEOUT_S 30
#define HTTP_DEFAULT_BODY_LIMIT (1024 * 1024)
#define HTTP_TICK_MS 250            /* how often the main thread sweeps slow clients */
#define HTTP_DROP_LOG_INTERVAL_S 10 /* at most one "dropped slow clients" line per interval */
#define HTTP_RETRY_AFTER_S "1"
#define HTTP_PATH_LOG_MAX 128
#define HTTP_DOCS_FILE_MAX 64
#define HTTP_STATUS_NAME_MAX 16 /* longest execution state + NUL */
#define HTTP_HISTORY_DEFAULT_LIMIT 50
#define HTTP_HISTORY_MAX_LIMIT 1000
#define HTTP_IDEMPOTENCY_HEADER "Idempotency-Key"
#define HTTP_CODINGS_MAX 128 /* Transfer-Encoding text kept for the framing check */
#define HTTP_HOSTS_MAX 32    /* entries of allowed_hosts */
#define HTTP_HOST_NAME_MAX 256
/* Per-connection memory pool: request line, headers, the read buffer (bodies
 * are streamed through it in pieces) and the response headers. libmicrohttpd
 * zeroes the pool between keep-alive requests, so its size is paid on every
 * request; 16 KiB leaves room for ~8 KiB of request headers. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
/* Engine workers run the engine, SQLite and the plugins; 512 KiB is ample
 * and keeps their reservations far below the 8 MiB default each. */
#define HTTP_THREAD_STACK (512 * 1024)

/* Files of the Swagger UI folder that GET /docs/NAME may serve; nothing else. */
static const struct docs_file {
    const char *name;
    const char *content_type;
} docs_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"docs.js", "text/javascript; charset=utf-8"},
    {"swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
    {"swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"},
    {"favicon-16x16.png", "image/png"},
    {"favicon-32x32.png", "image/png"},
};

typedef enum http_route {
    ROUTE_EXECUTE,
    ROUTE_PLAN,
    ROUTE_HOLDINGS,
    ROUTE_BROKERS,
    ROUTE_EXECUTIONS,
    ROUTE_EXECUTION,
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_METRICS,
    ROUTE_OPENAPI,
    ROUTE_DOCS,
    ROUTE_NONE
} http_route;

typedef struct route_def {
    const char *path; /* also the metrics label */
    bool post;        /* POST with a JSON body; otherwise GET/HEAD */
    bool protected;   /* needs the API token when one is configured */
} route_def;

static const route_def routes[] = {
    [ROUTE_EXECUTE] = {"/execute", true, true},
    [ROUTE_PLAN] = {"/plan", true, true},
    [ROUTE_HOLDINGS] = {"/holdings", true, true},
    [ROUTE_BROKERS] = {"/brokers", false, true},
    [ROUTE_EXECUTIONS] = {"/executions", false, true},
    [ROUTE_EXECUTION] = {"/executions/{id}", false, true},
    [ROUTE_HEALTH] = {"/health", false, false},
    [ROUTE_READY] = {"/ready", false, false},
    [ROUTE_METRICS] = {"/metrics", false, true},
    [ROUTE_OPENAPI] = {"/openapi.json", false, false},
    [ROUTE_DOCS] = {"/docs", false, false},
};

/* One client connection, from accept to close: the header deadline the main
 * thread enforces (libmicrohttpd has one inactivity timeout, which a client
 * trickling a byte at a time never trips). */
typedef struct http_peer {
    struct http_peer *prev;
    struct http_peer *next;
    int fd;
    _Atomic int64_t deadline_ns; /* headers due by then; 0 while a request is served */
} http_peer;

typedef struct http_request http_request;

typedef struct http_server {
    ptexec_host *host;
    struct MHD_Daemon *daemon;
    size_t body_limit;
    const char *api_token; /* NULL when none is configured */
    char docs_dir[PATH_MAX];
    /* Host header check (DNS rebinding): off when host_count is 0. */
    char hosts[HTTP_HOSTS_MAX][HTTP_HOST_NAME_MAX];
    size_t host_count;
    bool any_host;
    /* Limits. */
    int64_t header_timeout_ns;
    int64_t idle_timeout_ns;
    size_t max_executions;
    size_t max_connections;
    atomic_bool stopping;
    /* Executions: one mutex orders `stopping` against in_flight and guards
     * the FIFO the engine workers take jobs from. */
    pthread_mutex_t lock;
    pthread_cond_t job_ready;
    atomic_size_t in_flight; /* admitted, queued or running; raised under `lock` */
    size_t queued;
    http_request *job_head;
    http_request *job_tail;
    bool workers_quit;
    pthread_t *workers;
    size_t worker_count;
    /* Open connections, for the header deadline. */
    pthread_mutex_t peers_lock;
    http_peer *peers;
    size_t peer_count;
    unsigned long refused_total; /* connections over max_connections (peers_lock) */
    atomic_ulong dropped_total;  /* connections cut at the header deadline */
    unsigned long dropped_unlogged;
    int64_t dropped_logged_ns;
} http_server;

/* What a handler answers. `body` is released with `release` once sent:
 * ptexec_free for the library's text (the default), free for the server's
 * own, NULL for a body that lives for the whole process. */
typedef struct http_reply {
    unsigned status;
    const char *content_type;
    char *body;
    size_t length;
    void (*release)(void *body);
    int fd; /* a file to send instead of `body` when >= 0 */
    size_t file_size;
    const char *allow;
    const char *retry_after;
    bool cacheable;
    bool close; /* the request's framing is in doubt: close after answering */
} http_reply;

/* One request: created on the first callback, freed when MHD completes it. */
struct http_request {
    int64_t started_ns;
    http_route route;
    char method[16];
    char path[HTTP_PATH_LOG_MAX];
    char *body;
    size_t length;
    size_t capacity;
    size_t discarded; /* bytes read and dropped after the body went over the limit */
    bool too_large;
    unsigned status; /* 0 until a response is queued */
    char execution_id[PTEXEC_EXECUTION_ID_MAX];
    bool replayed; /* the response is a stored one (idempotency key reused) */
    /* An execution job, run by an engine worker while the connection is
     * suspended: `reply` is written by the worker before it resumes the
     * connection, and read by the MHD thread after. */
    struct MHD_Connection *connection;
    http_request *next_job;
    char *idempotency_key; /* the header, copied; NULL when absent */
    bool submitted;
    atomic_bool job_done;
    http_reply reply;
};

static int64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static http_reply reply_empty(void)
{
    return (http_reply){
        .status = 500, .content_type = "application/json", .fd = -1, .release = ptexec_free};
}

/* An error body {"error":{code,message,field}} with an HTTP-level code. */
static http_reply reply_error(unsigned status, const char *code, const char *field,
                              const char *format, ...) __attribute__((format(printf, 4, 5)));
static http_reply reply_error(unsigned status, const char *code, const char *field,
                              const char *format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    http_reply reply = reply_empty();
    reply.status = status;
    ptexec_error_json(code, message, field, &reply.body, &reply.length);
    return reply;
}

/* The reply of a failure the library reported in `error`. */
static http_reply reply_failure(const ptexec_error *error)
{
    return reply_error(error->http_status, error->code, error->field, "%s", error->message);
}

/* The reply of a library call that rendered its own answer (`result`,
 * taken over), success or failure. */
static http_reply reply_result(http_request *request, ptexec_result *result)
{
    snprintf(request->execution_id, sizeof request->execution_id, "%s", result->execution_id);
    request->replayed = result->replayed != 0;
    if (result->body == NULL)
        return reply_error(500, "internal_error", NULL, "out of memory");
    http_reply reply = reply_empty();
    reply.status = result->http_status;
    reply.body = result->body;
    reply.length = result->length;
    result->body = NULL;
    return reply;
}

static http_reply reply_json(char *body, size_t length)
{
    http_reply reply = reply_empty();
    reply.status = 200;
    reply.body = body;
    reply.length = length;
    return reply;
}

/* ---- text the server builds itself (health, ready, metrics) ------------ */

/* A growing heap string; `failed` once memory ran out. */
typedef struct http_text {
    char *data;
    size_t length;
    size_t capacity;
    bool failed;
} http_text;

static void text_add(http_text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void text_add(http_text *text, const char *format, ...)
{
    for (int attempt = 0; attempt < 2 && !text->failed; attempt++) {
        size_t room = text->capacity - text->length;
        va_list args;
        va_start(args, format);
        int written = vsnprintf(text->data ? text->data + text->length : NULL, room, format, args);
        va_end(args);
        if (written < 0) {
            text->failed = true;
        } else if ((size_t)written < room) {
            text->length += (size_t)written;
            return;
        } else {
            size_t capacity = text->capacity * 2 + (size_t)written + 256;
            char *grown = realloc(text->data, capacity);
            if (grown == NULL)
                text->failed = true;
            else
                text->data = grown, text->capacity = capacity;
        }
    }
}

/* Appends `value` as a JSON string (NULL as null); bytes outside printable
 * ASCII become \u00XX or '?', so the document stays valid UTF-8. */
static void text_add_json_string(http_text *text, const char *value)
{
    if (value == NULL) {
        text_add(text, "null");
        return;
    }
    text_add(text, "\"");
    for (const unsigned char *at = (const unsigned char *)value; *at; at++) {
        if (*at == '"' || *at == '\\')
            text_add(text, "\\%c", *at);
        else if (*at < 0x20)
            text_add(text, "\\u%04x", *at);
        else
            text_add(text, "%c", *at < 0x7F ? *at : '?');
    }
    text_add(text, "\"");
}

/* The reply of a finished text (taken over), or 500 when memory ran out. */
static http_reply reply_text(http_text *text, unsigned status, const char *content_type)
{
    if (text->failed || text->data == NULL) {
        free(text->data);
        return reply_error(500, "internal_error", NULL, "out of memory");
    }
    http_reply reply = reply_json(text->data, text->length);
    reply.status = status;
    reply.release = free;
    if (content_type != NULL)
        reply.content_type = content_type;
    return reply;
}

/* ---- request routing and header checks ---------------------------------- */

static http_route find_route(const char *url)
{
    for (size_t i = 0; i < ROUTE_NONE; i++)
        if (strcmp(url, routes[i].path) == 0)
            return (http_route)i;
    if (strncmp(url, "/docs/", 6) == 0)
        return ROUTE_DOCS;
    if (strncmp(url, "/executions/", 12) == 0 && url[12] != '\0')
        return ROUTE_EXECUTION;
    return ROUTE_NONE;
}

static bool method_allowed(http_route route, const char *method)
{
    if (routes[route].post)
        return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* Compares in time that depends only on the length of `given`. */
static bool token_equal(const char *given, const char *expected)
{
    size_t given_length = strlen(given);
    size_t expected_length = strlen(expected);
    unsigned char difference = given_length != expected_length;
    for (size_t i = 0; i < given_length; i++)
        difference |= (unsigned char)given[i] ^
                      (unsigned char)(expected_length ? expected[i % expected_length] : 0);
    return difference == 0;
}

static bool authorized(const http_server *server, struct MHD_Connection *connection)
{
    if (server->api_token == NULL)
        return true;
    const char *header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    return token_equal(token, server->api_token);
}

/* True for "application/json", any case, optionally followed by parameters. */
static bool is_json_content_type(const char *value)
{
    static const char json[] = "application/json";
    if (value == NULL)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, json, sizeof json - 1) != 0)
        return false;
    value += sizeof json - 1;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value == '\0' || *value == ';';
}

/* The Content-Length the client announced, or -1 when absent or unparsable. */
static long long announced_length(struct MHD_Connection *connection)
{
    const char *value =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (value == NULL)
        return -1;
    char *end;
    errno = 0;
    long long length = strtoll(value, &end, 10);
    if (errno != 0 || end == value || length < 0)
        return -1;
    return length;
}

/* ---- framing: how the body is delimited ---------------------------------- */

typedef struct http_framing {
    unsigned content_lengths;
    unsigned transfer_encodings;
    char codings[HTTP_CODINGS_MAX]; /* every Transfer-Encoding value, comma-joined */
    bool codings_cut;
} http_framing;

static enum MHD_Result count_framing(void *context, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    http_framing *framing = context;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        framing->content_lengths++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        size_t used = strlen(framing->codings);
        int added = snprintf(framing->codings + used, sizeof framing->codings - used, "%s%s",
                             framing->transfer_encodings ? "," : "", value ? value : "");
        if (added < 0 || (size_t)added >= sizeof framing->codings - used)
            framing->codings_cut = true;
        framing->transfer_encodings++;
    }
    return MHD_YES;
}

/* The next comma-separated coding of *list, trimmed, into `out`; false at
 * the end. */
static bool next_coding(const char **list, char *out, size_t size)
{
    const char *at = *list;
    if (*at == '\0')
        return false;
    const char *comma = strchr(at, ',');
    size_t length = comma ? (size_t)(comma - at) : strlen(at);
    *list = comma ? comma + 1 : at + length;
    while (length > 0 && (*at == ' ' || *at == '\t'))
        at++, length--;
    while (length > 0 && (at[length - 1] == ' ' || at[length - 1] == '\t'))
        length--;
    snprintf(out, size, "%.*s", (int)length, at);
    return true;
}

/* Refuses a request whose body length is ambiguous (RFC 9112 §6.3): two
 * Content-Length headers, Content-Length with Transfer-Encoding, or codings
 * other than a final "chunked" (400; 501 for a coding the server does not
 * decode). Returns true with *reply set (closing the connection). */
static bool check_framing(struct MHD_Connection *connection, http_reply *reply)
{
    http_framing framing = {0};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, count_framing, &framing);
    if (framing.content_lengths > 1)
        *reply = reply_error(400, "bad_request", NULL,
                             "the request has %u Content-Length headers; send exactly one",
                             framing.content_lengths);
    else if (framing.transfer_encodings > 0 && framing.content_lengths > 0)
        *reply = reply_error(400, "bad_request", NULL,
                             "the request has both Content-Length and Transfer-Encoding; send one");
    if (framing.content_lengths > 1 || (framing.transfer_encodings && framing.content_lengths)) {
        reply->close = true;
        return true;
    }
    if (framing.transfer_encodings == 0)
        return false;
    const char *list = framing.codings;
    char coding[HTTP_CODINGS_MAX];
    char unknown[HTTP_CODINGS_MAX] = "";
    unsigned codings = 0;
    bool chunked_last = false;
    while (next_coding(&list, coding, sizeof coding)) {
        codings++;
        chunked_last = strcasecmp(coding, "chunked") == 0;
        if (!chunked_last && unknown[0] == '\0')
            snprintf(unknown, sizeof unknown, "%.60s", coding[0] ? coding : "(empty)");
    }
    if (codings == 1 && chunked_last && !framing.codings_cut)
        return false;
    if (!chunked_last || framing.codings_cut || unknown[0] == '\0' ||
        strcasecmp(unknown, "(empty)") == 0)
        *reply = reply_error(400, "bad_request", NULL,
                             "Transfer-Encoding must be exactly \"chunked\" (got \"%.60s\")",
                             framing.codings);
    else
        *reply = reply_error(501, "not_implemented", NULL,
                             "transfer coding '%s' is not supported; send the body as it is, "
                             "with Content-Length or Transfer-Encoding: chunked",
                             unknown);
    reply->close = true;
    return true;
}

/* ---- Host header (DNS rebinding) ------------------------------------------ */

/* The name part of a Host header value: "[::1]" of "[::1]:8000", "example"
 * of "Example.:80" (lower-cased, without a trailing dot). */
static void host_name_of(const char *value, char *out, size_t size)
{
    size_t length;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        length = close ? (size_t)(close - value) + 1 : strlen(value);
    } else {
        const char *colon = strchr(value, ':');
        length = colon ? (size_t)(colon - value) : strlen(value);
    }
    if (length >= size)
        length = size - 1;
    for (size_t i = 0; i < length; i++)
        out[i] = (char)((value[i] >= 'A' && value[i] <= 'Z') ? value[i] + 32 : value[i]);
    while (length > 0 && out[length - 1] == '.')
        length--;
    out[length] = '\0';
}

/* True when the Host header names one of the allowed hosts (or the check is
 * off, or there is no Host header: HTTP/1.0 clients that are not browsers). */
static bool host_allowed(const http_server *server, const char *value)
{
    if (server->any_host || server->host_count == 0 || value == NULL)
        return true;
    char name[HTTP_HOST_NAME_MAX];
    host_name_of(value, name, sizeof name);
    for (size_t i = 0; i < server->host_count; i++)
        if (strcmp(name, server->hosts[i]) == 0 || strcasecmp(value, server->hosts[i]) == 0)
            return true;
    return false;
}

/* Checks everything that can be decided from the request line and headers,
 * before any of the body is read. Returns true with *reply set when the
 * request is answered already. */
static bool check_headers(http_server *server, struct MHD_Connection *connection,
                          http_request *request, http_reply *reply)
{
    if (check_framing(connection, reply))
        return true;
    const char *host =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!host_allowed(server, host) && !(server->api_token && authorized(server, connection))) {
        *reply = reply_error(421, "host_not_allowed", NULL,
                             "this server does not answer for Host '%.100s': list it in "
                             "allowed_hosts in [host], or send the API token",
                             host);
        return true;
    }
    bool probe = request->route == ROUTE_HEALTH || request->route == ROUTE_READY;
    if (atomic_load(&server->stopping) && !probe) {
        *reply = reply_error(503, "shutting_down", NULL, "the server is shutting down");
        return true;
    }
    if (request->route == ROUTE_NONE) {
        *reply = reply_error(404, "not_found", NULL, "no such endpoint: %s", request->path);
        return true;
    }
    if (!method_allowed(request->route, request->method)) {
        *reply = reply_error(405, "method_not_allowed", NULL, "%s does not accept %s",
                             routes[request->route].path, request->method);
        reply->allow = routes[request->route].post ? "POST" : "GET, HEAD";
        return true;
    }
    if (routes[request->route].protected && !authorized(server, connection)) {
        *reply = reply_error(401, "unauthorized", NULL,
                             "missing or wrong API token (send Authorization: Bearer TOKEN)");
        return true;
    }
    if (!routes[request->route].post)
        return false;
    if (!is_json_content_type(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_TYPE))) {
        *reply = reply_error(415, "unsupported_media_type", NULL,
                             "the request body must be sent as Content-Type: application/json");
        return true;
    }
    long long length = announced_length(connection);
    if (length >= 0 && (unsigned long long)length > server->body_limit) {
        *reply = reply_error(413, "body_too_large", NULL,
                             "the request body is over the limit of %zu bytes", server->body_limit);
        return true;
    }
    return false;
}

/* ---- engine workers: executions off the MHD threads ---------------------- */

/* The refusal of an execution that cannot be admitted now: 503
 * shutting_down, or 503 busy with Retry-After once max_executions are
 * admitted. */
static http_reply reply_not_admitted(http_server *server, bool stopping)
{
    if (stopping)
        return reply_error(503, "shutting_down", NULL, "the server is shutting down");
    http_reply reply = reply_error(503, "busy", NULL,
                                   "%zu executions are already running or waiting "
                                   "(max_executions); retry shortly",
                                   server->max_executions);
    reply.retry_after = HTTP_RETRY_AFTER_S;
    return reply;
}

static size_t flight_count(http_server *server)
{
    return atomic_load(&server->in_flight);
}

/* Runs one job on the calling engine worker, into request->reply. */
static void run_job(http_server *server, http_request *request)
{
    ptexec_result result;
    const char *body = request->body ? request->body : "";
    if (request->route == ROUTE_HOLDINGS) {
        ptexec_holdings(server->host, body, request->length, &result, NULL);
    } else {
        ptexec_execute_options options = {
            .idempotency_key = request->idempotency_key,
            .dry_run = request->route == ROUTE_PLAN,
        };
        ptexec_execute(server->host, body, request->length, &options, &result, NULL);
    }
    request->reply = reply_result(request, &result);
}

static void *worker_main(void *context)
{
    http_server *server = context;
    for (;;) {
        pthread_mutex_lock(&server->lock);
        while (server->job_head == NULL && !server->workers_quit)
            pthread_cond_wait(&server->job_ready, &server->lock);
        http_request *request = server->job_head;
        if (request != NULL) {
            server->job_head = request->next_job;
            if (server->job_head == NULL)
                server->job_tail = NULL;
            server->queued--;
        }
        pthread_mutex_unlock(&server->lock);
        if (request == NULL)
            return NULL;
        run_job(server, request);
        struct MHD_Connection *connection = request->connection;
        atomic_store(&request->job_done, true);
        MHD_resume_connection(connection); /* `request` may be freed from here on */
        atomic_fetch_sub(&server->in_flight, 1);
    }
}

/* Admits a request to the workers (unless stopping, or max_executions are
 * admitted) and suspends its connection until it is answered; a refusal is
 * answered at once. The admission and `stopping` are decided under one lock
 * so that shutdown waits for every admitted execution. */
static enum MHD_Result submit_job(http_server *server, struct MHD_Connection *connection,
                                  http_request *request)
{
    const char *key =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, HTTP_IDEMPOTENCY_HEADER);
    if (key != NULL && (request->idempotency_key = strdup(key)) == NULL)
        return MHD_NO;
    request->connection = connection;
    request->submitted = true;
    MHD_suspend_connection(connection);
    pthread_mutex_lock(&server->lock);
    bool stopping = atomic_load(&server->stopping);
    bool admitted = !stopping && atomic_load(&server->in_flight) < server->max_executions;
    if (admitted) {
        atomic_fetch_add(&server->in_flight, 1);
        if (server->job_tail != NULL)
            server->job_tail->next_job = request;
        else
            server->job_head = request;
        server->job_tail = request;
        server->queued++;
        pthread_cond_signal(&server->job_ready);
    }
    pthread_mutex_unlock(&server->lock);
    if (!admitted) {
        request->reply = reply_not_admitted(server, stopping);
        atomic_store(&request->job_done, true);
        MHD_resume_connection(connection);
    }
    return MHD_YES;
}

/* Starts `count` engine workers; false (none left running) on failure. */
static bool workers_start(http_server *server, size_t count)
{
    server->workers = calloc(count, sizeof *server->workers);
    if (server->workers == NULL)
        return false;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, HTTP_THREAD_STACK);
    for (; server->worker_count < count; server->worker_count++)
        if (pthread_create(&server->workers[server->worker_count], &attributes, worker_main,
                           server) != 0)
            break;
    pthread_attr_destroy(&attributes);
    return server->worker_count == count;
}

/* Stops the workers once the queue is empty and joins them. */
static void workers_stop(http_server *server)
{
    pthread_mutex_lock(&server->lock);
    server->workers_quit = true;
    pthread_cond_broadcast(&server->job_ready);
    pthread_mutex_unlock(&server->lock);
    for (size_t i = 0; i < server->worker_count; i++)
        pthread_join(server->workers[i], NULL);
    free(server->workers);
    server->workers = NULL;
    server->worker_count = 0;
}

/* ---- endpoint handlers --------------------------------------------------- */

static http_reply handle_brokers(http_server *server)
{
    http_reply reply = reply_empty();
    ptexec_error error;
    if (ptexec_brokers(server->host, PTEXEC_FORMAT_JSON, &reply.body, &reply.length, &error) !=
        PTEXEC_OK)
        return reply_failure(&error);
    return reply_json(reply.body, reply.length);
}

/* ---- history (the journal) ---------------------------------------------- */

/* Parses the limit query parameter: 1..HTTP_HISTORY_MAX_LIMIT, digits only. */
static bool parse_history_limit(const char *text, size_t *limit)
{
    if (text == NULL) {
        *limit = HTTP_HISTORY_DEFAULT_LIMIT;
        return true;
    }
    size_t value = 0;
    size_t digits = 0;
    for (; text[digits] != '\0'; digits++) {
        if (text[digits] < '0' || text[digits] > '9' || digits >= 5)
            return false;
        value = value * 10 + (size_t)(text[digits] - '0');
    }
    *limit = value;
    return digits > 0 && value >= 1 && value <= HTTP_HISTORY_MAX_LIMIT;
}

/* Reads and checks the query of GET /executions into *query (which borrows
 * the connection's strings; the library checks `status`). Returns true, or
 * false with the 422 reply. */
static bool read_history_query(struct MHD_Connection *connection, ptexec_history_query *query,
                               http_reply *reply)
{
    const char *limit = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "limit");
    const char *broker = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "broker");
    if (!parse_history_limit(limit, &query->limit)) {
        *reply = reply_error(422, "invalid_request", "limit",
                             "limit must be a whole number from 1 to %d", HTTP_HISTORY_MAX_LIMIT);
        return false;
    }
    if (broker != NULL && (broker[0] == '\0' || strlen(broker) >= PTEXEC_BROKER_NAME_MAX)) {
        *reply = reply_error(422, "invalid_request", "broker",
                             "broker must be a broker name of 1-%d characters",
                             PTEXEC_BROKER_NAME_MAX - 1);
        return false;
    }
    query->broker = broker;
    query->status = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "status");
    return true;
}

static http_reply reply_document(char *json, size_t length, ptexec_status status,
                                 const ptexec_error *error)
{
    if (status != PTEXEC_OK)
        return reply_failure(error);
    return reply_json(json, length);
}

static http_reply handle_executions(http_server *server, struct MHD_Connection *connection)
{
    http_reply reply;
    ptexec_history_query query = {0};
    if (!read_history_query(connection, &query, &reply))
        return reply;
    char *json = NULL;
    size_t length = 0;
    ptexec_error error;
    ptexec_status status =
        ptexec_history(server->host, &query, PTEXEC_FORMAT_JSON, &json, &length, &error);
    return reply_document(json, length, status, &error);
}

/* True for an id that could be an execution id: 1–39 of [A-Za-z0-9_-]. */
static bool plausible_execution_id(const char *id)
{
    size_t length = strlen(id);
    if (length == 0 || length >= PTEXEC_EXECUTION_ID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = id[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static http_reply handle_execution(http_server *server, http_request *request, const char *url)
{
    const char *id = url + strlen("/executions/");
    if (!plausible_execution_id(id))
        return reply_error(404, "not_found", NULL, "no execution with id '%.60s'", id);
    char *json = NULL;
    size_t length = 0;
    ptexec_error error;
    ptexec_status status = ptexec_history_get(server->host, id, &json, &length, &error);
    if (status == PTEXEC_OK)
        snprintf(request->execution_id, sizeof request->execution_id, "%s", id);
    return reply_document(json, length, status, &error);
}

/* Why executions would be refused now, or NULL when they can run; `code`
 * receives the error code of the refusal. */
static const char *refusal_reason(http_server *server, ptexec_error *error)
{
    if (atomic_load(&server->stopping)) {
        snprintf(error->code, sizeof error->code, "shutting_down");
        snprintf(error->message, sizeof error->message, "the server is shutting down");
        return error->message;
    }
    if (ptexec_ready(server->host, error) != PTEXEC_OK)
        return error->message;
    return NULL;
}

static http_reply handle_health(http_server *server)
{
    ptexec_health health;
    ptexec_health_get(server->host, &health);
    ptexec_error error;
    const char *reason = refusal_reason(server, &error);
    http_text text = {0};
    text_add(&text,
             "{\"status\":\"%s\",\"version\":\"%s\",\"brokers\":%zu,\"refused_brokers\":%zu,"
             "\"executions_in_flight\":%zu,\"journal\":\"%s\",\"reason\":",
             reason ? "degraded" : "ok", ptexec_version(), health.brokers, health.refused_brokers,
             health.executions_in_flight, health.journal);
    text_add_json_string(&text, reason);
    text_add(&text, "}");
    return reply_text(&text, 200, NULL);
}

/* GET /ready: 200 when an execution could run now, else 503 with the
 * reason; both list the brokers whose plugin was refused. */
static http_reply handle_ready(http_server *server)
{
    ptexec_health health;
    ptexec_health_get(server->host, &health);
    ptexec_error error;
    const char *reason = refusal_reason(server, &error);
    http_text text = {0};
    text_add(&text, "{\"status\":\"%s\",\"code\":", reason ? "not_ready" : "ready");
    text_add_json_string(&text, reason ? error.code : NULL);
    text_add(&text, ",\"reason\":");
    text_add_json_string(&text, reason);
    text_add(&text, ",\"brokers\":%zu,\"journal\":\"%s\",\"refused_brokers\":[", health.brokers,
             health.journal);
    for (size_t i = 0; i < health.refused_brokers; i++) {
        const char *name = NULL;
        const char *message = NULL;
        ptexec_refused(server->host, i, &name, &message);
        const char *why = message ? strstr(message, "refused at ") : NULL; /* not the file path */
        text_add(&text, "%s{\"name\":", i ? "," : "");
        text_add_json_string(&text, name);
        text_add(&text, ",\"reason\":");
        text_add_json_string(&text, why ? why : "refused");
        text_add(&text, "}");
    }
    text_add(&text, "]}");
    http_reply reply = reply_text(&text, reason ? 503 : 200, NULL);
    if (reason != NULL && reply.status == 503)
        reply.retry_after = HTTP_RETRY_AFTER_S;
    return reply;
}

/* The library's metrics followed by the front-end's own: open connections,
 * queued executions, and connections cut at the header deadline. */
static http_reply handle_metrics(http_server *server)
{
    char *library = NULL;
    size_t length = 0;
    if (ptexec_metrics_text(server->host, &library, &length) != PTEXEC_OK)
        return reply_error(500, "internal_error", NULL, "out of memory");
    pthread_mutex_lock(&server->peers_lock);
    size_t open = server->peer_count;
    unsigned long refused = server->refused_total;
    pthread_mutex_unlock(&server->peers_lock);
    pthread_mutex_lock(&server->lock);
    size_t queued = server->queued;
    pthread_mutex_unlock(&server->lock);
    http_text text = {0};
    text_add(&text, "%.*s", (int)length, library);
    ptexec_free(library);
    text_add(&text,
             "# HELP ptexec_http_connections_open Client connections open now.\n"
             "# TYPE ptexec_http_connections_open gauge\n"
             "ptexec_http_connections_open %zu\n"
             "# HELP ptexec_http_executions_queued Executions waiting for an engine worker.\n"
             "# TYPE ptexec_http_executions_queued gauge\n"
             "ptexec_http_executions_queued %zu\n"
             "# HELP ptexec_http_slow_clients_dropped_total Connections closed because their "
             "request headers were not complete within header_timeout_s.\n"
             "# TYPE ptexec_http_slow_clients_dropped_total counter\n"
             "ptexec_http_slow_clients_dropped_total %lu\n"
             "# HELP ptexec_http_connections_refused_total Connections closed at once because "
             "max_connections were open.\n"
             "# TYPE ptexec_http_connections_refused_total counter\n"
             "ptexec_http_connections_refused_total %lu\n",
             open, queued, atomic_load(&server->dropped_total), refused);
    return reply_text(&text, 200, "text/plain; version=0.0.4; charset=utf-8");
}

static http_reply handle_openapi(void)
{
    http_reply reply = reply_empty();
    reply.status = 200;
    reply.body = (char *)openapi_document(&reply.length);
    reply.release = NULL;
    reply.cacheable = true;
    return reply;
}

static const struct docs_file *find_docs_file(const char *url)
{
    const char *name = "index.html";
    if (strcmp(url, "/docs") != 0 && strcmp(url, "/docs/") != 0)
        name = url + strlen("/docs/");
    for (size_t i = 0; i < sizeof docs_files / sizeof docs_files[0]; i++)
        if (strcmp(name, docs_files[i].name) == 0)
            return &docs_files[i];
    return NULL;
}

static http_reply handle_docs(http_server *server, const char *url)
{
    const struct docs_file *file = find_docs_file(url);
    if (file == NULL)
        return reply_error(404, "not_found", NULL, "no such endpoint: %s", url);
    if (server->docs_dir[0] == '\0')
        return reply_error(404, "not_found", NULL,
                           "the Swagger UI files are not installed (build them with make)");
    char path[PATH_MAX + HTTP_DOCS_FILE_MAX];
    snprintf(path, sizeof path, "%s/%s", server->docs_dir, file->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        if (fd >= 0)
            close(fd);
        ptexec_log(PTEXEC_LOG_WARN, "http", "cannot open %s: %s", path, strerror(errno));
        return reply_error(404, "not_found", NULL, "the Swagger UI file %s is missing", file->name);
    }
    http_reply reply = reply_empty();
    reply.status = 200;
    reply.content_type = file->content_type;
    reply.fd = fd;
    reply.file_size = (size_t)info.st_size;
    reply.cacheable = strcmp(file->name, "index.html") != 0;
    return reply;
}

static http_reply dispatch(http_server *server, struct MHD_Connection *connection,
                           http_request *request, const char *url)
{
    if (request->too_large)
        return reply_error(413, "body_too_large", NULL,
                           "the request body is over the limit of %zu bytes", server->body_limit);
    switch (request->route) {
    case ROUTE_EXECUTE:
    case ROUTE_PLAN:
    case ROUTE_HOLDINGS:
        break; /* run by the engine workers (submit_job) */
    case ROUTE_BROKERS:
        return handle_brokers(server);
    case ROUTE_EXECUTIONS:
        return handle_executions(server, connection);
    case ROUTE_EXECUTION:
        return handle_execution(server, request, url);
    case ROUTE_HEALTH:
        return handle_health(server);
    case ROUTE_READY:
        return handle_ready(server);
    case ROUTE_METRICS:
        return handle_metrics(server);
    case ROUTE_OPENAPI:
        return handle_openapi();
    case ROUTE_DOCS:
        return handle_docs(server, url);
    case ROUTE_NONE:
        break;
    }
    return reply_error(404, "not_found", NULL, "no such endpoint: %s", request->path);
}

/* ---- libmicrohttpd glue -------------------------------------------------- */

static struct MHD_Response *create_response(http_reply *reply)
{
    if (reply->fd >= 0) {
        struct MHD_Response *response = MHD_create_response_from_fd(reply->file_size, reply->fd);
        if (response == NULL)
            close(reply->fd);
        reply->fd = -1;
        return response;
    }
    if (reply->body == NULL) {
        static const char fallback[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"out "
                                       "of memory\",\"field\":null}}";
        reply->status = 500;
        return MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    }
    struct MHD_Response *response;
    if (reply->release == NULL)
        response =
            MHD_create_response_from_buffer(reply->length, reply->body, MHD_RESPMEM_PERSISTENT);
    else
        response = MHD_create_response_from_buffer_with_free_callback(reply->length, reply->body,
                                                                      reply->release);
    if (response == NULL && reply->release != NULL)
        reply->release(reply->body);
    reply->body = NULL;
    return response;
}

static enum MHD_Result send_reply(http_server *server, struct MHD_Connection *connection,
                                  http_request *request, http_reply *reply)
{
    struct MHD_Response *response = create_response(reply);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                            reply->cacheable ? "public, max-age=300" : "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    if (request->route == ROUTE_DOCS)
        MHD_add_response_header(response, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; "
                                "style-src 'self' 'unsafe-inline'");
    if (reply->allow)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (request->execution_id[0])
        MHD_add_response_header(response, "X-Execution-Id", request->execution_id);
    if (request->replayed)
        MHD_add_response_header(response, "Idempotent-Replayed", "true");
    if (reply->retry_after)
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, reply->retry_after);
    if (reply->close || reply->status == 503 || atomic_load(&server->stopping))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result queued = MHD_queue_response(connection, reply->status, response);
    MHD_destroy_response(response);
    if (queued == MHD_YES)
        request->status = reply->status;
    return queued;
}

static http_request *request_begin(const char *url, const char *method)
{
    http_request *request = calloc(1, sizeof *request);
    if (request == NULL)
        return NULL;
    request->started_ns = monotonic_ns();
    request->route = find_route(url);
    snprintf(request->method, sizeof request->method, "%s", method);
    snprintf(request->path, sizeof request->path, "%s", url);
    return request;
}

/* Buffers upload data up to the body limit; beyond it, reads and drops the
 * rest so the 413 can be answered, and closes the connection when a client
 * keeps sending far past the limit. */
static enum MHD_Result take_upload(http_server *server, http_request *request, const char *data,
                                   size_t size)
{
    if (!request->too_large && request->length + size > server->body_limit) {
        request->too_large = true;
        free(request->body);
        request->body = NULL;
        request->discarded = request->length;
        request->length = 0;
    }
    if (request->too_large) {
        request->discarded += size;
        return request->discarded > 4 * server->body_limit + 65536 ? MHD_NO : MHD_YES;
    }
    if (request->length + size + 1 > request->capacity) {
        size_t capacity = request->capacity ? request->capacity : 4096;
        while (capacity < request->length + size + 1)
            capacity *= 2;
        char *body = realloc(request->body, capacity);
        if (body == NULL)
            return MHD_NO;
        request->body = body;
        request->capacity = capacity;
    }
    memcpy(request->body + request->length, data, size);
    request->length += size;
    request->body[request->length] = '\0';
    return MHD_YES;
}

/* ---- connections: the header deadline ------------------------------------ */

static http_peer *peer_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* Starts (now + `delay_ns`) or stops (0) the header deadline of `connection`. */
static void peer_set_deadline(struct MHD_Connection *connection, int64_t delay_ns)
{
    http_peer *peer = peer_of(connection);
    if (peer != NULL)
        atomic_store(&peer->deadline_ns, delay_ns ? monotonic_ns() + delay_ns : 0);
}

static void on_connection(void *context, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *server = context;
    http_peer *peer = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        peer = calloc(1, sizeof *peer);
        if (peer == NULL) /* no deadline for this one: the idle timeout still applies */
            return;
        peer->fd = info != NULL ? info->connect_fd : -1;
        atomic_init(&peer->deadline_ns, monotonic_ns() + server->header_timeout_ns);
        pthread_mutex_lock(&server->peers_lock);
        if (server->peer_count >= server->max_connections && peer->fd >= 0) {
            /* libmicrohttpd splits its limit between the pool's threads;
             * the server-wide limit is kept here. */
            shutdown(peer->fd, SHUT_RDWR);
            atomic_store(&peer->deadline_ns, 0);
            server->refused_total++;
        }
        peer->next = server->peers;
        if (server->peers != NULL)
            server->peers->prev = peer;
        server->peers = peer;
        server->peer_count++;
        pthread_mutex_unlock(&server->peers_lock);
        *socket_context = peer;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && peer != NULL) {
        /* Called before libmicrohttpd closes the socket: once unlinked under
         * the lock, the sweep can no longer touch this descriptor. */
        pthread_mutex_lock(&server->peers_lock);
        if (peer->prev != NULL)
            peer->prev->next = peer->next;
        else
            server->peers = peer->next;
        if (peer->next != NULL)
            peer->next->prev = peer->prev;
        server->peer_count--;
        pthread_mutex_unlock(&server->peers_lock);
        free(peer);
        *socket_context = NULL;
    }
}

/* Cuts every connection whose request headers are overdue (shutdown(2)
 * makes libmicrohttpd see the end of the stream and close it on its own
 * thread). Returns how many. Main thread. */
static unsigned long sweep_slow_clients(http_server *server)
{
    int64_t now = monotonic_ns();
    unsigned long dropped = 0;
    pthread_mutex_lock(&server->peers_lock);
    for (http_peer *peer = server->peers; peer != NULL; peer = peer->next) {
        int64_t deadline = atomic_load(&peer->deadline_ns);
        if (deadline == 0 || now < deadline || peer->fd < 0)
            continue;
        if (atomic_compare_exchange_strong(&peer->deadline_ns, &deadline, 0)) {
            shutdown(peer->fd, SHUT_RDWR);
            dropped++;
        }
    }
    pthread_mutex_unlock(&server->peers_lock);
    return dropped;
}

/* Counts dropped slow clients and logs them at most once per interval. */
static void report_slow_clients(http_server *server, unsigned long dropped)
{
    atomic_fetch_add(&server->dropped_total, dropped);
    server->dropped_unlogged += dropped;
    int64_t now = monotonic_ns();
    if (server->dropped_unlogged == 0 ||
        (server->dropped_logged_ns != 0 &&
         now - server->dropped_logged_ns < (int64_t)HTTP_DROP_LOG_INTERVAL_S * 1000000000))
        return;
    ptexec_log(PTEXEC_LOG_WARN, "http",
               "dropped %lu slow client connection(s) whose request headers were not complete "
               "within header_timeout_s = %lld s (%lu in all)",
               server->dropped_unlogged, (long long)(server->header_timeout_ns / 1000000000),
               atomic_load(&server->dropped_total));
    server->dropped_unlogged = 0;
    server->dropped_logged_ns = now;
}

/* ---- the access handler ---------------------------------------------------- */

static bool runs_on_worker(http_route route)
{
    return route == ROUTE_EXECUTE || route == ROUTE_PLAN || route == ROUTE_HOLDINGS;
}

/* The last call of a request (its body is in): answers it, or hands it to
 * an engine worker, or sends what the worker answered. */
static enum MHD_Result finish_request(http_server *server, struct MHD_Connection *connection,
                                      http_request *request, const char *url)
{
    if (request->status != 0)
        return MHD_YES;
    if (request->submitted) {
        if (!atomic_load(&request->job_done))
            return MHD_YES;
        request->submitted = false;
        return send_reply(server, connection, request, &request->reply);
    }
    if (runs_on_worker(request->route) && !request->too_large)
        return submit_job(server, connection, request);
    http_reply reply = dispatch(server, connection, request, url);
    return send_reply(server, connection, request, &reply);
}

static enum MHD_Result on_request(void *context, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **request_context)
{
    (void)version;
    http_server *server = context;
    http_request *request = *request_context;
    if (request == NULL) {
        peer_set_deadline(connection, 0); /* the headers are in */
        request = request_begin(url, method);
        if (request == NULL)
            return MHD_NO;
        *request_context = request;
        http_reply reply;
        if (check_headers(server, connection, request, &reply))
            return send_reply(server, connection, request, &reply);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        enum MHD_Result taken = take_upload(server, request, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return taken;
    }
    return finish_request(server, connection, request, url);
}

static void on_completed(void *context, struct MHD_Connection *connection, void **request_context,
                         enum MHD_RequestTerminationCode termination)
{
    http_server *server = context;
    http_request *request = *request_context;
    if (request == NULL)
        return;
    /* A kept-alive connection may idle for connection_timeout_s; the headers
     * of its next request are due header_timeout_s after that. */
    peer_set_deadline(connection, server->idle_timeout_ns + server->header_timeout_ns);
    double duration_ms = (double)(monotonic_ns() - request->started_ns) / 1e6;
    const char *route = request->route == ROUTE_NONE ? "other" : routes[request->route].path;
    if (request->status != 0)
        ptexec_metrics_http_request(server->host, route, request->status, duration_ms);
    if (termination == MHD_REQUEST_TERMINATED_COMPLETED_OK || request->status != 0)
        ptexec_log(PTEXEC_LOG_INFO, "http", "%s %s %u %.1fms %s", request->method, request->path,
                   request->status, duration_ms,
                   request->execution_id[0] ? request->execution_id : "-");
    else
        ptexec_log(PTEXEC_LOG_INFO, "http", "%s %s aborted (termination %d) %.1fms",
                   request->method, request->path, (int)termination, duration_ms);
    if (request->submitted && request->reply.release != NULL) /* answered, never sent */
        request->reply.release(request->reply.body);
    free(request->idempotency_key);
    free(request->body);
    free(request);
    *request_context = NULL;
}

static void on_mhd_log(void *context, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *context, const char *format, va_list args)
{
    (void)context;
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r'))
        message[--length] = '\0';
    ptexec_log(PTEXEC_LOG_DEBUG, "http", "libmicrohttpd: %s", message);
}

/* ---- start-up: settings, listening socket, docs folder ------------------ */

typedef struct http_settings {
    unsigned long max_connections;
    unsigned long max_per_ip;
    unsigned long header_timeout_s;
    unsigned long timeout_s;
    unsigned long max_executions;
    unsigned long workers;
    unsigned long grace_ms;
    unsigned long body_limit;
} http_settings;

/* Threads of libmicrohttpd's pool: one per core. */
static unsigned int pool_size(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > 64 ? 64 : (unsigned int)cores;
}

static ptexec_status read_settings(ptexec_host *host, http_settings *settings, ptexec_error *error)
{
    const struct {
        const char *key;
        unsigned long minimum, maximum, fallback;
        unsigned long *value;
    } keys[] = {
        {"max_connections", 1, 100000, HTTP_DEFAULT_MAX_CONNECTIONS, &settings->max_connections},
        {"max_connections_per_ip", 0, 100000, HTTP_DEFAULT_MAX_PER_IP, &settings->max_per_ip},
        {"header_timeout_s", 1, 3600, HTTP_DEFAULT_HEADER_TIMEOUT_S, &settings->header_timeout_s},
        {"connection_timeout_s", 1, 3600, HTTP_DEFAULT_TIMEOUT_S, &settings->timeout_s},
        {"max_executions", 1, 100000, HTTP_DEFAULT_MAX_EXECUTIONS, &settings->max_executions},
        {"engine_workers", 1, 4096, HTTP_WORKERS_PER_CORE * pool_size(), &settings->workers},
        {"shutdown_grace_ms", 0, 3600000, HTTP_DEFAULT_GRACE_MS, &settings->grace_ms},
        {"body_limit", 1, 1UL << 30, HTTP_DEFAULT_BODY_LIMIT, &settings->body_limit},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ptexec_status status =
            ptexec_config_uint(host, "host", keys[i].key, keys[i].minimum, keys[i].maximum,
                               keys[i].fallback, keys[i].value, error);
        if (status != PTEXEC_OK)
            return status;
    }
    if (settings->workers > settings->max_executions)
        settings->workers = settings->max_executions;
    return PTEXEC_OK;
}

/* Fills `error` (may be NULL) with a failure of the server itself and
 * returns its status. */
static ptexec_status http_fail(ptexec_error *error, ptexec_status status, const char *field,
                               const char *format, ...) __attribute__((format(printf, 4, 5)));
static ptexec_status http_fail(ptexec_error *error, ptexec_status status, const char *field,
                               const char *format, ...)
{
    if (error == NULL)
        return status;
    error->status = status;
    error->http_status = ptexec_http_status(status);
    snprintf(error->code, sizeof error->code, "%s", ptexec_status_code(status));
    snprintf(error->field, sizeof error->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return status;
}

/* Splits "HOST:PORT" ("[V6]:PORT" for IPv6) and opens a listening socket. */
static ptexec_status open_listener(const char *listen_address, int *out, ptexec_error *error)
{
    char host[256];
    const char *colon = strrchr(listen_address, ':');
    if (colon == NULL || colon[1] == '\0' || (size_t)(colon - listen_address) >= sizeof host)
        return http_fail(error, PTEXEC_CONFIG, "listen", "listen address '%s' is not HOST:PORT",
                         listen_address);
    const char *start = listen_address;
    size_t host_length = (size_t)(colon - listen_address);
    if (host_length >= 2 && start[0] == '[' && start[host_length - 1] == ']') {
        start++;
        host_length -= 2;
    }
    memcpy(host, start, host_length);
    host[host_length] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &found);
    if (rc != 0)
        return http_fail(error, PTEXEC_CONFIG, "listen", "cannot resolve listen address '%s': %s",
                         listen_address, gai_strerror(rc));
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    found->ai_protocol);
    int one = 1;
    int saved = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(found);
        return http_fail(error, PTEXEC_IO, "listen", "cannot listen on %s: %s", listen_address,
                         strerror(saved));
    }
    freeaddrinfo(found);
    *out = fd;
    return PTEXEC_OK;
}

static void log_listening(int fd)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&address, &size) != 0)
        return;
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        port = ntohs(v4->sin_port);
        ptexec_log(PTEXEC_LOG_INFO, "http", "listening on %s:%u", host, port);
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        port = ntohs(v6->sin6_port);
        ptexec_log(PTEXEC_LOG_INFO, "http", "listening on [%s]:%u", host, port);
    }
}

static bool has_docs(const char *dir)
{
    char path[PATH_MAX + 32];
    int length = snprintf(path, sizeof path, "%s/swagger-ui-bundle.js", dir);
    return length > 0 && (size_t)length < sizeof path && access(path, R_OK) == 0;
}

/* Finds the Swagger UI folder: $PTEXEC_DOCS_DIR, then next to the binary
 * (build/share/swagger-ui), then the installed layout (share/ptexec/swagger-ui). */
static void find_docs_dir(char out[PATH_MAX])
{
    out[0] = '\0';
    const char *env = getenv("PTEXEC_DOCS_DIR");
    if (env && *env) {
        snprintf(out, PATH_MAX, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    static const char *const candidates[] = {"share/swagger-ui", "../share/ptexec/swagger-ui"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/%s", exe, candidates[i]);
        if (strlen(dir) < PATH_MAX && has_docs(dir)) {
            memcpy(out, dir, strlen(dir) + 1);
            return;
        }
    }
}

/* True when the socket listens on a loopback address (127/8, ::1). */
static bool listens_on_loopback(int fd)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &size) != 0)
        return false;
    if (address.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&address)->sin_addr.s_addr) >> 24) == 127;
    if (address.ss_family == AF_INET6) {
        const struct in6_addr *v6 = &((struct sockaddr_in6 *)&address)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
    }
    return false;
}

/* Adds one allowed_hosts entry (lower-cased, without a trailing dot). */
static void add_allowed_host(http_server *server, const char *name, size_t length)
{
    if (length == 1 && name[0] == '*') {
        server->any_host = true;
        return;
    }
    if (server->host_count == HTTP_HOSTS_MAX || length == 0 || length >= HTTP_HOST_NAME_MAX)
        return;
    char entry[HTTP_HOST_NAME_MAX];
    snprintf(entry, sizeof entry, "%.*s", (int)length, name);
    host_name_of(entry, server->hosts[server->host_count], HTTP_HOST_NAME_MAX);
    if (strchr(entry, ':') != NULL && entry[0] != '[') /* "name:port": matched whole */
        snprintf(server->hosts[server->host_count], HTTP_HOST_NAME_MAX, "%s", entry);
    server->host_count++;
}

/* The Host check: `allowed_hosts` (names separated by commas or spaces, "*"
 * for any) or, on a loopback address without an API token, localhost,
 * 127.0.0.1 and [::1]; otherwise none. Warns about an open server. */
static void configure_hosts(http_server *server, int listen_fd)
{
    const char *list = ptexec_config_string(server->host, "host", "allowed_hosts");
    bool loopback = listens_on_loopback(listen_fd);
    if (list != NULL && list[strspn(list, " ,\t")] != '\0') {
        while (*list != '\0') {
            list += strspn(list, " ,\t");
            size_t length = strcspn(list, " ,\t");
            add_allowed_host(server, list, length);
            list += length;
        }
    } else if (loopback && server->api_token == NULL) {
        add_allowed_host(server, "localhost", 9);
        add_allowed_host(server, "127.0.0.1", 9);
        add_allowed_host(server, "[::1]", 5);
    }
    if (!loopback && server->api_token == NULL)
        ptexec_log(PTEXEC_LOG_WARN, "http",
                   "listening on a non-loopback address without api_token: anyone who can reach "
                   "it can trade; set api_token in [host]");
}

/* Raises the soft limit of open files toward what `connections` need. */
static void raise_file_limit(unsigned long connections)
{
    struct rlimit limit;
    rlim_t wanted = (rlim_t)connections + 256;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted)
        return;
    limit.rlim_cur =
        limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? wanted : limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < wanted)
        ptexec_log(PTEXEC_LOG_WARN, "http",
                   "max_connections = %lu but only %llu files may be open (ulimit -n)", connections,
                   (unsigned long long)limit.rlim_cur);
}

static struct MHD_Daemon *start_daemon(http_server *server, int listen_fd,
                                       const http_settings *settings)
{
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, server, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, pool_size(), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)(settings->max_connections * pool_size()), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)settings->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)settings->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, server, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, server, MHD_OPTION_END);
}

/* ---- shutdown ------------------------------------------------------------- */

/* Waits for admitted executions to finish, at most `grace_ms`. A second
 * signal, or the grace running out, ends the process at once: returning
 * would free the engine under a running execution. */
static void drain(http_server *server, const sigset_t *signals, unsigned long grace_ms)
{
    int64_t deadline = monotonic_ns() + (int64_t)grace_ms * 1000000;
    size_t count;
    while ((count = flight_count(server)) > 0) {
        if (monotonic_ns() >= deadline) {
            ptexec_log(PTEXEC_LOG_ERROR, "http",
                       "shutdown: %zu execution(s) still running after %lu ms; exiting now", count,
                       grace_ms);
            _exit(1);
        }
        struct timespec wait = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
        if (sigtimedwait(signals, NULL, &wait) > 0) {
            ptexec_log(PTEXEC_LOG_ERROR, "http",
                       "shutdown: second signal with %zu execution(s) running; exiting now", count);
            _exit(1);
        }
    }
}

static void shut_down(http_server *server, const sigset_t *signals, unsigned long grace_ms)
{
    pthread_mutex_lock(&server->lock);
    atomic_store(&server->stopping, true);
    size_t count = atomic_load(&server->in_flight);
    pthread_mutex_unlock(&server->lock);
    MHD_socket listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    ptexec_log(PTEXEC_LOG_INFO, "http",
               "shutting down: no longer accepting; %zu execution(s) in flight", count);
    drain(server, signals, grace_ms);
    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    workers_stop(server);
    ptexec_log(PTEXEC_LOG_INFO, "http", "stopped");
}

/* Takes signals on the main thread and, between them, enforces the header
 * deadline; returns the signal that ends the server. */
static int wait_for_signal(http_server *server, const sigset_t *signals)
{
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = HTTP_TICK_MS * 1000000L};
        int received = sigtimedwait(signals, NULL, &tick);
        if (received > 0)
            return received;
        report_slow_clients(server, sweep_slow_clients(server));
    }
}

static ptexec_status serve_until_signal(http_server *server, const http_settings *settings,
                                        const char *listen_address, ptexec_error *error)
{
    sigset_t signals, previous;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    /* Blocked before any thread starts, so every thread inherits the mask
     * and the signals are taken here. */
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    int listen_fd = -1;
    ptexec_status status = open_listener(listen_address, &listen_fd, error);
    if (status != PTEXEC_OK)
        goto cleanup;
    configure_hosts(server, listen_fd);
    if (!workers_start(server, settings->workers)) {
        close(listen_fd);
        status = http_fail(error, PTEXEC_NOMEM, NULL, "cannot start %lu engine workers",
                           settings->workers);
        goto stop_workers;
    }
    server->daemon = start_daemon(server, listen_fd, settings);
    if (server->daemon == NULL) {
        close(listen_fd);
        status = http_fail(error, PTEXEC_IO, "listen", "cannot start the HTTP server on %s",
                           listen_address);
        goto stop_workers;
    }
    log_listening(listen_fd);
    int received = wait_for_signal(server, &signals);
    ptexec_log(PTEXEC_LOG_INFO, "http", "received %s", received == SIGTERM ? "SIGTERM" : "SIGINT");
    shut_down(server, &signals, settings->grace_ms);
    goto cleanup;
stop_workers:
    workers_stop(server);
cleanup:
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return status;
}

/* Says at start-up whether executions are journaled; without a usable
 * journal they are refused (503 journal_unavailable) or, with journal = off,
 * neither idempotent nor recoverable. */
static void log_journal_state(const http_server *server)
{
    ptexec_health health;
    ptexec_health_get(server->host, &health);
    if (strcmp(health.journal, "unavailable") == 0)
        ptexec_log(PTEXEC_LOG_ERROR, "http",
                   "journal %s unavailable: every execution will be refused with 503 "
                   "journal_unavailable until the server is restarted with a usable journal",
                   ptexec_config_string(server->host, "host", "journal"));
    else if (strcmp(health.journal, "off") == 0)
        ptexec_log(PTEXEC_LOG_WARN, "http",
                   "journal = off: executions are not recorded, idempotency keys are ignored and "
                   "a crash cannot be recovered");
}

ptexec_status http_serve(ptexec_host *host, const char *listen, ptexec_error *error)
{
    http_settings settings;
    ptexec_status status = read_settings(host, &settings, error);
    if (status != PTEXEC_OK)
        return status;
    const char *token = ptexec_config_string(host, "host", "api_token");
    http_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return http_fail(error, PTEXEC_NOMEM, NULL, "out of memory");
    server->host = host;
    server->body_limit = settings.body_limit;
    server->api_token = token && token[0] ? token : NULL;
    server->header_timeout_ns = (int64_t)settings.header_timeout_s * 1000000000;
    server->idle_timeout_ns = (int64_t)settings.timeout_s * 1000000000;
    server->max_executions = settings.max_executions;
    server->max_connections = settings.max_connections;
    log_journal_state(server);
    find_docs_dir(server->docs_dir);
    if (server->docs_dir[0] == '\0')
        ptexec_log(PTEXEC_LOG_WARN, "http",
                   "Swagger UI files not found; GET /docs will answer 404");
    raise_file_limit(settings.max_connections);
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->job_ready, NULL);
    pthread_mutex_init(&server->peers_lock, NULL);
    atomic_init(&server->stopping, false);
    atomic_init(&server->dropped_total, 0);
    atomic_init(&server->in_flight, 0);
    if (listen == NULL)
        listen = ptexec_config_string(host, "host", "listen");
    status = serve_until_signal(server, &settings, listen, error);
    pthread_mutex_destroy(&server->peers_lock);
    pthread_cond_destroy(&server->job_ready);
    pthread_mutex_destroy(&server->lock);
    free(server);
    return status;
}
