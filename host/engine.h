/* The execution engine: design §1 steps 1–9 for one request, in order —
 * validate (request.c), serialize per account (locks.c), authenticate
 * (session.c), read positions (positions.c), plan and sequence (plan.c),
 * place (legs.c), reconcile (positions.c), record and notify (record.c);
 * with recovery.c and idempotency.c around them. */
#ifndef PTEXEC_ENGINE_H
#define PTEXEC_ENGINE_H

#include <stddef.h>

#include "execution.h"
#include "holdings.h"
#include "ids.h"
#include "registry.h"
#include "status.h"

typedef struct engine engine;

/* Called after each leg reaches its final state (and is recorded), one call
 * at a time. With a plugin that allows parallel session calls it runs on
 * whichever worker thread finished the leg, in the order legs finish (sells
 * still all before any buy), so it may read `leg` and the fixed fields of
 * `result` (id, broker, leg_count) but not the other legs, which may be
 * changing; otherwise on the executing thread, in execution order. */
typedef void (*engine_progress_fn)(void *context, const exec_result *result, const exec_leg *leg);

typedef struct engine_call_options {
    engine_progress_fn progress; /* may be NULL */
    void *progress_context;
    unsigned lock_timeout_ms; /* wait for a busy account; 0 = refuse at once */
} engine_call_options;

struct notify;

/*
 * Creates an engine over `reg` (borrowed; must outlive the engine). `notifier`
 * (borrowed, may be NULL) receives every finished execution. NULL on OOM.
 * Main thread.
 */
engine *engine_create(registry *reg, struct notify *notifier);

/* Frees the engine; no execution may be running. */
void engine_destroy(engine *eng);

struct journal;

/* Makes the engine journal every execution that is not a dry run in
 * `records` (borrowed, may be NULL; must outlive the engine): intent before
 * the first order, each leg state, the outcome and response; idempotency
 * keys and recovery then work (README, "Architecture"). Main thread, before
 * the first execution. */
void engine_set_journal(engine *eng, struct journal *records);

/*
 * Marks the configured journal as unusable (it could not be opened; `message`
 * says why, without secrets): from now on every execution that is not a dry
 * run is refused with PTX_JOURNAL (code journal_unavailable) and that message,
 * before anything is placed. Dry runs and holdings still work. Main thread.
 */
void engine_set_journal_error(engine *eng, const char *message);

/* Sets the key of account hashes (until then a fixed all-zero key: stable,
 * but guessable offline; the host gives every installation its own). Main
 * thread, before the first execution. */
void engine_set_account_key(engine *eng, const ids_key *key);

/* The journal given to engine_set_journal, or NULL. */
struct journal *engine_journal(engine *eng);

/*
 * Logs one line per execution a previous process left RUNNING ("recovery
 * pending": it is resumed at the next request for its account) and returns
 * how many there are; 0 without a journal or on a read failure (logged).
 * Main thread, after engine_set_journal.
 */
size_t engine_recovery_pending(engine *eng);

/* Runs one execution (a plan when request->dry_run). PTX_OK fills *result
 * (exec_result_free) whenever it ran, even if legs failed. Otherwise nothing
 * was placed and *error says why: PTX_INVALID, PTX_NOT_FOUND, PTX_AUTH,
 * PTX_UNAVAILABLE, PTX_BUSY, PTX_JOURNAL, PTX_CONFLICT or PTX_IN_PROGRESS
 * (status.h has their codes). Any thread; one account's executions are
 * serialized, different accounts run in parallel. Placing may use up to
 * max_in_flight worker threads of its own (README, "Architecture"), all
 * joined before it returns. */
ptx_status engine_execute(engine *eng, const exec_request *request,
                          const engine_call_options *options, exec_result *result,
                          ptx_error *error);

/*
 * Reads the holdings of the account that `request` (broker + credentials)
 * names into *out (release with holdings_free). Errors as engine_execute.
 * Any thread.
 */
ptx_status engine_holdings(engine *eng, const exec_request *request, holdings **out,
                           ptx_error *error);

#endif
