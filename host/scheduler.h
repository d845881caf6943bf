/* Concurrent placement (design §1 step 7) for plugins that allow parallel
 * calls on one session: a few worker threads of one execution take legs to
 * place and order reads from one queue, so placements run side by side
 * inside the account's limiter and every open order of the execution is
 * followed from one list of due reads, not by a sleeping thread per order.
 * A leg still goes through legs.h (place, look up after UNKNOWN, follow),
 * each state recorded before the next broker call for that leg. */
#ifndef PTEXEC_SCHEDULER_H
#define PTEXEC_SCHEDULER_H

#include <stddef.h>

#include "execution.h"
#include "record.h"
#include "session.h"

typedef struct scheduler scheduler;

/* Called on a worker thread once `leg` is final, before the leg counts as
 * done; several workers may call it at once, for different legs. */
typedef void (*scheduler_done_fn)(void *context, exec_leg *leg);

/*
 * Starts `workers` threads (at least 1), each with a copy of `opened`
 * (session_worker), placing and recording through `records`. Returns NULL
 * when no thread or no memory could be had (nothing was started; place
 * sequentially then). The execution's thread only; `opened` and `records`
 * must outlive scheduler_stop.
 */
scheduler *scheduler_start(session *opened, record_run *records, size_t workers,
                           scheduler_done_fn done, void *context);

/* Threads actually running (may be fewer than asked when the system ran
 * out of them). */
size_t scheduler_workers(const scheduler *sc);

/*
 * Places legs[0..count) (a phase: the caller runs the sells, then the
 * buys) and returns once every one of them is final and `done` has returned
 * for it. Legs are taken in order; a worker prefers a due read of an open
 * order to a new placement. The execution's thread only.
 */
void scheduler_run(scheduler *sc, exec_leg *const *legs, size_t count);

/* Stops and joins the threads, adds their retries and call times to
 * `opened` (session_merge) and frees the scheduler. NULL is fine. */
void scheduler_stop(scheduler *sc);

#endif
