/* The ptexec command line (design §2.4). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptexec/broker_plugin.h>
#include <ptexec/host.h>

#include "http.h"

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

/* Maps a failed status to the exit code of design §2.4. */
static int exit_code_for(ptexec_status status)
{
    switch (status) {
    case PTEXEC_OK:
        return CLI_EXIT_OK;
    case PTEXEC_AUTH:
    case PTEXEC_UNAVAILABLE:
    case PTEXEC_BUSY:
    case PTEXEC_IN_PROGRESS:
    case PTEXEC_JOURNAL:
    case PTEXEC_MARKET_CLOSED:
        return CLI_EXIT_BROKER;
    case PTEXEC_INTERNAL:
    case PTEXEC_NOMEM:
    case PTEXEC_IO:
        return CLI_EXIT_NOT_FILLED;
    default:
        return CLI_EXIT_USAGE;
    }
}

/* Prints an error: the JSON error body on stdout (`body` when the library
 * rendered one, else built from `error`), a line on stderr. */
static int report_error(const ptexec_error *error, const char *body)
{
    char *built = NULL;
    if (body == NULL &&
        ptexec_error_json(error->code, error->message, error->field, &built, NULL) == PTEXEC_OK)
        body = built;
    if (body != NULL)
        puts(body);
    ptexec_free(built);
    if (error->field[0] != '\0')
        fprintf(stderr, "ptexec: %s (field: %s)\n", error->message, error->field);
    else
        fprintf(stderr, "ptexec: %s\n", error->message);
    return exit_code_for(error->status);
}

