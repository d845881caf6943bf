/* libFuzzer target: the request parser and validator of design §2.6, the
 * code every HTTP body and CLI request file goes through first. Any input
 * must give PTX_OK with a request that obeys the input rules, or PTX_PARSE /
 * PTX_INVALID with a message, and never crash or leak (run under ASan).
 * Build and run: make fuzz (clang). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const exec_request *request)
{
    if (request->target_count == 0 || request->target_count > 64)
        abort();
    for (size_t i = 0; i < request->target_count; i++) {
        const exec_target *target = &request->targets[i];
        size_t length = strnlen(target->symbol, sizeof target->symbol);
        if (length == 0 || length > 32 || target->target_quantity < 0 ||
            target->target_quantity > REQUEST_QUANTITY_MAX)
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(request->targets[j].symbol, target->symbol) == 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const request_limits limits = {.max_symbols = 64};
    exec_request request;
    memset(&request, 0, sizeof request);
    ptx_error error;
    ptx_error_clear(&error);
    ptx_status status = request_parse_execute((const char *)data, size, &limits, &request, &error);
    if (status == PTX_OK)
        check_request(&request);
    else if ((status != PTX_PARSE && status != PTX_INVALID) || error.message[0] == '\0')
        abort();
    request_free(&request);

    memset(&request, 0, sizeof request);
    ptx_error_clear(&error);
    status = request_parse_holdings((const char *)data, size, &request, &error);
    if (status != PTX_OK && status != PTX_PARSE && status != PTX_INVALID)
        abort();
    request_free(&request);
    return 0;
}
