/*
 * The JSON documents ptexec answers with. Field order follows design §2.5 so
 * the seed's example response comes back exactly; additions go last.
 */
#include "render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

/* Writes `text`, or null when it is empty. */
static double rupees(double amount);

static void write_leg(json_writer *writer, const exec_leg *leg, bool charges_known)
{
    json_key_write(writer, "symbol");
    json_write_string(writer, leg->symbol);
    json_key_write(writer, "quantity");
    json_write_int(writer, leg->quantity);
    json_key_write(writer, "side");
    json_write_string(writer, side_name(leg->side));
    json_key_write(writer, "status");
    json_write_string(writer, leg_status_name(leg->status));
    json_key_write(writer, "reason");
    json_write_text_or_null(writer, leg->reason);
    json_key_write(writer, "sequence");
    json_write_int(writer, (int64_t)leg->sequence);
    json_key_write(writer, "order_id");
    json_write_text_or_null(writer, leg->order_id);
    json_key_write(writer, "client_order_id");
    json_write_text_or_null(writer, leg->client_order_id);
    json_key_write(writer, "filled_quantity");
    json_write_int(writer, leg->filled_quantity);
    json_key_write(writer, "average_price");
    if (leg->filled_quantity > 0)
        json_write_double(writer, leg->average_price);
    else
        json_write_null(writer);
    json_key_write(writer, "attempts");
    json_write_int(writer, leg->attempts);
    if (charges_known) {
        json_key_write(writer, "charges");
        json_write_double(writer, rupees(leg->charges));
    }
    if (leg->requested_quantity != 0) {
        json_key_write(writer, "requested_quantity");
        json_write_int(writer, leg->requested_quantity);
    }
    if (leg->limit_price > 0.0) {
        json_key_write(writer, "order_type");
        json_write_string(writer, "LIMIT");
        json_key_write(writer, "limit_price");
        json_write_double(writer, leg->limit_price);
        json_key_write(writer, "reprices");
        json_write_int(writer, leg->reprices);
    }
}

/* The child orders of a leg split at the freeze quantity. */
static void write_children(json_writer *writer, const exec_leg *children, size_t count)
{
    json_key_write(writer, "children");
    json_array_begin(writer);
    for (size_t i = 0; i < count; i++) {
        json_object_begin(writer);
        json_key_write(writer, "client_order_id");
        json_write_text_or_null(writer, children[i].client_order_id);
        json_key_write(writer, "order_id");
        json_write_text_or_null(writer, children[i].order_id);
        json_key_write(writer, "quantity");
        json_write_int(writer, children[i].quantity);
        json_key_write(writer, "status");
        json_write_string(writer, leg_status_name(children[i].status));
        json_key_write(writer, "filled_quantity");
        json_write_int(writer, children[i].filled_quantity);
        json_key_write(writer, "reason");
        json_write_text_or_null(writer, children[i].reason);
        json_object_end(writer);
    }
    json_array_end(writer);
}

/* One reported leg: legs[begin, end) of `result`, summed. */
static void write_leg_group(json_writer *writer, const exec_result *result, size_t begin,
                            size_t end)
{
    exec_leg leg;
    exec_leg_combine(result, begin, end, &leg);
    json_object_begin(writer);
    write_leg(writer, &leg, result->charges_known);
    if (end - begin > 1)
        write_children(writer, &result->legs[begin], end - begin);
    json_object_end(writer);
}

/* Rupees to the paisa, as a contract note shows them. */
static double rupees(double amount)
{
    return round(amount * 100.0) / 100.0;
}

/* "2026-12-02T03:45:00Z", or null for 0. */
static void write_time_or_null(json_writer *writer, int64_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    char text[32];
    if (ms <= 0 || gmtime_r(&seconds, &utc) == NULL) {
        json_write_null(writer);
        return;
    }
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    json_write_string(writer, text);
}

static const char *market_name(broker_market_state state)
{
    switch (state) {
    case BROKER_MARKET_OPEN:
        return "OPEN";
    case BROKER_MARKET_PRE_OPEN:
        return "PRE_OPEN";
    case BROKER_MARKET_CLOSED:
        break;
    }
    return "CLOSED";
}

