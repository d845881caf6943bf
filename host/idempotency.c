#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Writes the hash that identifies a request for its idempotency key: broker,
 * account, dry_run and the normalised targets; never the credentials. */
void idempotency_request_hash(const exec_request *request, const char *account_hash,
                              char out[IDS_SHA256_HEX_MAX])
{
    size_t capacity = 128 + request->target_count * (BROKER_SYMBOL_MAX + 24);
    char *text = malloc(capacity);
    if (text == NULL) {
        snprintf(out, IDS_SHA256_HEX_MAX, "%s", "unhashable");
        return;
    }
    size_t used =
        (size_t)snprintf(text, capacity, "ptexec-request-v1\n%s\n%s\n%d\n%s", request->broker,
                         account_hash, request->dry_run ? 1 : 0,
                         request->order_type == EXEC_ORDER_LIMIT    ? "order_type=limit\n"
                         : request->order_type == EXEC_ORDER_MARKET ? "order_type=market\n"
                                                                    : "");
    /* SYMBOL=QUANTITY\n per target, formatted by hand: snprintf per target
     * cost more than the hash. Each line fits BROKER_SYMBOL_MAX + 24. */
    for (size_t i = 0; i < request->target_count && used < capacity; i++) {
        const exec_target *target = &request->targets[i];
        size_t length = strnlen(target->symbol, BROKER_SYMBOL_MAX - 1);
        memcpy(text + used, target->symbol, length);
        used += length;
        text[used++] = '=';
        char digits[24];
        size_t count = 0;
        unsigned long long quantity = (unsigned long long)target->target_quantity;
        if (target->target_quantity < 0) { /* refused earlier; hashed the same way anyway */
            text[used++] = '-';
            quantity = 0 - quantity;
        }
        do {
            digits[count++] = (char)('0' + quantity % 10);
            quantity /= 10;
        } while (quantity != 0);
        while (count > 0)
            text[used++] = digits[--count];
        text[used++] = '\n';
    }
    ids_sha256_hex(text, used < capacity ? used : capacity, out);
    free(text);
}

/* Fills *result with the stored outcome of `row` (finished). */
/* Fills *result with the stored outcome of `row` (finished). */
static ptx_status idempotency_replay(journal *records, const journal_execution *row,
                                     exec_result *result, ptx_error *error)
{
    leg_state *states = NULL;
    exec_result stored;
    ptx_status status = journal_load(records, row->id, &stored, &states, error);
    if (status != PTX_OK)
        return status;
    for (size_t i = 0; i < stored.leg_count; i++)
        stored.legs[i].status = leg_status_of_state(states[i]);
    free(states);
    exec_result_summarize(&stored);
    if (!exec_status_parse(row->status, &stored.status))
        stored.status = EXEC_FAILED;
    stored.finished_ms = row->finished_ms;
    stored.response = strdup(row->response);
    stored.replayed = true;
    stored.reconciled = true;
    if (stored.response == NULL) {
        exec_result_free(&stored);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    }
    exec_result_free(result);
    *result = stored;
    log_write(LOG_INFO, "engine",
              "execution %s broker=%s account=%s: idempotency key reused with the same request; "
              "stored response returned, nothing placed",
              result->execution_id, result->broker, result->account_hash);
    return PTX_OK;
}

ptx_status idempotency_check(journal *records, const exec_request *request,
                             const char *request_hash, exec_result *result,
                             idempotency_state *state, ptx_error *error)
{
    journal_execution row;
    *state = IDEMPOTENCY_UNUSED;
    ptx_status status = journal_find_key(records, request->broker, result->account_hash,
                                         request->idempotency_key, &row, error);
    if (status == PTX_NOT_FOUND) {
        ptx_error_clear(error);
        return PTX_OK;
    }
    if (status != PTX_OK)
        return status;
    if (strcmp(row.request_hash, request_hash) != 0) {
        status = ptx_fail(error, PTX_CONFLICT, "idempotency_key",
                          "idempotency key '%s' was already used for a different request on this "
                          "%s account (execution %s)",
                          request->idempotency_key, request->broker, row.id);
    } else if (row.response == NULL) {
        *state = IDEMPOTENCY_RUNNING;
    } else {
        status = idempotency_replay(records, &row, result, error);
        *state = status == PTX_OK ? IDEMPOTENCY_REPLAYED : IDEMPOTENCY_UNUSED;
    }
    journal_execution_clear(&row);
    return status;
}

ptx_status idempotency_busy(journal *records, const exec_request *request, const char *request_hash,
                            exec_result *result, ptx_error *error)
{
    idempotency_state state = IDEMPOTENCY_UNUSED;
    if (request_hash[0] != '\0' &&
        idempotency_check(records, request, request_hash, result, &state, error) != PTX_OK)
        return error->status;
    if (state == IDEMPOTENCY_REPLAYED)
        return PTX_OK;
    if (state == IDEMPOTENCY_RUNNING)
        return ptx_fail(error, PTX_IN_PROGRESS, "idempotency_key",
                        "the execution with idempotency key '%s' is still running; retry later",
                        request->idempotency_key);
    return ptx_fail(error, PTX_BUSY, NULL,
                    "account busy: another execution for this %s account is running",
                    request->broker);
}
