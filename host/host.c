/* libptexec: the public host API of <ptexec/host.h> over the host modules.
 * The only file that defines ptexec_* symbols (the library exports nothing
 * else; see host/libptexec.map). */
#include <ptexec/host.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "ids.h"
#include "execution.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "registry.h"
#include "render.h"
#include "request.h"
#include "status.h"
#include "tables.h"

#define HOST_DEFAULT_ACCOUNT_WAIT_MS 30000
#define HOST_HISTORY_DEFAULT_LIMIT 50
#define HOST_HISTORY_MAX_LIMIT 10000
#define HOST_TEXT_CONFIG_NAME "(configuration text)"

/* The public status table mirrors the host's one value for value, so a
 * ptx_status converts by a cast. */
#define HOST_SAME_STATUS_(name, value, text, code, http)                                           \
    _Static_assert((int)PTEXEC_##name == (int)PTX_##name, "status " #name " differs");
PTEXEC_STATUS_MAP(HOST_SAME_STATUS_)
#undef HOST_SAME_STATUS_
_Static_assert(PTEXEC_EXECUTION_ID_MAX == IDS_EXECUTION_ID_MAX, "execution id size");
_Static_assert(PTEXEC_IDEMPOTENCY_KEY_MAX == REQUEST_IDEMPOTENCY_KEY_MAX, "key size");
_Static_assert(PTEXEC_BROKER_NAME_MAX == REQUEST_BROKER_MAX, "broker name size");
_Static_assert(PTEXEC_ERROR_FIELD_MAX == sizeof(((ptx_error *)0)->field), "field size");
_Static_assert(PTEXEC_ERROR_MESSAGE_MAX == sizeof(((ptx_error *)0)->message), "message size");

struct ptexec_host {
    config cfg;
    unsigned flags;
    registry *reg;        /* NULL when opened PTEXEC_OPEN_RECORDS_ONLY */
    notify *notifier;     /* likewise */
    engine *eng;          /* likewise */
    journal *records;     /* NULL when off or unavailable */
    bool journal_refused; /* open, but executions refused (no account hash key) */
    int journal_lock;     /* flock'ed <journal>.lock, or -1 */
    metrics *stats;
    request_limits limits;
    unsigned account_wait_ms;
    atomic_size_t in_flight; /* executions and holdings reads running */
};

/* ---- statuses and errors ------------------------------------------------ */

const char *ptexec_strerror(ptexec_status status)
{
    switch (status) {
#define HOST_TEXT_(name, value, text, code, http)                                                  \
    case PTEXEC_##name:                                                                            \
        return text;
        PTEXEC_STATUS_MAP(HOST_TEXT_)
#undef HOST_TEXT_
    }
    return "unknown status";
}

const char *ptexec_status_code(ptexec_status status)
{
    switch (status) {
#define HOST_CODE_(name, value, text, code, http)                                                  \
    case PTEXEC_##name:                                                                            \
        return code;
        PTEXEC_STATUS_MAP(HOST_CODE_)
#undef HOST_CODE_
    }
    return "internal_error";
}

unsigned ptexec_http_status(ptexec_status status)
{
    switch (status) {
#define HOST_HTTP_(name, value, text, code, http)                                                  \
    case PTEXEC_##name:                                                                            \
        return http;
        PTEXEC_STATUS_MAP(HOST_HTTP_)
#undef HOST_HTTP_
    }
    return 500;
}

/* Copies a host error into the caller's public record (NULL is fine) and
 * returns its status. */
static ptexec_status host_report(ptexec_error *out, const ptx_error *error)
{
    ptexec_status status = (ptexec_status)error->status;
    if (out != NULL) {
        out->status = status;
        out->http_status = ptexec_http_status(status);
        snprintf(out->code, sizeof out->code, "%s", ptexec_status_code(status));
        snprintf(out->field, sizeof out->field, "%s", error->field);
        snprintf(out->message, sizeof out->message, "%s", error->message);
    }
    return status;
}

/* An unknown broker is a schema error of the request (422 invalid_request). */
static void host_request_error(ptx_error *error)
{
    if (error->status == PTX_NOT_FOUND)
        error->status = PTX_INVALID;
}

/* The error body a front-end answers `error` with: a 5xx that is not a
 * known refusal says only "internal error", and a journal failure only that
 * the journal is unavailable (its detail names files: the log has it). */
static char *host_error_body(const ptx_error *error, size_t *length)
{
    unsigned http = ptexec_http_status((ptexec_status)error->status);
    if (error->status == PTX_JOURNAL) {
        log_write(LOG_ERROR, "host", "execution refused: %s", error->message);
        char *json = NULL;
        ptexec_error_json("journal_unavailable", "journal unavailable: see the server log", NULL,
                          &json, length);
        return json;
    }
    if (http == 500) {
        log_write(LOG_ERROR, "host", "internal error (%s): %s", ptx_strerror(error->status),
                  error->message);
        char *json = NULL;
        ptexec_error_json("internal_error", "internal error; see the server log", NULL, &json,
                          length);
        return json;
    }
    return render_error(error, length);
}

void ptexec_free(void *text)
{
    free(text);
}

const char *ptexec_version(void)
{
    return PTEXEC_VERSION;
}

ptexec_status ptexec_error_json(const char *code, const char *message, const char *field,
                                char **json, size_t *length)
{
    char safe_message[PTEXEC_ERROR_MESSAGE_MAX * 4];
    char safe_field[PTEXEC_ERROR_FIELD_MAX * 4];
    json_safe_text(message ? message : "", safe_message, sizeof safe_message);
    json_safe_text(field ? field : "", safe_field, sizeof safe_field);
    message = safe_message;
    field = safe_field;
    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "error");
    json_object_begin(&writer);
    json_key_write(&writer, "code");
    json_write_string(&writer, code);
    json_key_write(&writer, "message");
    json_write_string(&writer, message);
    json_key_write(&writer, "field");
    json_write_string(&writer, field && *field ? field : NULL);
    json_object_end(&writer);
    json_object_end(&writer);
    *json = json_writer_finish(&writer, length);
    return *json != NULL ? PTEXEC_OK : PTEXEC_NOMEM;
}

