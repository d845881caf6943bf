#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "log.h"

#define CONFIG_DEFAULT_PLUGIN_DIR "plugins"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8000"
#define CONFIG_DEFAULT_JOURNAL "ptexec.db"
#define CONFIG_DEFAULT_MAX_SYMBOLS 10000
#define CONFIG_DEFAULT_BODY_LIMIT 1048576
#define CONFIG_DEFAULT_RETENTION_DAYS 30
#define CONFIG_SECTION_NAME_MAX 50 /* inih's MAX_SECTION: longer names are cut */

static const char *const config_host_keys[] = {"plugin_dir",
                                               "plugin_path",
                                               "listen",
                                               "journal",
                                               "api_token",
                                               "log_level",
                                               "log_format",
                                               "max_symbols",
                                               "body_limit",
                                               "shutdown_grace_ms",
                                               "max_connections",
                                               "connection_timeout_s",
                                               "account_wait_ms",
                                               "journal_sync",
                                               "journal_retention_days",
                                               "account_hash_key",
                                               "allowed_hosts",
                                               "max_connections_per_ip",
                                               "header_timeout_s",
                                               "max_executions",
                                               "engine_workers",
                                               NULL};

/* Where the keys of the section being parsed go. */
typedef enum config_kind {
    CONFIG_KIND_NONE,    /* before any section: keys are an error */
    CONFIG_KIND_HOST,    /* [host] */
    CONFIG_KIND_BROKER,  /* [broker.NAME] */
    CONFIG_KIND_NOTIFY,  /* [notify.NAME] */
    CONFIG_KIND_UNKNOWN, /* warned about once, keys ignored */
} config_kind;

/* State shared by the line reader and the inih handler. inih reports
 * neither line numbers (Debian builds it without INI_HANDLER_LINENO) nor
 * sections without keys, so the reader counts lines and spots headers. */
typedef struct config_parser {
    config *cfg;
    FILE *file;
    char *buffer;
    size_t buffer_size;
    int line;
    bool line_indented;
    ptx_error *error;
    bool failed;
    int failed_line;
    bool read_failed;
    char **seen; /* raw names of every section so far, for duplicates */
    int *seen_lines;
    size_t seen_count;
    char *section; /* raw name of the current section, "" before any */
    config_kind kind;
    size_t index; /* index into brokers/notifiers for those kinds */
    char *last_key;
} config_parser;

