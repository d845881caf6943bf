/* The HTTP API of design §2.5 on libmicrohttpd (the only file that includes
 * microhttpd.h): a front-end of the host library that uses <ptexec/host.h>
 * alone. */
#ifndef PTEXEC_HTTP_H
#define PTEXEC_HTTP_H

#include <ptexec/host.h>

/*
 * Serves the API of `host` on `listen` ("HOST:PORT"; NULL for the
 * configuration's [host] listen; port 0 picks a free one and the chosen
 * address is logged as "listening on HOST:PORT") until SIGTERM or SIGINT,
 * then stops accepting, lets in-flight executions finish within the grace
 * period, and returns PTEXEC_OK. Borrows `host`. Returns PTEXEC_CONFIG for a
 * bad server setting and PTEXEC_IO when the address cannot be bound. Main
 * thread.
 */
ptexec_status http_serve(ptexec_host *host, const char *listen, ptexec_error *error);

#endif