void ptexec_log(ptexec_log_level level, const char *module, const char *format, ...)
{
    if (!log_enabled((log_level)level))
        return;
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    log_write((log_level)level, module, "%s", message);
}

/* ---- opening and closing ------------------------------------------------ */

/* Takes the exclusive lock "<journal>.lock" that makes one process at a time
 * trade against a journal (account locks live in memory, and recovery takes
 * another owner's running executions for crashed ones). flock() is released
 * by the kernel when the process dies. false with the reason in `error`. */
static bool host_lock_journal(ptexec_host *host, ptx_error *error)
{
    const char *path = host->cfg.journal;
    if (strcmp(path, ":memory:") == 0)
        return true;
    char lock_path[4096];
    int length = snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    if (length < 0 || (size_t)length >= sizeof lock_path)
        return ptx_fail(error, PTX_JOURNAL, NULL, "journal path too long"), false;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) /* the journal itself will report what is wrong with the folder */
        return true;
    fchmod(fd, 0600); /* whatever the umask */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        ptx_fail(error, PTX_JOURNAL, NULL,
                 "journal %s is in use by another ptexec process; only one process may trade "
                 "against a journal (send executions to the running server)",
                 path);
        return false;
    }
    host->journal_lock = fd;
    return true;
}

/* The key of account hashes: account_hash_key, or "<journal>.key" (created
 * 0600 on first use), so that history names accounts the same way across
 * restarts and a hash cannot be guessed offline. PTX_JOURNAL when the key
 * file cannot be read or made (its path goes to the log only). */
static ptx_status host_load_account_key(ptexec_host *host, ptx_error *error)
{
    const config *cfg = &host->cfg;
    ids_key key;
    char why[4200];
    if (cfg->account_hash_key != NULL && cfg->account_hash_key[0] != '\0') {
        ids_key_from_text(cfg->account_hash_key, &key);
    } else if (strcmp(cfg->journal, ":memory:") == 0) {
        ids_key_random(&key);
    } else {
        char path[4096];
        int length = snprintf(path, sizeof path, "%s.key", cfg->journal);
        if (length < 0 || (size_t)length >= sizeof path)
            return ptx_fail(error, PTX_JOURNAL, NULL, "journal path too long");
        if (!ids_key_load(path, &key, why, sizeof why)) {
            log_write(LOG_ERROR, "host", "account hash key: %s", why);
            return ptx_fail(error, PTX_JOURNAL, NULL, "the account hash key cannot be read");
        }
    }
    engine_set_account_key(host->eng, &key);
    return PTX_OK;
}