/* Records the first error as "FILE:LINE: reason". Returns 0 for inih. */
static int parser_fail(config_parser *parser, int line, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static int parser_fail(config_parser *parser, int line, const char *format, ...)
{
    if (parser->failed)
        return 0;
    char reason[400];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    parser->failed = true;
    parser->failed_line = line;
    ptx_fail(parser->error, PTX_CONFIG, NULL, "%s:%d: %s", parser->cfg->path, line, reason);
    return 0;
}

static int parser_nomem(config_parser *parser)
{
    if (!parser->failed)
        ptx_fail(parser->error, PTX_NOMEM, NULL, "%s: out of memory", parser->cfg->path);
    parser->failed = true;
    return 0;
}

static bool config_name_is_valid(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Appends an empty section named `name` to *array. Returns its index, or
 * SIZE_MAX when out of memory. */
static size_t section_append(config_section **array, size_t *count, const char *name, int line)
{
    config_section *grown = realloc(*array, (*count + 1) * sizeof **array);
    if (grown == NULL)
        return SIZE_MAX;
    *array = grown;
    config_section *section = &grown[*count];
    memset(section, 0, sizeof *section);
    section->name = strdup(name);
    section->line = line;
    if (section->name == NULL)
        return SIZE_MAX;
    return (*count)++;
}

static config_section *parser_current(config_parser *parser)
{
    switch (parser->kind) {
    case CONFIG_KIND_HOST:
        return &parser->cfg->host;
    case CONFIG_KIND_BROKER:
        return &parser->cfg->brokers[parser->index];
    case CONFIG_KIND_NOTIFY:
        return &parser->cfg->notifiers[parser->index];
    default:
        return NULL;
    }
}

/* Decides what kind of section `name` is and creates its record. */
static int parser_classify(config_parser *parser, const char *name, int line)
{
    config *cfg = parser->cfg;
    size_t index = 0;
    if (strcmp(name, "host") == 0) {
        parser->kind = CONFIG_KIND_HOST;
        cfg->host.line = line;
        return 1;
    }
    bool broker = strncmp(name, "broker.", 7) == 0;
    bool notify = strncmp(name, "notify.", 7) == 0;
    if (!broker && !notify) {
        parser->kind = CONFIG_KIND_UNKNOWN;
        log_write(LOG_WARN, "config", "%s:%d: unknown section [%s] ignored", cfg->path, line, name);
        return 1;
    }
    if (!config_name_is_valid(name + 7))
        return parser_fail(parser, line,
                           "bad section name [%s]: the part after '.' must be letters, digits, "
                           "'_' or '-'",
                           name);
    if (broker)
        index = section_append(&cfg->brokers, &cfg->broker_count, name + 7, line);
    else
        index = section_append(&cfg->notifiers, &cfg->notifier_count, name + 7, line);
    if (index == SIZE_MAX)
        return parser_nomem(parser);
    parser->kind = broker ? CONFIG_KIND_BROKER : CONFIG_KIND_NOTIFY;
    parser->index = index;
    return 1;
}

/* Starts section `name` found at `line`. Returns 0 after an error. */
static int parser_open_section(config_parser *parser, const char *name, int line)
{
    for (size_t i = 0; i < parser->seen_count; i++) {
        if (strcmp(parser->seen[i], name) == 0)
            return parser_fail(parser, line, "duplicate section [%s] (first at line %d)", name,
                               parser->seen_lines[i]);
    }
    char **seen = realloc(parser->seen, (parser->seen_count + 1) * sizeof *seen);
    if (seen != NULL)
        parser->seen = seen;
    int *lines = realloc(parser->seen_lines, (parser->seen_count + 1) * sizeof *lines);
    if (lines != NULL)
        parser->seen_lines = lines;
    char *copy = strdup(name);
    char *current = strdup(name);
    if (seen == NULL || lines == NULL || copy == NULL || current == NULL) {
        free(copy);
        free(current);
        return parser_nomem(parser);
    }
    parser->seen[parser->seen_count] = copy;
    parser->seen_lines[parser->seen_count++] = line;
    free(parser->section);
    parser->section = current;
    free(parser->last_key);
    parser->last_key = NULL;
    return parser_classify(parser, name, line);
}

/* If the raw line is a section header as inih will read it, opens the
 * section, so that sections without keys are recorded too. */
static void parser_scan_header(config_parser *parser, const char *text)
{
    const char *start = text + strspn(text, " \t");
    if (*start != '[' || (parser->line_indented && parser->last_key != NULL))
        return;
    const char *end = strchr(start + 1, ']');
    if (end == NULL)
        return; /* inih reports the malformed line */
    char name[CONFIG_SECTION_NAME_MAX];
    size_t length = (size_t)(end - start - 1);
    if (length >= sizeof name) {
        parser_fail(parser, parser->line, "section name longer than %d characters",
                    CONFIG_SECTION_NAME_MAX - 1);
        return;
    }
    memcpy(name, start + 1, length);
    name[length] = '\0';
    parser_open_section(parser, name, parser->line);
}

/* fgets-style reader for ini_parse_stream that counts lines. A line longer
 * than inih's buffer is an error rather than being split in two. */
static char *parser_read_line(char *destination, int size, void *stream)
{
    config_parser *parser = stream;
    errno = 0;
    ssize_t length = getline(&parser->buffer, &parser->buffer_size, parser->file);
    if (length < 0) {
        if (ferror(parser->file))
            parser->read_failed = true;
        return NULL;
    }
    parser->line++;
    parser->line_indented = parser->buffer[0] == ' ' || parser->buffer[0] == '\t';
    if (length > size - 1) {
        parser_fail(parser, parser->line, "line longer than %d characters", size - 2);
        snprintf(destination, (size_t)size, "\n");
        return destination;
    }
    if (!parser->failed)
        parser_scan_header(parser, parser->buffer);
    snprintf(destination, (size_t)size, "%s", parser->buffer);
    return destination;
}

/* Appends to a growing heap string; returns false when out of memory. */
static bool text_append(char **text, size_t *length, const char *bytes, size_t count)
{
    char *grown = realloc(*text, *length + count + 1);
    if (grown == NULL)
        return false;
    memcpy(grown + *length, bytes, count);
    *length += count;
    grown[*length] = '\0';
    *text = grown;
    return true;
}

/* Expands the ${NAME} reference that starts at `reference`; advances *end
 * past it. Returns 1, or 0 after recording an error. */
static int parser_expand_one(config_parser *parser, const char *key, const char *reference,
                             const char **end, char **text, size_t *length)
{
    const char *close = strchr(reference + 2, '}');
    if (close == NULL)
        return parser_fail(parser, parser->line, "unterminated ${ in the value of '%s'", key);
    size_t name_length = (size_t)(close - reference - 2);
    char name[128];
    if (name_length == 0 || name_length >= sizeof name)
        return parser_fail(parser, parser->line, "bad ${} reference in the value of '%s'", key);
    memcpy(name, reference + 2, name_length);
    name[name_length] = '\0';
    const char *value = getenv(name);
    if (value == NULL)
        return parser_fail(parser, parser->line,
                           "environment variable %s (used by '%s') is not set", name, key);
    if (!text_append(text, length, value, strlen(value)))
        return parser_nomem(parser);
    *end = close + 1;
    return 1;
}

/* Returns a heap copy of `value` with every ${NAME} replaced by the
 * environment variable NAME, or NULL after recording an error. */
static char *parser_expand(config_parser *parser, const char *key, const char *value)
{
    char *text = strdup("");
    size_t length = 0;
    const char *p = value;
    if (text == NULL) {
        parser_nomem(parser);
        return NULL;
    }
    while (*p) {
        const char *reference = strstr(p, "${");
        size_t plain = reference ? (size_t)(reference - p) : strlen(p);
        if (!text_append(&text, &length, p, plain)) {
            parser_nomem(parser);
            goto fail;
        }
        p += plain;
        if (reference == NULL)
            break;
        if (!parser_expand_one(parser, key, reference, &p, &text, &length))
            goto fail;
    }
    return text;
fail:
    free(text);
    return NULL;
}

static int section_add_entry(config_parser *parser, config_section *section, const char *key,
                             char *value)
{
    config_entry *grown = realloc(section->entries, (section->entry_count + 1) * sizeof *grown);
    char *key_copy = strdup(key);
    if (grown != NULL)
        section->entries = grown;
    if (grown == NULL || key_copy == NULL) {
        free(key_copy);
        free(value);
        return parser_nomem(parser);
    }
    grown[section->entry_count++] = (config_entry){key_copy, value, parser->line};
    return 1;
}

static int parser_handle(void *user, const char *section_name, const char *key, const char *value)
{
    config_parser *parser = user;
    if (parser->failed)
        return 0;
    if (parser->line_indented && parser->last_key && strcmp(parser->last_key, key) == 0)
        return parser_fail(parser, parser->line,
                           "indented line continues the value of '%s'; write each value on one "
                           "line",
                           key);
    if (parser->section == NULL || strcmp(parser->section, section_name) != 0) {
        if (*section_name == '\0')
            return parser_fail(parser, parser->line, "key '%s' is outside any [section]", key);
        if (!parser_open_section(parser, section_name, parser->line))
            return 0;
    }
    free(parser->last_key);
    parser->last_key = strdup(key);
    if (parser->last_key == NULL)
        return parser_nomem(parser);
    config_section *section = parser_current(parser);
    if (section == NULL)
        return 1;
    for (size_t i = 0; i < section->entry_count; i++) {
        if (strcmp(section->entries[i].key, key) == 0)
            return parser_fail(parser, parser->line, "duplicate key '%s' (first at line %d)", key,
                               section->entries[i].line);
    }
    char *expanded = parser_expand(parser, key, value);
    if (expanded == NULL)
        return 0;
    if (section == &parser->cfg->host && strcmp(key, "api_token") == 0 &&
        strstr(value, "${") != NULL && expanded[0] == '\0') {
        free(expanded);
        return parser_fail(parser, parser->line,
                           "api_token = %s expands to an empty token (the variable is set but "
                           "empty); set it, or remove the api_token line to serve without one",
                           value);
    }
    return section_add_entry(parser, section, key, expanded);
}

static void parser_release(config_parser *parser)
{
    for (size_t i = 0; i < parser->seen_count; i++)
        free(parser->seen[i]);
    free(parser->seen);
    free(parser->seen_lines);
    free(parser->section);
    free(parser->last_key);
    free(parser->buffer);
}

/* Runs inih over the open file. Returns PTX_OK or the recorded error. */
static ptx_status config_parse_file(config *cfg, FILE *file, ptx_error *error)
{
    config_parser parser = {.cfg = cfg, .file = file, .error = error};
    int result = ini_parse_stream(parser_read_line, &parser, parser_handle, &parser);
    ptx_status status = PTX_OK;
    if (result > 0 && parser.failed && result < parser.failed_line)
        parser.failed = false; /* an earlier malformed line wins */
    if (parser.failed)
        status = error ? error->status : PTX_CONFIG;
    else if (parser.read_failed)
        status = ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: cannot read: %s", cfg->path,
                          parser.line + 1, strerror(errno ? errno : EIO));
    else if (result == -2)
        status = ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path);
    else if (result != 0)
        status = ptx_fail(error, PTX_CONFIG, NULL,
                          "%s:%d: malformed line (expected [section], key = value or a comment)",
                          cfg->path, result);
    parser_release(&parser);
    return status;
}

