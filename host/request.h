/* The execution request of POST /execute and `ptexec execute`, validated by
 * the one set of input rules of design §2.6. */
#ifndef PTEXEC_REQUEST_H
#define PTEXEC_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "execution.h"
#include "status.h"

typedef struct request_limits {
    size_t max_symbols; /* default 10000 */
} request_limits;

/*
 * Parses and validates an execution request body (JSON text of `length`
 * bytes, not necessarily NUL-terminated). Returns PTX_OK and fills *out
 * (release with request_free), PTX_PARSE for malformed JSON, or PTX_INVALID
 * naming the field, e.g. "target_portfolio[1].target_quantity". Unknown fields
 * are ignored. Whether the broker exists is checked later by the engine.
 * Any thread.
 */
ptx_status request_parse_execute(const char *body, size_t length, const request_limits *limits,
                                 exec_request *out, ptx_error *error);

/*
 * Parses a holdings request `{"broker": …, "credentials": {…}}` into *out
 * (targets stay empty). Same errors as request_parse_execute.
 */
ptx_status request_parse_holdings(const char *body, size_t length, exec_request *out,
                                  ptx_error *error);

/* Normalises `raw` (trim, upper-case) into `symbol` and checks the symbol
 * rules. Returns false with a reason in `why` (of `why_size` bytes) when it
 * breaks them. */
bool request_normalize_symbol(const char *raw, char symbol[BROKER_SYMBOL_MAX], char *why,
                              size_t why_size);

/* Releases what request_parse_* allocated and zeroes *request. */
void request_free(exec_request *request);

#endif
