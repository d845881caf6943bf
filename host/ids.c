/* Identifiers. The only file that includes OpenSSL headers.
 *
 * Execution id: "ex-" + 10 Crockford base32 characters of the wall clock in
 * milliseconds (so ids sort by creation time) + 16 characters of 80 random
 * bits from getrandom().
 *
 * Client order id: upper-case alphanumeric, L characters where L is
 * max_length capped at 20 and raised to min_length. The last IDS_LEG_WIDTH
 * characters are the leg index in base 36, fixed width (injective for up to
 * 36^5 = 60,466,176 legs); the rest is SHA-256(execution id) in base 36, so
 * ids of different executions differ with overwhelming probability. */
#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define IDS_LEG_WIDTH 5
#define IDS_DEFAULT_LENGTH 20

static const char ids_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char ids_base36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

#define IDS_RANDOM_POOL 320 /* 32 execution ids per getrandom() call */

/* Bumped in a forked child so that it never reuses its parent's pool. */
static atomic_uint ids_fork_generation;
static pthread_once_t ids_fork_once = PTHREAD_ONCE_INIT;

static void ids_after_fork(void)
{
    atomic_fetch_add(&ids_fork_generation, 1);
}

static void ids_register_fork(void)
{
    pthread_atfork(NULL, NULL, ids_after_fork);
}

/* SHA-256 fetched once: the one-shot SHA256() looks the algorithm up again
 * on every call, which costs more than hashing a short string. */
static EVP_MD *ids_sha256_md;
static pthread_once_t ids_sha256_once = PTHREAD_ONCE_INIT;

static void ids_fetch_sha256(void)
{
    ids_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256 of `length` bytes into `digest` (SHA256_DIGEST_LENGTH bytes). */
static void ids_sha256(const void *data, size_t length, unsigned char *digest)
{
    pthread_once(&ids_sha256_once, ids_fetch_sha256);
    if (ids_sha256_md == NULL || EVP_Digest(data, length, digest, NULL, ids_sha256_md, NULL) != 1)
        SHA256(data, length, digest);
}

static void ids_random_fill(unsigned char *out, size_t length)
{
    size_t done = 0;
    while (done < length) {
        ssize_t got = getrandom(out + done, length - done, 0);
        if (got <= 0)
            break;
        done += (size_t)got;
    }
    if (done < length) { /* getrandom cannot fail here in practice; stay unique anyway */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t mix = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)now.tv_sec;
        for (; done < length; done++, mix = mix * 6364136223846793005ull + 1)
            out[done] = (unsigned char)(mix >> 56);
    }
}

/* Random bytes from a per-thread pool refilled by getrandom(): one system
 * call per 32 ids instead of one per id. Each byte is handed out once. */
static void ids_random_bytes(unsigned char *out, size_t length)
{
    static _Thread_local unsigned char pool[IDS_RANDOM_POOL];
    static _Thread_local size_t used = IDS_RANDOM_POOL;
    static _Thread_local unsigned generation;
    pthread_once(&ids_fork_once, ids_register_fork);
    unsigned now = atomic_load(&ids_fork_generation);
    if (generation != now) {
        generation = now;
        used = IDS_RANDOM_POOL;
    }
    if (length > IDS_RANDOM_POOL) {
        ids_random_fill(out, length);
        return;
    }
    if (used + length > IDS_RANDOM_POOL) {
        ids_random_fill(pool, IDS_RANDOM_POOL);
        used = 0;
    }
    memcpy(out, pool + used, length);
    explicit_bzero(pool + used, length);
    used += length;
}

void ids_new_execution_id(char out[IDS_EXECUTION_ID_MAX])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t millis = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    unsigned char random[10];
    ids_random_bytes(random, sizeof random);

    memcpy(out, "ex-", 3);
    for (int i = 0; i < 10; i++)
        out[3 + i] = ids_crockford[(millis >> (5 * (9 - i))) & 31u];
    /* 80 random bits → 16 base32 characters, 5 bits each. */
    for (int i = 0; i < 16; i++) {
        unsigned bit = (unsigned)i * 5u;
        unsigned value =
            ((unsigned)random[bit / 8] << 8) | (bit / 8 + 1 < 10 ? random[bit / 8 + 1] : 0);
        out[13 + i] = ids_crockford[(value >> (11 - bit % 8)) & 31u];
    }
    out[29] = '\0';
}

/* Length of the client order id for the broker's limits and the buffer. */
static size_t ids_client_length(unsigned min_length, unsigned max_length, size_t out_size)
{
    size_t length = max_length == 0 ? IDS_DEFAULT_LENGTH : max_length;
    if (length > IDS_DEFAULT_LENGTH)
        length = IDS_DEFAULT_LENGTH;
    if (length < min_length)
        length = min_length;
    if (length > out_size - 1)
        length = out_size - 1;
    return length;
}

/* SHA-256 of the execution id, cached per thread: an execution asks for the
 * ids of all its legs in a row, so one hash serves a million legs. */