/* Returns `value` resolved against the ini file's folder, as a heap string. */
static char *config_resolve(const config *cfg, const char *value)
{
    if (value[0] == '/' || strcmp(value, ":memory:") == 0)
        return strdup(value);
    size_t size = strlen(cfg->directory) + strlen(value) + 2;
    char *path = malloc(size);
    if (path != NULL)
        snprintf(path, size, "%s/%s", cfg->directory, value);
    return path;
}

static char *config_directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *directory = NULL;
    if (slash == NULL)
        directory = strdup(".");
    else if (slash == path)
        directory = strdup("/");
    else if ((directory = malloc((size_t)(slash - path) + 1)) != NULL)
        snprintf(directory, (size_t)(slash - path) + 1, "%s", path);
    if (directory == NULL)
        return NULL;
    char *absolute = realpath(directory, NULL);
    if (absolute == NULL)
        return directory;
    free(directory);
    return absolute;
}

static const config_entry *section_entry(const config_section *section, const char *key)
{
    for (size_t i = 0; i < section->entry_count; i++) {
        if (strcmp(section->entries[i].key, key) == 0)
            return &section->entries[i];
    }
    return NULL;
}

const char *config_get(const config_section *section, const char *key)
{
    const config_entry *entry = section ? section_entry(section, key) : NULL;
    return entry ? entry->value : NULL;
}

