/* brokers.ini: parsed with inih into plain structures. */
#ifndef PTEXEC_CONFIG_H
#define PTEXEC_CONFIG_H

#include <stddef.h>

#include "status.h"

/* One `key = value` line, value with ${ENV} references already expanded. */
typedef struct config_entry {
    char *key;
    char *value;
    int line;
} config_entry;

/* One [section]. For [broker.NAME] and [notify.NAME], `name` is NAME. */
typedef struct config_section {
    char *name;
    int line;
    config_entry *entries;
    size_t entry_count;
} config_section;

typedef struct config {
    char *path;      /* the file as given */
    char *directory; /* folder of the file; relative paths are resolved against it */
    /* [host] */
    char *plugin_dir; /* resolved against `directory`; the first of plugin_path */
    /* Folders searched in order for a plugin file: `plugin_path` (several,
     * separated by ':') or else `plugin_dir` (one). Each resolved against
     * `directory`. plugin_path_key names the key they came from. */
    char **plugin_path;
    size_t plugin_path_count;
    const char *plugin_path_key; /* "plugin_path" or "plugin_dir" (static) */
    char *listen;                /* "127.0.0.1:8000"; PTEXEC_LISTEN overrides */
    char *journal;      /* resolved against `directory`; "" when `journal =` is empty or "off" */
    char *journal_sync; /* "normal" (default) or "full" */
    unsigned long journal_retention_days; /* default 30; 0 keeps every execution */
    char *api_token;                      /* "" when unset */
    char *account_hash_key;               /* "" when unset: <journal>.key, created 0600 */
    char *log_level;                      /* "info" */
    char *log_format;                     /* "text" */
    size_t max_symbols;                   /* default 10000 */
    size_t body_limit;                    /* bytes, default 1 MiB */
    config_section host;                  /* every [host] entry, for modules with their own keys */
    /* [broker.*] in file order */
    config_section *brokers;
    size_t broker_count;
    /* [notify.*] in file order */
    config_section *notifiers;
    size_t notifier_count;
} config;

/*
 * Reads and parses `path`. On success returns PTX_OK and fills *out, which the
 * caller releases with config_free(). A malformed file, an unreadable file or
 * a bad value gives PTX_CONFIG with "FILE:LINE: reason" in error->message.
 * Unknown keys of [host] and unknown sections are logged as warnings. Broker
 * and notifier keys are checked later by their owners (config_warn_unknown).
 * Main thread.
 */
ptx_status config_load(const char *path, config *out, ptx_error *error);

/*
 * The same from `length` bytes of configuration `text`: messages name it
 * `name` (e.g. "(configuration text)") and relative paths resolve against
 * `directory` (NULL: the current directory). Main thread.
 */
ptx_status config_load_text(const char *text, size_t length, const char *name,
                            const char *directory, config *out, ptx_error *error);

/* Releases everything config_load() allocated; safe on a zeroed struct. */
void config_free(config *cfg);

/* Returns the value of `key` in `section`, or NULL when absent. */
const char *config_get(const config_section *section, const char *key);

/* Finds [broker.NAME]; NULL when not configured. */
const config_section *config_find_broker(const config *cfg, const char *name);

/*
 * Parses the unsigned integer value of `key` in `section` into *value, or
 * leaves *value untouched when the key is absent. Returns PTX_CONFIG with
 * "FILE:LINE: …" when the value is not an integer in [minimum, maximum].
 */
ptx_status config_get_uint(const config *cfg, const config_section *section, const char *key,
                           unsigned long minimum, unsigned long maximum, unsigned long *value,
                           ptx_error *error);

/*
 * Logs one warning for every key of `section` that appears in neither of the
 * two NULL-terminated lists (either may be NULL), naming FILE:LINE.
 */
void config_warn_unknown(const config *cfg, const config_section *section, const char *kind,
                         const char *const *known_a, const char *const *known_b);

#endif
