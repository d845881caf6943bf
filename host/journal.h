/*
 * The write-ahead journal of executions (SQLite; the only module that
 * includes sqlite3.h).
 *
 * What is stored: one row per execution (id, broker, account hash — never
 * credentials —, idempotency key, request hash, status, timestamps, the
 * rendered response), one row per leg (client order id, symbol, side,
 * quantity, sequence, journal state, broker order id, fill, attempts,
 * reason, timestamps), one row per target position (symbol, before, target)
 * and a timeline of leg events. Since schema version 3 a leg's intent is
 * written once (since version 4 on its execution's row) and its state
 * changes are appended (the leg's current state is its last event); the
 * views `legs` and `leg_events` show them as rows.
 *
 * Leg states in the journal: PENDING_SEND (intent committed: place_order may
 * be called from now on), SENDING (place_order is being called; queued, not
 * waited for, so a leg whose row still says PENDING_SEND may have been sent
 * too), UNKNOWN (place_order's outcome unknown), ACCEPTED (the broker gave an
 * order id; not terminal yet), then a terminal state: FILLED,
 * PARTIALLY_FILLED, REJECTED, CANCELLED, FAILED, or NOT_SENT (recovery found
 * by client order id that the broker never got the leg; reported as FAILED).
 * Recovery therefore looks every non-terminal leg up by client order id.
 *
 * Execution states: RUNNING while it runs, then COMPLETED, PARTIAL, FAILED,
 * NOOP, or RECOVERED (finished by start-up recovery after a crash).
 *
 * Writing: one writer thread per journal owns the writing connection and
 * commits in group: everything waiting is committed in one transaction.
 *   - journal_begin (the intent), journal_finish (the final status and the
 *     response to replay) and journal_flush are synchronous: queued to the
 *     writer (a compare-and-swap), they return once committed;
 *   - leg states are not queued one by one: each running execution has a
 *     run (journal_run, from journal_begin or journal_resume) whose engine
 *     thread appends its states to a buffer of its own, and at every commit
 *     the writer takes the states of every run, as one events row per run.
 *     With nothing synchronous waiting, states are committed at the latest
 *     JOURNAL_GROUP_DELAY_MS after the first of them was added. Under
 *     journal_sync = full journal_leg also waits for that commit;
 *     journal_leg_queue never waits.
 * A commit that fails stores nothing: the callers waiting for it get the
 * error, the failure is counted (journal_mark / journal_check), and the leg
 * states it held go back to their runs for the next commit (retried alone
 * after JOURNAL_RETRY_MS), so a later synchronous write of the run commits
 * them with it. A state still unstored when its run ends (the journal keeps
 * failing) or when the journal closes is logged at error level with its
 * client order id.
 *
 * Durability (journal_sync):
 *   normal  synchronous=NORMAL: each commit is atomic and survives a crash of
 *           ptexec once made; leg states reach the file up to
 *           JOURNAL_GROUP_DELAY_MS after they happen (sooner under load), so
 *           a crash may lose the last ones (recovery then asks the broker by
 *           client order id). A power loss may also lose the last commits.
 *           Fast: an execution costs two waits for a commit that concurrent
 *           executions share.
 *   full    synchronous=FULL: the WAL is fsynced at every commit and every
 *           leg state is committed before the engine goes on (one fsync per
 *           leg and execution step, shared between concurrent executions),
 *           so everything the engine did survives a power loss too. Slower
 *           by the cost of an fsync per leg.
 * Either way the intent is committed before any order is placed and the
 * outcome before the response is returned.
 *
 * Threading: every function may be called from any thread. Reads use a
 * second connection (WAL: they never wait for the writer). One ptexec
 * process per journal file (the engine treats RUNNING executions written by
 * another process as crashed). Do not fork with a journal open.
 */
#ifndef PTEXEC_JOURNAL_H
#define PTEXEC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "execution.h"
#include "status.h"

#define JOURNAL_SCHEMA_VERSION 4
#define JOURNAL_HASH_MAX 65  /* 64 hex chars + NUL */
#define JOURNAL_STATE_MAX 20 /* longest state name + NUL */
#define JOURNAL_OWNER_MAX 40
#define JOURNAL_GROUP_DELAY_MS 5 /* longest wait of a queued leg state before its commit */

typedef enum journal_sync_mode { JOURNAL_SYNC_NORMAL, JOURNAL_SYNC_FULL } journal_sync_mode;

typedef struct journal_options {
    journal_sync_mode sync; /* JOURNAL_SYNC_NORMAL by default (zeroed struct) */
    unsigned
        retention_days; /* finished executions older than this are pruned at open; 0 keeps all */
    unsigned busy_timeout_ms; /* wait for a lock held by another connection; 0 means 2000 */
} journal_options;

typedef struct journal journal;

/* The journal side of one running execution (see "Writing" above). */
typedef struct journal_run journal_run;