/* Opens the configured journal; a journal that cannot be used makes the
 * engine refuse executions (journal_unavailable) rather than trade
 * unrecorded. */
static void host_open_journal(ptexec_host *host)
{
    const config *cfg = &host->cfg;
    if (cfg->journal == NULL || cfg->journal[0] == '\0')
        return;
    ptx_error error;
    ptx_error_clear(&error);
    bool trading = host->eng != NULL;
    if (trading && !host_lock_journal(host, &error)) {
        log_write(LOG_WARN, "host", "%s", error.message);
        engine_set_journal_error(host->eng, error.message);
        return;
    }
    journal_options options = {.retention_days = (unsigned)cfg->journal_retention_days};
    if (cfg->journal_sync != NULL && !journal_parse_sync(cfg->journal_sync, &options.sync))
        options.sync = JOURNAL_SYNC_NORMAL;
    if (journal_open(cfg->journal, &options, &host->records, &error) != PTX_OK) {
        if (trading)
            engine_set_journal_error(host->eng, error.message);
        return;
    }
    if (trading && host_load_account_key(host, &error) != PTX_OK) {
        engine_set_journal_error(host->eng, error.message);
        host->journal_refused = true;
        return;
    }
    if (trading) {
        engine_set_journal(host->eng, host->records);
        engine_recovery_pending(host->eng);
    }
}