/* A failure the CLI itself detects, reported like the library's. */
static int report_failure(ptexec_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static int report_failure(ptexec_status status, const char *format, ...)
{
    ptexec_error error = {.status = status, .http_status = ptexec_http_status(status)};
    snprintf(error.code, sizeof error.code, "%s", ptexec_status_code(status));
    va_list args;
    va_start(args, format);
    vsnprintf(error.message, sizeof error.message, format, args);
    va_end(args);
    return report_error(&error, NULL);
}

/* Reads a whole file ("-" for stdin) into a heap buffer; NULL after
 * reporting why. */
static char *read_request(const char *path, size_t *length, int *code)
{
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (file == NULL) {
        *code = report_failure(PTEXEC_INVALID, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t capacity = 65536, used = 0;
    char *text = malloc(capacity);
    if (text == NULL)
        *code = report_failure(PTEXEC_NOMEM, "out of memory reading %s", path);
    while (text != NULL) {
        size_t got = fread(text + used, 1, capacity - used, file);
        used += got;
        if (got == 0)
            break;
        if (used < capacity)
            continue;
        char *grown = capacity < CLI_REQUEST_LIMIT ? realloc(text, capacity * 2) : NULL;
        if (grown == NULL) {
            free(text);
            text = NULL;
            *code = capacity < CLI_REQUEST_LIMIT
                        ? report_failure(PTEXEC_NOMEM, "out of memory reading %s", path)
                        : report_failure(PTEXEC_INVALID, "%s is larger than %u bytes", path,
                                         CLI_REQUEST_LIMIT);
            break;
        }
        text = grown;
        capacity *= 2;
    }
    if (text != NULL && ferror(file)) {
        free(text);
        text = NULL;
        *code = report_failure(PTEXEC_INVALID, "cannot read %s: %s", path, strerror(errno));
    }
    if (file != stdin)
        fclose(file);
    *length = used;
    return text;
}

static const char *config_path(const char *given)
{
    if (given != NULL)
        return given;
    const char *env = getenv("PTEXEC_CONFIG");
    return env != NULL && *env != '\0' ? env : "brokers.ini";
}

/* Opens the host of the configuration; NULL after reporting why. */
static ptexec_host *open_host(const char *config_file, unsigned flags, int *code)
{
    ptexec_host *host = NULL;
    ptexec_error error;
    if (ptexec_open_file(config_path(config_file), flags, &host, &error) != PTEXEC_OK) {
        *code = report_error(&error, NULL);
        return NULL;
    }
    return host;
}

/* Progress on a terminal: one line per leg as it reaches its final state. */
static void print_progress(void *context, const ptexec_leg *leg)
{
    (void)context;
    fprintf(stderr, "[%zu/%zu] %-4s %-12s %10" PRId64 "  %s%s%s\n", leg->sequence, leg->leg_count,
            leg->side, leg->symbol, leg->quantity, leg->status, leg->reason[0] ? ": " : "",
            leg->reason);
}

static int exit_code_for_result(const ptexec_result *result)
{
    if (strcmp(result->status, "COMPLETED") == 0 || strcmp(result->status, "NOOP") == 0 ||
        strcmp(result->status, "PLANNED") == 0)
        return CLI_EXIT_OK;
    return CLI_EXIT_NOT_FILLED;
}

/* Prints a document: JSON with a final newline, text as it is. */
static void print_document(const char *text, output_format format)
{
    if (format == FORMAT_TEXT)
        fputs(text, stdout);
    else
        puts(text);
}

/* Runs one execution of the request at `path` and prints its result. */
static int run_execution(const char *config_file, const char *path, const char *key, bool dry_run,
                         output_format format)
{
    int code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, 0, &code);
    if (host == NULL)
        return code;
    size_t length = 0;
    char *body = read_request(path, &length, &code);
    if (body != NULL) {
        ptexec_execute_options options = {
            .idempotency_key = key,
            .dry_run = dry_run,
            .format = format == FORMAT_TEXT ? PTEXEC_FORMAT_TEXT : PTEXEC_FORMAT_JSON,
            .progress = isatty(STDERR_FILENO) ? print_progress : NULL,
        };
        ptexec_result result;
        ptexec_error error;
        if (ptexec_execute(host, body, length, &options, &result, &error) == PTEXEC_OK) {
            print_document(result.body, format);
            code = exit_code_for_result(&result);
        } else {
            code = report_error(&error, result.body);
        }
        ptexec_free(result.body);
    }
    free(body);
    ptexec_close(host);
    return code;
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
            if (*key == '\0' || strlen(key) >= PTEXEC_IDEMPOTENCY_KEY_MAX)
                return usage_error("--idempotency-key takes 1-%d characters",
                                   PTEXEC_IDEMPOTENCY_KEY_MAX - 1);
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
    return run_execution(config_file, request_path, key, dry_run, format);
}

/* Appends `text` to `out` as a JSON string literal. */
static void write_json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

/* Builds the POST /holdings body in *body (heap); the credentials are
 * "KEY=VALUE" strings. false on OOM. */
static bool holdings_body(const char *broker, char **credentials, size_t count, char **body,
                          size_t *length)
{
    FILE *out = open_memstream(body, length);
    if (out == NULL)
        return false;
    fputs("{\"broker\":", out);
    write_json_string(out, broker);
    fputs(",\"credentials\":{", out);
    for (size_t i = 0; i < count; i++) {
        char *equals = strchr(credentials[i], '=');
        *equals = '\0';
        fputs(i > 0 ? "," : "", out);
        write_json_string(out, credentials[i]);
        fputc(':', out);
        write_json_string(out, equals + 1);
        *equals = '=';
    }
    fputs("}}", out);
    bool ok = ferror(out) == 0;
    if (fclose(out) != 0)
        ok = false;
    return ok;
}

static int print_holdings(const char *config_file, const char *broker, char **credentials,
                          size_t count)
{
    char *body = NULL;
    size_t length = 0;
    if (!holdings_body(broker, credentials, count, &body, &length)) {
        free(body);
        return report_failure(PTEXEC_NOMEM, "out of memory");
    }
    int code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, 0, &code);
    if (host != NULL) {
        ptexec_result result;
        ptexec_error error;
        if (ptexec_holdings(host, body, length, &result, &error) == PTEXEC_OK)
            puts(result.body);
        else
            code = report_error(&error, result.body);
        ptexec_free(result.body);
        ptexec_close(host);
    }
    free(body);
    return code;
}

/* Appends the heap string "KEY=VALUE" `pair` to *items (taking it over).
 * false on OOM. */
static bool push_credential(char ***items, size_t *count, char *pair)
{
    char **grown = pair != NULL ? realloc(*items, (*count + 1) * sizeof **items) : NULL;
    if (grown == NULL) {
        free(pair);
        return false;
    }
    *items = grown;
    grown[(*count)++] = pair;
    return true;
}

static bool add_credential(char ***items, size_t *count, const char *key, const char *value)
{
    size_t size = strlen(key) + strlen(value) + 2;
    char *pair = malloc(size);
    if (pair != NULL)
        snprintf(pair, size, "%s=%s", key, value);
    return push_credential(items, count, pair);
}

static void free_credentials(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

/* Parses one holdings option; returns -1 to go on, else an exit code. */
static int holdings_option(const char *option, const char *value, const char **broker,
                           char ***credentials, size_t *count)
{
    bool ok = true;
    if (strcmp(option, "--broker") == 0) {
        *broker = value;
    } else if (strcmp(option, "--api-key") == 0) {
        ok = add_credential(credentials, count, "api_key", value);
    } else if (strcmp(option, "--access-token") == 0) {
        ok = add_credential(credentials, count, "access_token", value);
    } else if (strcmp(option, "--credential") == 0) {
        const char *equals = strchr(value, '=');
        if (equals == NULL || equals == value)
            return usage_error("--credential takes KEY=VALUE");
        ok = push_credential(credentials, count, strdup(value));
    } else {
        return usage_error("unknown option '%s'", option);
    }
    if (!ok) {
        fprintf(stderr, "ptexec: out of memory\n");
        return CLI_EXIT_NOT_FILLED;
    }
    return -1;
}

static int cmd_holdings(const char *config_file, int argc, char **argv)
{
    const char *broker = NULL;
    char **credentials = NULL;
    size_t count = 0;
    int code = -1;
    for (int i = 0; i < argc && code < 0; i += 2) {
        if (i + 1 >= argc)
            code = usage_error("option '%s' needs a value", argv[i]);
        else
            code = holdings_option(argv[i], argv[i + 1], &broker, &credentials, &count);
    }
    if (code < 0 && broker == NULL)
        code = usage_error("holdings needs --broker NAME");
    if (code < 0)
        code = print_holdings(config_file, broker, credentials, count);
    free_credentials(credentials, count);
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
    int code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, 0, &code);
    if (host == NULL)
        return code;
    char *text = NULL;
    ptexec_error error;
    if (ptexec_brokers(host, format == FORMAT_TEXT ? PTEXEC_FORMAT_TEXT : PTEXEC_FORMAT_JSON, &text,
                       NULL, &error) == PTEXEC_OK)
        print_document(text, format);
    else
        code = report_error(&error, NULL);
    ptexec_free(text);
    if (code == CLI_EXIT_OK && ptexec_refused_count(host) > 0)
        code = CLI_EXIT_USAGE;
    ptexec_close(host);
    return code;
}

/* Parses the options of `history`; returns -1 to go on, else an exit code. */
static int history_options(int argc, char **argv, ptexec_history_query *query,
                           output_format *format)
{
    for (int i = 0; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--limit") == 0 && value != NULL) {
            char *end = NULL;
            unsigned long limit = strtoul(value, &end, 10);
            if (end == value || *end != '\0' || limit < 1 || limit > 10000)
                return usage_error("--limit takes a number from 1 to 10000");
            query->limit = limit;
        } else if (strcmp(argv[i], "--broker") == 0 && value != NULL) {
            query->broker = value;
        } else if (strcmp(argv[i], "--status") == 0 && value != NULL) {
            query->status = value;
        } else if (strcmp(argv[i], "--format") == 0 && value != NULL) {
            if (!parse_format(value, format))
                return usage_error("unknown format '%s' (json or text)", value);
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    return -1;
}

static int cmd_history(const char *config_file, int argc, char **argv)
{
    ptexec_history_query query = {.limit = 20};
    output_format format = FORMAT_TEXT;
    int code = history_options(argc, argv, &query, &format);
    if (code >= 0)
        return code;
    code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, PTEXEC_OPEN_RECORDS_ONLY, &code);
    if (host == NULL)
        return code;
    char *text = NULL;
    ptexec_error error;
    if (ptexec_history(host, &query,
                       format == FORMAT_TEXT ? PTEXEC_FORMAT_TEXT : PTEXEC_FORMAT_JSON, &text, NULL,
                       &error) == PTEXEC_OK)
        print_document(text, format);
    else
        code = report_error(&error, NULL);
    ptexec_free(text);
    ptexec_close(host);
    return code;
}

static int cmd_show(const char *config_file, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return usage_error("usage: ptexec show EXECUTION_ID");
    int code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, PTEXEC_OPEN_RECORDS_ONLY, &code);
    if (host == NULL)
        return code;
    char *json = NULL;
    ptexec_error error;
    if (ptexec_history_get(host, argv[0], &json, NULL, &error) == PTEXEC_OK)
        puts(json);
    else
        code = report_error(&error, NULL);
    ptexec_free(json);
    ptexec_close(host);
    return code;
}

