/* The ptexec command line (design §2.4). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "notify.h"
#include "registry.h"
#include "render.h"
#include "request.h"

#define CLI_REQUEST_LIMIT (256u * 1024u * 1024u)

static const char usage_text[] =
    "usage: ptexec [-c FILE] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  serve [--listen ADDR:PORT]                 serve the HTTP API\n"
    "  execute REQUEST.json|- [--dry-run] [--idempotency-key K] [--format json|text]\n"
    "                                             run one execution\n"
    "  plan REQUEST.json|- [--format json|text]   the same as execute --dry-run\n"
    "  holdings --broker NAME [--api-key K --access-token T] [--credential KEY=VALUE]...\n"
    "                                             show an account's holdings\n"
    "  brokers [--format text|json]               list the loaded broker plugins\n"
    "  history [--limit N] [--broker B] [--status S] [--format text|json]\n"
    "                                             list journaled executions, newest first\n"
    "  show EXECUTION_ID                          one execution: stored response and leg timeline\n"
    "  plugin check FILE.so                       load one plugin and print its descriptor\n"
    "\n"
    "options:\n"
    "  -c FILE      configuration file (default: $PTEXEC_CONFIG, else ./brokers.ini)\n"
    "  --help       show this help\n"
    "  --version    show the version\n"
    "\n"
    "exit codes: 0 every leg filled or nothing to do, 1 some legs not filled,\n"
    "            2 bad usage, configuration or request, 3 broker authentication or\n"
    "            availability failure\n";

typedef struct cli_context {
    config cfg;
    registry *reg;
    notify *notifier;
    engine *eng;
    journal *records; /* NULL when the journal is off or could not be opened */
    int journal_lock; /* flock'ed <journal>.lock, or -1 */
} cli_context;

typedef enum output_format { FORMAT_JSON, FORMAT_TEXT } output_format;

static int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "ptexec: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\nTry 'ptexec --help'.\n");
    va_end(args);
    return CLI_EXIT_USAGE;
}

/* Maps a failed status to the exit code of design §2.4. */
static int exit_code_for(ptx_status status)
{
    switch (status) {
    case PTX_OK:
        return CLI_EXIT_OK;
    case PTX_AUTH:
    case PTX_UNAVAILABLE:
    case PTX_BUSY:
    case PTX_IN_PROGRESS:
    case PTX_JOURNAL:
        return CLI_EXIT_BROKER;
    case PTX_INTERNAL:
    case PTX_NOMEM:
    case PTX_IO:
        return CLI_EXIT_NOT_FILLED;
    default:
        return CLI_EXIT_USAGE;
    }
}

/* Prints an error: JSON on stdout (the HTTP error body), a line on stderr. */
static int report_error(const ptx_error *error)
{
    char *body = render_error(error, NULL);
    if (body != NULL) {
        puts(body);
        free(body);
    }
    if (error->field[0] != '\0')
        fprintf(stderr, "ptexec: %s (field: %s)\n", error->message, error->field);
    else
        fprintf(stderr, "ptexec: %s\n", error->message);
    return exit_code_for(error->status);
}

static bool parse_format(const char *text, output_format *format)
{
    if (strcmp(text, "json") == 0)
        *format = FORMAT_JSON;
    else if (strcmp(text, "text") == 0)
        *format = FORMAT_TEXT;
    else
        return false;
    return true;
}

