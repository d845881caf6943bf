/* Per-account serialization and order pacing. One entry per broker account
 * (broker name + account id) lives while the account is held or waited for,
 * or placed an order within the last second, so an account's rate pacing
 * carries over from one execution to the next; idle entries are dropped on
 * release and memory stays bounded by the busy accounts. */
#ifndef PTEXEC_LOCKS_H
#define PTEXEC_LOCKS_H

#include "status.h"

typedef struct locks locks;
typedef struct locks_account locks_account;

/* Creates an empty table. NULL on OOM. Main thread. */
locks *locks_create(void);

/* Frees the table; no account may be held. Main thread. */
void locks_destroy(locks *table);

/* Account entries the table keeps (held, waited for, or paced recently). */
size_t locks_count(locks *table);

/*
 * Takes the account (broker, account_id) for the calling thread, waiting at
 * most `timeout_ms` (0 = do not wait) while another thread holds it. Returns
 * PTX_OK and sets *out, PTX_BUSY on timeout, PTX_NOMEM. Waiters are not
 * ordered. Any thread.
 */
ptx_status locks_acquire(locks *table, const char *broker, const char *account_id,
                         unsigned timeout_ms, locks_account **out);

/* Gives the account back and wakes the waiters. Any thread. */
void locks_release(locks *table, locks_account *account);

/*
 * Pacing of order placements at `per_second` orders in any rolling second
 * (0 = no limit), the way brokers count them. locks_pace_wait sleeps until
 * one more placement fits; locks_pace_done records a placement when its call
 * has returned, so that the broker, whenever during the call it counted the
 * order, never sees more than `per_second` in a second. Only the holder of
 * the account may call them.
 */
void locks_pace_wait(locks_account *account, unsigned per_second);
void locks_pace_done(locks_account *account, unsigned per_second);

#endif
