/* Idempotency keys (design §2.5): a request that reuses its key gets the
 * stored response and places nothing; another request under the same key
 * is a conflict. Keys are scoped per broker account and read from the
 * journal. */
#ifndef PTEXEC_IDEMPOTENCY_H
#define PTEXEC_IDEMPOTENCY_H

#include "execution.h"
#include "journal.h"
#include "status.h"

typedef enum idempotency_state {
    IDEMPOTENCY_UNUSED,   /* the key is new */
    IDEMPOTENCY_REPLAYED, /* *result holds the stored outcome */
    IDEMPOTENCY_RUNNING   /* the key's execution has not finished */
} idempotency_state;

/* Writes the hash that identifies a request for its key: broker, account,
 * dry_run and the normalised targets; never the credentials. */
void idempotency_request_hash(const exec_request *request, const char *account_hash,
                              char out[IDS_SHA256_HEX_MAX]);

/* Looks request->idempotency_key up for result->account_hash. PTX_OK with
 * *state; PTX_CONFLICT (field "idempotency_key") when the key belongs to
 * another request; PTX_JOURNAL on a read failure. Any thread. */
ptx_status idempotency_check(journal *records, const exec_request *request,
                             const char *request_hash, exec_result *result,
                             idempotency_state *state, ptx_error *error);

/* The account stayed busy past the lock timeout: PTX_OK when the key's
 * stored outcome was replayed into *result, PTX_IN_PROGRESS when the key's
 * own execution still runs, else PTX_BUSY. `request_hash` is "" without a
 * key. */
ptx_status idempotency_busy(journal *records, const exec_request *request, const char *request_hash,
                            exec_result *result, ptx_error *error);

#endif