const config_section *config_find_broker(const config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->broker_count; i++) {
        if (strcmp(cfg->brokers[i].name, name) == 0)
            return &cfg->brokers[i];
    }
    return NULL;
}

ptx_status config_get_uint(const config *cfg, const config_section *section, const char *key,
                           unsigned long minimum, unsigned long maximum, unsigned long *value,
                           ptx_error *error)
{
    const config_entry *entry = section ? section_entry(section, key) : NULL;
    if (entry == NULL)
        return PTX_OK;
    const char *text = entry->value;
    char *end = NULL;
    errno = 0;
    unsigned long parsed = (text[0] >= '0' && text[0] <= '9') ? strtoul(text, &end, 10) : 0;
    if (end == NULL || end == text || *end != '\0' || errno == ERANGE || parsed < minimum ||
        parsed > maximum)
        return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: %s must be an integer from %lu to %lu",
                        cfg->path, entry->line, key, minimum, maximum);
    *value = parsed;
    return PTX_OK;
}

static bool key_listed(const char *const *list, const char *key)
{
    for (size_t i = 0; list && list[i]; i++) {
        if (strcmp(list[i], key) == 0)
            return true;
    }
    return false;
}

void config_warn_unknown(const config *cfg, const config_section *section, const char *kind,
                         const char *const *known_a, const char *const *known_b)
{
    bool named = section->name && *section->name && strcmp(section->name, kind) != 0;
    for (size_t i = 0; i < section->entry_count; i++) {
        const config_entry *entry = &section->entries[i];
        if (key_listed(known_a, entry->key) || key_listed(known_b, entry->key))
            continue;
        log_write(LOG_WARN, "config", "%s:%d: unknown key '%s' in [%s%s%s] ignored", cfg->path,
                  entry->line, entry->key, kind, named ? "." : "", named ? section->name : "");
    }
}

