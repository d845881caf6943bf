/* The life of one leg (design §1 step 7): place it under its client order id,
 * resolve an unknown outcome by looking the order up before anything is
 * resent, and follow an accepted order to a final state. Each state is
 * recorded through record.h before the next broker call for the leg. */
#ifndef PTEXEC_LEGS_H
#define PTEXEC_LEGS_H

#include <stdbool.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "execution.h"
#include "record.h"
#include "session.h"

typedef enum legs_lookup_outcome {
    LEGS_ADOPTED, /* the broker has the order: *order holds it */
    LEGS_ABSENT,  /* the broker proved it never got the leg */
    LEGS_FAILED   /* nobody knows: the leg is FAILED with the reason */
} legs_lookup_outcome;

/* Places `leg` (client order id set, status PLANNED) and follows it to its
 * final status, with a reason whenever it is not FILLED: legs_submit, then
 * legs_follow. */
void legs_place(session *s, record_run *records, exec_leg *leg);

/* Places `leg` until the broker holds it: true with *order the broker's
 * order (ACCEPTED recorded, order id in the leg; follow it next), or false
 * when the leg ended without one (its status and reason set). */
bool legs_submit(session *s, record_run *records, exec_leg *leg, broker_order *order);

/* One step of following: reads `leg`'s open order into *order once. True
 * when the leg is final now (filled, ended, or given up and cancelled
 * because order_timeout_ms has passed since `started_ms`, monotonic ms);
 * false while it is open: read again after legs_next_interval, but not
 * past legs_deadline_ms. A limit order whose time slice is over may be
 * re-priced here (cancelled, and the rest resubmitted under a new client
 * order id, recorded through `records`): *order is then the new order. */
bool legs_poll(session *s, record_run *records, exec_leg *leg, broker_order *order,
               int64_t started_ms);

/* When the current time slice of `leg`'s order, followed since
 * `started_ms`, ends: order_timeout_ms after it, or for a limit order with
 * reprice_attempts = N the end of the next of N + 1 equal slices. */
int64_t legs_deadline_ms(const session *s, const exec_leg *leg, int64_t started_ms);

/* What the leg's current order is for: its quantity less what its earlier
 * (re-priced) orders filled. */
int64_t legs_open_quantity(const exec_leg *leg);

/* The read interval after `interval_ms`: doubled, at most one second. */
unsigned legs_next_interval(unsigned interval_ms);

/* The broker holds `order` for `leg`: records ACCEPTED (with `detail`, may
 * be NULL), then follows it to a final status. */
void legs_accepted(session *s, record_run *records, exec_leg *leg, broker_order *order,
                   const char *detail);

/* Follows `order` (its order_id set) with get_order until it is final or
 * order_timeout_ms passes (then cancels it where the plugin can), re-pricing
 * a limit order as legs_poll does (`records` may be NULL: no re-pricing). */
void legs_follow(session *s, record_run *records, exec_leg *leg, broker_order *order);

/* Asks the broker for the leg by client order id (an unknown outcome). */
legs_lookup_outcome legs_lookup(session *s, exec_leg *leg, broker_order *order);

/* True when what the broker found by client order id can be this leg. */
bool legs_matches(const broker_order *order, const exec_leg *leg);

/* True when the broker's order is in a final state. */
bool legs_order_is_final(const broker_order *order);

/* Copies a final broker state (fill, price, status, reason) into the leg. */
void legs_finish(exec_leg *leg, const broker_order *order);

/* Sets the leg's reason (printf-style); legs_fail also marks it FAILED. */
void legs_reason(exec_leg *leg, const char *format, ...) __attribute__((format(printf, 2, 3)));
void legs_fail(exec_leg *leg, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Copies NUL-terminated `text` into `out` (`size` bytes), truncating. */
void legs_copy_text(char *out, size_t size, const char *text);

#endif
