/*
 * The input rules of design §2.6, shared by POST /execute and `ptexec
 * execute`. Every refusal names the field as a JSON path and says what was
 * wrong and what is allowed. Credential values are copied, never formatted.
 */
#include "request.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define REQUEST_DEFAULT_MAX_SYMBOLS 10000
#define REQUEST_MAX_CREDENTIALS 64
#define QUANTITY_RULE "an integer between 0 and 1000000000"

/* Open-addressing set of the symbols seen so far, for duplicate detection in
 * O(n). Slots hold 1 + an index into the targets, 0 when empty. */
typedef struct symbol_set {
    size_t *slots;
    size_t mask;
} symbol_set;

static bool set_init(symbol_set *set, size_t expected)
{
    size_t size = 16;
    while (size < expected * 2)
        size *= 2;
    set->slots = calloc(size, sizeof *set->slots);
    set->mask = size - 1;
    return set->slots != NULL;
}

static uint64_t symbol_hash(const char *symbol)
{
    uint64_t hash = 1469598103934665603ULL;
    for (; *symbol; symbol++)
        hash = (hash ^ (unsigned char)*symbol) * 1099511628211ULL;
    return hash;
}

/* Adds targets[index].symbol; returns the earlier index holding the same
 * symbol, or SIZE_MAX when it was new. */
static size_t set_add(symbol_set *set, const exec_target *targets, size_t index)
{
    size_t slot = (size_t)symbol_hash(targets[index].symbol) & set->mask;
    while (set->slots[slot] != 0) {
        size_t other = set->slots[slot] - 1;
        if (strcmp(targets[other].symbol, targets[index].symbol) == 0)
            return other;
        slot = (slot + 1) & set->mask;
    }
    set->slots[slot] = index + 1;
    return SIZE_MAX;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_symbol_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '&' || c == '-' || c == '_' ||
           c == '.';
}

bool request_normalize_symbol(const char *raw, char symbol[BROKER_SYMBOL_MAX], char *why,
                              size_t why_size)
{
    const char *start = raw;
    while (is_space(*start))
        start++;
    size_t length = strlen(start);
    while (length > 0 && is_space(start[length - 1]))
        length--;
    symbol[0] = '\0';
    if (length == 0) {
        snprintf(why, why_size, "symbol must not be empty");
        return false;
    }
    if (length > BROKER_SYMBOL_MAX - 1) {
        snprintf(why, why_size, "symbol must be at most %d characters, got %zu",
                 BROKER_SYMBOL_MAX - 1, length);
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        char c = start[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!is_symbol_char(c)) {
            unsigned char byte = (unsigned char)start[i];
            if (byte > 0x20 && byte < 0x7F)
                snprintf(why, why_size,
                         "symbol may contain only A-Z 0-9 & - _ . (got '%c' at position %zu)", byte,
                         i + 1);
            else
                snprintf(why, why_size,
                         "symbol may contain only A-Z 0-9 & - _ . (got byte 0x%02X at position "
                         "%zu)",
                         byte, i + 1);
            symbol[0] = '\0';
            return false;
        }
        symbol[i] = c;
    }
    symbol[length] = '\0';
    return true;
}

/* "got string", "got null", "got number 1e3", "got -1". */
static void describe_value(const json_value *value, char *out, size_t out_size)
{
    json_type type = json_type_of(value);
    if (type != JSON_INTEGER && type != JSON_FLOAT) {
        snprintf(out, out_size, "got %s", json_type_name(type));
        return;
    }
    char literal[72];
    json_number_text(value, literal, sizeof literal);
    snprintf(out, out_size, "got %s%s", type == JSON_FLOAT ? "number " : "", literal);
}

static ptx_status parse_broker(const json_value *body, exec_request *out, ptx_error *error)
{
    const json_value *value = json_get(body, "broker");
    if (value == NULL)
        return ptx_fail(error, PTX_INVALID, "broker", "broker is required: a broker name");
    const char *name = json_string(value);
    if (name == NULL)
        return ptx_fail(error, PTX_INVALID, "broker", "broker must be a string, got %s",
                        json_type_name(json_type_of(value)));
    size_t length = strlen(name);
    bool valid = length > 0 && length < REQUEST_BROKER_MAX;
    for (size_t i = 0; valid && i < length; i++) {
        char c = name[i];
        valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    }
    if (!valid)
        return ptx_fail(error, PTX_INVALID, "broker",
                        "broker must be 1-%d characters of a-z A-Z 0-9 _ -",
                        REQUEST_BROKER_MAX - 1);
    memcpy(out->broker, name, length + 1);
    return PTX_OK;
}

