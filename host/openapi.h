/* The OpenAPI 3 description of the HTTP API, served as GET /openapi.json. */
#ifndef PTEXEC_OPENAPI_H
#define PTEXEC_OPENAPI_H

#include <stddef.h>

/* Returns the document as static JSON text (never NULL; lives for the whole
 * process) and its length in *length (may be NULL). Any thread. */
const char *openapi_document(size_t *length);

#endif
