/* The HTTP API of design §2.5 on libmicrohttpd (the only file that includes
 * microhttpd.h). */
#ifndef PTEXEC_HTTP_H
#define PTEXEC_HTTP_H

#include "config.h"
#include "engine.h"
#include "registry.h"
#include "status.h"

/*
 * Serves the API on `listen` ("HOST:PORT"; port 0 picks a free one and the
 * chosen address is logged as "listening on HOST:PORT") until SIGTERM or
 * SIGINT, then stops accepting, lets in-flight executions finish within the
 * grace period, and returns PTX_OK. Borrows every argument. Returns PTX_IO when
 * the address cannot be bound. Main thread.
 */
ptx_status http_serve(const config *cfg, registry *reg, engine *eng, const char *listen,
                      ptx_error *error);

#endif
