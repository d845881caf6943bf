/* The broker-call limiter: per broker account, the calls the broker meters
 * never exceed its rate, whichever execution or request makes them. Orders
 * (place, cancel) and reads (login, holdings, get/find order) are counted
 * apart, each in a rolling second and, optionally, a rolling minute; a
 * retry-after hint from the broker holds every call of the account.
 * README ("Architecture", rate limits) has the design. */
#ifndef PTEXEC_LIMITER_H
#define PTEXEC_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct limiter limiter;
typedef struct limiter_account limiter_account;

typedef enum limiter_class {
    LIMITER_ORDERS, /* place_order, cancel_order */
    LIMITER_READS,  /* authenticate, get_holdings, get_order, find_order */
    LIMITER_CLASS_COUNT
} limiter_class;

/* Calls allowed per rolling window; 0 = no limit. */
typedef struct limiter_rates {
    unsigned orders_per_second;
    unsigned orders_per_minute;
    unsigned reads_per_second;
    unsigned reads_per_minute;
} limiter_rates;

/* Creates an empty table of accounts. NULL on OOM. Main thread. */
limiter *limiter_create(void);

/* Frees the table; no account may be open. NULL is fine. Main thread. */
void limiter_destroy(limiter *table);

/* Accounts the table keeps: open ones, and closed ones whose calls are
 * still inside a window (or held by a retry-after). Any thread. */
size_t limiter_count(limiter *table);

/*
 * Opens the limiter of account (broker, account_id) with `rates` (the
 * broker's settings; they replace the entry's when they differ). Every open
 * handle of one account shares one state. PTX_OK with *out set, or
 * PTX_NOMEM. Close it with limiter_close. Any thread.
 */
ptx_status limiter_open(limiter *table, const char *broker, const char *account_id,
                        const limiter_rates *rates, limiter_account **out);

/* Gives the handle back; the entry is dropped once nothing in its windows
 * needs remembering (so memory stays bounded by the busy accounts). */
void limiter_close(limiter *table, limiter_account *account);

/*
 * Without waiting: true when one more call of `class` fits at `now_us`
 * (monotonic µs), counting it as in flight; otherwise false with *wait_us
 * set to how long until it may fit. A call in flight holds its place until
 * limiter_done, then for a whole window after it returned (the broker may
 * count it at any moment of the call). Any thread.
 */
bool limiter_try_acquire(limiter_account *account, limiter_class class, int64_t now_us,
                         int64_t *wait_us);

/* Waits until one more call of `class` fits, then counts it in flight.
 * NULL `account`: no limit. Any thread; several may wait at once. */
void limiter_acquire(limiter_account *account, limiter_class class);

/* The call acquired for `class` returned at `now_us` (limiter_done: now);
 * `sent` false gives its place back (it never reached the broker). NULL
 * `account` is fine. Any thread. */
void limiter_done_at(limiter_account *account, limiter_class class, bool sent, int64_t now_us);
void limiter_done(limiter_account *account, limiter_class class, bool sent);

/* The broker asked to wait `milliseconds` (retry-after): no call of the
 * account, of any class, starts before `now_us` + that. Any thread. */
void limiter_defer_at(limiter_account *account, unsigned milliseconds, int64_t now_us);
void limiter_defer(limiter_account *account, unsigned milliseconds);

#endif