/* Sets *field to a heap copy of the [host] value of `key`, or `fallback`. */
static ptx_status host_string(config *cfg, const char *key, const char *fallback, char **field,
                              ptx_error *error)
{
    const char *value = config_get(&cfg->host, key);
    *field = strdup(value ? value : fallback);
    if (*field == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path);
    return PTX_OK;
}

static ptx_status host_path(config *cfg, const char *key, const char *fallback, char **field,
                            ptx_error *error)
{
    const char *value = config_get(&cfg->host, key);
    if (value == NULL || *value == '\0')
        value = fallback;
    *field = config_resolve(cfg, value);
    if (*field == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path);
    return PTX_OK;
}

static int host_line(const config *cfg, const char *key)
{
    const config_entry *entry = section_entry(&cfg->host, key);
    return entry ? entry->line : cfg->host.line;
}

static ptx_status host_check_choice(const config *cfg, const char *key, const char *value,
                                    const char *choices, ptx_error *error)
{
    size_t length = strlen(value);
    for (const char *p = choices; *p;) {
        size_t span = strcspn(p, "|");
        if (span == length && length > 0 && strncmp(p, value, length) == 0)
            return PTX_OK;
        p += span + (p[span] == '|');
    }
    return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: %s must be one of %s", cfg->path,
                    host_line(cfg, key), key, choices);
}

static ptx_status host_numbers(config *cfg, ptx_error *error)
{
    unsigned long max_symbols = CONFIG_DEFAULT_MAX_SYMBOLS;
    unsigned long body_limit = CONFIG_DEFAULT_BODY_LIMIT;
    ptx_status status =
        config_get_uint(cfg, &cfg->host, "max_symbols", 1, 100000000UL, &max_symbols, error);
    if (status == PTX_OK)
        status = config_get_uint(cfg, &cfg->host, "body_limit", 1, 1UL << 30, &body_limit, error);
    cfg->max_symbols = max_symbols;
    cfg->body_limit = body_limit;
    unsigned long retention = CONFIG_DEFAULT_RETENTION_DAYS;
    if (status == PTX_OK)
        status =
            config_get_uint(cfg, &cfg->host, "journal_retention_days", 0, 36500, &retention, error);
    cfg->journal_retention_days = retention;
    return status;
}

/* Appends `length` bytes of `folder`, resolved, to cfg->plugin_path. */
static ptx_status plugin_path_add(config *cfg, const char *folder, size_t length)
{
    char *text = strndup(folder, length);
    char **grown = realloc(cfg->plugin_path, (cfg->plugin_path_count + 1) * sizeof *grown);
    if (grown != NULL)
        cfg->plugin_path = grown;
    char *resolved = text && grown ? config_resolve(cfg, text) : NULL;
    free(text);
    if (resolved == NULL)
        return PTX_NOMEM;
    cfg->plugin_path[cfg->plugin_path_count++] = resolved;
    return PTX_OK;
}