static const unsigned char *ids_execution_digest(const char *execution_id)
{
    static _Thread_local char cached_id[IDS_EXECUTION_ID_MAX + 1];
    static _Thread_local unsigned char cached_digest[SHA256_DIGEST_LENGTH];
    static _Thread_local bool cached;
    size_t length = strlen(execution_id);
    if (!cached || length > IDS_EXECUTION_ID_MAX || strcmp(cached_id, execution_id) != 0) {
        ids_sha256(execution_id, length, cached_digest);
        cached = length <= IDS_EXECUTION_ID_MAX;
        if (cached)
            memcpy(cached_id, execution_id, length + 1);
    }
    return cached_digest;
}

void ids_client_order_id(const char *execution_id, size_t leg_index, unsigned min_length,
                         unsigned max_length, char *out, size_t out_size)
{
    if (out_size == 0)
        return;
    size_t length = ids_client_length(min_length, max_length, out_size);
    size_t leg_width = length < IDS_LEG_WIDTH ? length : IDS_LEG_WIDTH;
    size_t prefix = length - leg_width;

    const unsigned char *digest = ids_execution_digest(execution_id);
    /* One digest byte per character; the slight modulo bias
     * does not matter for uniqueness. */
    for (size_t i = 0; i < prefix; i++)
        out[i] = ids_base36[digest[i % SHA256_DIGEST_LENGTH] % 36u];
    size_t index = leg_index;
    for (size_t i = 0; i < leg_width; i++) {
        out[length - 1 - i] = ids_base36[index % 36u];
        index /= 36u;
    }
    out[length] = '\0';
}

size_t ids_client_order_id_capacity(unsigned min_length, unsigned max_length)
{
    size_t length = ids_client_length(min_length, max_length, SIZE_MAX);
    size_t capacity = 1;
    for (size_t i = 0; i < length && i < IDS_LEG_WIDTH; i++)
        capacity *= 36u;
    return capacity;
}

void ids_account_hash(const ids_key *key, const char *broker, const char *account_id,
                      char out[IDS_ACCOUNT_HASH_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    size_t broker_length = strlen(broker) + 1, account_length = strlen(account_id);
    unsigned char stack[256];
    unsigned char *input = broker_length + account_length <= sizeof stack
                               ? stack
                               : malloc(broker_length + account_length);
    bool ok = input != NULL;
    if (ok) {
        memcpy(input, broker, broker_length); /* with the NUL: "ab"+"c" ≠ "a"+"bc" */
        memcpy(input + broker_length, account_id, account_length);
        ok = HMAC(EVP_sha256(), key->bytes, (int)sizeof key->bytes, input,
                  broker_length + account_length, digest, &digest_length) != NULL &&
             digest_length >= 8;
    }
    if (input != stack)
        free(input);
    if (!ok) { /* only on OOM; an unmistakable placeholder */
        snprintf(out, IDS_ACCOUNT_HASH_MAX, "%s", "0000000000000000");
        return;
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15u];
    }
    out[16] = '\0';
}

void ids_key_random(ids_key *key)
{
    size_t got = 0;
    while (got < sizeof key->bytes) {
        ssize_t n = getrandom(key->bytes + got, sizeof key->bytes - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            break;
    }
    if (got < sizeof key->bytes) /* no entropy source at all */
        memset(key->bytes, 0, sizeof key->bytes);
}

void ids_key_from_text(const char *text, ids_key *key)
{
    ids_sha256(text, strlen(text), key->bytes);
}

/* Reads the key file `path` (64 hex characters); false when it is not one. */
static bool ids_key_read(int fd, ids_key *key)
{
    char text[2 * IDS_KEY_BYTES + 2];
    ssize_t n = read(fd, text, sizeof text);
    if (n < 2 * IDS_KEY_BYTES)
        return false;
    for (size_t i = 0; i < IDS_KEY_BYTES; i++) {
        unsigned value;
        if (sscanf(text + 2 * i, "%2x", &value) != 1)
            return false;
        key->bytes[i] = (unsigned char)value;
    }
    return true;
}

bool ids_key_load(const char *path, ids_key *key, char *why, size_t why_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        bool ok = ids_key_read(fd, key);
        close(fd);
        if (!ok)
            snprintf(why, why_size, "%s is not an account hash key (64 hex characters)", path);
        return ok;
    }
    if (errno != ENOENT) {
        snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    ids_key_random(key);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
        return false;
    }
    char text[2 * IDS_KEY_BYTES + 2];
    for (size_t i = 0; i < IDS_KEY_BYTES; i++)
        snprintf(text + 2 * i, 3, "%02x", key->bytes[i]);
    text[2 * IDS_KEY_BYTES] = '\n';
    bool ok = fchmod(fd, 0600) == 0 &&
              write(fd, text, sizeof text - 1) == (ssize_t)sizeof text - 1 && fsync(fd) == 0;
    if (!ok)
        snprintf(why, why_size, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    return ok;
}

void ids_sha256_hex(const void *data, size_t length, char out[IDS_SHA256_HEX_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    ids_sha256(data, length, digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15u];
    }
    out[2 * SHA256_DIGEST_LENGTH] = '\0';
}
