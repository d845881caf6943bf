/* The text tables of `ptexec … --format text`: results, history, brokers
 * and a plugin's descriptor. */
#ifndef PTEXEC_TABLES_H
#define PTEXEC_TABLES_H

#include <stddef.h>

#include <ptexec/broker_plugin.h>

#include "execution.h"
#include "journal.h"
#include "registry.h"

/* Each returns a heap string (caller frees) with its length in *length (may
 * be NULL), or NULL on OOM. Any thread. */

/* One execution: a header line, one row per leg (execution order as
 * sequenced), one row per position, and the summary counts. */
char *tables_result(const exec_result *result, size_t *length);

/* Journal rows, newest first: id, created (UTC), broker, account, status,
 * orders, idempotency key. */
char *tables_history(const journal_execution *items, size_t count, size_t *length);

/* The loaded brokers: name, version, ABI, mode, plugin file. */
char *tables_brokers(registry *reg, size_t *length);

/* A plugin descriptor as "name: value" lines, with the file it came from. */
char *tables_plugin(const char *path, const broker_plugin *plugin, size_t *length);

#endif