/* Reads a whole file ("-" for stdin) into a heap buffer. */
static char *read_request(const char *path, size_t *length, ptx_error *error)
{
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (file == NULL) {
        ptx_fail(error, PTX_INVALID, NULL, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t capacity = 65536, used = 0;
    char *text = malloc(capacity);
    while (text != NULL) {
        size_t got = fread(text + used, 1, capacity - used, file);
        used += got;
        if (got == 0)
            break;
        if (used == capacity) {
            if (capacity >= CLI_REQUEST_LIMIT) {
                free(text);
                text = NULL;
                ptx_fail(error, PTX_INVALID, NULL, "%s is larger than %u bytes", path,
                         CLI_REQUEST_LIMIT);
                break;
            }
            char *grown = realloc(text, capacity * 2);
            if (grown == NULL) {
                free(text);
                text = NULL;
                ptx_fail(error, PTX_NOMEM, NULL, "out of memory reading %s", path);
                break;
            }
            text = grown;
            capacity *= 2;
        }
    }
    if (text != NULL && ferror(file)) {
        free(text);
        text = NULL;
        ptx_fail(error, PTX_INVALID, NULL, "cannot read %s: %s", path, strerror(errno));
    }
    if (file != stdin)
        fclose(file);
    *length = used;
    return text;
}

static void context_close(cli_context *ctx)
{
    engine_destroy(ctx->eng);
    journal_close(ctx->records);
    if (ctx->journal_lock >= 0)
        close(ctx->journal_lock); /* releases the flock */
    notify_destroy(ctx->notifier);
    registry_free(ctx->reg);
    config_free(&ctx->cfg);
    memset(ctx, 0, sizeof *ctx);
}

static const char *config_path(const char *given)
{
    if (given != NULL)
        return given;
    const char *env = getenv("PTEXEC_CONFIG");
    return env != NULL && *env != '\0' ? env : "brokers.ini";
}

/* Opens the journal the configuration names ([host] journal, journal_sync,
 * journal_retention_days). PTX_NOT_FOUND when the journal is off. */
static ptx_status open_journal(const config *cfg, journal **out, ptx_error *error)
{
    *out = NULL;
    if (cfg->journal == NULL || cfg->journal[0] == '\0')
        return ptx_fail(error, PTX_NOT_FOUND, NULL, "the journal is off in %s", cfg->path);
    journal_options options = {.retention_days = (unsigned)cfg->journal_retention_days};
    if (cfg->journal_sync != NULL && !journal_parse_sync(cfg->journal_sync, &options.sync))
        options.sync = JOURNAL_SYNC_NORMAL;
    return journal_open(cfg->journal, &options, out, error);
}

/*
 * Takes the exclusive lock "<journal>.lock" that makes one process at a time
 * trade against a journal: account locks live in memory, and recovery takes
 * another owner's running executions for crashed ones, so a second trading
 * process (a CLI run beside the server) could trade the same account twice.
 * flock() is released by the kernel when the process dies, so a crash never
 * leaves it held. Returns false with a reason in `error` when another process
 * holds it.
 */
static bool lock_journal(cli_context *ctx, ptx_error *error)
{
    const char *path = ctx->cfg.journal;
    if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return true;
    char lock_path[4096];
    int length = snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    if (length < 0 || (size_t)length >= sizeof lock_path)
        return ptx_fail(error, PTX_JOURNAL, NULL, "journal path too long"), false;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) /* the journal itself will report what is wrong with the folder */
        return true;
    (void)fchmod(fd, 0600); /* whatever the umask made it */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        ptx_fail(error, PTX_JOURNAL, NULL,
                 "journal %s is in use by another ptexec process; only one process may trade "
                 "against a journal (send executions to the running server)",
                 path);
        return false;
    }
    ctx->journal_lock = fd;
    return true;
}

/* Gives the engine its journal; one that cannot be opened makes the engine
 * refuse executions (journal_unavailable) rather than trade unrecorded. */
static void context_attach_journal(cli_context *ctx)
{
    ptx_error error;
    ptx_error_clear(&error);
    if (!lock_journal(ctx, &error)) {
        log_write(LOG_WARN, "cli", "%s", error.message);
        engine_set_journal_error(ctx->eng, error.message);
        return;
    }
    ptx_status status = open_journal(&ctx->cfg, &ctx->records, &error);
    if (status == PTX_OK) {
        engine_set_journal(ctx->eng, ctx->records);
        engine_recovery_pending(ctx->eng);
    } else if (status != PTX_NOT_FOUND) {
        engine_set_journal_error(ctx->eng, error.message);
    }
}

/* Loads the configuration, the plugins, the sinks and the engine. */
static ptx_status context_open(cli_context *ctx, const char *path, ptx_error *error)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->journal_lock = -1;
    ptx_status status = config_load(config_path(path), &ctx->cfg, error);
    if (status != PTX_OK)
        return status;
    log_level level = LOG_INFO;
    log_parse_level(ctx->cfg.log_level, &level);
    log_configure(level, strcmp(ctx->cfg.log_format, "json") == 0);
    status = registry_load(&ctx->cfg, &ctx->reg, error);
    if (status != PTX_OK)
        goto fail;
    ctx->notifier = notify_create(&ctx->cfg, error);
    if (ctx->notifier == NULL) {
        status = error->status != PTX_OK ? error->status : PTX_NOMEM;
        goto fail;
    }
    ctx->eng = engine_create(ctx->reg, ctx->notifier);
    if (ctx->eng == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory creating the engine");
        goto fail;
    }
    context_attach_journal(ctx);
    return PTX_OK;