/* One execution row, as listed by history and found by idempotency key. */
typedef struct journal_execution {
    char id[IDS_EXECUTION_ID_MAX];
    char broker[REQUEST_BROKER_MAX];
    char account_hash[IDS_ACCOUNT_HASH_MAX];
    char idempotency_key[REQUEST_IDEMPOTENCY_KEY_MAX]; /* "" when none */
    char request_hash[JOURNAL_HASH_MAX];
    char status[JOURNAL_STATE_MAX]; /* RUNNING, COMPLETED, … RECOVERED */
    char owner[JOURNAL_OWNER_MAX];  /* the engine instance that wrote it */
    size_t leg_count;
    int64_t created_ms;
    int64_t finished_ms; /* 0 while RUNNING */
    char *response;      /* heap (journal_execution_clear), NULL while RUNNING */
} journal_execution;

/* Filter of journal_list; zeroed = the latest 50 of every broker and status. */
typedef struct journal_filter {
    size_t limit;       /* 0 means 50; at most 10000 */
    const char *broker; /* NULL or "" for all */
    const char *status; /* NULL or "" for all */
} journal_filter;

/*
 * Opens (creating when missing) the journal at `path`, switches it to WAL,
 * applies the sync mode and busy timeout, migrates an older schema forward
 * (version 1 → 2 → 3 → 4) and prunes finished executions older than retention_days.
 * Returns PTX_OK and sets *out, or PTX_JOURNAL with "journal PATH: reason" in
 * error->message (unwritable file or folder, not a database, newer schema,
 * locked past the busy timeout). Main thread.
 */
ptx_status journal_open(const char *path, const journal_options *options, journal **out,
                        ptx_error *error);

/* Commits what is queued, stops the writer and closes the journal; NULL is
 * fine. No other call may be running. */
void journal_close(journal *j);

/* The schema version of the open file (PRAGMA user_version). */
int journal_schema_version(journal *j);

/*
 * Write-ahead of one execution, in one transaction, committed before it
 * returns: the execution row
 * (status RUNNING, owned by `owner`), every leg of `result` with its client
 * order id in state PENDING_SEND, and every position's symbol, before and
 * target. `key` may be "" (no idempotency key). On PTX_OK *run is the
 * execution's run, for its leg states and its end; `result` must outlive it
 * (journal_run_end). PTX_CONFLICT when the key is already used for this
 * broker account (a concurrent process won the race); PTX_JOURNAL when the
 * write failed (nothing was stored). *run is NULL unless PTX_OK.
 */
ptx_status journal_begin(journal *j, const exec_result *result, const char *key,
                         const char *request_hash, const char *owner, journal_run **run,
                         ptx_error *error);

/* A run for an execution already in the journal (recovery: `result` and
 * `states` from journal_load; `result` must outlive the run; `states` may be
 * NULL when every leg gets a new state). Writes nothing. PTX_OK or
 * PTX_JOURNAL (no memory). */
ptx_status journal_resume(journal *j, const exec_result *result,
                          const char (*states)[JOURNAL_STATE_MAX], journal_run **run,
                          ptx_error *error);

/*
 * Records the state of leg `leg_index` (its index in result->legs): an
 * event with `state`, `detail` (may be NULL) and the order id, fill,
 * attempts and reason of `leg` (copied) joins the leg's timeline; the leg's
 * current state is its last event. Under journal_sync = full it returns once
 * committed (PTX_JOURNAL on failure); under normal it is buffered and
 * returns PTX_OK (see "Writing"). PTX_INVALID for a leg index the execution
 * does not have.
 */
ptx_status journal_leg(journal_run *run, size_t leg_index, const char *state, const exec_leg *leg,
                       const char *detail, ptx_error *error);

/* As journal_leg, but never waits, in both sync modes: for a state that the
 * caller follows with a synchronous write before it next talks to the
 * broker, and for SENDING, which recovery does not need. */
ptx_status journal_leg_queue(journal_run *run, size_t leg_index, const char *state,
                             const exec_leg *leg, const char *detail, ptx_error *error);

/* Returns once everything queued or buffered so far is committed (or has
 * failed). */
void journal_flush(journal *j);

/* A mark of the journal's failed writes so far, for journal_check. */
uint64_t journal_mark(journal *j);

/* PTX_OK when no write has failed since `mark` was taken; otherwise
 * PTX_JOURNAL with the last failure's message in *error. */
ptx_status journal_check(journal *j, uint64_t mark, ptx_error *error);

/*
 * Finishes the run's execution: its status (`status`, e.g. "COMPLETED" or
 * "RECOVERED"), the finish time and the exact response text to replay, in
 * the commit that also takes every state the run buffered. Returns once
 * committed. PTX_JOURNAL on failure.
 */
ptx_status journal_finish(journal_run *run, const char *status, const char *response,
                          ptx_error *error);

