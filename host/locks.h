/* Per-account serialization (design §1 step 2). One entry per broker account
 * (broker name + account id) lives while the account is held or waited for;
 * idle entries are dropped on release and memory stays bounded by the busy
 * accounts. Rate limits are limiter.h's. */
#ifndef PTEXEC_LOCKS_H
#define PTEXEC_LOCKS_H

#include "status.h"

typedef struct locks locks;
typedef struct locks_account locks_account;

/* Creates an empty table. NULL on OOM. Main thread. */
locks *locks_create(void);

/* Frees the table; no account may be held. Main thread. */
void locks_destroy(locks *table);

/* Account entries the table keeps (held or waited for). */
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

#endif