fail:
    context_close(ctx);
    return status;
}

/* Progress on a terminal: one line per leg as it reaches its final state. */
static void print_progress(void *context, const exec_result *result, const exec_leg *leg)
{
    (void)context;
    fprintf(stderr, "[%zu/%zu] %-4s %-12s %10" PRId64 "  %s%s%s\n", leg->sequence,
            result->leg_count, side_name(leg->side), leg->symbol, leg->quantity,
            leg_status_name(leg->status), leg->reason[0] ? ": " : "", leg->reason);
}

static void print_result_text(const exec_result *result)
{
    printf("execution %s  broker %s  account %s  status %s\n", result->execution_id, result->broker,
           result->account_hash, exec_status_name(result->status));
    printf("%-4s %-4s %-12s %10s %-16s %10s %12s  %s\n", "SEQ", "SIDE", "SYMBOL", "QUANTITY",
           "STATUS", "FILLED", "AVG_PRICE", "REASON");
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        printf("%-4zu %-4s %-12s %10" PRId64 " %-16s %10" PRId64 " %12.2f  %s\n", leg->sequence,
               side_name(leg->side), leg->symbol, leg->quantity, leg_status_name(leg->status),
               leg->filled_quantity, leg->average_price, leg->reason);
    }
    printf("\n%-12s %10s %10s %10s %10s\n", "SYMBOL", "BEFORE", "TARGET", "AFTER", "RESIDUAL");
    for (size_t i = 0; i < result->position_count; i++) {
        const exec_position *p = &result->positions[i];
        printf("%-12s %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64 "\n", p->symbol,
               p->before, p->target, p->after, p->residual);
    }
    printf("\norders %zu  filled %zu  failed %zu  rejected %zu  partially_filled %zu\n",
           result->summary.orders, result->summary.filled, result->summary.failed,
           result->summary.rejected, result->summary.partially_filled);
}

static int exit_code_for_result(const exec_result *result)
{
    switch (result->status) {
    case EXEC_COMPLETED:
    case EXEC_NOOP:
    case EXEC_PLANNED:
        return CLI_EXIT_OK;
    default:
        return CLI_EXIT_NOT_FILLED;
    }
}

static int print_result(const exec_result *result, output_format format)
{
    if (format == FORMAT_TEXT) {
        print_result_text(result);
        return exit_code_for_result(result);
    }
    if (result->response != NULL) { /* the journal's exact text, also on a replay */
        puts(result->response);
        return exit_code_for_result(result);
    }
    char *body = render_result(result, NULL);
    if (body == NULL) {
        fprintf(stderr, "ptexec: out of memory rendering the result\n");
        return CLI_EXIT_NOT_FILLED;
    }
    puts(body);
    free(body);
    return exit_code_for_result(result);
}

