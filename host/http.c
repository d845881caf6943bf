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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include <ptexec/host.h>

#include "openapi.h"

#define HTTP_DEFAULT_MAX_CONNECTIONS 64
#define HTTP_DEFAULT_GRACE_MS 10000
#define HTTP_DEFAULT_TIMEOUT_S 30
#define HTTP_DEFAULT_BODY_LIMIT (1024 * 1024)
#define HTTP_PATH_LOG_MAX 128
#define HTTP_DOCS_FILE_MAX 64
#define HTTP_STATUS_NAME_MAX 16 /* longest execution state + NUL */
#define HTTP_HISTORY_DEFAULT_LIMIT 50
#define HTTP_HISTORY_MAX_LIMIT 1000
#define HTTP_IDEMPOTENCY_HEADER "Idempotency-Key"
/* Per-connection memory pool: request line, headers, the read buffer (bodies
 * are streamed through it in pieces) and the response headers. libmicrohttpd
 * zeroes the pool between keep-alive requests, so its size is paid on every
 * request; 16 KiB leaves room for ~8 KiB of request headers. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
/* Connection threads run the engine, SQLite and the plugins; 512 KiB is ample
 * and keeps 64 threads' reservations far below the 8 MiB default each. */
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
    [ROUTE_METRICS] = {"/metrics", false, true},
    [ROUTE_OPENAPI] = {"/openapi.json", false, false},
    [ROUTE_DOCS] = {"/docs", false, false},
};

typedef struct http_server {
    ptexec_host *host;
    struct MHD_Daemon *daemon;
    size_t body_limit;
    const char *api_token; /* NULL when none is configured */
    char docs_dir[PATH_MAX];
    atomic_bool stopping;
    pthread_mutex_t flight_lock; /* orders `stopping` against in_flight */
    size_t in_flight;            /* executions and holdings reads running */
} http_server;

/* One request: created on the first callback, freed when MHD completes it. */
typedef struct http_request {
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
} http_request;

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
    bool cacheable;
} http_reply;

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

/* Checks everything that can be decided from the request line and headers.
 * Returns true with *reply set when the request is answered already. */
static bool check_headers(http_server *server, struct MHD_Connection *connection,
                          http_request *request, http_reply *reply)
{
    if (atomic_load(&server->stopping)) {
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

/* ---- in-flight accounting for graceful shutdown ------------------------- */

/* Registers one engine call; false when the server is stopping. */
static bool flight_begin(http_server *server)
{
    pthread_mutex_lock(&server->flight_lock);
    bool admitted = !atomic_load(&server->stopping);
    if (admitted)
        server->in_flight++;
    pthread_mutex_unlock(&server->flight_lock);
    return admitted;
}

static void flight_end(http_server *server)
{
    pthread_mutex_lock(&server->flight_lock);
    server->in_flight--;
    pthread_mutex_unlock(&server->flight_lock);
}

static size_t flight_count(http_server *server)
{
    pthread_mutex_lock(&server->flight_lock);
    size_t count = server->in_flight;
    pthread_mutex_unlock(&server->flight_lock);
    return count;
}

/* ---- endpoint handlers --------------------------------------------------- */

static http_reply handle_execute(http_server *server, struct MHD_Connection *connection,
                                 http_request *request, bool dry_run)
{
    if (!flight_begin(server))
        return reply_error(503, "shutting_down", NULL, "the server is shutting down");
    ptexec_execute_options options = {
        .idempotency_key =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, HTTP_IDEMPOTENCY_HEADER),
        .dry_run = dry_run,
    };
    ptexec_result result;
    ptexec_execute(server->host, request->body ? request->body : "", request->length, &options,
                   &result, NULL);
    flight_end(server);
    return reply_result(request, &result);
}

static http_reply handle_holdings(http_server *server, http_request *request)
{
    if (!flight_begin(server))
        return reply_error(503, "shutting_down", NULL, "the server is shutting down");
    ptexec_result result;
    ptexec_holdings(server->host, request->body ? request->body : "", request->length, &result,
                    NULL);
    flight_end(server);
    return reply_result(request, &result);
}

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

static http_reply handle_health(http_server *server)
{
    ptexec_health health;
    ptexec_health_get(server->host, &health);
    http_reply reply = reply_empty();
    reply.length = 512;
    reply.body = malloc(reply.length);
    reply.release = free;
    if (reply.body == NULL)
        return reply_error(500, "internal_error", NULL, "out of memory");
    int length = snprintf(reply.body, reply.length,
                          "{\"status\":\"ok\",\"version\":\"%s\",\"brokers\":%zu,"
                          "\"refused_brokers\":%zu,\"executions_in_flight\":%zu,"
                          "\"journal\":\"%s\"}",
                          ptexec_version(), health.brokers, health.refused_brokers,
                          health.executions_in_flight, health.journal);
    reply.length = length > 0 && (size_t)length < reply.length ? (size_t)length : 0;
    reply.status = 200;
    return reply;
}

static http_reply handle_metrics(http_server *server)
{
    http_reply reply = reply_empty();
    if (ptexec_metrics_text(server->host, &reply.body, &reply.length) != PTEXEC_OK)
        return reply_error(500, "internal_error", NULL, "out of memory");
    reply.status = 200;
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return reply;
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
        return handle_execute(server, connection, request, false);
    case ROUTE_PLAN:
        return handle_execute(server, connection, request, true);
    case ROUTE_HOLDINGS:
        return handle_holdings(server, request);
    case ROUTE_BROKERS:
        return handle_brokers(server);
    case ROUTE_EXECUTIONS:
        return handle_executions(server, connection);
    case ROUTE_EXECUTION:
        return handle_execution(server, request, url);
    case ROUTE_HEALTH:
        return handle_health(server);
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
    if (reply->status == 503 || atomic_load(&server->stopping))
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

static enum MHD_Result on_request(void *context, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **request_context)
{
    (void)version;
    http_server *server = context;
    http_request *request = *request_context;
    if (request == NULL) {
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
    if (request->status != 0)
        return MHD_YES;
    http_reply reply = dispatch(server, connection, request, url);
    return send_reply(server, connection, request, &reply);
}

static void on_completed(void *context, struct MHD_Connection *connection, void **request_context,
                         enum MHD_RequestTerminationCode termination)
{
    (void)connection;
    http_server *server = context;
    http_request *request = *request_context;
    if (request == NULL)
        return;
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
    unsigned long grace_ms;
    unsigned long timeout_s;
    unsigned long body_limit;
} http_settings;

static ptexec_status read_settings(ptexec_host *host, http_settings *settings, ptexec_error *error)
{
    ptexec_status status =
        ptexec_config_uint(host, "host", "max_connections", 1, 100000, HTTP_DEFAULT_MAX_CONNECTIONS,
                           &settings->max_connections, error);
    if (status == PTEXEC_OK)
        status = ptexec_config_uint(host, "host", "shutdown_grace_ms", 0, 3600000,
                                    HTTP_DEFAULT_GRACE_MS, &settings->grace_ms, error);
    if (status == PTEXEC_OK)
        status = ptexec_config_uint(host, "host", "connection_timeout_s", 1, 3600,
                                    HTTP_DEFAULT_TIMEOUT_S, &settings->timeout_s, error);
    if (status == PTEXEC_OK)
        status = ptexec_config_uint(host, "host", "body_limit", 1, 1UL << 30,
                                    HTTP_DEFAULT_BODY_LIMIT, &settings->body_limit, error);
    return status;
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
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    int one = 1;
    int saved = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 128) != 0) {
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

static struct MHD_Daemon *start_daemon(http_server *server, int listen_fd,
                                       const http_settings *settings)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, server, MHD_OPTION_LISTEN_SOCKET,
                            (MHD_socket)listen_fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)settings->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)settings->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_THREAD_STACK_SIZE,
                            (size_t)HTTP_THREAD_STACK, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                            server, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, server, MHD_OPTION_END);
}

