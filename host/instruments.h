/* Instrument facts per broker and symbol (lot, tick, freeze quantity, band,
 * tradable), asked of ABI 1.1 plugins once and kept for a few hours: they
 * change daily, and asking per leg per execution costs one broker call each
 * (a 200-leg rebalance at 50 ms latency: 10 s). Thread-safe. */
#ifndef PTEXEC_INSTRUMENTS_H
#define PTEXEC_INSTRUMENTS_H

#include <stdbool.h>

#include <ptexec/broker_plugin.h>

#include "session.h"

#define INSTRUMENTS_TTL_MS (4 * 3600 * 1000LL) /* facts are refreshed after this */

typedef struct instruments instruments;

/* Creates an empty cache. NULL on OOM. */
instruments *instruments_create(void);

/* Frees it; NULL is fine. No other call may be running. */
void instruments_destroy(instruments *cache);

/* Fills *out with the facts of `symbol` at the session's broker, from the
 * cache or asked through `s` (get_instrument). False when the plugin has no
 * get_instrument or the call failed (nothing cached then). Any thread. */
bool instruments_get(instruments *cache, session *s, const char *symbol, broker_instrument *out);

/* Asks for the facts of those of `symbols` not cached, on up to `workers`
 * threads side by side (each with a session_worker copy of `s`; the plugin
 * must allow parallel calls on one session), and waits for them: a cold
 * 200-leg rebalance at 50 ms per call spends 10 s asking one at a time.
 * Each call waits for the account's read limiter like any other. Does
 * nothing with fewer than 2 workers. The execution's thread. */
void instruments_prefetch(instruments *cache, session *s, const char *const *symbols, size_t count,
                          size_t workers);

/* Number of cached entries (tests). */
size_t instruments_count(instruments *cache);

#endif