/* Copies `member` into *slot; `first`..`slot` are the credentials copied so
 * far, to refuse a key given twice. */
static ptx_status copy_credential(const json_value *member, const broker_credential *first,
                                  broker_credential *slot, ptx_error *error)
{
    const char *key = json_key(member);
    const char *value = json_string(member);
    char field[sizeof error->field], safe_key[96];
    json_safe_text(key, safe_key, sizeof safe_key); /* echoed: valid UTF-8 only */
    snprintf(field, sizeof field, "credentials.%s", safe_key);
    if (value == NULL)
        return ptx_fail(error, PTX_INVALID, field, "%s must be a string, got %s", field,
                        json_type_name(json_type_of(member)));
    for (const broker_credential *other = first; other < slot; other++)
        if (strcmp(other->key, key) == 0)
            return ptx_fail(error, PTX_INVALID, field, "%s appears more than once", field);
    slot->key = strdup(key);
    slot->value = strdup(value);
    if (slot->key == NULL || slot->value == NULL)
        return ptx_fail(error, PTX_NOMEM, "credentials", "out of memory");
    return PTX_OK;
}

static ptx_status parse_credentials(const json_value *body, exec_request *out, ptx_error *error)
{
    const json_value *object = json_get(body, "credentials");
    if (object == NULL)
        return ptx_fail(error, PTX_INVALID, "credentials",
                        "credentials is required: an object of strings");
    if (json_type_of(object) != JSON_OBJECT)
        return ptx_fail(error, PTX_INVALID, "credentials",
                        "credentials must be an object of strings, got %s",
                        json_type_name(json_type_of(object)));
    size_t count = json_size(object);
    if (count > REQUEST_MAX_CREDENTIALS)
        return ptx_fail(error, PTX_INVALID, "credentials",
                        "credentials may hold at most %d fields, got %zu", REQUEST_MAX_CREDENTIALS,
                        count);
    out->credentials = calloc(count ? count : 1, sizeof *out->credentials);
    if (out->credentials == NULL)
        return ptx_fail(error, PTX_NOMEM, "credentials", "out of memory");
    for (const json_value *member = json_first(object); member; member = json_next(member)) {
        ptx_status status = copy_credential(member, out->credentials,
                                            &out->credentials[out->credential_count], error);
        if (out->credentials[out->credential_count].key != NULL ||
            out->credentials[out->credential_count].value != NULL)
            out->credential_count++;
        if (status != PTX_OK)
            return status;
    }
    return PTX_OK;
}

/* Writes "target_portfolio[INDEX]SUFFIX" (only on the error paths: the
 * formatting is not free and valid entries never need it). */
static void target_field(char *field, size_t size, size_t index, const char *suffix)
{
    snprintf(field, size, "target_portfolio[%zu]%s", index, suffix);
}

static ptx_status parse_quantity(const json_value *entry, size_t index, exec_target *target,
                                 ptx_error *error)
{
    char field[sizeof error->field];
    const json_value *value = json_get(entry, "target_quantity");
    int64_t quantity = 0;
    if (value != NULL && json_integer(value, &quantity) && quantity >= 0 &&
        quantity <= REQUEST_QUANTITY_MAX) {
        target->target_quantity = quantity;
        return PTX_OK;
    }
    target_field(field, sizeof field, index, ".target_quantity");
    if (value == NULL)
        return ptx_fail(error, PTX_INVALID, field, "%s is required: " QUANTITY_RULE, field);
    char got[96];
    describe_value(value, got, sizeof got);
    return ptx_fail(error, PTX_INVALID, field, "%s must be " QUANTITY_RULE ", %s", field, got);
}