static int cmd_plugin(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "check") != 0)
        return usage_error("usage: ptexec plugin check FILE.so");
    char *text = NULL;
    ptexec_error error;
    if (ptexec_plugin_describe(argv[1], &text, NULL, &error) != PTEXEC_OK) {
        fprintf(stderr, "ptexec: %s\n", error.message);
        return CLI_EXIT_USAGE;
    }
    fputs(text, stdout);
    ptexec_free(text);
    return CLI_EXIT_OK;
}

/* A server with no broker could answer nothing but refusals: says why on
 * stderr and returns false. */
static bool has_brokers(ptexec_host *host)
{
    ptexec_health health;
    ptexec_health_get(host, &health);
    if (health.brokers > 0)
        return true;
    if (health.refused_brokers > 0)
        fprintf(stderr,
                "ptexec: serve: no broker plugin loaded (%zu configured, all refused; see the "
                "lines above): nothing to serve\n",
                health.refused_brokers);
    else
        fprintf(stderr, "ptexec: serve: the configuration has no [broker.NAME] section: nothing "
                        "to serve\n");
    return false;
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
    int code = CLI_EXIT_OK;
    ptexec_host *host = open_host(config_file, 0, &code);
    if (host == NULL)
        return code;
    if (!has_brokers(host)) {
        ptexec_close(host);
        return CLI_EXIT_USAGE;
    }
    ptexec_error error;
    if (http_serve(host, listen, &error) != PTEXEC_OK)
        code = report_error(&error, NULL);
    ptexec_close(host);
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
            printf("ptexec %s (plugin ABI %d.%d)\n", ptexec_version(), BROKER_ABI_MAJOR,
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