/* ---- shutdown ------------------------------------------------------------- */

/* Waits for in-flight engine calls to finish, at most `grace_ms`. A second
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
    pthread_mutex_lock(&server->flight_lock);
    atomic_store(&server->stopping, true);
    size_t count = server->in_flight;
    pthread_mutex_unlock(&server->flight_lock);
    MHD_socket listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    ptexec_log(PTEXEC_LOG_INFO, "http",
               "shutting down: no longer accepting; %zu execution(s) in flight", count);
    drain(server, signals, grace_ms);
    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    ptexec_log(PTEXEC_LOG_INFO, "http", "stopped");
}

static ptexec_status serve_until_signal(http_server *server, const http_settings *settings,
                                        const char *listen_address, ptexec_error *error)
{
    sigset_t signals, previous;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    /* Blocked before the daemon starts, so its threads inherit the mask and
     * the signals are taken here with sigwait. */
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    int listen_fd = -1;
    ptexec_status status = open_listener(listen_address, &listen_fd, error);
    if (status != PTEXEC_OK)
        goto cleanup;
    server->daemon = start_daemon(server, listen_fd, settings);
    if (server->daemon == NULL) {
        close(listen_fd);
        status = http_fail(error, PTEXEC_IO, "listen", "cannot start the HTTP server on %s",
                           listen_address);
        goto cleanup;
    }
    log_listening(listen_fd);
    int received = 0;
    while (sigwait(&signals, &received) != 0)
        ;
    ptexec_log(PTEXEC_LOG_INFO, "http", "received %s", received == SIGTERM ? "SIGTERM" : "SIGINT");
    shut_down(server, &signals, settings->grace_ms);
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
    http_server server = {
        .host = host,
        .body_limit = settings.body_limit,
        .api_token = token && token[0] ? token : NULL,
    };
    log_journal_state(&server);
    find_docs_dir(server.docs_dir);
    if (server.docs_dir[0] == '\0')
        ptexec_log(PTEXEC_LOG_WARN, "http",
                   "Swagger UI files not found; GET /docs will answer 404");
    pthread_mutex_init(&server.flight_lock, NULL);
    atomic_init(&server.stopping, false);
    if (listen == NULL)
        listen = ptexec_config_string(host, "host", "listen");
    status = serve_until_signal(&server, &settings, listen, error);
    pthread_mutex_destroy(&server.flight_lock);
    return status;
}
