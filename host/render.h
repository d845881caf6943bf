/* JSON documents ptexec answers with (HTTP bodies and CLI output). */
#ifndef PTEXEC_RENDER_H
#define PTEXEC_RENDER_H

#include <stddef.h>

#include "execution.h"
#include "holdings.h"
#include "registry.h"
#include "status.h"

/* Each returns a heap string (caller frees) and its length in *length (may be
 * NULL), or NULL on OOM. Any thread. */

/* The execution response of design §2.5: execution_id, broker, status,
 * results (request order), positions, summary. */
char *render_result(const exec_result *result, size_t *length);

/* {"error":{"code":…,"message":…,"field":…}}; field null when empty. */
char *render_error(const ptx_error *error, size_t *length);

/* {"broker":…,"holdings":[{"symbol":…,"quantity":…},…]} sorted by symbol. */
char *render_holdings(const char *broker, const holdings *map, size_t *length);

/* {"brokers":[{"name","version","abi","mode","plugin","description"},…]}. */
char *render_brokers(registry *reg, size_t *length);

#endif
