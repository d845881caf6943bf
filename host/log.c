#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One line is assembled in memory and written with one write(2), under one
 * mutex, so lines from different threads never interleave. */
typedef struct log_line {
    char *text;
    size_t length;
    size_t capacity;
    char inline_buffer[1024];
} log_line;

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static log_level log_threshold = LOG_INFO;
static bool log_json = false;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
static const char *const log_level_labels[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_configure(log_level level, bool json)
{
    pthread_mutex_lock(&log_mutex);
    log_threshold = level;
    log_json = json;
    pthread_mutex_unlock(&log_mutex);
}

bool log_parse_level(const char *text, log_level *level)
{
    if (text == NULL)
        return false;
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++) {
        if (strcmp(text, log_level_names[i]) == 0) {
            *level = (log_level)i;
            return true;
        }
    }
    return false;
}

bool log_enabled(log_level level)
{
    pthread_mutex_lock(&log_mutex);
    bool enabled = level <= log_threshold;
    pthread_mutex_unlock(&log_mutex);
    return enabled;
}

static void line_init(log_line *line)
{
    line->text = line->inline_buffer;
    line->length = 0;
    line->capacity = sizeof line->inline_buffer;
    line->text[0] = '\0';
}

static void line_release(log_line *line)
{
    if (line->text != line->inline_buffer)
        free(line->text);
}

/* Makes room for `extra` more bytes plus a NUL; on allocation failure the
 * line is truncated instead. Returns how many bytes may be appended. */
static size_t line_reserve(log_line *line, size_t extra)
{
    if (line->length + extra + 1 <= line->capacity)
        return extra;
    size_t capacity = line->capacity;
    while (line->length + extra + 1 > capacity)
        capacity *= 2;
    char *text =
        line->text == line->inline_buffer ? malloc(capacity) : realloc(line->text, capacity);
    if (text == NULL)
        return line->capacity - line->length - 1;
    if (line->text == line->inline_buffer)
        memcpy(text, line->text, line->length + 1);
    line->text = text;
    line->capacity = capacity;
    return extra;
}

static void line_append(log_line *line, const char *bytes, size_t count)
{
    count = line_reserve(line, count);
    memcpy(line->text + line->length, bytes, count);
    line->length += count;
    line->text[line->length] = '\0';
}

static void line_append_text(log_line *line, const char *text)
{
    line_append(line, text, strlen(text));
}

/* Appends `text` with control characters replaced by spaces, so that a
 * message can never break the one-line-per-record rule of the text format. */
static void line_append_flat(log_line *line, const char *text)
{
    size_t start = line->length;
    line_append_text(line, text);
    for (size_t i = start; i < line->length; i++) {
        if ((unsigned char)line->text[i] < 0x20 || line->text[i] == 0x7f)
            line->text[i] = ' ';
    }
}

/* Appends `text` as the body of a JSON string (without the quotes). */
static void line_append_json(log_line *line, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char escape[8];
        switch (*p) {
        case '"':
            line_append_text(line, "\\\"");
            break;
        case '\\':
            line_append_text(line, "\\\\");
            break;
        case '\n':
            line_append_text(line, "\\n");
            break;
        case '\r':
            line_append_text(line, "\\r");
            break;
        case '\t':
            line_append_text(line, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(escape, sizeof escape, "\\u%04x", *p);
                line_append_text(line, escape);
            } else {
                line_append(line, (const char *)p, 1);
            }
        }
    }
}

/* Formats the current UTC time as 2026-11-23T22:58:46.123Z. */
static void log_timestamp(char *buffer, size_t size)
{
    struct timespec now;
    struct tm parts;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &parts);
    size_t used = strftime(buffer, size, "%Y-%m-%dT%H:%M:%S", &parts);
    snprintf(buffer + used, size - used, ".%03ldZ", now.tv_nsec / 1000000L);
}

/* Formats the caller's message into a heap string; NULL when out of memory. */
static char *log_format_message(const char *format, va_list args)
{
    va_list copy;
    va_copy(copy, args);
    int length = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (length < 0)
        return NULL;
    char *message = malloc((size_t)length + 1);
    if (message != NULL)
        vsnprintf(message, (size_t)length + 1, format, args);
    return message;
}

static void log_build_text(log_line *line, const char *timestamp, log_level level,
                           const char *module, const char *message)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s %-5s ", timestamp, log_level_labels[level]);
    line_append_text(line, prefix);
    line_append_flat(line, module);
    line_append_text(line, ": ");
    line_append_flat(line, message);
    line_append_text(line, "\n");
}

static void log_build_json(log_line *line, const char *timestamp, log_level level,
                           const char *module, const char *message)
{
    line_append_text(line, "{\"ts\":\"");
    line_append_text(line, timestamp);
    line_append_text(line, "\",\"level\":\"");
    line_append_text(line, log_level_names[level]);
    line_append_text(line, "\",\"module\":\"");
    line_append_json(line, module);
    line_append_text(line, "\",\"msg\":\"");
    line_append_json(line, message);
    line_append_text(line, "\"}\n");
}

static void log_emit(const log_line *line)
{
    size_t written = 0;
    while (written < line->length) {
        ssize_t n = write(STDERR_FILENO, line->text + written, line->length - written);
        if (n <= 0)
            return;
        written += (size_t)n;
    }
}

void log_write(log_level level, const char *module, const char *format, ...)
{
    if (level < LOG_ERROR || level > LOG_DEBUG)
        level = LOG_ERROR;
    if (!log_enabled(level))
        return;
    va_list args;
    va_start(args, format);
    char *message = log_format_message(format, args);
    va_end(args);

    char timestamp[40];
    log_timestamp(timestamp, sizeof timestamp);
    log_line line;
    line_init(&line);
    pthread_mutex_lock(&log_mutex);
    if (log_json)
        log_build_json(&line, timestamp, level, module ? module : "", message ? message : format);
    else
        log_build_text(&line, timestamp, level, module ? module : "", message ? message : format);
    log_emit(&line);
    pthread_mutex_unlock(&log_mutex);
    line_release(&line);
    free(message);
}
