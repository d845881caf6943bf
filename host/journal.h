/*
 * The write-ahead journal of executions (SQLite, WAL; the only module that
 * includes sqlite3.h). What it stores, the leg states, how it writes and
 * what survives a crash: README.md, "The journal". Every function may be
 * called from any thread unless it says otherwise; one ptexec process per
 * journal file; do not fork with a journal open.
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
#define JOURNAL_STATE_MAX 20 /* longest execution status name + NUL */
#define JOURNAL_OWNER_MAX 40

/* normal: SQLite synchronous=NORMAL (a commit survives a crash of ptexec);
 * full: synchronous=FULL (it survives a power loss too: fsync per commit). */
typedef enum journal_sync_mode { JOURNAL_SYNC_NORMAL, JOURNAL_SYNC_FULL } journal_sync_mode;

typedef struct journal_options {
    journal_sync_mode sync; /* JOURNAL_SYNC_NORMAL by default (zeroed struct) */
    unsigned
        retention_days; /* finished executions older than this are pruned at open; 0 keeps all */
    unsigned busy_timeout_ms; /* wait for a lock held by another connection; 0 means 2000 */
} journal_options;

typedef struct journal journal;

/* The journal side of one running execution: its leg states and its end. */
typedef struct journal_run journal_run;

/* One execution row, as listed by history and found by idempotency key. */
typedef struct journal_execution {
    char id[IDS_EXECUTION_ID_MAX];
    char broker[REQUEST_BROKER_MAX];
    char account_hash[IDS_ACCOUNT_HASH_MAX];
    char idempotency_key[REQUEST_IDEMPOTENCY_KEY_MAX]; /* "" when none */
    char request_hash[JOURNAL_HASH_MAX];
    char status[JOURNAL_STATE_MAX]; /* exec_status_name: RUNNING, COMPLETED, … RECOVERED */
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
 * Opens (creating it 0600 when missing) the journal at `path`, switches it to
 * WAL, applies the sync mode and busy timeout, migrates an older schema
 * (1 → 2 → 3 → 4), prunes finished executions older than retention_days and
 * starts the writer thread. PTX_OK and *out, or PTX_JOURNAL with "journal
 * PATH: reason" in error->message. Main thread.
 */
ptx_status journal_open(const char *path, const journal_options *options, journal **out,
                        ptx_error *error);

/* Commits every queued write, stops the writer and closes the journal; NULL
 * is fine. No other call may be running. */
void journal_close(journal *j);

/* The schema version of the open file (PRAGMA user_version); -1 on failure. */
int journal_schema_version(journal *j);

/*
 * PTX_OK while the file at the journal's path is the one it opened (same
 * device and inode, for the database and its WAL). Deleted or replaced:
 * PTX_JOURNAL, with a message that names no path, and one ERROR line (with
 * the path) per change; PTX_OK again if the same file comes back.
 */
ptx_status journal_check_file(journal *j, ptx_error *error);

/*
 * The intent of an execution, committed before it returns: its row (RUNNING,
 * owned by `owner`, key `key` or "" for none), every leg of `result` with its
 * client order id (state PENDING_SEND) and every position. On PTX_OK *run
 * is its run (journal_run_end; `result` must outlive it). PTX_CONFLICT when
 * the key is already used for the account, PTX_JOURNAL when nothing could
 * be stored; *run is NULL then.
 */
ptx_status journal_begin(journal *j, const exec_result *result, const char *key,
                         const char *request_hash, const char *owner, journal_run **run,
                         ptx_error *error);

/*
 * An execution that placed nothing, begun and finished in one write (its
 * status result->status, its response `response`). With a key it waits for
 * the commit: PTX_OK, PTX_CONFLICT (key used) or PTX_JOURNAL. Without one it
 * only queues the write (waiting only for room in a full queue) and returns
 * PTX_OK (PTX_JOURNAL: no memory); a failure of that commit is logged at
 * error level.
 */
ptx_status journal_record_noop(journal *j, const exec_result *result, const char *key,
                               const char *request_hash, const char *owner, const char *response,
                               ptx_error *error);

/* A run of an execution already in the journal (recovery, settling, a
 * retried end), writing nothing: `result` and `states` (may be NULL) as
 * journal_load gave them; `result` must outlive the run. PTX_OK or
 * PTX_JOURNAL (no memory). */
ptx_status journal_resume(journal *j, const exec_result *result, const leg_state *states,
                          journal_run **run, ptx_error *error);

/*
 * Appends `state` of leg `leg_index` (its index in result->legs) to the
 * leg's timeline, with `detail` (may be NULL) and the order id, fill,
 * attempts and reason of `leg`, and returns once that is committed (fsynced
 * too under journal_sync = full). PTX_OK, PTX_JOURNAL (not stored) or
 * PTX_INVALID (no such leg).
 */
ptx_status journal_leg(journal_run *run, size_t leg_index, leg_state state, const exec_leg *leg,
                       const char *detail, ptx_error *error);

/*
 * Finishes the run's execution with `status`, the finish time, the exact
 * response text to replay and the count of its legs left UNKNOWN (see
 * journal_settle); returns once committed. PTX_OK or PTX_JOURNAL.
 */
ptx_status journal_finish(journal_run *run, exec_status status, const char *response,
                          ptx_error *error);

/*
 * A leg whose last state is UNKNOWN may exist at the broker: a finished
 * execution with such legs is listed by journal_unsettled (oldest first,
 * ids as journal_orphans) until the account's next execution asks the broker,
 * records the answers with journal_leg on a run from journal_resume, and
 * calls journal_settle, which commits the new count (*remaining). The stored
 * response is never changed.
 */
ptx_status journal_settle(journal_run *run, size_t *remaining, ptx_error *error);
ptx_status journal_unsettled(journal *j, const char *broker, const char *account_hash, char ***ids,
                             size_t *count, ptx_error *error);

/* Frees a run (NULL is fine); writes nothing. */
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
 * An indexed look-up (only running executions are indexed). *ids is a heap
 * array of heap strings (journal_ids_free). PTX_OK or PTX_JOURNAL.
 */
ptx_status journal_orphans(journal *j, const char *broker, const char *account_hash,
                           const char *owner, char ***ids, size_t *count, ptx_error *error);
void journal_ids_free(char **ids, size_t count);

/*
 * Rebuilds an execution for recovery: fills *result (exec_result_free) with
 * id, broker, account hash, started time, legs (request order, with client
 * order id, order id, fill, attempts, reason) and positions (symbol, before,
 * target), and each leg's last journal state into *states (heap array of
 * result->leg_count; caller frees; a name it does not know reads UNKNOWN).
 * PTX_OK, PTX_NOT_FOUND or PTX_JOURNAL.
 */
ptx_status journal_load(journal *j, const char *execution_id, exec_result *result,
                        leg_state **states, ptx_error *error);

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
