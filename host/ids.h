/* Identifiers: execution ids, client order ids, account hashes. */
#ifndef PTEXEC_IDS_H
#define PTEXEC_IDS_H

#include <stdbool.h>
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

/* How many leg indexes ids_client_order_id tells apart for the broker's
 * lengths (36^5, fewer for ids shorter than 5): a larger index reuses an id. */
size_t ids_client_order_id_capacity(unsigned min_length, unsigned max_length);

#define IDS_KEY_BYTES 32

/* The secret of account hashes: one per installation, so that a hash
 * cannot be reversed or guessed offline from history. */
typedef struct ids_key {
    unsigned char bytes[IDS_KEY_BYTES];
} ids_key;

/* Writes a short hex hash (HMAC-SHA256 under `key`, first 8 bytes) of
 * broker + account id, the only way logs, journals and events name an
 * account. Any thread. */
void ids_account_hash(const ids_key *key, const char *broker, const char *account_id,
                      char out[IDS_ACCOUNT_HASH_MAX]);

/* A new random key (getrandom); all zero only if the system has no
 * entropy source. */
void ids_key_random(ids_key *key);

/* The key an operator gave as text (account_hash_key): SHA-256 of it. */
void ids_key_from_text(const char *text, ids_key *key);

/* Reads the key file `path` (64 hex characters), or creates it 0600 with a
 * new random key when it does not exist. False with a reason in `why`. */
bool ids_key_load(const char *path, ids_key *key, char *why, size_t why_size);

/* Writes the SHA-256 of `length` bytes at `data` as 64 lower-case hex
 * characters into `out`. Used for request hashes (idempotency). Any thread. */
void ids_sha256_hex(const void *data, size_t length, char out[IDS_SHA256_HEX_MAX]);

#endif