static int cmd_execute(const char *config_file, int argc, char **argv, bool dry_run)
{
    const char *request_path = NULL;
    const char *key = NULL;
    output_format format = FORMAT_JSON;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else if (strcmp(argv[i], "--idempotency-key") == 0 && i + 1 < argc) {
            key = argv[++i];
            if (*key == '\0' || strlen(key) >= REQUEST_IDEMPOTENCY_KEY_MAX)
                return usage_error("--idempotency-key takes 1-%d characters",
                                   REQUEST_IDEMPOTENCY_KEY_MAX - 1);
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            if (!parse_format(argv[++i], &format))
                return usage_error("unknown format '%s' (json or text)", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option '%s'", argv[i]);
        } else if (request_path == NULL) {
            request_path = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (request_path == NULL)
        return usage_error("%s needs a request file (or - for standard input)",
                           dry_run ? "plan" : "execute");

    ptx_error error;
    ptx_error_clear(&error);
    cli_context ctx;
    if (context_open(&ctx, config_file, &error) != PTX_OK)
        return report_error(&error);

    int code;
    size_t length = 0;
    char *body = read_request(request_path, &length, &error);
    exec_request request = {0};
    exec_result result = {0};
    if (body == NULL) {
        code = report_error(&error);
        goto done;
    }
    request_limits limits = {.max_symbols = ctx.cfg.max_symbols};
    if (request_parse_execute(body, length, &limits, &request, &error) != PTX_OK) {
        code = report_error(&error);
        goto done;
    }
    request.dry_run = request.dry_run || dry_run;
    if (key != NULL)
        snprintf(request.idempotency_key, sizeof request.idempotency_key, "%s", key);
    engine_call_options options = {.lock_timeout_ms = 30000};
    if (isatty(STDERR_FILENO))
        options.progress = print_progress;
    if (engine_execute(ctx.eng, &request, &options, &result, &error) != PTX_OK) {
        code = report_error(&error);
        goto done;
    }
    code = print_result(&result, format);
done:
    exec_result_free(&result);
    request_free(&request);
    free(body);
    context_close(&ctx);
    return code;
}

/* Appends one credential to the growing array; the strings are borrowed. */
static bool add_credential(broker_credential **items, size_t *count, const char *key,
                           const char *value)
{
    broker_credential *grown = realloc(*items, (*count + 1) * sizeof **items);
    if (grown == NULL)
        return false;
    grown[*count].key = key;
    grown[*count].value = value;
    *items = grown;
    (*count)++;
    return true;
}

static int print_holdings(cli_context *ctx, const char *broker, broker_credential *credentials,
                          size_t count)
{
    exec_request request = {0};
    snprintf(request.broker, sizeof request.broker, "%s", broker);
    request.credentials = credentials;
    request.credential_count = count;
    ptx_error error;
    ptx_error_clear(&error);
    holdings *held = NULL;
    if (engine_holdings(ctx->eng, &request, &held, &error) != PTX_OK)
        return report_error(&error);
    char *body = render_holdings(broker, held, NULL);
    holdings_free(held);
    if (body == NULL)
        return CLI_EXIT_NOT_FILLED;
    puts(body);
    free(body);
    return CLI_EXIT_OK;
}

static int cmd_holdings(const char *config_file, int argc, char **argv)
{
    const char *broker = NULL;
    broker_credential *credentials = NULL;
    size_t count = 0;
    int code = CLI_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *option = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value == NULL) {
            code = usage_error("option '%s' needs a value", option);
            goto done;
        }
        i++;
        bool ok = true;
        if (strcmp(option, "--broker") == 0) {
            broker = value;
        } else if (strcmp(option, "--api-key") == 0) {
            ok = add_credential(&credentials, &count, "api_key", value);
        } else if (strcmp(option, "--access-token") == 0) {
            ok = add_credential(&credentials, &count, "access_token", value);
        } else if (strcmp(option, "--credential") == 0) {
            char *equals = strchr(argv[i], '=');
            if (equals == NULL || equals == argv[i]) {
                code = usage_error("--credential takes KEY=VALUE");
                goto done;
            }
            *equals = '\0';
            ok = add_credential(&credentials, &count, argv[i], equals + 1);
        } else {
            code = usage_error("unknown option '%s'", option);
            goto done;
        }
        if (!ok) {
            fprintf(stderr, "ptexec: out of memory\n");
            code = CLI_EXIT_NOT_FILLED;
            goto done;
        }
    }
    if (broker == NULL) {
        code = usage_error("holdings needs --broker NAME");
        goto done;
    }
    ptx_error error;
    ptx_error_clear(&error);
    cli_context ctx;
    if (context_open(&ctx, config_file, &error) != PTX_OK) {
        code = report_error(&error);
        goto done;
    }
    code = print_holdings(&ctx, broker, credentials, count);
    context_close(&ctx);
done:
    free(credentials);
    return code;
}