static ptx_status parse_symbol(const json_value *entry, size_t index, exec_target *target,
                               ptx_error *error)
{
    char field[sizeof error->field];
    const json_value *value = json_get(entry, "symbol");
    const char *raw = json_string(value);
    char why[160];
    if (raw != NULL && request_normalize_symbol(raw, target->symbol, why, sizeof why))
        return PTX_OK;
    target_field(field, sizeof field, index, ".symbol");
    if (value == NULL)
        return ptx_fail(error, PTX_INVALID, field, "%s is required", field);
    if (raw == NULL)
        return ptx_fail(error, PTX_INVALID, field, "%s must be a string, got %s", field,
                        json_type_name(json_type_of(value)));
    return ptx_fail(error, PTX_INVALID, field, "%s: %s", field, why);
}

static ptx_status parse_target(const json_value *entry, size_t index, exec_target *target,
                               ptx_error *error)
{
    if (json_type_of(entry) != JSON_OBJECT) {
        char field[sizeof error->field];
        snprintf(field, sizeof field, "target_portfolio[%zu]", index);
        return ptx_fail(error, PTX_INVALID, field,
                        "%s must be an object with symbol and target_quantity, got %s", field,
                        json_type_name(json_type_of(entry)));
    }
    ptx_status status = parse_symbol(entry, index, target, error);
    if (status == PTX_OK)
        status = parse_quantity(entry, index, target, error);
    return status;
}

/* Counts the entries of `array`, stopping early past `limit`. */
static size_t count_up_to(const json_value *array, size_t limit)
{
    size_t count = 0;
    for (const json_value *item = json_first(array); item && count <= limit; item = json_next(item))
        count++;
    return count;
}

static ptx_status check_duplicates(exec_request *out, ptx_error *error)
{
    symbol_set set;
    if (!set_init(&set, out->target_count))
        return ptx_fail(error, PTX_NOMEM, "target_portfolio", "out of memory");
    ptx_status status = PTX_OK;
    for (size_t i = 0; i < out->target_count && status == PTX_OK; i++) {
        size_t earlier = set_add(&set, out->targets, i);
        if (earlier != SIZE_MAX) {
            char field[sizeof error->field];
            snprintf(field, sizeof field, "target_portfolio[%zu].symbol", i);
            status = ptx_fail(error, PTX_INVALID, field,
                              "%s: duplicate symbol %s (already at target_portfolio[%zu]); "
                              "each symbol may appear once",
                              field, out->targets[i].symbol, earlier);
        }
    }
    free(set.slots);
    return status;
}

static ptx_status parse_targets(const json_value *body, size_t max_symbols, exec_request *out,
                                ptx_error *error)
{
    const json_value *array = json_get(body, "target_portfolio");
    if (array == NULL)
        return ptx_fail(error, PTX_INVALID, "target_portfolio",
                        "target_portfolio is required: a non-empty array of "
                        "{\"symbol\", \"target_quantity\"} objects");
    if (json_type_of(array) != JSON_ARRAY)
        return ptx_fail(error, PTX_INVALID, "target_portfolio",
                        "target_portfolio must be an array, got %s",
                        json_type_name(json_type_of(array)));
    size_t count = count_up_to(array, max_symbols);
    if (count == 0)
        return ptx_fail(error, PTX_INVALID, "target_portfolio",
                        "target_portfolio must not be empty");
    if (count > max_symbols)
        return ptx_fail(error, PTX_INVALID, "target_portfolio",
                        "target_portfolio may hold at most %zu entries", max_symbols);
    out->targets = calloc(count, sizeof *out->targets);
    if (out->targets == NULL)
        return ptx_fail(error, PTX_NOMEM, "target_portfolio", "out of memory");
    size_t index = 0;
    for (const json_value *entry = json_first(array); entry; entry = json_next(entry), index++) {
        ptx_status status = parse_target(entry, index, &out->targets[index], error);
        if (status != PTX_OK)
            return status;
        out->target_count = index + 1;
    }
    return check_duplicates(out, error);
}