/* `plugin_path` (folders separated by ':', searched in order) or else
 * `plugin_dir` (one folder); setting both is an error. */
static ptx_status host_plugin_path(config *cfg, ptx_error *error)
{
    const char *path = config_get(&cfg->host, "plugin_path");
    if (path != NULL && config_get(&cfg->host, "plugin_dir") != NULL)
        return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: set plugin_path or plugin_dir, not both",
                        cfg->path, host_line(cfg, "plugin_path"));
    ptx_status status = PTX_OK;
    if (path == NULL) {
        cfg->plugin_path_key = "plugin_dir";
        status = host_path(cfg, "plugin_dir", CONFIG_DEFAULT_PLUGIN_DIR, &cfg->plugin_dir, error);
        if (status == PTX_OK)
            status = plugin_path_add(cfg, cfg->plugin_dir, strlen(cfg->plugin_dir));
        return status == PTX_NOMEM
                   ? ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path)
                   : status;
    }
    cfg->plugin_path_key = "plugin_path";
    for (const char *p = path; status == PTX_OK && *p;) {
        size_t span = strcspn(p, ":");
        while (span > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            span--;
        }
        size_t length = span;
        while (length > 0 && (p[length - 1] == ' ' || p[length - 1] == '\t'))
            length--;
        if (length > 0)
            status = plugin_path_add(cfg, p, length);
        p += span + (p[span] == ':');
    }
    if (status == PTX_OK && cfg->plugin_path_count == 0)
        return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: plugin_path names no folder", cfg->path,
                        host_line(cfg, "plugin_path"));
    if (status == PTX_OK && (cfg->plugin_dir = strdup(cfg->plugin_path[0])) == NULL)
        status = PTX_NOMEM;
    return status == PTX_NOMEM ? ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path)
                               : status;
}

/* `journal`: a path resolved against the ini's folder, or "" when the key is
 * present but empty or "off" (no journal). */
static ptx_status host_journal(config *cfg, ptx_error *error)
{
    const char *value = config_get(&cfg->host, "journal");
    if (value != NULL && (*value == '\0' || strcmp(value, "off") == 0)) {
        cfg->journal = strdup("");
        return cfg->journal ? PTX_OK : PTX_NOMEM;
    }
    return host_path(cfg, "journal", CONFIG_DEFAULT_JOURNAL, &cfg->journal, error);
}

/* Fills the [host] fields of `cfg` from its entries, defaults and the
 * environment, and checks their values. */
static ptx_status config_apply_host(config *cfg, ptx_error *error)
{
    const char *listen_override = getenv("PTEXEC_LISTEN");
    ptx_status status = PTX_OK;
    if (cfg->host.name == NULL && (cfg->host.name = strdup("host")) == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path);
    if (status == PTX_OK)
        status = host_plugin_path(cfg, error);
    if (status == PTX_OK)
        status = host_journal(cfg, error);
    if (status == PTX_OK && listen_override && *listen_override)
        status = (cfg->listen = strdup(listen_override)) ? PTX_OK : PTX_NOMEM;
    else if (status == PTX_OK)
        status = host_string(cfg, "listen", CONFIG_DEFAULT_LISTEN, &cfg->listen, error);
    if (status == PTX_OK)
        status = host_string(cfg, "api_token", "", &cfg->api_token, error);
    if (status == PTX_OK)
        status = host_string(cfg, "account_hash_key", "", &cfg->account_hash_key, error);
    if (status == PTX_OK)
        status = host_string(cfg, "log_level", "info", &cfg->log_level, error);
    if (status == PTX_OK)
        status = host_string(cfg, "log_format", "text", &cfg->log_format, error);
    if (status == PTX_OK)
        status = host_string(cfg, "journal_sync", "normal", &cfg->journal_sync, error);
    if (status == PTX_NOMEM)
        return ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", cfg->path);
    if (status == PTX_OK && *cfg->listen == '\0')
        status = ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: listen must not be empty", cfg->path,
                          host_line(cfg, "listen"));
    if (status == PTX_OK)
        status =
            host_check_choice(cfg, "log_level", cfg->log_level, "error|warn|info|debug", error);
    if (status == PTX_OK)
        status = host_check_choice(cfg, "log_format", cfg->log_format, "text|json", error);
    if (status == PTX_OK)
        status = host_check_choice(cfg, "journal_sync", cfg->journal_sync, "normal|full", error);
    if (status == PTX_OK)
        status = host_numbers(cfg, error);
    return status;
}

