/* Process-wide logging to stderr, as text or JSON lines. Thread-safe. */
#ifndef PTEXEC_LOG_H
#define PTEXEC_LOG_H

#include <stdbool.h>

typedef enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

/* Sets the threshold and the format (text or JSON lines). Call before other
 * threads start; the defaults are LOG_INFO and text. */
void log_configure(log_level level, bool json);

/* Parses "error|warn|info|debug" into *level. Returns false when unknown. */
bool log_parse_level(const char *text, log_level *level);

/* Returns true when a message at `level` would be written. */
bool log_enabled(log_level level);

/* Writes one line: timestamp, level, `module` and the formatted message.
 * Messages must never contain credentials. Any thread. */
void log_write(log_level level, const char *module, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
