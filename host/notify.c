/*
 * Notification sinks. Each [notify.NAME] section becomes one sink; NAME picks
 * the kind. A sink is a small vtable so that kinds which block (a file, a
 * webhook) can later queue the outcome to a thread of their own inside
 * `deliver` without the engine noticing. Sinks see exec_result only: it holds
 * the account hash, never the credentials.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct sink sink;

typedef struct sink_kind {
    const char *name;
    const char *const *keys; /* NULL-terminated keys the section may hold */
    /* Creates the sink for `section`; NULL with *error set on failure. */
    sink *(*create)(const config *cfg, const config_section *section, ptx_error *error);
    /* Hands over one finished execution. Any thread; must not keep `result`. */
    void (*deliver)(sink *self, const exec_result *result);
    /* Flushes and frees. */
    void (*destroy)(sink *self);
} sink_kind;

struct sink {
    const sink_kind *kind;
};

struct notify {
    sink **sinks;
    size_t count;
};

/* --- notify.log: the summary and the legs that did not fill, to the log --- */

static sink *log_sink_create(const config *cfg, const config_section *section, ptx_error *error)
{
    (void)cfg;
    (void)section;
    sink *self = calloc(1, sizeof *self);
    if (self == NULL)
        ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    return self;
}

static void log_sink_deliver(sink *self, const exec_result *result)
{
    (void)self;
    const exec_summary *summary = &result->summary;
    log_write(LOG_INFO, "notify",
              "execution %s broker=%s account=%s status=%s orders=%zu filled=%zu failed=%zu "
              "rejected=%zu partially_filled=%zu",
              result->execution_id, result->broker,
              result->account_hash[0] ? result->account_hash : "-",
              exec_status_name(result->status), summary->orders, summary->filled, summary->failed,
              summary->rejected, summary->partially_filled);
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        if (leg->status == LEG_FILLED || leg->status == LEG_PLANNED)
            continue;
        log_write(LOG_WARN, "notify", "execution %s leg %s %s %lld: %s (filled %lld): %s",
                  result->execution_id, leg->symbol, side_name(leg->side), (long long)leg->quantity,
                  leg_status_name(leg->status), (long long)leg->filled_quantity,
                  leg->reason[0] ? leg->reason : "no reason given");
    }
}

static void log_sink_destroy(sink *self)
{
    free(self);
}

static const char *const log_sink_keys[] = {NULL};

static const sink_kind sink_kinds[] = {
    {"log", log_sink_keys, log_sink_create, log_sink_deliver, log_sink_destroy},
};

static const sink_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof sink_kinds / sizeof sink_kinds[0]; i++)
        if (strcmp(sink_kinds[i].name, name) == 0)
            return &sink_kinds[i];
    return NULL;
}

static ptx_status add_sink(notify *notifier, const config *cfg, const config_section *section,
                           ptx_error *error)
{
    const sink_kind *kind = find_kind(section->name);
    if (kind == NULL)
        return ptx_fail(error, PTX_CONFIG, NULL,
                        "%s:%d: unknown notification sink '%s' (known: log)", cfg->path,
                        section->line, section->name);
    config_warn_unknown(cfg, section, "notify", kind->keys, NULL);
    sink *created = kind->create(cfg, section, error);
    if (created == NULL)
        return error ? error->status : PTX_NOMEM;
    created->kind = kind;
    notifier->sinks[notifier->count++] = created;
    return PTX_OK;
}

notify *notify_create(const config *cfg, ptx_error *error)
{
    notify *notifier = calloc(1, sizeof *notifier);
    size_t wanted = cfg ? cfg->notifier_count : 0;
    if (notifier != NULL)
        notifier->sinks = calloc(wanted ? wanted : 1, sizeof *notifier->sinks);
    if (notifier == NULL || notifier->sinks == NULL) {
        ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
        notify_destroy(notifier);
        return NULL;
    }
    for (size_t i = 0; i < wanted; i++) {
        if (add_sink(notifier, cfg, &cfg->notifiers[i], error) != PTX_OK) {
            notify_destroy(notifier);
            return NULL;
        }
    }
    return notifier;
}

void notify_execution(notify *notifier, const exec_result *result)
{
    if (notifier == NULL || result == NULL || result->status == EXEC_PLANNED)
        return;
    for (size_t i = 0; i < notifier->count; i++)
        notifier->sinks[i]->kind->deliver(notifier->sinks[i], result);
}

void notify_destroy(notify *notifier)
{
    if (notifier == NULL)
        return;
    for (size_t i = 0; i < notifier->count; i++)
        notifier->sinks[i]->kind->destroy(notifier->sinks[i]);
    free(notifier->sinks);
    free(notifier);
}