/* What the pre-flight gate found (dry runs of ABI 1.1 plugins). */
static void write_preflight(json_writer *writer, const exec_preflight *verdict)
{
    json_object_begin(writer);
    json_key_write(writer, "market");
    json_write_string(writer, market_name(verdict->market));
    json_key_write(writer, "reason");
    json_write_text_or_null(writer, verdict->reason);
    json_key_write(writer, "next_open");
    write_time_or_null(writer, verdict->next_open_ms);
    json_key_write(writer, "token_valid");
    json_write_bool(writer, verdict->token_valid);
    json_key_write(writer, "token_expires_at");
    write_time_or_null(writer, verdict->token_expires_ms);
    json_object_end(writer);
}

/* Why a position ends away from its target: lot rounding, else its leg's
 * reason (`leg_reason`, may be NULL), else what is known. */
static void write_unfilled_reason(json_writer *writer, const exec_result *result,
                                  const exec_position *position, const char *leg_reason)
{
    char text[BROKER_MESSAGE_MAX + 128];
    if (position->rounded > 0)
        snprintf(text, sizeof text, "%lld not traded: rounded to whole lots of %lld%s%s",
                 (long long)position->rounded, (long long)position->lot_size,
                 leg_reason ? "; " : "", leg_reason ? leg_reason : "");
    else if (leg_reason != NULL)
        snprintf(text, sizeof text, "%s", leg_reason);
    else if (!result->reconciled)
        snprintf(text, sizeof text, "holdings could not be read again after the orders");
    else
        snprintf(text, sizeof text, "the broker's holdings differ from the orders' fills");
    json_key_write(writer, "unfilled_reason");
    json_write_string(writer, text);
}

static void write_position(json_writer *writer, const exec_result *result,
                           const exec_position *position, const char *leg_reason)
{
    json_object_begin(writer);
    json_key_write(writer, "symbol");
    json_write_string(writer, position->symbol);
    json_key_write(writer, "before");
    json_write_int(writer, position->before);
    json_key_write(writer, "target");
    json_write_int(writer, position->target);
    json_key_write(writer, "after");
    json_write_int(writer, position->after);
    json_key_write(writer, "residual");
    json_write_int(writer, position->residual);
    if (position->rounded > 0) {
        json_key_write(writer, "rounded");
        json_write_int(writer, position->rounded);
    }
    if (position->residual != 0)
        write_unfilled_reason(writer, result, position, leg_reason);
    json_object_end(writer);
}

static void write_count(json_writer *writer, const char *key, size_t count)
{
    json_key_write(writer, key);
    json_write_int(writer, (int64_t)count);
}

static void write_summary(json_writer *writer, const exec_summary *summary)
{
    json_object_begin(writer);
    write_count(writer, "orders", summary->orders);
    write_count(writer, "filled", summary->filled);
    write_count(writer, "failed", summary->failed);
    write_count(writer, "rejected", summary->rejected);
    write_count(writer, "partially_filled", summary->partially_filled);
    write_count(writer, "cancelled", summary->cancelled);
    json_object_end(writer);
}

#define RENDER_SCALED_REASON "buy scaled down: the cash after the sells could not pay for all of it"

/* Per position, the first reason of a leg of it that did not fill, else
 * that the funds gate cut it (NULL when neither); heap, NULL when there are
 * no positions or on OOM. */
static const char **leg_reasons(const exec_result *result)
{
    static const char scaled[] = RENDER_SCALED_REASON;
    const char **reasons =
        result->position_count ? calloc(result->position_count, sizeof *reasons) : NULL;
    for (size_t i = 0; reasons != NULL && i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        if (leg->target_index >= result->position_count)
            continue;
        const char **reason = &reasons[leg->target_index];
        if (leg->reason[0] != '\0' && (*reason == NULL || *reason == scaled))
            *reason = leg->reason;
        else if (leg->requested_quantity != 0 && *reason == NULL)
            *reason = scaled;
    }
    return reasons;
}