static int cmd_brokers(const char *config_file, int argc, char **argv)
{
    output_format format = FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            if (!parse_format(argv[++i], &format))
                return usage_error("unknown format '%s' (json or text)", argv[i]);
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    ptx_error error;
    ptx_error_clear(&error);
    cli_context ctx;
    if (context_open(&ctx, config_file, &error) != PTX_OK)
        return report_error(&error);
    if (format == FORMAT_JSON) {
        char *body = render_brokers(ctx.reg, NULL);
        if (body != NULL)
            puts(body);
        free(body);
    } else {
        printf("%-12s %-10s %-5s %-10s %s\n", "NAME", "VERSION", "ABI", "MODE", "PLUGIN");
        for (size_t i = 0; i < registry_count(ctx.reg); i++) {
            registry_broker *b = registry_at(ctx.reg, i);
            const broker_plugin *p = registry_broker_plugin(b);
            printf("%-12s %-10s %u.%-3u %-10s %s\n", registry_broker_name(b), p->version,
                   (unsigned)p->abi_major, (unsigned)p->abi_minor,
                   registry_broker_settings(b)->mode, registry_broker_file(b));
        }
    }
    int code = registry_refused_count(ctx.reg) > 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    context_close(&ctx);
    return code;
}

/* Loads the configuration and its journal alone (no plugins) for history. */
static ptx_status history_open(const char *config_file, config *cfg, journal **records,
                               ptx_error *error)
{
    ptx_status status = config_load(config_path(config_file), cfg, error);
    if (status != PTX_OK)
        return status;
    log_level level = LOG_INFO;
    log_parse_level(cfg->log_level, &level);
    log_configure(level, strcmp(cfg->log_format, "json") == 0);
    status = open_journal(cfg, records, error);
    if (status != PTX_OK)
        config_free(cfg);
    return status;
}

static void print_time(int64_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    char text[32] = "-";
    if (ms > 0 && gmtime_r(&seconds, &utc) != NULL)
        strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
    printf("%-20s", text);
}

static int print_history_text(journal *records, const journal_filter *filter)
{
    journal_execution *items = NULL;
    size_t count = 0;
    ptx_error error;
    if (journal_list(records, filter, &items, &count, &error) != PTX_OK)
        return report_error(&error);
    printf("%-30s %-20s %-10s %-16s %-10s %6s  %s\n", "EXECUTION", "CREATED (UTC)", "BROKER",
           "ACCOUNT", "STATUS", "ORDERS", "IDEMPOTENCY_KEY");
    for (size_t i = 0; i < count; i++) {
        const journal_execution *e = &items[i];
        printf("%-30s ", e->id);
        print_time(e->created_ms);
        printf(" %-10s %-16s %-10s %6zu  %s\n", e->broker, e->account_hash, e->status, e->leg_count,
               e->idempotency_key[0] ? e->idempotency_key : "-");
    }
    journal_list_free(items, count);
    return CLI_EXIT_OK;
}

static int cmd_history(const char *config_file, int argc, char **argv)
{
    journal_filter filter = {.limit = 20};
    output_format format = FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--limit") == 0 && value != NULL) {
            char *end = NULL;
            unsigned long limit = strtoul(value, &end, 10);
            if (end == value || *end != '\0' || limit < 1 || limit > 10000)
                return usage_error("--limit takes a number from 1 to 10000");
            filter.limit = limit;
        } else if (strcmp(argv[i], "--broker") == 0 && value != NULL) {
            filter.broker = value;
        } else if (strcmp(argv[i], "--status") == 0 && value != NULL) {
            filter.status = value;
        } else if (strcmp(argv[i], "--format") == 0 && value != NULL) {
            if (!parse_format(value, &format))
                return usage_error("unknown format '%s' (json or text)", value);
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
        i++;
    }
    config cfg;
    journal *records = NULL;
    ptx_error error;
    ptx_error_clear(&error);
    if (history_open(config_file, &cfg, &records, &error) != PTX_OK)
        return report_error(&error);
    int code = CLI_EXIT_OK;
    if (format == FORMAT_TEXT) {
        code = print_history_text(records, &filter);
    } else {
        char *json = NULL;
        if (journal_list_json(records, &filter, &json, &error) == PTX_OK)
            puts(json);
        else
            code = report_error(&error);
        free(json);
    }
    journal_close(records);
    config_free(&cfg);
    return code;
}

