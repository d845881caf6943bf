#include "tables.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A growing text built with stdio (open_memstream). */
typedef struct table_text {
    FILE *out;
    char *text;
    size_t length;
} table_text;

static bool table_begin(table_text *table)
{
    table->text = NULL;
    table->length = 0;
    table->out = open_memstream(&table->text, &table->length);
    return table->out != NULL;
}

/* Closes the stream and hands the text over; NULL when a write failed. */
static char *table_finish(table_text *table, size_t *length)
{
    bool failed = ferror(table->out) != 0;
    if (fclose(table->out) != 0)
        failed = true;
    if (failed) {
        free(table->text);
        return NULL;
    }
    if (length != NULL)
        *length = table->length;
    return table->text;
}

static void write_legs(FILE *out, const exec_result *result)
{
    fprintf(out, "%-4s %-4s %-12s %10s %-16s %10s %12s  %s\n", "SEQ", "SIDE", "SYMBOL", "QUANTITY",
            "STATUS", "FILLED", "AVG_PRICE", "REASON");
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        fprintf(out, "%-4zu %-4s %-12s %10" PRId64 " %-16s %10" PRId64 " %12.2f  %s\n",
                leg->sequence, side_name(leg->side), leg->symbol, leg->quantity,
                leg_status_name(leg->status), leg->filled_quantity, leg->average_price,
                leg->reason);
    }
}

static void write_positions(FILE *out, const exec_result *result)
{
    fprintf(out, "\n%-12s %10s %10s %10s %10s\n", "SYMBOL", "BEFORE", "TARGET", "AFTER",
            "RESIDUAL");
    for (size_t i = 0; i < result->position_count; i++) {
        const exec_position *p = &result->positions[i];
        fprintf(out, "%-12s %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64 "\n", p->symbol,
                p->before, p->target, p->after, p->residual);
    }
}

char *tables_result(const exec_result *result, size_t *length)
{
    table_text table;
    if (!table_begin(&table))
        return NULL;
    FILE *out = table.out;
    fprintf(out, "execution %s  broker %s  account %s  status %s\n", result->execution_id,
            result->broker, result->account_hash, exec_status_name(result->status));
    write_legs(out, result);
    write_positions(out, result);
    fprintf(out, "\norders %zu  filled %zu  failed %zu  rejected %zu  partially_filled %zu\n",
            result->summary.orders, result->summary.filled, result->summary.failed,
            result->summary.rejected, result->summary.partially_filled);
    return table_finish(&table, length);
}

static void write_time(FILE *out, int64_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    char text[32] = "-";
    if (ms > 0 && gmtime_r(&seconds, &utc) != NULL)
        strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
    fprintf(out, "%-20s", text);
}

char *tables_history(const journal_execution *items, size_t count, size_t *length)
{
    table_text table;
    if (!table_begin(&table))
        return NULL;
    FILE *out = table.out;
    fprintf(out, "%-30s %-20s %-10s %-16s %-10s %6s  %s\n", "EXECUTION", "CREATED (UTC)", "BROKER",
            "ACCOUNT", "STATUS", "ORDERS", "IDEMPOTENCY_KEY");
    for (size_t i = 0; i < count; i++) {
        const journal_execution *e = &items[i];
        fprintf(out, "%-30s ", e->id);
        write_time(out, e->created_ms);
        fprintf(out, " %-10s %-16s %-10s %6zu  %s\n", e->broker, e->account_hash, e->status,
                e->leg_count, e->idempotency_key[0] ? e->idempotency_key : "-");
    }
    return table_finish(&table, length);
}

char *tables_brokers(registry *reg, size_t *length)
{
    table_text table;
    if (!table_begin(&table))
        return NULL;
    FILE *out = table.out;
    fprintf(out, "%-12s %-10s %-5s %-10s %s\n", "NAME", "VERSION", "ABI", "MODE", "PLUGIN");
    size_t count = reg != NULL ? registry_count(reg) : 0;
    for (size_t i = 0; i < count; i++) {
        registry_broker *b = registry_at(reg, i);
        const broker_plugin *p = registry_broker_plugin(b);
        fprintf(out, "%-12s %-10s %u.%-3u %-10s %s\n", registry_broker_name(b), p->version,
                (unsigned)p->abi_major, (unsigned)p->abi_minor, registry_broker_settings(b)->mode,
                registry_broker_file(b));
    }
    return table_finish(&table, length);
}

static void write_capabilities(FILE *out, const broker_plugin *p)
{
    const broker_capabilities *caps = &p->capabilities;
    fprintf(out, "tag length:    %u..%u%s\n", (unsigned)caps->tag_min_length,
            (unsigned)caps->tag_max_length,
            (caps->flags & BROKER_CAP_TAG_ALNUM_ONLY) ? " (alphanumeric)" : "");
    bool declares = p->size >= BROKER_PLUGIN_V1_2_SIZE && p->get_rate_limits != NULL;
    fprintf(out, "rate limit:    %u orders/s%s\n", (unsigned)caps->rate_limit_per_second,
            declares ? " (default; each instance declares what it meters: get_rate_limits)" : "");
    fprintf(out, "partial fills: %s\n", (caps->flags & BROKER_CAP_PARTIAL_FILLS) ? "yes" : "no");
    fprintf(out, "sessions:      %s\n",
            (caps->flags & BROKER_CAP_CONCURRENT_SESSIONS) ? "concurrent" : "serialized");
    fprintf(out, "optional:      cancel_order %s, get_quote %s\n", p->cancel_order ? "yes" : "no",
            p->get_quote ? "yes" : "no");
}

char *tables_plugin(const char *path, const broker_plugin *p, size_t *length)
{
    table_text table;
    if (!table_begin(&table))
        return NULL;
    FILE *out = table.out;
    fprintf(out, "file:          %s\n", path);
    fprintf(out, "name:          %s\n", p->name);
    fprintf(out, "version:       %s\n", p->version ? p->version : "");
    fprintf(out, "abi:           %u.%u (descriptor size %u)\n", (unsigned)p->abi_major,
            (unsigned)p->abi_minor, (unsigned)p->size);
    fprintf(out, "description:   %s\n", p->description ? p->description : "");
    write_capabilities(out, p);
    fprintf(out, "config keys:  ");
    for (const char *const *key = p->config_keys; key != NULL && *key != NULL; key++)
        fprintf(out, " %s", *key);
    fprintf(out, "\n");
    return table_finish(&table, length);
}