char *render_result(const exec_result *result, size_t *length)
{
    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "execution_id");
    json_write_string(&writer, result->execution_id);
    json_key_write(&writer, "broker");
    json_write_string(&writer, result->broker);
    json_key_write(&writer, "status");
    json_write_string(&writer, exec_status_name(result->status));
    json_key_write(&writer, "results");
    json_array_begin(&writer);
    for (size_t i = 0; i < result->leg_count; i = exec_leg_group_end(result, i))
        write_leg_group(&writer, result, i, exec_leg_group_end(result, i));
    json_array_end(&writer);
    json_key_write(&writer, "positions");
    json_array_begin(&writer);
    const char **reasons = leg_reasons(result);
    for (size_t i = 0; i < result->position_count; i++)
        write_position(&writer, result, &result->positions[i], reasons ? reasons[i] : NULL);
    free(reasons);
    json_array_end(&writer);
    json_key_write(&writer, "summary");
    write_summary(&writer, &result->summary);
    json_key_write(&writer, "reconciled");
    json_write_bool(&writer, result->reconciled);
    if (result->charges_known) {
        json_key_write(&writer, "charges");
        json_write_double(&writer, rupees(result->charges));
    }
    if (result->preflight.checked && result->status == EXEC_PLANNED) {
        json_key_write(&writer, "preflight");
        write_preflight(&writer, &result->preflight);
    }
    json_object_end(&writer);
    return json_writer_finish(&writer, length);
}

char *render_error(const ptx_error *error, size_t *length)
{
    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "error");
    json_object_begin(&writer);
    json_key_write(&writer, "code");
    json_write_string(&writer, ptx_status_code(error->status));
    json_key_write(&writer, "message");
    json_write_string(&writer, error->message[0] ? error->message : ptx_strerror(error->status));
    json_key_write(&writer, "field");
    json_write_text_or_null(&writer, error->field);
    json_object_end(&writer);
    json_object_end(&writer);
    return json_writer_finish(&writer, length);
}

typedef struct holding_row {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
} holding_row;

typedef struct holding_rows {
    holding_row *rows;
    size_t count;
    size_t capacity;
} holding_rows;

static int collect_row(void *context, const char *symbol, int64_t quantity)
{
    holding_rows *rows = context;
    if (rows->count == rows->capacity)
        return 1;
    holding_row *row = &rows->rows[rows->count++];
    snprintf(row->symbol, sizeof row->symbol, "%s", symbol);
    row->quantity = quantity;
    return 0;
}

static int compare_rows(const void *left, const void *right)
{
    return strcmp(((const holding_row *)left)->symbol, ((const holding_row *)right)->symbol);
}

char *render_holdings(const char *broker, const holdings *map, size_t *length)
{
    holding_rows rows = {0};
    rows.capacity = map ? holdings_count(map) : 0;
    rows.rows = calloc(rows.capacity ? rows.capacity : 1, sizeof *rows.rows);
    if (rows.rows == NULL)
        return NULL;
    if (map)
        holdings_each(map, collect_row, &rows);
    qsort(rows.rows, rows.count, sizeof *rows.rows, compare_rows);

    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "broker");
    json_write_string(&writer, broker);
    json_key_write(&writer, "holdings");
    json_array_begin(&writer);
    for (size_t i = 0; i < rows.count; i++) {
        json_object_begin(&writer);
        json_key_write(&writer, "symbol");
        json_write_string(&writer, rows.rows[i].symbol);
        json_key_write(&writer, "quantity");
        json_write_int(&writer, rows.rows[i].quantity);
        json_object_end(&writer);
    }
    json_array_end(&writer);
    json_object_end(&writer);
    free(rows.rows);
    return json_writer_finish(&writer, length);
}

static void write_broker(json_writer *writer, const registry_broker *broker)
{
    const broker_plugin *plugin = registry_broker_plugin(broker);
    const broker_settings *settings = registry_broker_settings(broker);
    char abi[24];
    snprintf(abi, sizeof abi, "%u.%u", (unsigned)plugin->abi_major, (unsigned)plugin->abi_minor);
    json_object_begin(writer);
    json_key_write(writer, "name");
    json_write_string(writer, registry_broker_name(broker));
    json_key_write(writer, "version");
    json_write_string(writer, plugin->version);
    json_key_write(writer, "abi");
    json_write_string(writer, abi);
    json_key_write(writer, "mode");
    json_write_string(writer, settings ? settings->mode : NULL);
    json_key_write(writer, "plugin");
    json_write_string(writer, registry_broker_file(broker));
    json_key_write(writer, "description");
    json_write_string(writer, plugin->description);
    json_object_end(writer);
}

char *render_brokers(registry *reg, size_t *length)
{
    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "brokers");
    json_array_begin(&writer);
    size_t count = reg ? registry_count(reg) : 0;
    for (size_t i = 0; i < count; i++)
        write_broker(&writer, registry_at(reg, i));
    json_array_end(&writer);
    json_object_end(&writer);
    return json_writer_finish(&writer, length);
}