static int cmd_show(const char *config_file, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return usage_error("usage: ptexec show EXECUTION_ID");
    config cfg;
    journal *records = NULL;
    ptx_error error;
    ptx_error_clear(&error);
    if (history_open(config_file, &cfg, &records, &error) != PTX_OK)
        return report_error(&error);
    char *json = NULL;
    int code = CLI_EXIT_OK;
    if (journal_show_json(records, argv[0], &json, &error) == PTX_OK)
        puts(json);
    else
        code = report_error(&error);
    free(json);
    journal_close(records);
    config_free(&cfg);
    return code;
}

static void print_descriptor(const char *path, const broker_plugin *p)
{
    const broker_capabilities *caps = &p->capabilities;
    printf("file:          %s\n", path);
    printf("name:          %s\n", p->name);
    printf("version:       %s\n", p->version ? p->version : "");
    printf("abi:           %u.%u (descriptor size %u)\n", (unsigned)p->abi_major,
           (unsigned)p->abi_minor, (unsigned)p->size);
    printf("description:   %s\n", p->description ? p->description : "");
    printf("tag length:    %u..%u%s\n", (unsigned)caps->tag_min_length,
           (unsigned)caps->tag_max_length,
           (caps->flags & BROKER_CAP_TAG_ALNUM_ONLY) ? " (alphanumeric)" : "");
    printf("rate limit:    %u orders/s\n", (unsigned)caps->rate_limit_per_second);
    printf("partial fills: %s\n", (caps->flags & BROKER_CAP_PARTIAL_FILLS) ? "yes" : "no");
    printf("sessions:      %s\n",
           (caps->flags & BROKER_CAP_CONCURRENT_SESSIONS) ? "concurrent" : "serialized");
    printf("optional:      cancel_order %s, get_quote %s\n", p->cancel_order ? "yes" : "no",
           p->get_quote ? "yes" : "no");
    printf("config keys:  ");
    for (const char *const *key = p->config_keys; key != NULL && *key != NULL; key++)
        printf(" %s", *key);
    printf("\n");
}

static int cmd_plugin(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "check") != 0)
        return usage_error("usage: ptexec plugin check FILE.so");
    const broker_plugin *plugin = NULL;
    void *handle = NULL;
    ptx_error error;
    ptx_error_clear(&error);
    if (registry_open_file(argv[1], &plugin, &handle, &error) != PTX_OK) {
        fprintf(stderr, "ptexec: %s\n", error.message);
        return CLI_EXIT_USAGE;
    }
    print_descriptor(argv[1], plugin);
    registry_unload_file(handle);
    return CLI_EXIT_OK;
}

static int cmd_serve(const char *config_file, int argc, char **argv)
{
    const char *listen = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else
            return usage_error("unexpected argument '%s'", argv[i]);
    }
    ptx_error error;
    ptx_error_clear(&error);
    cli_context ctx;
    if (context_open(&ctx, config_file, &error) != PTX_OK)
        return report_error(&error);
    ptx_status status =
        http_serve(&ctx.cfg, ctx.reg, ctx.eng, listen ? listen : ctx.cfg.listen, &error);
    int code = status == PTX_OK ? CLI_EXIT_OK : report_error(&error);
    context_close(&ctx);
    return code;
}

int cli_main(int argc, char **argv)
{
    const char *config_file = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("ptexec %s (plugin ABI %d.%d)\n", PTEXEC_VERSION, BROKER_ABI_MAJOR,
                   BROKER_ABI_MINOR);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config_file = argv[++i];
            continue;
        }
        return usage_error("unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return usage_error("missing command");
    const char *command = argv[i];
    int rest = argc - i - 1;
    char **args = argv + i + 1;
    if (strcmp(command, "execute") == 0)
        return cmd_execute(config_file, rest, args, false);
    if (strcmp(command, "plan") == 0)
        return cmd_execute(config_file, rest, args, true);
    if (strcmp(command, "holdings") == 0)
        return cmd_holdings(config_file, rest, args);
    if (strcmp(command, "brokers") == 0)
        return cmd_brokers(config_file, rest, args);
    if (strcmp(command, "plugin") == 0)
        return cmd_plugin(rest, args);
    if (strcmp(command, "history") == 0)
        return cmd_history(config_file, rest, args);
    if (strcmp(command, "show") == 0)
        return cmd_show(config_file, rest, args);
    if (strcmp(command, "serve") == 0)
        return cmd_serve(config_file, rest, args);
    return usage_error("unknown command '%s'", command);
}