/* Parses `file` into *out, whose path and directory are set. */
static ptx_status config_load_stream(config *out, FILE *file, ptx_error *error)
{
    ptx_status status = config_parse_file(out, file, error);
    if (status == PTX_OK)
        status = config_apply_host(out, error);
    if (status == PTX_OK)
        config_warn_unknown(out, &out->host, "host", config_host_keys, NULL);
    return status;
}

ptx_status config_load(const char *path, config *out, ptx_error *error)
{
    ptx_status status = PTX_OK;
    FILE *file = NULL;
    memset(out, 0, sizeof *out);
    out->path = strdup(path);
    out->directory = out->path ? config_directory_of(path) : NULL;
    if (out->path == NULL || out->directory == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", path);
        goto cleanup;
    }
    file = fopen(path, "r");
    if (file == NULL) {
        status = ptx_fail(error, PTX_CONFIG, NULL, "%s: cannot open: %s", path, strerror(errno));
        goto cleanup;
    }
    status = config_load_stream(out, file, error);
cleanup:
    if (file != NULL)
        fclose(file);
    if (status != PTX_OK)
        config_free(out);
    return status;
}

ptx_status config_load_text(const char *text, size_t length, const char *name,
                            const char *directory, config *out, ptx_error *error)
{
    ptx_status status = PTX_OK;
    FILE *file = NULL;
    memset(out, 0, sizeof *out);
    out->path = strdup(name);
    out->directory = realpath(directory != NULL ? directory : ".", NULL);
    if (out->path == NULL || out->directory == NULL) {
        status = ptx_fail(error, PTX_CONFIG, NULL, "%s: cannot use folder %s: %s", name,
                          directory != NULL ? directory : ".", strerror(errno));
        goto cleanup;
    }
    file = length > 0 ? fmemopen((void *)text, length, "r") : fopen("/dev/null", "r");
    if (file == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "%s: out of memory", name);
        goto cleanup;
    }
    status = config_load_stream(out, file, error);
cleanup:
    if (file != NULL)
        fclose(file);
    if (status != PTX_OK)
        config_free(out);
    return status;
}

static void section_free(config_section *section)
{
    for (size_t i = 0; i < section->entry_count; i++) {
        free(section->entries[i].key);
        free(section->entries[i].value);
    }
    free(section->entries);
    free(section->name);
    memset(section, 0, sizeof *section);
}

void config_free(config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->broker_count; i++)
        section_free(&cfg->brokers[i]);
    for (size_t i = 0; i < cfg->notifier_count; i++)
        section_free(&cfg->notifiers[i]);
    section_free(&cfg->host);
    free(cfg->brokers);
    free(cfg->notifiers);
    free(cfg->path);
    free(cfg->directory);
    free(cfg->plugin_dir);
    for (size_t i = 0; i < cfg->plugin_path_count; i++)
        free(cfg->plugin_path[i]);
    free(cfg->plugin_path);
    free(cfg->listen);
    free(cfg->journal);
    free(cfg->api_token);
    free(cfg->account_hash_key);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->journal_sync);
    memset(cfg, 0, sizeof *cfg);
}
