/* A map from canonical symbol to quantity, used for holdings. Open
 * addressing; O(1) expected per operation. Not thread-safe. */
#ifndef PTEXEC_HOLDINGS_H
#define PTEXEC_HOLDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

typedef struct holdings holdings;

/* Creates an empty map sized for about `expected` symbols. NULL on OOM. */
holdings *holdings_create(size_t expected);

/* Frees the map; NULL is fine. */
void holdings_free(holdings *map);

/* Sets the quantity of `symbol` (copied; at most BROKER_SYMBOL_MAX-1 chars).
 * Returns false on OOM or an over-long symbol. */
bool holdings_set(holdings *map, const char *symbol, int64_t quantity);

/* Adds `delta` to the quantity of `symbol` (absent counts as 0). */
bool holdings_add(holdings *map, const char *symbol, int64_t delta);

/* Returns the quantity of `symbol`, 0 when absent. */
int64_t holdings_get(const holdings *map, const char *symbol);

/* Returns true when `symbol` is present (even with quantity 0). */
bool holdings_contains(const holdings *map, const char *symbol);

/* Number of symbols present. */
size_t holdings_count(const holdings *map);

/* Calls `visit` for every symbol, in no particular order; stops when it
 * returns non-zero. */
void holdings_each(const holdings *map,
                   int (*visit)(void *context, const char *symbol, int64_t quantity),
                   void *context);

/* broker_holding_fn adapter: `context` is a holdings *; adds the quantity. */
int holdings_collect(void *context, const char *symbol, int64_t quantity);

#endif
