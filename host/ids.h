/* Identifiers: execution ids, client order ids, account hashes. */
#ifndef PTEXEC_IDS_H
#define PTEXEC_IDS_H

#include <stddef.h>
#include <stdint.h>

#define IDS_EXECUTION_ID_MAX 40 /* "ex-" + 26 base32 chars + NUL fits */
#define IDS_ACCOUNT_HASH_MAX 17 /* 16 hex chars + NUL */
#define IDS_SHA256_HEX_MAX 65   /* 64 hex chars + NUL */

/* Writes a new random, time-ordered execution id (e.g. "ex-01J…") into
 * `out` (IDS_EXECUTION_ID_MAX bytes). Any thread. */
void ids_new_execution_id(char out[IDS_EXECUTION_ID_MAX]);

/*
 * Writes the client order id of leg `leg_index` of execution `execution_id`
 * into `out` (`out_size` bytes): alphanumeric only, deterministic for the
 * same inputs, unique per execution and leg, of a length in [min_length,
 * max_length] (max_length ≥ 8; 0 means 20). Any thread.
 */
void ids_client_order_id(const char *execution_id, size_t leg_index, unsigned min_length,
                         unsigned max_length, char *out, size_t out_size);

/* Writes a short hex hash (SHA-256, first 8 bytes) of broker + account id, the
 * only way logs, journals and events name an account. Any thread. */
void ids_account_hash(const char *broker, const char *account_id, char out[IDS_ACCOUNT_HASH_MAX]);

/* Writes the SHA-256 of `length` bytes at `data` as 64 lower-case hex
 * characters into `out`. Used for request hashes (idempotency). Any thread. */
void ids_sha256_hex(const void *data, size_t length, char out[IDS_SHA256_HEX_MAX]);

#endif