/* "order_type": "market" or "limit" (optional; null = the broker's). */
static ptx_status parse_order_type(const json_value *body, exec_request *out, ptx_error *error)
{
    const json_value *value = json_get(body, "order_type");
    if (value == NULL || json_type_of(value) == JSON_NULL)
        return PTX_OK;
    const char *text = json_string(value);
    if (text != NULL && strcmp(text, "market") == 0)
        out->order_type = EXEC_ORDER_MARKET;
    else if (text != NULL && strcmp(text, "limit") == 0)
        out->order_type = EXEC_ORDER_LIMIT;
    else
        return ptx_fail(error, PTX_INVALID, "order_type",
                        "order_type must be \"market\" or \"limit\"");
    return PTX_OK;
}

static ptx_status parse_options(const json_value *body, exec_request *out, ptx_error *error)
{
    const json_value *dry_run = json_get(body, "dry_run");
    json_type type = json_type_of(dry_run);
    if (dry_run != NULL && type != JSON_NULL) {
        if (type != JSON_BOOL)
            return ptx_fail(error, PTX_INVALID, "dry_run", "dry_run must be true or false, got %s",
                            json_type_name(type));
        out->dry_run = json_bool(dry_run);
    }
    ptx_status status = parse_order_type(body, out, error);
    if (status != PTX_OK)
        return status;
    const json_value *key = json_get(body, "idempotency_key");
    if (key == NULL || json_type_of(key) == JSON_NULL)
        return PTX_OK;
    const char *text = json_string(key);
    size_t length = text ? strlen(text) : 0;
    bool valid = length >= 1 && length < REQUEST_IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; valid && i < length; i++)
        valid = text[i] >= 0x20 && text[i] < 0x7F;
    if (!valid)
        return ptx_fail(error, PTX_INVALID, "idempotency_key",
                        "idempotency_key must be a string of 1-%d printable ASCII characters",
                        REQUEST_IDEMPOTENCY_KEY_MAX - 1);
    memcpy(out->idempotency_key, text, length + 1);
    return PTX_OK;
}

/* Parses the body into a document that must be an object. */
static ptx_status parse_body(const char *body, size_t length, json_value **document,
                             ptx_error *error)
{
    char why[160];
    *document = json_parse(body ? body : "", body ? length : 0, why, sizeof why);
    if (*document == NULL)
        return ptx_fail(error, PTX_PARSE, "", "%s", why);
    json_type type = json_type_of(*document);
    if (type != JSON_OBJECT)
        return ptx_fail(error, PTX_INVALID, "", "request body must be a JSON object, got %s",
                        json_type_name(type));
    return PTX_OK;
}

static ptx_status parse_common(const char *body, size_t length, const request_limits *limits,
                               bool with_targets, exec_request *out, ptx_error *error)
{
    memset(out, 0, sizeof *out);
    ptx_error_clear(error);
    size_t max_symbols =
        limits && limits->max_symbols ? limits->max_symbols : REQUEST_DEFAULT_MAX_SYMBOLS;
    json_value *document = NULL;
    ptx_status status = parse_body(body, length, &document, error);
    if (status == PTX_OK)
        status = parse_broker(document, out, error);
    if (status == PTX_OK)
        status = parse_credentials(document, out, error);
    if (status == PTX_OK && with_targets)
        status = parse_targets(document, max_symbols, out, error);
    if (status == PTX_OK && with_targets)
        status = parse_options(document, out, error);
    json_free(document);
    if (status != PTX_OK)
        request_free(out);
    return status;
}

ptx_status request_parse_execute(const char *body, size_t length, const request_limits *limits,
                                 exec_request *out, ptx_error *error)
{
    return parse_common(body, length, limits, true, out, error);
}

ptx_status request_parse_holdings(const char *body, size_t length, exec_request *out,
                                  ptx_error *error)
{
    return parse_common(body, length, NULL, false, out, error);
}

static void free_secret(const char *text)
{
    if (text == NULL)
        return;
    char *owned = (char *)text;
    explicit_bzero(owned, strlen(owned));
    free(owned);
}

void request_free(exec_request *request)
{
    if (request == NULL)
        return;
    for (size_t i = 0; i < request->credential_count; i++) {
        free((char *)request->credentials[i].key);
        free_secret(request->credentials[i].value);
    }
    free(request->credentials);
    free(request->targets);
    memset(request, 0, sizeof *request);
}