static metrics *host_create_metrics(registry *reg)
{
    size_t count = reg != NULL ? registry_count(reg) : 0;
    const char **names = calloc(count + 1, sizeof *names);
    if (names == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        names[i] = registry_broker_name(registry_at(reg, i));
    metrics *stats = metrics_create(names, count);
    free(names);
    return stats;
}

/* Loads plugins, sinks and the engine of a trading host. */
static ptx_status host_open_engine(ptexec_host *host, ptx_error *error)
{
    ptx_status status = registry_load(&host->cfg, &host->reg, error);
    if (status != PTX_OK)
        return status;
    host->notifier = notify_create(&host->cfg, error);
    if (host->notifier == NULL)
        return error->status != PTX_OK ? error->status : PTX_NOMEM;
    host->eng = engine_create(host->reg, host->notifier);
    if (host->eng == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory creating the engine");
    return PTX_OK;
}

/* Everything after the configuration is read: logging, settings, plugins,
 * metrics, journal. */
static ptx_status host_start(ptexec_host *host, ptx_error *error)
{
    log_level level = LOG_INFO;
    log_parse_level(host->cfg.log_level, &level);
    log_configure(level, strcmp(host->cfg.log_format, "json") == 0);
    host->limits.max_symbols = host->cfg.max_symbols ? host->cfg.max_symbols : 10000;
    unsigned long wait_ms = HOST_DEFAULT_ACCOUNT_WAIT_MS;
    ptx_status status = config_get_uint(&host->cfg, &host->cfg.host, "account_wait_ms", 0, 3600000,
                                        &wait_ms, error);
    if (status != PTX_OK)
        return status;
    host->account_wait_ms = (unsigned)wait_ms;
    if ((host->flags & PTEXEC_OPEN_RECORDS_ONLY) == 0) {
        status = host_open_engine(host, error);
        if (status != PTX_OK)
            return status;
    }
    host->stats = host_create_metrics(host->reg);
    if (host->stats == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    host_open_journal(host);
    return PTX_OK;
}

static ptexec_host *host_alloc(unsigned flags)
{
    ptexec_host *host = calloc(1, sizeof *host);
    if (host == NULL)
        return NULL;
    host->flags = flags;
    host->journal_lock = -1;
    atomic_init(&host->in_flight, 0);
    return host;
}

/* Starts a host whose configuration was loaded (or failed to load with
 * `status`), and hands it out or frees it. */
static ptexec_status host_finish_open(ptexec_host *host, ptx_status status, ptexec_host **out,
                                      ptx_error *error, ptexec_error *public_error)
{
    if (status == PTX_OK)
        status = host_start(host, error);
    if (status != PTX_OK) {
        ptexec_close(host);
        return host_report(public_error, error);
    }
    *out = host;
    return PTEXEC_OK;
}

ptexec_status ptexec_open_file(const char *path, unsigned flags, ptexec_host **out,
                               ptexec_error *error)
{
    ptx_error detail;
    ptx_error_clear(&detail);
    *out = NULL;
    if (path == NULL)
        return host_report(
            error, &(ptx_error){.status = PTX_CONFIG, .message = "no configuration file given"});
    ptexec_host *host = host_alloc(flags);
    if (host == NULL)
        return host_report(error, &(ptx_error){.status = PTX_NOMEM, .message = "out of memory"});
    ptx_status status = config_load(path, &host->cfg, &detail);
    return host_finish_open(host, status, out, &detail, error);
}

ptexec_status ptexec_open_text(const char *text, size_t length, const char *directory,
                               unsigned flags, ptexec_host **out, ptexec_error *error)
{
    ptx_error detail;
    ptx_error_clear(&detail);
    *out = NULL;
    if (text == NULL)
        return host_report(
            error, &(ptx_error){.status = PTX_CONFIG, .message = "no configuration text given"});
    ptexec_host *host = host_alloc(flags);
    if (host == NULL)
        return host_report(error, &(ptx_error){.status = PTX_NOMEM, .message = "out of memory"});
    ptx_status status =
        config_load_text(text, length, HOST_TEXT_CONFIG_NAME, directory, &host->cfg, &detail);
    return host_finish_open(host, status, out, &detail, error);
}

void ptexec_close(ptexec_host *host)
{
    if (host == NULL)
        return;
    engine_destroy(host->eng);
    journal_close(host->records);
    if (host->journal_lock >= 0)
        close(host->journal_lock); /* releases the flock */
    notify_destroy(host->notifier);
    registry_free(host->reg);
    metrics_free(host->stats);
    config_free(&host->cfg);
    free(host);
}

/* ---- configuration ------------------------------------------------------- */

static const config_section *host_find_section(const config *cfg, const char *name)
{
    if (strcmp(name, "host") == 0)
        return &cfg->host;
    if (strncmp(name, "broker.", 7) == 0)
        return config_find_broker(cfg, name + 7);
    if (strncmp(name, "notify.", 7) == 0)
        for (size_t i = 0; i < cfg->notifier_count; i++)
            if (strcmp(cfg->notifiers[i].name, name + 7) == 0)
                return &cfg->notifiers[i];
    return NULL;
}

/* The resolved [host] value of `key`, or NULL for keys read raw. */
static const char *host_effective(const config *cfg, const char *key)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {
        {"plugin_dir", offsetof(config, plugin_dir)}, {"listen", offsetof(config, listen)},
        {"journal", offsetof(config, journal)},       {"api_token", offsetof(config, api_token)},
        {"log_level", offsetof(config, log_level)},   {"log_format", offsetof(config, log_format)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(key, fields[i].key) == 0)
            return *(char *const *)((const char *)cfg + fields[i].offset);
    return NULL;
}

const char *ptexec_config_string(const ptexec_host *host, const char *section, const char *key)
{
    if (host == NULL || section == NULL || key == NULL)
        return NULL;
    if (strcmp(section, "host") == 0) {
        const char *value = host_effective(&host->cfg, key);
        if (value != NULL)
            return value;
    }
    const config_section *found = host_find_section(&host->cfg, section);
    return found != NULL ? config_get(found, key) : NULL;
}

ptexec_status ptexec_config_uint(const ptexec_host *host, const char *section, const char *key,
                                 unsigned long minimum, unsigned long maximum,
                                 unsigned long fallback, unsigned long *value, ptexec_error *error)
{
    *value = fallback;
    const config_section *found = host_find_section(&host->cfg, section);
    if (found == NULL)
        return PTEXEC_OK;
    ptx_error detail;
    ptx_error_clear(&detail);
    if (config_get_uint(&host->cfg, found, key, minimum, maximum, value, &detail) != PTX_OK)
        return host_report(error, &detail);
    return PTEXEC_OK;
}

/* ---- executions ---------------------------------------------------------- */

typedef struct host_progress {
    ptexec_progress_fn fn;
    void *context;
} host_progress;

static void host_on_progress(void *context, const exec_result *result, const exec_leg *leg)
{
    const host_progress *progress = context;
    ptexec_leg view = {
        .execution_id = result->execution_id,
        .broker = result->broker,
        .symbol = leg->symbol,
        .side = side_name(leg->side),
        .quantity = leg->quantity,
        .sequence = leg->sequence,
        .leg_count = result->leg_count,
        .status = leg_status_name(leg->status),
        .reason = leg->reason,
        .order_id = leg->order_id,
        .client_order_id = leg->client_order_id,
        .filled_quantity = leg->filled_quantity,
        .average_price = leg->average_price,
        .attempts = leg->attempts,
    };
    progress->fn(progress->context, &view);
}

/* True when `key` is 1-128 printable ASCII characters (the body field's rule). */
static bool host_valid_key(const char *key)
{
    size_t length = strlen(key);
    if (length < 1 || length >= REQUEST_IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (key[i] < 0x20 || key[i] > 0x7E)
            return false;
    return true;
}

/* Takes the header form of the idempotency key into the parsed request. */
static ptx_status host_take_key(const char *key, exec_request *parsed, ptx_error *error)
{
    if (key == NULL)
        return PTX_OK;
    if (!host_valid_key(key))
        return ptx_fail(error, PTX_INVALID, "Idempotency-Key",
                        "the Idempotency-Key header must be 1-%d printable ASCII characters",
                        REQUEST_IDEMPOTENCY_KEY_MAX - 1);
    if (parsed->idempotency_key[0] != '\0' && strcmp(parsed->idempotency_key, key) != 0)
        return ptx_fail(error, PTX_INVALID, "idempotency_key",
                        "the Idempotency-Key header and the body's idempotency_key differ; send "
                        "one key, or the same in both");
    snprintf(parsed->idempotency_key, sizeof parsed->idempotency_key, "%s", key);
    return PTX_OK;
}

/* Fills *out with the failure: status, HTTP status and error body. */
static ptexec_status host_fail_result(ptx_error *error, ptexec_result *out,
                                      ptexec_error *public_error)
{
    out->body = host_error_body(error, &out->length);
    out->http_status = ptexec_http_status((ptexec_status)error->status);
    return host_report(public_error, error);
}

/* The response text of a finished execution: the journal's stored text when
 * there is one (byte-identical on a replay), else the rendered result. */
static char *host_result_body(exec_result *result, ptexec_format format, size_t *length)
{
    if (format == PTEXEC_FORMAT_TEXT)
        return tables_result(result, length);
    if (result->response != NULL) {
        char *body = result->response;
        result->response = NULL;
        *length = strlen(body);
        return body;
    }
    return render_result(result, length);
}

static ptexec_status host_fill_result(exec_result *result, ptexec_format format, ptexec_result *out,
                                      ptexec_error *public_error)
{
    snprintf(out->execution_id, sizeof out->execution_id, "%s", result->execution_id);
    snprintf(out->status, sizeof out->status, "%s", exec_status_name(result->status));
    out->replayed = result->replayed;
    out->body = host_result_body(result, format, &out->length);
    if (out->body == NULL) {
        ptx_error error = {.status = PTX_NOMEM, .message = "out of memory rendering the result"};
        return host_fail_result(&error, out, public_error);
    }
    out->http_status = 200;
    return PTEXEC_OK;
}

/* Parses the request body and the options into *parsed. */
static ptx_status host_parse_execute(ptexec_host *host, const char *request, size_t length,
                                     const ptexec_execute_options *options, exec_request *parsed,
                                     ptx_error *error)
{
    if (request == NULL)
        return ptx_fail(error, PTX_PARSE, NULL, "no request body");
    ptx_status status = request_parse_execute(request, length, &host->limits, parsed, error);
    if (status == PTX_OK && options->idempotency_key != NULL)
        status = host_take_key(options->idempotency_key, parsed, error);
    if (status == PTX_OK && options->dry_run)
        parsed->dry_run = true;
    return status;
}

static ptx_status host_require_engine(const ptexec_host *host, ptx_error *error)
{
    if (host->eng == NULL)
        return ptx_fail(error, PTX_UNAVAILABLE, NULL,
                        "this host was opened for records only; it runs no executions");
    return PTX_OK;
}

/* Runs the engine for a parsed request, counting it in the metrics. */
static ptx_status host_run(ptexec_host *host, const exec_request *parsed,
                           const ptexec_execute_options *options, exec_result *result,
                           ptx_error *error)
{
    host_progress progress = {options->progress, options->progress_context};
    engine_call_options call = {.lock_timeout_ms = host->account_wait_ms};
    if (options->progress != NULL) {
        call.progress = host_on_progress;
        call.progress_context = &progress;
    }
    atomic_fetch_add(&host->in_flight, 1);
    metrics_execution_begin(host->stats);
    ptx_status status = engine_execute(host->eng, parsed, &call, result, error);
    metrics_execution_end(host->stats, parsed->broker, status, status == PTX_OK ? result : NULL);
    atomic_fetch_sub(&host->in_flight, 1);
    return status;
}

ptexec_status ptexec_execute(ptexec_host *host, const char *request, size_t length,
                             const ptexec_execute_options *options, ptexec_result *result,
                             ptexec_error *error)
{
    static const ptexec_execute_options none = {0};
    const ptexec_execute_options *opts = options != NULL ? options : &none;
    memset(result, 0, sizeof *result);
    ptx_error detail;
    ptx_error_clear(&detail);
    exec_request parsed = {0};
    exec_result outcome = {0};
    ptx_status status = host_require_engine(host, &detail);
    if (status == PTX_OK)
        status = host_parse_execute(host, request, length, opts, &parsed, &detail);
    if (status == PTX_OK)
        status = host_run(host, &parsed, opts, &outcome, &detail);
    ptexec_status answer;
    if (status == PTX_OK) {
        answer = host_fill_result(&outcome, opts->format, result, error);
    } else {
        host_request_error(&detail);
        answer = host_fail_result(&detail, result, error);
    }
    exec_result_free(&outcome);
    request_free(&parsed);
    return answer;
}

ptexec_status ptexec_plan(ptexec_host *host, const char *request, size_t length,
                          const ptexec_execute_options *options, ptexec_result *result,
                          ptexec_error *error)
{
    ptexec_execute_options dry = options != NULL ? *options : (ptexec_execute_options){0};
    dry.dry_run = 1;
    return ptexec_execute(host, request, length, &dry, result, error);
}

/* Reads the holdings of a parsed request and renders them. */
static ptx_status host_read_holdings(ptexec_host *host, const exec_request *parsed, char **body,
                                     size_t *length, ptx_error *error)
{
    holdings *map = NULL;
    atomic_fetch_add(&host->in_flight, 1);
    ptx_status status = engine_holdings(host->eng, parsed, &map, error);
    atomic_fetch_sub(&host->in_flight, 1);
    if (status == PTX_OK) {
        *body = render_holdings(parsed->broker, map, length);
        if (*body == NULL)
            status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    }
    holdings_free(map);
    return status;
}

ptexec_status ptexec_holdings(ptexec_host *host, const char *request, size_t length,
                              ptexec_result *result, ptexec_error *error)
{
    memset(result, 0, sizeof *result);
    ptx_error detail;
    ptx_error_clear(&detail);
    exec_request parsed = {0};
    ptx_status status = host_require_engine(host, &detail);
    if (status == PTX_OK && request == NULL)
        status = ptx_fail(&detail, PTX_PARSE, NULL, "no request body");
    if (status == PTX_OK)
        status = request_parse_holdings(request, length, &parsed, &detail);
    if (status == PTX_OK)
        status = host_read_holdings(host, &parsed, &result->body, &result->length, &detail);
    request_free(&parsed);
    if (status != PTX_OK) {
        host_request_error(&detail);
        return host_fail_result(&detail, result, error);
    }
    result->http_status = 200;
    return PTEXEC_OK;
}

/* ---- brokers, history, health ------------------------------------------ */

ptexec_status ptexec_brokers(ptexec_host *host, ptexec_format format, char **text, size_t *length,
                             ptexec_error *error)
{
    *text = format == PTEXEC_FORMAT_TEXT ? tables_brokers(host->reg, length)
                                         : render_brokers(host->reg, length);
    if (*text == NULL)
        return host_report(error, &(ptx_error){.status = PTX_NOMEM, .message = "out of memory"});
    return PTEXEC_OK;
}

size_t ptexec_refused_count(const ptexec_host *host)
{
    return host->reg != NULL ? registry_refused_count(host->reg) : 0;
}

ptexec_status ptexec_refused(const ptexec_host *host, size_t index, const char **name,
                             const char **message)
{
    if (index >= ptexec_refused_count(host))
        return PTEXEC_NOT_FOUND;
    if (name != NULL)
        *name = registry_refused_name(host->reg, index);
    if (message != NULL)
        *message = registry_refused_message(host->reg, index);
    return PTEXEC_OK;
}

/* "ok", "off" (journal = off) or "unavailable". */
/* "ok", "off" or "unavailable": not opened, refused, or its file deleted or
 * replaced under the running host (executions are then refused too). */
static const char *host_journal_state(const ptexec_host *host)
{
    ptx_error detail;
    if (host->records == NULL)
        return host->cfg.journal == NULL || host->cfg.journal[0] == '\0' ? "off" : "unavailable";
    if (host->journal_refused || journal_check_file(host->records, &detail) != PTX_OK)
        return "unavailable";
    return "ok";
}

/* The journal for a history read, or NULL with PTX_JOURNAL in `error`. */
static journal *host_history_journal(const ptexec_host *host, ptx_error *error)
{
    if (host->records != NULL)
        return host->records;
    if (strcmp(host_journal_state(host), "off") == 0)
        ptx_fail(error, PTX_JOURNAL, NULL,
                 "the journal is off (journal = off in the configuration): no execution history "
                 "is kept");
    else
        ptx_fail(error, PTX_JOURNAL, NULL,
                 "the journal could not be opened at start-up; see the server log");
    return NULL;
}

/* A failed journal read: logged, answered without the detail. */
static ptx_status host_history_failure(ptx_status status, ptx_error *error)
{
    if (status != PTX_JOURNAL)
        return status;
    log_write(LOG_ERROR, "host", "history read failed: %s", error->message);
    return ptx_fail(error, PTX_JOURNAL, NULL,
                    "the journal cannot be read right now; see the server log");
}

/* Checks a query and turns it into a journal filter (borrowing its strings;
 * the status is upper-cased into `status`). */
static ptx_status host_history_filter(const ptexec_history_query *query, journal_filter *filter,
                                      char status[JOURNAL_STATE_MAX], ptx_error *error)
{
    static const char *const states[] = {"RUNNING", "COMPLETED", "PARTIAL", "FAILED",
                                         "NOOP",    "RECOVERED", NULL};
    *filter = (journal_filter){.limit = HOST_HISTORY_DEFAULT_LIMIT};
    if (query == NULL)
        return PTX_OK;
    if (query->limit > HOST_HISTORY_MAX_LIMIT)
        return ptx_fail(error, PTX_INVALID, "limit", "limit must be a whole number from 1 to %d",
                        HOST_HISTORY_MAX_LIMIT);
    if (query->limit > 0)
        filter->limit = query->limit;
    if (query->broker != NULL && strlen(query->broker) >= REQUEST_BROKER_MAX)
        return ptx_fail(error, PTX_INVALID, "broker",
                        "broker must be a broker name of 1-%d characters", REQUEST_BROKER_MAX - 1);
    filter->broker = query->broker;
    if (query->status == NULL || query->status[0] == '\0')
        return PTX_OK;
    for (size_t i = 0; states[i] != NULL; i++)
        if (strcasecmp(query->status, states[i]) == 0) {
            snprintf(status, JOURNAL_STATE_MAX, "%s", states[i]);
            filter->status = status;
            return PTX_OK;
        }
    return ptx_fail(error, PTX_INVALID, "status",
                    "status must be one of RUNNING, COMPLETED, PARTIAL, FAILED, NOOP, RECOVERED");
}

static ptx_status host_history_text(journal *records, const journal_filter *filter, char **text,
                                    size_t *length, ptx_error *error)
{
    journal_execution *items = NULL;
    size_t count = 0;
    ptx_status status = journal_list(records, filter, &items, &count, error);
    if (status != PTX_OK)
        return status;
    *text = tables_history(items, count, length);
    journal_list_free(items, count);
    return *text != NULL ? PTX_OK : ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
}

ptexec_status ptexec_history(ptexec_host *host, const ptexec_history_query *query,
                             ptexec_format format, char **text, size_t *length, ptexec_error *error)
{
    *text = NULL;
    ptx_error detail;
    ptx_error_clear(&detail);
    journal_filter filter;
    char state[JOURNAL_STATE_MAX] = "";
    ptx_status status = host_history_filter(query, &filter, state, &detail);
    journal *records = status == PTX_OK ? host_history_journal(host, &detail) : NULL;
    if (records == NULL)
        return host_report(error, &detail);
    if (format == PTEXEC_FORMAT_TEXT)
        status = host_history_text(records, &filter, text, length, &detail);
    else
        status = journal_list_json(records, &filter, text, &detail);
    if (status == PTX_OK && length != NULL && format != PTEXEC_FORMAT_TEXT)
        *length = strlen(*text);
    if (status != PTX_OK) {
        free(*text);
        *text = NULL;
        host_history_failure(status, &detail);
        return host_report(error, &detail);
    }
    return PTEXEC_OK;
}

ptexec_status ptexec_history_get(ptexec_host *host, const char *execution_id, char **json,
                                 size_t *length, ptexec_error *error)
{
    *json = NULL;
    ptx_error detail;
    ptx_error_clear(&detail);
    journal *records = host_history_journal(host, &detail);
    if (records == NULL)
        return host_report(error, &detail);
    ptx_status status = journal_show_json(records, execution_id, json, &detail);
    if (status == PTX_NOT_FOUND)
        ptx_fail(&detail, PTX_NOT_FOUND, NULL, "no execution with id '%s' in the journal",
                 execution_id);
    if (status != PTX_OK) {
        free(*json);
        *json = NULL;
        host_history_failure(status, &detail);
        return host_report(error, &detail);
    }
    if (length != NULL)
        *length = strlen(*json);
    return PTEXEC_OK;
}

ptexec_status ptexec_ready(ptexec_host *host, ptexec_error *error)
{
    ptx_error detail;
    ptx_error_clear(&detail);
    if (host_require_engine(host, &detail) != PTX_OK)
        return host_report(error, &detail);
    if (registry_count(host->reg) == 0)
        return host_report(error, &(ptx_error){.status = PTX_UNAVAILABLE,
                                               .message = "no broker plugin is loaded"});
    if (strcmp(host_journal_state(host), "unavailable") == 0)
        return host_report(error, &(ptx_error){.status = PTX_JOURNAL,
                                               .message = "the journal is unavailable; "
                                                          "executions are refused"});
    return PTEXEC_OK;
}

void ptexec_health_get(ptexec_host *host, ptexec_health *health)
{
    health->brokers = host->reg != NULL ? registry_count(host->reg) : 0;
    health->refused_brokers = ptexec_refused_count(host);
    health->executions_in_flight = atomic_load(&host->in_flight);
    health->journal = host_journal_state(host);
    health->ready = ptexec_ready(host, NULL) == PTEXEC_OK;
}

/* ---- front-end services ----------------------------------------------- */

void ptexec_metrics_http_request(ptexec_host *host, const char *route, unsigned code,
                                 double duration_ms)
{
    metrics_http_request(host->stats, route, code, duration_ms);
}

ptexec_status ptexec_metrics_text(ptexec_host *host, char **text, size_t *length)
{
    *text = metrics_render(host->stats, length);
    return *text != NULL ? PTEXEC_OK : PTEXEC_NOMEM;
}

ptexec_status ptexec_plugin_describe(const char *path, char **text, size_t *length,
                                     ptexec_error *error)
{
    *text = NULL;
    const broker_plugin *plugin = NULL;
    void *handle = NULL;
    ptx_error detail;
    ptx_error_clear(&detail);
    if (registry_open_file(path, &plugin, &handle, &detail) != PTX_OK)
        return host_report(error, &detail);
    *text = tables_plugin(path, plugin, length);
    registry_unload_file(handle);
    if (*text == NULL)
        return host_report(error, &(ptx_error){.status = PTX_NOMEM, .message = "out of memory"});
    return PTEXEC_OK;
}