/*
 * A leg whose last state is UNKNOWN has an outcome nobody knows yet (the
 * order may exist at the broker). journal_finish stores how many legs are so
 * in executions.unsettled, and the account is then reported by
 * journal_has_orphans until its next execution settles them: it lists them
 * (journal_unsettled), records what the broker says now as new leg states of
 * a run from journal_resume, and calls journal_settle, which commits those
 * states with the new count (*remaining). The stored response is never
 * changed: it is what the client was told.
 */
ptx_status journal_settle(journal_run *run, size_t *remaining, ptx_error *error);
ptx_status journal_unsettled(journal *j, const char *broker, const char *account_hash, char ***ids,
                             size_t *count, ptx_error *error);

/* Ends a run (NULL is fine): commits the states it still buffers (waits),
 * then forgets it. Every run must be ended before journal_close. */
void journal_run_end(journal_run *run);

/*
 * Looks up the execution that used idempotency key `key` for the account
 * (broker, account_hash). PTX_OK fills *out (release with
 * journal_execution_clear), PTX_NOT_FOUND when the key is unused, PTX_JOURNAL
 * on a read failure.
 */
ptx_status journal_find_key(journal *j, const char *broker, const char *account_hash,
                            const char *key, journal_execution *out, ptx_error *error);

/* Reads one execution row by id: PTX_OK, PTX_NOT_FOUND or PTX_JOURNAL. */
ptx_status journal_get(journal *j, const char *execution_id, journal_execution *out,
                       ptx_error *error);

/* Frees what journal_find_key / journal_get / journal_list stored. */
void journal_execution_clear(journal_execution *execution);

/*
 * The latest executions (newest first) that match `filter` (NULL = defaults)
 * into *items (heap array of *count; release with journal_list_free).
 * `response` is left NULL in listed rows. PTX_OK or PTX_JOURNAL.
 */
ptx_status journal_list(journal *j, const journal_filter *filter, journal_execution **items,
                        size_t *count, ptx_error *error);
void journal_list_free(journal_execution *items, size_t count);

/*
 * The ids of executions still RUNNING that `owner` did not write (a previous
 * process crashed while running them), of one account when broker and
 * account_hash are given, of every account when both are NULL; oldest first.
 * *ids is a heap array of heap strings (journal_ids_free). PTX_OK or
 * PTX_JOURNAL.
 */
ptx_status journal_orphans(journal *j, const char *broker, const char *account_hash,
                           const char *owner, char ***ids, size_t *count, ptx_error *error);
void journal_ids_free(char **ids, size_t count);

/* False when the account had no execution left RUNNING when the journal was
 * opened and no finished execution with an unsettled leg (see
 * journal_settle), or journal_orphans_cleared said it has none left: then
 * journal_orphans and journal_unsettled have nothing for it and need not be
 * asked. Any thread. */
bool journal_has_orphans(journal *j, const char *broker, const char *account_hash);
/* A mark to take before looking the account's executions up; the clear
 * after that look is ignored when an execution needing a look was recorded
 * since the mark (by another thread). */
uint64_t journal_orphans_mark(journal *j);
void journal_orphans_cleared(journal *j, const char *broker, const char *account_hash,
                             uint64_t mark);

/*
 * Rebuilds an execution for recovery: fills *result (exec_result_free) with
 * id, broker, account hash, started time, legs (request order, with client
 * order id, order id, fill, attempts, reason) and positions (symbol, before,
 * target), and stores each leg's journal state into `states` (a heap array
 * of result->leg_count entries of JOURNAL_STATE_MAX bytes; caller frees).
 * PTX_OK, PTX_NOT_FOUND or PTX_JOURNAL.
 */
ptx_status journal_load(journal *j, const char *execution_id, exec_result *result,
                        char (**states)[JOURNAL_STATE_MAX], ptx_error *error);

/*
 * JSON for history front-ends (heap strings, caller frees):
 * journal_list_json → {"executions":[{"execution_id","broker","account_hash",
 *   "status","idempotency_key","orders","created_at","finished_at"},…]}
 *   (times as ISO-8601 UTC, finished_at null while running);
 * journal_show_json → {"execution_id",…, "response": <the stored response or
 *   null>, "legs":[{"leg_index","sequence","symbol","side","quantity",
 *   "client_order_id","order_id","state","filled_quantity","average_price",
 *   "attempts","reason","events":[{"at","state","detail"},…]},…]}.
 * PTX_OK, PTX_NOT_FOUND (show: unknown id) or PTX_JOURNAL.
 */
ptx_status journal_list_json(journal *j, const journal_filter *filter, char **json,
                             ptx_error *error);
ptx_status journal_show_json(journal *j, const char *execution_id, char **json, ptx_error *error);

/* Number of executions still RUNNING (any owner). -1 on a read failure. */
long journal_running_count(journal *j);

/* Parses "normal" or "full"; false otherwise. */
bool journal_parse_sync(const char *text, journal_sync_mode *mode);

#endif
