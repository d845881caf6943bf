/*
 * The write-ahead journal (design §1 step 9, issue 4), in WAL mode.
 *
 * Writes go through one writer thread per journal and its own connection.
 * Synchronous ops (an execution's intent, its end, a barrier) are pushed on
 * a lock-free stack and their callers wait on a semaphore; leg states are
 * appended to the buffer of their execution's run (journal_run) and never
 * queued one by one. The writer takes every op queued and every run's
 * buffered states and commits them in one BEGIN IMMEDIATE transaction
 * (group commit across concurrent executions); with only states pending it
 * waits JOURNAL_GROUP_DELAY_MS for more first. When an op is committed, so is
 * everything queued or buffered before it. Reads use a second connection
 * under a mutex (WAL lets it read while the writer writes), except for
 * ":memory:" where both share one connection and the writer holds the read
 * mutex while it writes. Every statement is prepared once per connection and
 * cached.
 *
 * Schema history (PRAGMA user_version):
 *   1  executions (id, broker, account_hash, idempotency_key, status,
 *      created_ms, finished_ms, response) and legs (… without attempts).
 *   2  adds executions.request_hash, owner, leg_count, updated_ms;
 *      legs.attempts; the positions and leg_events tables.
 *   3  append-only: intents (legs and positions as JSON, written once) and
 *      events (leg states appended) replace legs, positions and leg_events,
 *      which become views; the key index skips rows without a key.
 *   4  the intent moves onto the execution row (executions.legs and
 *      .positions; no intents table); the created_ms and status indexes give
 *      way to a partial index of running executions.
 * Checkpoints run on a thread and connection of their own (see
 * writer_wal_hook), not on the writer's commit path.
 * A new file is created at version 1 and migrated like any old file, so the
 * migration path runs every time a journal is made.
 */
#include "journal.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/prctl.h>

#include <sqlite3.h>

#include "json.h"
#include "log.h"
#include "retry.h"

#define JOURNAL_DEFAULT_BUSY_MS 2000u
#define JOURNAL_DEFAULT_LIMIT 50u
#define JOURNAL_MAX_LIMIT 10000u
#define JOURNAL_MESSAGE_MAX 512
#define JOURNAL_CHECKPOINT_PAGES 4096 /* WAL pages that wake the checkpointer (16 MiB) */
#define JOURNAL_WAL_MAX_PAGES 32768   /* WAL pages past which the writer checkpoints itself */
/* After a failed commit, how long kept leg states wait before a commit of
 * their own; the page cache of the reading and checkpointing connections. */
#define JOURNAL_RETRY_MS 1000
#define JOURNAL_SMALL_CACHE_KIB "256"
#define JOURNAL_WAL_LIMIT "67108864" /* journal_size_limit: WAL bytes kept after a reset */

static const char journal_schema_v1[] =
    "CREATE TABLE executions("
    " id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_hash TEXT NOT NULL,"
    " idempotency_key TEXT, status TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " finished_ms INTEGER, response TEXT);"
    "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash, idempotency_key);"
    "CREATE TABLE legs("
    " execution_id TEXT NOT NULL, leg_index INTEGER NOT NULL, sequence INTEGER NOT NULL,"
    " symbol TEXT NOT NULL, side TEXT NOT NULL, quantity INTEGER NOT NULL,"
    " client_order_id TEXT NOT NULL, status TEXT NOT NULL, order_id TEXT,"
    " filled_quantity INTEGER NOT NULL DEFAULT 0, average_price REAL NOT NULL DEFAULT 0,"
    " reason TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(execution_id, leg_index));"
    "PRAGMA user_version = 1;";

static const char journal_migrate_v2[] =
    "ALTER TABLE executions ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE executions ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE executions ADD COLUMN leg_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE executions ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE legs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "UPDATE executions SET updated_ms = coalesce(finished_ms, created_ms),"
    " leg_count = (SELECT count(*) FROM legs WHERE legs.execution_id = executions.id);"
    "CREATE TABLE positions("
    " execution_id TEXT NOT NULL, position_index INTEGER NOT NULL, symbol TEXT NOT NULL,"
    " before_quantity INTEGER NOT NULL, target_quantity INTEGER NOT NULL,"
    " PRIMARY KEY(execution_id, position_index));"
    "CREATE TABLE leg_events("
    " execution_id TEXT NOT NULL, leg_index INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    " state TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX leg_events_leg ON leg_events(execution_id, leg_index);"
    "CREATE INDEX executions_created ON executions(created_ms);"
    "CREATE INDEX executions_status ON executions(status);"
    "PRAGMA user_version = 2;";

/*
 * Version 3 is built for appends: a leg's intent is written once (the
 * intents row of its execution, legs and positions as JSON arrays), and its
 * state changes are appended to `events`, one row per execution and writer
 * commit holding a JSON array of that commit's events of the execution:
 *   [leg_index, at_ms, state, detail, order_id, filled_quantity,
 *    average_price, attempts, reason]
 * (a tenth element 1 marks a state carried over from version 2 that is not
 * part of the timeline). A leg's current state is its last event (by seq,
 * then place in the array); PENDING_SEND when it has none. The views `legs`
 * and `leg_events` derive the version-2 tables from them (for people and
 * tools; ptexec's own reads filter by execution first). Only the unique
 * index on idempotency keys stays non-monotone, and it skips rows without
 * a key.
 */
#define LEGS_VIEW                                                                                  \
    "CREATE VIEW legs AS WITH ev AS (SELECT e.execution_id AS x, j.value ->> 0 AS leg_index,"      \
    " j.value AS v, e.seq * 65536 + j.key AS o FROM events e, json_each(e.data) j),"               \
    " last AS (SELECT x, leg_index, v, max(o) FROM ev GROUP BY x, leg_index)"                      \
    " SELECT i.execution_id AS execution_id, l.key AS leg_index, l.value ->> 0 AS sequence,"       \
    " l.value ->> 1 AS symbol, l.value ->> 2 AS side, l.value ->> 3 AS quantity,"                  \
    " l.value ->> 4 AS client_order_id, coalesce(last.v ->> 2, 'PENDING_SEND') AS status,"         \
    " last.v ->> 4 AS order_id, coalesce(last.v ->> 5, 0) AS filled_quantity,"                     \
    " coalesce(last.v ->> 6, 0.0) AS average_price, coalesce(last.v ->> 7, 0) AS attempts,"        \
    " last.v ->> 8 AS reason FROM intents i, json_each(i.legs) l"                                  \
    " LEFT JOIN last ON last.x = i.execution_id AND last.leg_index = l.key;"

#define LEG_EVENTS_VIEW                                                                            \
    "CREATE VIEW leg_events AS SELECT e.execution_id AS execution_id,"                             \
    " j.value ->> 0 AS leg_index, j.value ->> 1 AS at_ms, j.value ->> 2 AS state,"                 \
    " j.value ->> 3 AS detail, e.seq * 65536 + j.key AS seq FROM events e, json_each(e.data) j"    \
    " WHERE coalesce(j.value ->> 9, 0) = 0;"

static const char journal_migrate_v3[] =
    "CREATE TABLE intents(execution_id TEXT PRIMARY KEY, legs TEXT NOT NULL,"
    " positions TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL,"
    " data TEXT NOT NULL);"
    "CREATE INDEX events_execution ON events(execution_id);"
    "INSERT INTO intents SELECT x.id,"
    " coalesce((SELECT json_group_array(json_array(l.sequence, l.symbol, l.side, l.quantity,"
    "  l.client_order_id)) FROM (SELECT * FROM legs l WHERE l.execution_id = x.id"
    "  ORDER BY l.leg_index) l), '[]'),"
    " coalesce((SELECT json_group_array(json_array(p.symbol, p.before_quantity,"
    "  p.target_quantity)) FROM (SELECT * FROM positions p WHERE p.execution_id = x.id"
    "  ORDER BY p.position_index) p), '[]')"
    " FROM executions x ORDER BY x.id;"
    /* one events row per old event, then the leg's stored state (hidden) */
    "INSERT INTO events(execution_id, data) SELECT id, json_array(json(v)) FROM ("
    " SELECT execution_id AS id, 0 AS part, rowid AS o, json_array(leg_index, at_ms, state,"
    "  detail, NULL, 0, 0, 0, NULL) AS v FROM leg_events"
    " UNION ALL"
    " SELECT execution_id, 1, leg_index, json_array(leg_index, updated_ms, status, NULL,"
    "  order_id, filled_quantity, average_price, attempts, reason, 1) FROM legs"
    "  WHERE status <> 'PENDING_SEND')"
    " ORDER BY id, part, o;"
    "DROP TABLE leg_events;"
    "DROP TABLE legs;"
    "DROP TABLE positions;"
    "DROP INDEX executions_key;"
    "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;" LEGS_VIEW LEG_EVENTS_VIEW "PRAGMA user_version = 3;";

/*
 * Version 4 keeps an execution's intent on its own row (the columns legs and
 * positions): one row written at begin instead of two, and no intents table
 * whose long keyed rows spilled into a page of their own each. The indexes
 * on created_ms and status go: history is listed newest first by rowid (the
 * order executions were begun in), and only running executions are indexed
 * (recovery's question). A commit then touches fewer pages. `unsettled`
 * counts the legs of a finished execution whose outcome was still unknown
 * (state UNKNOWN: the order may exist at the broker); they are indexed too,
 * so that the account's next execution can settle them.
 */
#define LEGS_VIEW_V4                                                                               \
    "CREATE VIEW legs AS WITH ev AS (SELECT e.execution_id AS x, j.value ->> 0 AS leg_index,"      \
    " j.value AS v, e.seq * 65536 + j.key AS o FROM events e, json_each(e.data) j),"               \
    " last AS (SELECT x, leg_index, v, max(o) FROM ev GROUP BY x, leg_index)"                      \
    " SELECT i.id AS execution_id, l.key AS leg_index, l.value ->> 0 AS sequence,"                 \
    " l.value ->> 1 AS symbol, l.value ->> 2 AS side, l.value ->> 3 AS quantity,"                  \
    " l.value ->> 4 AS client_order_id, coalesce(last.v ->> 2, 'PENDING_SEND') AS status,"         \
    " last.v ->> 4 AS order_id, coalesce(last.v ->> 5, 0) AS filled_quantity,"                     \
    " coalesce(last.v ->> 6, 0.0) AS average_price, coalesce(last.v ->> 7, 0) AS attempts,"        \
    " last.v ->> 8 AS reason FROM executions i, json_each(i.legs) l"                               \
    " LEFT JOIN last ON last.x = i.id AND last.leg_index = l.key;"

static const char journal_migrate_v4[] =
    "ALTER TABLE executions ADD COLUMN legs TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE executions ADD COLUMN positions TEXT NOT NULL DEFAULT '[]';"
    "UPDATE executions SET legs = i.legs, positions = i.positions FROM intents i"
    " WHERE i.execution_id = executions.id;"
    "DROP VIEW IF EXISTS legs;"
    "DROP TABLE intents;"
    "DROP INDEX IF EXISTS executions_created;"
    "DROP INDEX IF EXISTS executions_status;"
    "ALTER TABLE executions ADD COLUMN unsettled INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX executions_running ON executions(broker, account_hash)"
    " WHERE status = 'RUNNING';"
    "CREATE INDEX executions_unsettled ON executions(broker, account_hash)"
    " WHERE unsettled > 0;" LEGS_VIEW_V4 "PRAGMA user_version = 4;";

#define EXECUTION_COLUMNS                                                                          \
    "id, broker, account_hash, coalesce(idempotency_key, ''), request_hash, status, owner,"        \
    " leg_count, created_ms, coalesce(finished_ms, 0), response"

/* The cached statements, in the order of journal_sql. */
typedef enum journal_stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_INSERT_EXECUTION,
    STMT_INSERT_EVENTS,
    STMT_FINISH,
    STMT_SETTLE,
    STMT_UNSETTLED,
    STMT_FIND_KEY,
    STMT_GET,
    STMT_ORPHANS,
    STMT_ORPHANS_ALL,
    STMT_LOAD_LEGS,
    STMT_LOAD_POSITIONS,
    STMT_LEG_EVENTS,
    STMT_RUNNING,
    STMT_COUNT
} journal_stmt;

static const char *const journal_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_INSERT_EXECUTION] =
        "INSERT INTO executions(id, broker, account_hash, idempotency_key, request_hash, status,"
        " owner, leg_count, created_ms, updated_ms, legs, positions) VALUES(?1, ?2, ?3, ?4, ?5,"
        " 'RUNNING', ?6, ?7, ?8, ?8, ?9, ?10)",
    [STMT_INSERT_EVENTS] = "INSERT INTO events(execution_id, data) VALUES(?1, ?2)",
    [STMT_SETTLE] = "UPDATE executions SET unsettled = ?2, updated_ms = ?3 WHERE id = ?1",
    [STMT_UNSETTLED] = "SELECT id FROM executions WHERE unsettled > 0 AND status <> 'RUNNING'"
                       " AND broker = ?1 AND account_hash = ?2 ORDER BY rowid",
    [STMT_FINISH] = "UPDATE executions SET status = ?2, response = ?3, finished_ms = ?4,"
                    " unsettled = ?5,"
                    " updated_ms = ?4 WHERE id = ?1",
    [STMT_FIND_KEY] = "SELECT " EXECUTION_COLUMNS " FROM executions WHERE broker = ?1 AND"
                      " account_hash = ?2 AND idempotency_key = ?3 AND idempotency_key IS NOT NULL",
    [STMT_GET] = "SELECT " EXECUTION_COLUMNS " FROM executions WHERE id = ?1",
    [STMT_ORPHANS] = "SELECT id FROM executions WHERE status = 'RUNNING' AND owner <> ?1"
                     " AND broker = ?2 AND account_hash = ?3 ORDER BY created_ms, id",
    [STMT_ORPHANS_ALL] = "SELECT id FROM executions WHERE status = 'RUNNING' AND owner <> ?1"
                         " ORDER BY created_ms, id",
    /* a leg's current state is its last event */
    [STMT_LOAD_LEGS] =
        "WITH ev AS (SELECT j.value ->> 0 AS leg_index, j.value AS v, e.seq * 65536 + j.key AS o"
        " FROM events e, json_each(e.data) j WHERE e.execution_id = ?1),"
        " last AS (SELECT leg_index, v, max(o) FROM ev GROUP BY leg_index)"
        " SELECT l.key, l.value ->> 0, l.value ->> 1, l.value ->> 2, l.value ->> 3,"
        " l.value ->> 4, coalesce(last.v ->> 2, 'PENDING_SEND'), coalesce(last.v ->> 4, ''),"
        " coalesce(last.v ->> 5, 0), coalesce(last.v ->> 6, 0.0), coalesce(last.v ->> 7, 0),"
        " coalesce(last.v ->> 8, '') FROM executions i, json_each(i.legs) l"
        " LEFT JOIN last ON last.leg_index = l.key WHERE i.id = ?1 ORDER BY l.key",
    [STMT_LOAD_POSITIONS] = "SELECT p.value ->> 0, p.value ->> 1, p.value ->> 2 FROM executions i,"
                            " json_each(i.positions) p WHERE i.id = ?1 ORDER BY p.key",
    [STMT_LEG_EVENTS] = "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2,"
                        " coalesce(j.value ->> 3, '') FROM events e, json_each(e.data) j"
                        " WHERE e.execution_id = ?1 AND coalesce(j.value ->> 9, 0) = 0"
                        " ORDER BY 1, e.seq, j.key",
    [STMT_RUNNING] = "SELECT count(*) FROM executions WHERE status = 'RUNNING'",
};

/* One synchronous write. It lives on its caller's stack; the caller waits
 * on `done`, which the writer posts once the op is committed or failed. */
typedef enum journal_op_kind { OP_BEGIN, OP_FINISH, OP_SETTLE, OP_BARRIER } journal_op_kind;

/* What the writer is doing, for a caller with an op deciding whether to
 * wake it: busy (it looks at the inbox again before it sleeps) or waiting.
 * Leg states never wake it: while runs exist it looks at them every
 * JOURNAL_GROUP_DELAY_MS on its own. */
typedef enum writer_state { WRITER_BUSY, WRITER_WAITING } writer_state;

typedef struct journal_op {
    struct journal_op *next;
    journal_op_kind kind;
    sem_t done;
    ptx_status status;
    char message[JOURNAL_MESSAGE_MAX];
    int64_t now;
    char execution_id[IDS_EXECUTION_ID_MAX];
    const exec_result *result; /* OP_BEGIN (borrowed: the caller waits) */
    const char *key;
    const char *request_hash;
    const char *owner;
    const char *intent_legs; /* OP_BEGIN: JSON of the legs and positions (borrowed) */
    const char *intent_positions;
    const char *status_name; /* OP_FINISH (borrowed) */
    const char *response;
    size_t unsettled; /* OP_FINISH, OP_SETTLE: legs whose last state is UNKNOWN */
} journal_op;

/*
 * The leg states of one running execution. Its engine thread appends them
 * to `events` (a JSON array left open) under `lock`; the writer takes them
 * all at each commit, as one events row. Registered in the journal's list
 * of runs (under runs_lock) from journal_begin / journal_resume until
 * journal_run_end.
 */
struct journal_run {
    journal *j;
    struct journal_run *prev, *next;
    char execution_id[IDS_EXECUTION_ID_MAX];
    const exec_result *result; /* borrowed: legs for the log of a lost state */
    pthread_mutex_t lock;
    json_writer events;
    size_t pending;         /* states in `events` not yet taken by the writer */
    unsigned char *unknown; /* per leg: its last state is UNKNOWN (engine thread) */
    unsigned taken;         /* commits in flight with states of this run (runs_lock) */
};

struct journal {
    /* The reading connection (every read, and open-time schema work), under
     * `lock`. */
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
    sqlite3_stmt *stmts[STMT_COUNT];
    /* The writing connection, used by the writer thread alone. The same
     * connection as `db` for ":memory:" (`shared`): the writer then holds
     * `lock` while it writes. */
    sqlite3 *wdb;
    sqlite3_stmt *wstmts[STMT_COUNT];
    bool shared;
    journal_sync_mode sync;
    /* The queue: a lock-free stack of ops (newest first) that the writer
     * takes whole and reverses. Queuing takes no lock; only a caller that
     * must wake the writer (see journal_submit) takes wake_lock. */
    _Atomic(journal_op *) inbox;
    _Atomic int64_t states_since; /* 0, or when a run's first untaken state was added */
    /* The runs (journal_run), under runs_lock. A run whose states are in a
     * commit in flight is not freed until that commit is over (runs_done). */
    pthread_mutex_t runs_lock;
    pthread_cond_t runs_done;
    journal_run *runs;
    atomic_size_t run_count;
    /* Accounts ("broker account_hash") with executions left RUNNING when
     * the journal was opened, under orphans_lock; orphan_count mirrors its
     * size so that the usual empty case takes no lock. */
    pthread_mutex_t orphans_lock;
    char **orphan_accounts;
    atomic_size_t orphan_count;
    uint64_t orphan_generation; /* bumped by every journal_orphans_add (orphans_lock) */
    _Atomic int writer_state;   /* writer_state */
    pthread_mutex_t wake_lock;
    pthread_cond_t work; /* the writer waits for ops, under wake_lock */
    atomic_bool stop;    /* set under wake_lock */
    int64_t retry_ns;    /* writer only: no retry of kept leg states alone before this */
    char batch_error[JOURNAL_MESSAGE_MAX]; /* writer only: why the last batch failed */
    bool started;
    pthread_t writer;
    atomic_uint_fast64_t failures; /* write batches that failed */
    pthread_mutex_t error_lock;    /* last_error */
    char last_error[JOURNAL_MESSAGE_MAX];
    /* The checkpointer: its own connection and thread copy the WAL into the
     * database (and fsync it) off the writer's commit path; under ck_lock. */
    sqlite3 *cdb;
    pthread_t checkpointer;
    bool ck_started;
    bool ck_wanted;
    bool ck_stop;
    pthread_mutex_t ck_lock;
    pthread_cond_t ck_work;
};

static ptx_status journal_ids_query(journal *j, journal_stmt which, const char *const *params,
                                    size_t count_params, const char *what, char ***ids,
                                    size_t *count, ptx_error *error);

/* ---- errors and statements --------------------------------------------- */

static ptx_status journal_fail(journal *j, ptx_error *error, const char *what)
{
    const char *detail = j->db ? sqlite3_errmsg(j->db) : "out of memory";
    int code = j->db ? sqlite3_extended_errcode(j->db) : SQLITE_NOMEM;
    log_write(LOG_ERROR, "journal", "journal %s: %s failed: %s (sqlite %d)", j->path, what, detail,
              code);
    return ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: %s failed: %s", j->path, what, detail);
}

/* The cached statement `which`, reset and unbound; NULL on a prepare failure. */
static sqlite3_stmt *journal_stmt_get(journal *j, journal_stmt which)
{
    sqlite3_stmt *stmt = j->stmts[which];
    if (stmt == NULL) {
        if (sqlite3_prepare_v3(j->db, journal_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               NULL) != SQLITE_OK)
            return NULL;
        j->stmts[which] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

/* Runs a statement that returns no rows. */
static bool journal_step_done(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE;
}

static void bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
}

/* Binds NULL for "" (order ids, reasons, keys). */
static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text)
{
    bind_text(stmt, index, text != NULL && *text != '\0' ? text : NULL);
}

/* Binds text that outlives the statement's step (no copy). */
static void bind_static(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
}

static void copy_column(sqlite3_stmt *stmt, int column, char *out, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

/* ---- open, schema, retention -------------------------------------------- */

static bool journal_exec(journal *j, const char *sql)
{
    return sqlite3_exec(j->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

int journal_schema_version(journal *j)
{
    sqlite3_stmt *stmt = NULL;
    int version = -1;
    pthread_mutex_lock(&j->lock);
    if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&j->lock);
    return version;
}

/* Brings the schema to JOURNAL_SCHEMA_VERSION inside one transaction. */
static ptx_status journal_migrate(journal *j, ptx_error *error)
{
    if (!journal_exec(j, "BEGIN IMMEDIATE"))
        return journal_fail(j, error, "locking for the schema check");
    sqlite3_stmt *stmt = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    ptx_status status = PTX_OK;
    if (version < 0) {
        status = journal_fail(j, error, "reading the schema version");
    } else if (version > JOURNAL_SCHEMA_VERSION) {
        status = ptx_fail(error, PTX_JOURNAL, NULL,
                          "journal %s: schema version %d is newer than this ptexec (%d)", j->path,
                          version, JOURNAL_SCHEMA_VERSION);
        log_write(LOG_ERROR, "journal", "%s", error->message);
    } else {
        if (version == 0 && !journal_exec(j, journal_schema_v1))
            status = journal_fail(j, error, "creating the schema");
        if (status == PTX_OK && version < 2 && !journal_exec(j, journal_migrate_v2))
            status = journal_fail(j, error, "migrating the schema to version 2");
        if (status == PTX_OK && version < 3 && !journal_exec(j, journal_migrate_v3))
            status = journal_fail(j, error, "migrating the schema to version 3");
        if (status == PTX_OK && version < 4 && !journal_exec(j, journal_migrate_v4))
            status = journal_fail(j, error, "migrating the schema to version 4");
        if (status == PTX_OK && version > 0 && version < JOURNAL_SCHEMA_VERSION)
            log_write(LOG_INFO, "journal", "journal %s: schema migrated from version %d to %d",
                      j->path, version, JOURNAL_SCHEMA_VERSION);
    }
    if (status == PTX_OK && !journal_exec(j, "COMMIT"))
        status = journal_fail(j, error, "committing the schema");
    if (status != PTX_OK)
        journal_exec(j, "ROLLBACK");
    return status;
}

/* Deletes finished executions older than `days`. */
static ptx_status journal_prune(journal *j, unsigned days, ptx_error *error)
{
    if (days == 0)
        return PTX_OK;
    int64_t cutoff = retry_wall_ms() - (int64_t)days * 86400000;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             "CREATE TEMP TABLE IF NOT EXISTS prune(id TEXT PRIMARY KEY);"
             "DELETE FROM prune;"
             "INSERT INTO prune SELECT id FROM executions WHERE status <> 'RUNNING'"
             " AND coalesce(finished_ms, created_ms) < %lld;"
             "DELETE FROM events WHERE execution_id IN (SELECT id FROM prune);"
             "DELETE FROM executions WHERE id IN (SELECT id FROM prune);"
             "COMMIT;",
             (long long)cutoff);
    if (!journal_exec(j, sql)) {
        ptx_status status = journal_fail(j, error, "pruning old executions");
        journal_exec(j, "ROLLBACK");
        return status;
    }
    int pruned = sqlite3_changes(j->db);
    if (pruned > 0)
        log_write(LOG_INFO, "journal", "journal %s: pruned executions older than %u days", j->path,
                  days);
    return PTX_OK;
}

/* Sets up connection `db` (the reading or the writing one): busy timeout,
 * WAL, the sync mode (a per-connection setting). */
static ptx_status journal_configure(journal *j, sqlite3 *db, const journal_options *options,
                                    ptx_error *error)
{
    unsigned busy = options->busy_timeout_ms ? options->busy_timeout_ms : JOURNAL_DEFAULT_BUSY_MS;
    sqlite3_busy_timeout(db, (int)busy);
    if (sqlite3_db_readonly(db, "main") == 1) {
        ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: file is read-only", j->path);
        log_write(LOG_ERROR, "journal", "%s", error->message);
        return PTX_JOURNAL;
    }
    sqlite3_stmt *stmt = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(stmt, 0);
        wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(stmt);
    const char *sync = options->sync == JOURNAL_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                          : "PRAGMA synchronous = NORMAL";
    bool ok = (wal || strcmp(j->path, ":memory:") == 0) &&
              sqlite3_exec(db, sync, NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_exec(db,
                           "PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY;"
                           " PRAGMA journal_size_limit = " JOURNAL_WAL_LIMIT,
                           NULL, NULL, NULL) == SQLITE_OK;
    if (ok)
        return PTX_OK;
    const char *what =
        wal || strcmp(j->path, ":memory:") == 0 ? "setting pragmas" : "switching to WAL mode";
    ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: %s failed: %s", j->path, what,
             sqlite3_errmsg(db));
    log_write(LOG_ERROR, "journal", "%s (sqlite %d)", error->message, sqlite3_extended_errcode(db));
    return PTX_JOURNAL;
}

static ptx_status journal_open_writer(journal *j, const journal_options *options, ptx_error *error);

/* The key of an account in orphan_accounts: "broker account_hash". */
static char *orphan_key(const char *broker, const char *account_hash)
{
    size_t length = strlen(broker) + strlen(account_hash) + 2;
    char *key = malloc(length);
    if (key != NULL)
        snprintf(key, length, "%s %s", broker, account_hash);
    return key;
}

/* The index of the account in orphan_accounts, or SIZE_MAX (orphans_lock
 * held). */
static size_t orphan_find(journal *j, const char *broker, const char *account_hash)
{
    size_t length = strlen(broker);
    for (size_t i = 0; i < atomic_load(&j->orphan_count); i++) {
        const char *key = j->orphan_accounts[i];
        if (strncmp(key, broker, length) == 0 && key[length] == ' ' &&
            strcmp(key + length + 1, account_hash) == 0)
            return i;
    }
    return SIZE_MAX;
}

/* Remembers the accounts with executions left RUNNING (open time). */
static ptx_status journal_load_orphans(journal *j, ptx_error *error)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT DISTINCT broker, account_hash FROM executions"
                           " WHERE status = 'RUNNING' OR unsettled > 0",
                           -1, &stmt, NULL) != SQLITE_OK)
        return journal_fail(j, error, "reading interrupted executions");
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        char **grown = realloc(j->orphan_accounts, (count + 1) * sizeof *grown);
        char *key = grown ? orphan_key((const char *)sqlite3_column_text(stmt, 0),
                                       (const char *)sqlite3_column_text(stmt, 1))
                          : NULL;
        if (grown != NULL)
            j->orphan_accounts = grown;
        if (key == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        j->orphan_accounts[count++] = key;
        atomic_store(&j->orphan_count, count);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return journal_fail(j, error, "reading interrupted executions");
    return PTX_OK;
}

bool journal_has_orphans(journal *j, const char *broker, const char *account_hash)
{
    if (atomic_load(&j->orphan_count) == 0)
        return false;
    pthread_mutex_lock(&j->orphans_lock);
    bool found = orphan_find(j, broker, account_hash) != SIZE_MAX;
    pthread_mutex_unlock(&j->orphans_lock);
    return found;
}

uint64_t journal_orphans_mark(journal *j)
{
    pthread_mutex_lock(&j->orphans_lock);
    uint64_t generation = j->orphan_generation;
    pthread_mutex_unlock(&j->orphans_lock);
    return generation;
}

void journal_orphans_cleared(journal *j, const char *broker, const char *account_hash,
                             uint64_t mark)
{
    if (atomic_load(&j->orphan_count) == 0)
        return;
    pthread_mutex_lock(&j->orphans_lock);
    size_t count = atomic_load(&j->orphan_count);
    size_t i = orphan_find(j, broker, account_hash);
    if (i != SIZE_MAX && j->orphan_generation == mark) {
        free(j->orphan_accounts[i]);
        j->orphan_accounts[i] = j->orphan_accounts[count - 1];
        atomic_store(&j->orphan_count, count - 1);
    }
    pthread_mutex_unlock(&j->orphans_lock);
}
static ptx_status journal_start(journal *j, ptx_error *error);

ptx_status journal_open(const char *path, const journal_options *options, journal **out,
                        ptx_error *error)
{
    static const journal_options defaults = {JOURNAL_SYNC_NORMAL, 30, 0};
    ptx_error local_error;
    error = error ? error : &local_error;
    options = options ? options : &defaults;
    *out = NULL;
    journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory opening the journal");
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->wake_lock, NULL);
    pthread_mutex_init(&j->runs_lock, NULL);
    pthread_cond_init(&j->runs_done, NULL);
    pthread_mutex_init(&j->orphans_lock, NULL);
    pthread_mutex_init(&j->error_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j->work, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&j->ck_lock, NULL);
    pthread_cond_init(&j->ck_work, NULL);
    j->sync = options->sync;
    ptx_status status = PTX_OK;
    int rc = sqlite3_open_v2(
        path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK)
        status = journal_fail(j, error, "opening");
    if (status == PTX_OK)
        status = journal_configure(j, j->db, options, error);
    if (status == PTX_OK)
        status = journal_migrate(j, error);
    if (status == PTX_OK)
        status = journal_prune(j, options->retention_days, error);
    if (status == PTX_OK)
        status = journal_load_orphans(j, error);
    if (status == PTX_OK)
        status = journal_open_writer(j, options, error);
    if (status == PTX_OK)
        status = journal_start(j, error);
    if (status != PTX_OK) {
        journal_close(j);
        return status;
    }
    *out = j;
    return PTX_OK;
}

void journal_close(journal *j)
{
    if (j == NULL)
        return;
    if (j->started) {
        pthread_mutex_lock(&j->wake_lock);
        j->stop = true;
        pthread_cond_signal(&j->work);
        pthread_mutex_unlock(&j->wake_lock);
        pthread_join(j->writer, NULL); /* it commits what is queued first */
    }
    if (j->ck_started) {
        pthread_mutex_lock(&j->ck_lock);
        j->ck_stop = true;
        pthread_cond_signal(&j->ck_work);
        pthread_mutex_unlock(&j->ck_lock);
        pthread_join(j->checkpointer, NULL);
    }
    while (j->runs != NULL) { /* not ended by their callers: their states are committed */
        journal_run *run = j->runs;
        j->runs = run->next;
        json_writer_discard(&run->events);
        pthread_mutex_destroy(&run->lock);
        free(run->unknown);
        free(run);
    }
    for (size_t i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(j->stmts[i]);
        sqlite3_finalize(j->wstmts[i]);
    }
    if (!j->shared)
        sqlite3_close(j->wdb);
    sqlite3_close(j->cdb);
    sqlite3_close(j->db);
    pthread_cond_destroy(&j->work);
    pthread_cond_destroy(&j->ck_work);
    pthread_mutex_destroy(&j->ck_lock);
    pthread_mutex_destroy(&j->error_lock);
    pthread_mutex_destroy(&j->wake_lock);
    pthread_mutex_destroy(&j->runs_lock);
    pthread_cond_destroy(&j->runs_done);
    pthread_mutex_destroy(&j->orphans_lock);
    for (size_t i = 0; i < atomic_load(&j->orphan_count); i++)
        free(j->orphan_accounts[i]);
    free(j->orphan_accounts);
    pthread_mutex_destroy(&j->lock);
    free(j->path);
    free(j);
}

bool journal_parse_sync(const char *text, journal_sync_mode *mode)
{
    if (strcmp(text, "normal") == 0)
        *mode = JOURNAL_SYNC_NORMAL;
    else if (strcmp(text, "full") == 0)
        *mode = JOURNAL_SYNC_FULL;
    else
        return false;
    return true;
}

/* ---- the writer's statements (writer thread only) ------------------------- */

static sqlite3_stmt *writer_stmt(journal *j, journal_stmt which)
{
    sqlite3_stmt *stmt = j->wstmts[which];
    if (stmt == NULL) {
        if (sqlite3_prepare_v3(j->wdb, journal_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               NULL) != SQLITE_OK)
            return NULL;
        j->wstmts[which] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

static bool writer_simple(journal *j, journal_stmt which)
{
    sqlite3_stmt *stmt = writer_stmt(j, which);
    return stmt != NULL && journal_step_done(stmt);
}

/* Records why `op` failed: "journal PATH: WHAT failed: sqlite's message". */
static void op_fail(journal *j, journal_op *op, ptx_status status, const char *what)
{
    op->status = status;
    snprintf(op->message, sizeof op->message, "journal %s: %s failed: %s", j->path, what,
             sqlite3_errmsg(j->wdb));
}

static bool writer_insert_execution(journal *j, const journal_op *op)
{
    sqlite3_stmt *stmt = writer_stmt(j, STMT_INSERT_EXECUTION);
    if (stmt == NULL)
        return false;
    const exec_result *result = op->result;
    bind_static(stmt, 1, result->execution_id);
    bind_static(stmt, 2, result->broker);
    bind_static(stmt, 3, result->account_hash);
    bind_text_or_null(stmt, 4, op->key);
    bind_static(stmt, 5, op->request_hash);
    bind_static(stmt, 6, op->owner);
    sqlite3_bind_int64(stmt, 7, (sqlite3_int64)result->leg_count);
    sqlite3_bind_int64(stmt, 8, op->now);
    bind_static(stmt, 9, op->intent_legs);
    bind_static(stmt, 10, op->intent_positions);
    return journal_step_done(stmt);
}

/* The intent of an execution: its row, with its legs and positions. A
 * reused key fails this INSERT alone (a statement is atomic), which leaves
 * the rest of the batch alone. */
static void writer_begin(journal *j, journal_op *op)
{
    if (writer_insert_execution(j, op))
        return;
    if (sqlite3_extended_errcode(j->wdb) == SQLITE_CONSTRAINT_UNIQUE) {
        op->status = PTX_CONFLICT;
        snprintf(op->message, sizeof op->message,
                 "idempotency key already used for this %s account", op->result->broker);
    } else {
        op_fail(j, op, PTX_JOURNAL, "recording the intent of an execution");
    }
}

/* An execution's end (OP_FINISH), or its count of legs still unknown
 * (OP_SETTLE). */
static void writer_finish(journal *j, journal_op *op)
{
    bool finish = op->kind == OP_FINISH;
    sqlite3_stmt *stmt = writer_stmt(j, finish ? STMT_FINISH : STMT_SETTLE);
    bool ok = stmt != NULL;
    if (ok && finish) {
        bind_static(stmt, 1, op->execution_id);
        bind_static(stmt, 2, op->status_name);
        bind_static(stmt, 3, op->response);
        sqlite3_bind_int64(stmt, 4, op->now);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)op->unsettled);
        ok = journal_step_done(stmt);
    } else if (ok) {
        bind_static(stmt, 1, op->execution_id);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)op->unsettled);
        sqlite3_bind_int64(stmt, 3, op->now);
        ok = journal_step_done(stmt);
    }
    if (ok && sqlite3_changes(j->wdb) != 1) {
        op->status = PTX_JOURNAL;
        snprintf(op->message, sizeof op->message,
                 "journal %s: recording the end of an execution failed: no execution %s", j->path,
                 op->execution_id);
    } else if (!ok) {
        op_fail(j, op, PTX_JOURNAL, "recording the end of an execution");
    }
}

/* ---- group commit ----------------------------------------------------------- */

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The states one commit took from the runs: one events row per run. */
typedef struct taken_states {
    journal_run *run;
    char *data; /* the run's JSON array of event arrays (heap) */
    size_t length;
    size_t count;
} taken_states;

typedef struct taken_list {
    taken_states *items;
    size_t count;
    size_t capacity;
    bool incomplete; /* a run's states could not be taken (no memory) */
} taken_list;

/* Takes every run's pending states (runs_lock held) into `taken`. A run
 * whose states cannot be copied (no memory) keeps them for the next commit. */
static void writer_take_states(journal *j, taken_list *taken)
{
    atomic_store(&j->states_since, 0); /* before the take: a later state sets it again */
    for (journal_run *run = j->runs; run != NULL; run = run->next) {
        pthread_mutex_lock(&run->lock);
        if (run->pending > 0 && taken->count == taken->capacity) {
            size_t capacity = taken->capacity ? taken->capacity * 2 : 32;
            taken_states *items = realloc(taken->items, capacity * sizeof *items);
            if (items != NULL) {
                taken->items = items;
                taken->capacity = capacity;
            }
        }
        char *data = NULL;
        if (run->pending > 0 && taken->count < taken->capacity)
            data = malloc(run->events.length + 2);
        if (data != NULL) {
            size_t length = run->events.length;
            memcpy(data, run->events.buffer, length);
            data[length++] = ']';
            data[length] = '\0';
            taken->items[taken->count++] = (taken_states){run, data, length, run->pending};
            run->taken++;
            json_writer_clear(&run->events);
            json_array_begin(&run->events);
            run->pending = 0;
        } else if (run->pending > 0) {
            taken->incomplete = true; /* the batch fails: its ops must not pass these */
            atomic_store(&j->states_since, monotonic_ns());
        }
        pthread_mutex_unlock(&run->lock);
    }
}

static bool writer_insert_states(journal *j, const taken_states *states)
{
    sqlite3_stmt *stmt = writer_stmt(j, STMT_INSERT_EVENTS);
    if (stmt == NULL)
        return false;
    bind_static(stmt, 1, states->run->execution_id);
    sqlite3_bind_text(stmt, 2, states->data, (int)states->length, SQLITE_STATIC);
    return journal_step_done(stmt);
}

/* Logs the leg states in `data` (a JSON array of event arrays) of `run` that
 * could not be stored: the orders may be at the broker, so this is never
 * silent. */
static void log_lost_states(const journal_run *run, const char *data, size_t length, size_t count,
                            const char *message)
{
    char why[64];
    json_value *events = json_parse(data, length, why, sizeof why);
    const json_value *event = events ? json_first(events) : NULL;
    for (; event != NULL; event = json_next(event)) {
        const json_value *field = json_first(event);
        int64_t index = -1;
        if (field != NULL)
            json_integer(field, &index);
        const char *state = NULL, *order_id = NULL;
        for (int i = 1; field != NULL && i <= 4; i++) {
            field = json_next(field);
            if (i == 2 && field != NULL)
                state = json_string(field);
            if (i == 4 && field != NULL)
                order_id = json_string(field);
        }
        const exec_leg *leg =
            index >= 0 && (size_t)index < run->result->leg_count ? &run->result->legs[index] : NULL;
        log_write(LOG_ERROR, "journal",
                  "execution %s: leg %zu %s %s %lld (client order id %s, order id %s): state %s "
                  "NOT RECORDED in the journal; the order may exist at the broker: %s",
                  run->execution_id, leg ? leg->sequence : 0, leg ? side_name(leg->side) : "?",
                  leg ? leg->symbol : "?", leg ? (long long)leg->quantity : 0LL,
                  leg ? leg->client_order_id : "?", order_id && *order_id ? order_id : "unknown",
                  state ? state : "?", message);
    }
    if (events == NULL)
        log_write(LOG_ERROR, "journal",
                  "execution %s: %zu leg states NOT RECORDED in the journal; the orders may exist "
                  "at the broker: %s",
                  run->execution_id, count, message);
    json_free(events);
}

/* Puts states a failed commit took back in front of the run's buffer, for
 * the next commit; they are logged as lost only if that is impossible. */
static void run_requeue(journal *j, const taken_states *states)
{
    journal_run *run = states->run;
    pthread_mutex_lock(&run->lock);
    json_writer *w = &run->events;
    size_t inner = states->length - 2; /* without the brackets */
    size_t rest = run->pending > 0 ? w->length - 1 : 0;
    size_t size = 1 + inner + (rest ? 1 + rest : 0) + 1;
    char *buffer = w->failed ? NULL : malloc(size);
    if (buffer != NULL) {
        size_t at = 0;
        buffer[at++] = '[';
        memcpy(buffer + at, states->data + 1, inner);
        at += inner;
        if (rest) {
            buffer[at++] = ',';
            memcpy(buffer + at, w->buffer + 1, rest);
            at += rest;
        }
        buffer[at] = '\0';
        free(w->buffer);
        w->buffer = buffer;
        w->length = at;
        w->capacity = size;
        w->need_comma[1] = true;
        run->pending += states->count;
    }
    pthread_mutex_unlock(&run->lock);
    if (buffer == NULL) {
        log_lost_states(run, states->data, states->length, states->count, j->batch_error);
        return;
    }
    int64_t none = 0;
    atomic_compare_exchange_strong(&j->states_since, &none, monotonic_ns());
}

/* Runs one batch in one transaction: every run's new leg states, then the
 * intents and ends in queue order. When the transaction fails (BEGIN,
 * COMMIT, or an error that rolled it back), every op of the batch fails with
 * that message and every state taken is logged as lost: none of it is
 * stored. Returns whether it committed; *failed counts the writes that
 * failed. */
static bool writer_transaction(journal *j, journal_op *batch, taken_list *taken, size_t *failed)
{
    char message[JOURNAL_MESSAGE_MAX] = "";
    int code = SQLITE_OK;
    if (taken->incomplete) {
        snprintf(message, sizeof message,
                 "journal %s: out of memory taking the leg states of a commit", j->path);
        code = SQLITE_NOMEM;
    } else if (!writer_simple(j, STMT_BEGIN)) {
        snprintf(message, sizeof message, "journal %s: beginning a write failed: %s", j->path,
                 sqlite3_errmsg(j->wdb));
        code = sqlite3_extended_errcode(j->wdb);
    }
    for (size_t i = 0; code == SQLITE_OK && i < taken->count; i++)
        if (!writer_insert_states(j, &taken->items[i])) {
            snprintf(message, sizeof message, "journal %s: recording leg states failed: %s",
                     j->path, sqlite3_errmsg(j->wdb));
            code = sqlite3_extended_errcode(j->wdb);
        }
    for (journal_op *op = batch; code == SQLITE_OK && op != NULL; op = op->next) {
        if (op->kind == OP_BEGIN)
            writer_begin(j, op);
        else if (op->kind == OP_FINISH || op->kind == OP_SETTLE)
            writer_finish(j, op);
        else
            continue;
        if (sqlite3_get_autocommit(j->wdb)) { /* rolled back */
            snprintf(message, sizeof message, "%s", op->message);
            code = SQLITE_ABORT;
        }
    }
    if (code == SQLITE_OK && !writer_simple(j, STMT_COMMIT)) {
        snprintf(message, sizeof message, "journal %s: committing failed: %s", j->path,
                 sqlite3_errmsg(j->wdb));
        code = sqlite3_extended_errcode(j->wdb);
    }
    *failed = 0;
    if (code == SQLITE_OK) {
        for (journal_op *op = batch; op != NULL; op = op->next)
            *failed += op->status != PTX_OK && op->status != PTX_CONFLICT;
        return true;
    }
    if (!sqlite3_get_autocommit(j->wdb))
        writer_simple(j, STMT_ROLLBACK);
    size_t states = 0;
    for (size_t i = 0; i < taken->count; i++)
        states += taken->items[i].count;
    snprintf(j->batch_error, sizeof j->batch_error, "%s", message);
    log_write(LOG_ERROR, "journal",
              "%s (sqlite %d); the writes waiting for this commit failed, %zu leg states are kept "
              "for the next one",
              message, code, states);
    for (journal_op *op = batch; op != NULL; op = op->next)
        if (op->status != PTX_CONFLICT) {
            op->status = PTX_JOURNAL;
            snprintf(op->message, sizeof op->message, "%s", message);
            (*failed)++;
        }
    *failed += states;
    return false;
}

/* Commits one batch (a list of ops in queue order) with every run's new leg
 * states; returns how many writes failed. */
static size_t writer_commit(journal *j, journal_op *batch)
{
    taken_list taken = {0};
    pthread_mutex_lock(&j->runs_lock);
    writer_take_states(j, &taken);
    pthread_mutex_unlock(&j->runs_lock);
    size_t failed = 0;
    bool committed = true;
    bool any_sql = taken.count > 0;
    for (journal_op *op = batch; op != NULL && !any_sql; op = op->next)
        any_sql = op->kind != OP_BARRIER;
    if (any_sql) {
        if (j->shared)
            pthread_mutex_lock(&j->lock);
        committed = writer_transaction(j, batch, &taken, &failed);
        if (j->shared)
            pthread_mutex_unlock(&j->lock);
    }
    if (!committed) {
        /* Nothing of the batch is stored: its states go back to their runs,
         * and a retry of them alone waits a while. At close there is no
         * next commit: they are lost, loudly. */
        j->retry_ns = monotonic_ns() + (int64_t)JOURNAL_RETRY_MS * 1000000;
        for (size_t i = 0; i < taken.count; i++)
            if (atomic_load(&j->stop))
                log_lost_states(taken.items[i].run, taken.items[i].data, taken.items[i].length,
                                taken.items[i].count, j->batch_error);
            else
                run_requeue(j, &taken.items[i]);
    }
    if (taken.count > 0) {
        pthread_mutex_lock(&j->runs_lock);
        for (size_t i = 0; i < taken.count; i++) {
            taken.items[i].run->taken--;
            free(taken.items[i].data);
        }
        pthread_cond_broadcast(&j->runs_done);
        pthread_mutex_unlock(&j->runs_lock);
    }
    free(taken.items);
    return failed;
}

/* `ns` (CLOCK_MONOTONIC) as a timespec for pthread_cond_timedwait. */
static struct timespec timespec_of(int64_t ns)
{
    return (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
}

/* Waits (wake_lock held) until an op is queued, the oldest buffered leg
 * state is JOURNAL_GROUP_DELAY_MS old, or the journal closes. Without ops,
 * it looks at the runs' states every JOURNAL_GROUP_DELAY_MS while runs
 * exist, so a state costs its engine thread no wakeup; with no run it sleeps
 * until an op comes. */
static void writer_wait(journal *j)
{
    const int64_t delay = (int64_t)JOURNAL_GROUP_DELAY_MS * 1000000;
    atomic_store(&j->writer_state, WRITER_WAITING);
    while (atomic_load(&j->inbox) == NULL && !j->stop) {
        int64_t since = atomic_load(&j->states_since);
        int64_t now = monotonic_ns();
        if (since != 0 && since + delay < j->retry_ns)
            since = j->retry_ns - delay; /* kept states of a failed commit: later */
        if (since != 0 && now - since >= delay)
            return;
        if (since == 0 && atomic_load(&j->run_count) == 0) {
            pthread_cond_wait(&j->work, &j->wake_lock);
            continue;
        }
        struct timespec until = timespec_of(since != 0 ? since + delay : now + delay);
        pthread_cond_timedwait(&j->work, &j->wake_lock, &until);
    }
}

/* Waits for ops or due leg states; returns the queued ops in queue order
 * (NULL with only states due). *done when the journal closes with nothing
 * left to write. */
static journal_op *writer_take(journal *j, bool *done)
{
    pthread_mutex_lock(&j->wake_lock);
    writer_wait(j);
    atomic_store(&j->writer_state, WRITER_BUSY);
    *done = j->stop && atomic_load(&j->inbox) == NULL && atomic_load(&j->states_since) == 0;
    pthread_mutex_unlock(&j->wake_lock);
    journal_op *stack = atomic_exchange(&j->inbox, NULL);
    journal_op *batch = NULL;
    while (stack != NULL) { /* newest first: reverse into queue order */
        journal_op *next = stack->next;
        stack->next = batch;
        batch = stack;
        stack = next;
    }
    return batch;
}

/* Hands the results of a committed batch to its callers. */
static void writer_complete(journal *j, journal_op *batch, size_t failed)
{
    if (failed > 0) {
        pthread_mutex_lock(&j->error_lock);
        snprintf(j->last_error, sizeof j->last_error, "%s",
                 j->batch_error[0] ? j->batch_error : "a journal write failed");
        for (journal_op *op = batch; op != NULL; op = op->next)
            if (op->status == PTX_JOURNAL) {
                snprintf(j->last_error, sizeof j->last_error, "%s", op->message);
                break;
            }
        pthread_mutex_unlock(&j->error_lock);
        atomic_fetch_add(&j->failures, 1);
    }
    while (batch != NULL) {
        journal_op *next = batch->next;
        sem_post(&batch->done); /* the caller owns it from here */
        batch = next;
    }
}

static void *journal_writer_main(void *context)
{
    journal *j = context;
    prctl(PR_SET_NAME, "ptx-journal");
    bool done = false;
    while (!done) {
        journal_op *batch = writer_take(j, &done);
        if (done)
            break;
        size_t failed = writer_commit(j, batch);
        writer_complete(j, batch, failed);
    }
    return NULL;
}

/* ---- checkpoints ------------------------------------------------------------ */

/* SQLite's WAL hook on the writer's connection, after each commit with the
 * WAL's size in pages: past JOURNAL_CHECKPOINT_PAGES the checkpointer is
 * woken; past JOURNAL_WAL_MAX_PAGES (a checkpointer that cannot catch up
 * with a busy writer) the writer checkpoints itself, so that the WAL starts
 * over at its next commit. */
static int writer_wal_hook(void *context, sqlite3 *db, const char *name, int pages)
{
    journal *j = context;
    if (pages >= JOURNAL_WAL_MAX_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= JOURNAL_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&j->ck_lock);
        if (!j->ck_wanted) {
            j->ck_wanted = true;
            pthread_cond_signal(&j->ck_work);
        }
        pthread_mutex_unlock(&j->ck_lock);
    }
    return SQLITE_OK;
}

static void *journal_checkpointer_main(void *context)
{
    journal *j = context;
    prctl(PR_SET_NAME, "ptx-checkpoint");
    pthread_mutex_lock(&j->ck_lock);
    for (;;) {
        while (!j->ck_wanted && !j->ck_stop)
            pthread_cond_wait(&j->ck_work, &j->ck_lock);
        if (j->ck_stop)
            break;
        j->ck_wanted = false;
        pthread_mutex_unlock(&j->ck_lock);
        int rc = sqlite3_wal_checkpoint_v2(j->cdb, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_write(LOG_WARN, "journal", "journal %s: checkpoint failed: %s (sqlite %d)", j->path,
                      sqlite3_errmsg(j->cdb), rc);
        pthread_mutex_lock(&j->ck_lock);
    }
    pthread_mutex_unlock(&j->ck_lock);
    return NULL;
}

/* Opens a further connection to the file (the writer's, the checkpointer's). */
static ptx_status journal_connect(journal *j, sqlite3 **db, const char *which,
                                  const journal_options *options, ptx_error *error)
{
    if (sqlite3_open_v2(j->path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: opening the %s failed: %s", j->path, which,
                 *db ? sqlite3_errmsg(*db) : "out of memory");
        log_write(LOG_ERROR, "journal", "%s", error->message);
        return PTX_JOURNAL;
    }
    return journal_configure(j, *db, options, error);
}

/* Opens the writer's own connection (the reading one for ":memory:") and,
 * for a file, the checkpointer's; the writer checkpoints no more by itself
 * (see writer_wal_hook). */
static ptx_status journal_open_writer(journal *j, const journal_options *options, ptx_error *error)
{
    if (strcmp(j->path, ":memory:") == 0 || j->path[0] == '\0') {
        j->wdb = j->db;
        j->shared = true;
        return PTX_OK;
    }
    ptx_status status = journal_connect(j, &j->wdb, "writer", options, error);
    if (status == PTX_OK)
        status = journal_connect(j, &j->cdb, "checkpointer", options, error);
    if (status != PTX_OK)
        return status;
    /* The checkpointer copies pages from the WAL and needs no cache of its
     * own; the reader serves occasional history and key lookups. */
    sqlite3_exec(j->cdb, "PRAGMA cache_size = -" JOURNAL_SMALL_CACHE_KIB, NULL, NULL, NULL);
    sqlite3_exec(j->db, "PRAGMA cache_size = -" JOURNAL_SMALL_CACHE_KIB, NULL, NULL, NULL);
    sqlite3_wal_autocheckpoint(j->wdb, 0);
    sqlite3_wal_hook(j->wdb, writer_wal_hook, j);
    return PTX_OK;
}

static ptx_status journal_start(journal *j, ptx_error *error)
{
    if (j->cdb != NULL) {
        if (pthread_create(&j->checkpointer, NULL, journal_checkpointer_main, j) != 0)
            return ptx_fail(error, PTX_JOURNAL, NULL,
                            "journal %s: cannot start its checkpointer thread", j->path);
        j->ck_started = true;
    }
    if (pthread_create(&j->writer, NULL, journal_writer_main, j) != 0)
        return ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: cannot start its writer thread",
                        j->path);
    j->started = true;
    return PTX_OK;
}

/* Wakes the writer (wake_lock taken briefly). */
static void journal_wake(journal *j)
{
    pthread_mutex_lock(&j->wake_lock);
    pthread_cond_signal(&j->work);
    pthread_mutex_unlock(&j->wake_lock);
}

/* Queues `op` and returns once the writer has committed it (or failed to).
 * Queuing is a compare-and-swap; the writer is woken only when it sleeps.
 * The stores and loads of inbox and writer_state are
 * sequentially consistent, so either the writer sees the op before it
 * sleeps or the caller sees it sleeping and signals under wake_lock. */
static void journal_submit(journal *j, journal_op *op)
{
    op->status = PTX_OK;
    op->message[0] = '\0';
    sem_init(&op->done, 0, 0);
    journal_op *prev = atomic_load_explicit(&j->inbox, memory_order_relaxed);
    do
        op->next = prev;
    while (!atomic_compare_exchange_weak(&j->inbox, &prev, op));
    if (atomic_load(&j->writer_state) != WRITER_BUSY)
        journal_wake(j);
    while (sem_wait(&op->done) != 0)
        ; /* EINTR */
    sem_destroy(&op->done);
}

/* The result of a waited op as a ptx_status (and *error). */
static ptx_status op_result(const journal_op *op, ptx_error *error)
{
    if (op->status == PTX_OK)
        return PTX_OK;
    return ptx_fail(error, op->status, op->status == PTX_CONFLICT ? "idempotency_key" : NULL, "%s",
                    op->message);
}

/* The intent's JSON: legs as [[sequence, symbol, side, quantity,
 * client_order_id], …] and positions as [[symbol, before, target], …]. */
static char *intent_legs_json(const exec_result *result)
{
    json_writer w;
    json_writer_init(&w);
    json_array_begin(&w);
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        json_array_begin(&w);
        json_write_int(&w, (int64_t)leg->sequence);
        json_write_string(&w, leg->symbol);
        json_write_string(&w, side_name(leg->side));
        json_write_int(&w, leg->quantity);
        json_write_string(&w, leg->client_order_id);
        json_array_end(&w);
    }
    json_array_end(&w);
    return json_writer_finish(&w, NULL);
}

static char *intent_positions_json(const exec_result *result)
{
    json_writer w;
    json_writer_init(&w);
    json_array_begin(&w);
    for (size_t i = 0; i < result->position_count; i++) {
        const exec_position *position = &result->positions[i];
        json_array_begin(&w);
        json_write_string(&w, position->symbol);
        json_write_int(&w, position->before);
        json_write_int(&w, position->target);
        json_array_end(&w);
    }
    json_array_end(&w);
    return json_writer_finish(&w, NULL);
}

/* A run of execution `result` in the journal's list; NULL on no memory. */
static journal_run *journal_run_start(journal *j, const exec_result *result,
                                      const char (*states)[JOURNAL_STATE_MAX], ptx_error *error)
{
    journal_run *run = calloc(1, sizeof *run);
    if (run != NULL) {
        run->unknown = calloc(result->leg_count ? result->leg_count : 1, 1);
        if (run->unknown == NULL) {
            free(run);
            run = NULL;
        }
    }
    for (size_t i = 0; run != NULL && states != NULL && i < result->leg_count; i++)
        run->unknown[i] = strcmp(states[i], "UNKNOWN") == 0;
    if (run == NULL) {
        ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: out of memory", j->path);
        return NULL;
    }
    run->j = j;
    run->result = result;
    snprintf(run->execution_id, sizeof run->execution_id, "%s", result->execution_id);
    pthread_mutex_init(&run->lock, NULL);
    json_writer_init(&run->events);
    json_array_begin(&run->events);
    pthread_mutex_lock(&j->runs_lock);
    run->next = j->runs;
    if (j->runs != NULL)
        j->runs->prev = run;
    j->runs = run;
    pthread_mutex_unlock(&j->runs_lock);
    /* The first run: a writer asleep without runs starts looking at them. */
    if (atomic_fetch_add(&j->run_count, 1) == 0 && atomic_load(&j->writer_state) != WRITER_BUSY)
        journal_wake(j);
    return run;
}

ptx_status journal_begin(journal *j, const exec_result *result, const char *key,
                         const char *request_hash, const char *owner, journal_run **run,
                         ptx_error *error)
{
    *run = NULL;
    journal_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_BEGIN;
    op.now = retry_wall_ms();
    snprintf(op.execution_id, sizeof op.execution_id, "%s", result->execution_id);
    op.result = result;
    op.key = key;
    op.request_hash = request_hash;
    op.owner = owner;
    char *legs = intent_legs_json(result);
    char *positions = intent_positions_json(result);
    ptx_status status;
    if (legs == NULL || positions == NULL) {
        status = ptx_fail(error, PTX_JOURNAL, NULL,
                          "journal %s: recording the intent of an execution failed: out of memory",
                          j->path);
    } else {
        op.intent_legs = legs;
        op.intent_positions = positions;
        journal_submit(j, &op);
        status = op_result(&op, error);
    }
    free(legs);
    free(positions);
    if (status == PTX_OK && (*run = journal_run_start(j, result, NULL, error)) == NULL)
        status = PTX_JOURNAL;
    return status;
}

ptx_status journal_resume(journal *j, const exec_result *result,
                          const char (*states)[JOURNAL_STATE_MAX], journal_run **run,
                          ptx_error *error)
{
    *run = journal_run_start(j, result, states, error);
    return *run ? PTX_OK : PTX_JOURNAL;
}

/* Appends the event [leg_index, at_ms, state, detail, order_id,
 * filled_quantity, average_price, attempts, reason] of `leg` to the run. */
static ptx_status run_add_state(journal_run *run, size_t leg_index, const char *state,
                                const exec_leg *leg, const char *detail, ptx_error *error)
{
    journal *j = run->j;
    if (leg_index >= run->result->leg_count)
        return ptx_fail(error, PTX_INVALID, NULL,
                        "journal %s: recording a leg failed: no leg %zu in execution %s", j->path,
                        leg_index, run->execution_id);
    pthread_mutex_lock(&run->lock);
    json_writer *w = &run->events;
    size_t length = w->length; /* to take a half-written event back */
    unsigned depth = w->depth;
    bool comma = w->need_comma[depth];
    json_array_begin(w);
    json_write_int(w, (int64_t)leg_index);
    json_write_int(w, retry_wall_ms());
    json_write_string(w, state);
    json_write_text_or_null(w, detail);
    json_write_text_or_null(w, leg->order_id);
    json_write_int(w, leg->filled_quantity);
    json_write_double(w, leg->average_price);
    json_write_int(w, leg->attempts);
    json_write_text_or_null(w, leg->reason);
    json_array_end(w);
    bool failed = w->failed;
    bool first = false;
    if (failed) { /* no memory: the buffer stays as it was */
        w->length = length;
        if (w->buffer != NULL)
            w->buffer[length] = '\0';
        w->depth = depth;
        w->need_comma[depth] = comma;
        w->failed = false;
    } else {
        first = run->pending++ == 0;
        run->unknown[leg_index] = strcmp(state, "UNKNOWN") == 0;
    }
    pthread_mutex_unlock(&run->lock);
    if (failed) {
        ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: recording a leg failed: out of memory",
                 j->path);
        log_write(LOG_ERROR, "journal", "%s", error->message);
        return PTX_JOURNAL;
    }
    int64_t none = 0;
    if (first) /* the writer finds it within JOURNAL_GROUP_DELAY_MS */
        atomic_compare_exchange_strong(&j->states_since, &none, monotonic_ns());
    return PTX_OK;
}

ptx_status journal_leg(journal_run *run, size_t leg_index, const char *state, const exec_leg *leg,
                       const char *detail, ptx_error *error)
{
    ptx_status status = run_add_state(run, leg_index, state, leg, detail, error);
    if (status != PTX_OK || run->j->sync != JOURNAL_SYNC_FULL)
        return status;
    journal_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_BARRIER;
    journal_submit(run->j, &op);
    return op_result(&op, error);
}

ptx_status journal_leg_queue(journal_run *run, size_t leg_index, const char *state,
                             const exec_leg *leg, const char *detail, ptx_error *error)
{
    return run_add_state(run, leg_index, state, leg, detail, error);
}

/* Legs of the run whose last state is UNKNOWN. */
static size_t run_unknown_count(const journal_run *run)
{
    size_t count = 0;
    for (size_t i = 0; i < run->result->leg_count; i++)
        count += run->unknown[i];
    return count;
}

/* Remembers that the account has an execution that needs a look (see
 * journal_has_orphans). */
static void journal_orphans_add(journal *j, const char *broker, const char *account_hash)
{
    pthread_mutex_lock(&j->orphans_lock);
    j->orphan_generation++; /* a clear based on an older look must not drop it */
    size_t count = atomic_load(&j->orphan_count);
    bool kept = orphan_find(j, broker, account_hash) != SIZE_MAX;
    char *key = kept ? NULL : orphan_key(broker, account_hash);
    char **grown = key ? realloc(j->orphan_accounts, (count + 1) * sizeof *grown) : NULL;
    if (grown != NULL) {
        j->orphan_accounts = grown;
        j->orphan_accounts[count] = key;
        key = NULL;
        kept = true;
        atomic_store(&j->orphan_count, count + 1);
    }
    pthread_mutex_unlock(&j->orphans_lock);
    free(key);
    if (!kept)
        log_write(LOG_WARN, "journal",
                  "journal %s: out of memory noting that account %s has a leg to settle; a "
                  "restart settles it",
                  j->path, account_hash);
}

/* An OP_FINISH or OP_SETTLE of the run, with its count of unknown legs. */
static ptx_status run_write_end(journal_run *run, journal_op_kind kind, const char *status_name,
                                const char *response, ptx_error *error)
{
    journal_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.now = retry_wall_ms();
    snprintf(op.execution_id, sizeof op.execution_id, "%s", run->execution_id);
    op.status_name = status_name;
    op.response = response;
    op.unsettled = run_unknown_count(run);
    journal_submit(run->j, &op);
    ptx_status status = op_result(&op, error);
    if (status == PTX_OK && op.unsettled > 0)
        journal_orphans_add(run->j, run->result->broker, run->result->account_hash);
    return status;
}

ptx_status journal_finish(journal_run *run, const char *status_name, const char *response,
                          ptx_error *error)
{
    return run_write_end(run, OP_FINISH, status_name, response, error);
}

ptx_status journal_settle(journal_run *run, size_t *remaining, ptx_error *error)
{
    *remaining = run_unknown_count(run);
    return run_write_end(run, OP_SETTLE, NULL, NULL, error);
}

ptx_status journal_unsettled(journal *j, const char *broker, const char *account_hash, char ***ids,
                             size_t *count, ptx_error *error)
{
    const char *params[] = {broker, account_hash};
    return journal_ids_query(j, STMT_UNSETTLED, params, 2, "reading legs to settle", ids, count,
                             error);
}

void journal_flush(journal *j)
{
    journal_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_BARRIER;
    journal_submit(j, &op);
}

void journal_run_end(journal_run *run)
{
    if (run == NULL)
        return;
    journal *j = run->j;
    /* Commit what the run still buffers, or what a commit in flight may give
     * back to it if it fails; a journal that keeps failing loses them. */
    for (int tries = 0; tries < 3; tries++) {
        pthread_mutex_lock(&j->runs_lock);
        bool in_flight = run->taken > 0;
        pthread_mutex_unlock(&j->runs_lock);
        pthread_mutex_lock(&run->lock);
        bool pending = run->pending > 0;
        pthread_mutex_unlock(&run->lock);
        if (!pending && !in_flight)
            break;
        journal_flush(j);
    }
    pthread_mutex_lock(&j->runs_lock);
    if (run->prev != NULL)
        run->prev->next = run->next;
    else
        j->runs = run->next;
    if (run->next != NULL)
        run->next->prev = run->prev;
    while (run->taken > 0) /* a commit in flight may still give states back */
        pthread_cond_wait(&j->runs_done, &j->runs_lock);
    pthread_mutex_unlock(&j->runs_lock);
    atomic_fetch_sub(&j->run_count, 1);
    if (run->pending > 0) {
        char message[JOURNAL_MESSAGE_MAX];
        ptx_error error;
        snprintf(message, sizeof message, "%s",
                 journal_check(j, 0, &error) == PTX_OK ? "the journal failed" : error.message);
        json_array_end(&run->events);
        log_lost_states(run, run->events.buffer, run->events.length, run->pending, message);
    }
    json_writer_discard(&run->events);
    pthread_mutex_destroy(&run->lock);
    free(run->unknown);
    free(run);
}

uint64_t journal_mark(journal *j)
{
    return atomic_load(&j->failures);
}

ptx_status journal_check(journal *j, uint64_t mark, ptx_error *error)
{
    if (atomic_load(&j->failures) == mark)
        return PTX_OK;
    pthread_mutex_lock(&j->error_lock);
    ptx_status status = ptx_fail(error, PTX_JOURNAL, NULL, "%s", j->last_error);
    pthread_mutex_unlock(&j->error_lock);
    return status;
}
/* ---- reads -------------------------------------------------------------- */

static void journal_read_execution(sqlite3_stmt *stmt, journal_execution *out, bool with_response)
{
    memset(out, 0, sizeof *out);
    copy_column(stmt, 0, out->id, sizeof out->id);
    copy_column(stmt, 1, out->broker, sizeof out->broker);
    copy_column(stmt, 2, out->account_hash, sizeof out->account_hash);
    copy_column(stmt, 3, out->idempotency_key, sizeof out->idempotency_key);
    copy_column(stmt, 4, out->request_hash, sizeof out->request_hash);
    copy_column(stmt, 5, out->status, sizeof out->status);
    copy_column(stmt, 6, out->owner, sizeof out->owner);
    out->leg_count = (size_t)sqlite3_column_int64(stmt, 7);
    out->created_ms = sqlite3_column_int64(stmt, 8);
    out->finished_ms = sqlite3_column_int64(stmt, 9);
    const unsigned char *response = sqlite3_column_text(stmt, 10);
    if (with_response && response != NULL)
        out->response = strdup((const char *)response);
}

/* Runs a bound single-row execution query. */
static ptx_status journal_one_execution(journal *j, sqlite3_stmt *stmt, journal_execution *out,
                                        ptx_error *error)
{
    int rc = sqlite3_step(stmt);
    ptx_status status = PTX_OK;
    if (rc == SQLITE_ROW) {
        journal_read_execution(stmt, out, true);
        if (sqlite3_column_type(stmt, 10) != SQLITE_NULL && out->response == NULL)
            status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        status = PTX_NOT_FOUND;
        ptx_fail(error, PTX_NOT_FOUND, NULL, "no such execution");
    } else {
        status = journal_fail(j, error, "reading an execution");
    }
    sqlite3_reset(stmt);
    return status;
}

ptx_status journal_find_key(journal *j, const char *broker, const char *account_hash,
                            const char *key, journal_execution *out, ptx_error *error)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_FIND_KEY);
    ptx_status status;
    if (stmt == NULL) {
        status = journal_fail(j, error, "looking up an idempotency key");
    } else {
        bind_text(stmt, 1, broker);
        bind_text(stmt, 2, account_hash);
        bind_text(stmt, 3, key);
        status = journal_one_execution(j, stmt, out, error);
    }
    pthread_mutex_unlock(&j->lock);
    return status;
}

ptx_status journal_get(journal *j, const char *execution_id, journal_execution *out,
                       ptx_error *error)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_GET);
    ptx_status status;
    if (stmt == NULL) {
        status = journal_fail(j, error, "reading an execution");
    } else {
        bind_text(stmt, 1, execution_id);
        status = journal_one_execution(j, stmt, out, error);
    }
    pthread_mutex_unlock(&j->lock);
    return status;
}

void journal_execution_clear(journal_execution *execution)
{
    if (execution == NULL)
        return;
    free(execution->response);
    memset(execution, 0, sizeof *execution);
}

/* Prepares the list query for `filter` (not cached: its shape varies). */
static sqlite3_stmt *journal_list_stmt(journal *j, const journal_filter *filter)
{
    bool by_broker = filter->broker != NULL && *filter->broker != '\0';
    bool by_status = filter->status != NULL && *filter->status != '\0';
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " EXECUTION_COLUMNS " FROM executions WHERE 1%s%s"
             " ORDER BY rowid DESC LIMIT ?3",
             by_broker ? " AND broker = ?1" : "", by_status ? " AND status = ?2" : "");
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return NULL;
    if (by_broker)
        bind_text(stmt, 1, filter->broker);
    if (by_status)
        bind_text(stmt, 2, filter->status);
    size_t limit = filter->limit ? filter->limit : JOURNAL_DEFAULT_LIMIT;
    sqlite3_bind_int64(stmt, 3,
                       (sqlite3_int64)(limit > JOURNAL_MAX_LIMIT ? JOURNAL_MAX_LIMIT : limit));
    return stmt;
}

ptx_status journal_list(journal *j, const journal_filter *filter, journal_execution **items,
                        size_t *count, ptx_error *error)
{
    static const journal_filter defaults = {0, NULL, NULL};
    *items = NULL;
    *count = 0;
    ptx_status status = PTX_OK;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *stmt = journal_list_stmt(j, filter ? filter : &defaults);
    size_t capacity = 0;
    int rc = stmt ? SQLITE_ROW : SQLITE_ERROR;
    while (stmt != NULL && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            journal_execution *grown = realloc(*items, capacity * sizeof **items);
            if (grown == NULL) {
                status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory listing executions");
                break;
            }
            *items = grown;
        }
        journal_read_execution(stmt, &(*items)[(*count)++], false);
    }
    if (status == PTX_OK && rc != SQLITE_DONE)
        status = journal_fail(j, error, "listing executions");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&j->lock);
    if (status != PTX_OK) {
        journal_list_free(*items, *count);
        *items = NULL;
        *count = 0;
    }
    return status;
}

void journal_list_free(journal_execution *items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        journal_execution_clear(&items[i]);
    free(items);
}

void journal_ids_free(char **ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
}

/* Steps `stmt` (bound, lock held) and collects column 0 of its rows into
 * *ids / *count; on failure frees them and returns the error. */
static ptx_status journal_collect_ids(journal *j, sqlite3_stmt *stmt, char ***ids, size_t *count,
                                      ptx_error *error)
{
    ptx_status status = PTX_OK;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        char **grown = realloc(*ids, (*count + 1) * sizeof **ids);
        char *id = strdup((const char *)sqlite3_column_text(stmt, 0));
        if (grown == NULL || id == NULL) {
            free(id);
            *ids = grown ? grown : *ids;
            status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
            break;
        }
        *ids = grown;
        (*ids)[(*count)++] = id;
    }
    if (status == PTX_OK && rc != SQLITE_DONE)
        status = journal_fail(j, error, "listing executions");
    if (status != PTX_OK) {
        journal_ids_free(*ids, *count);
        *ids = NULL;
        *count = 0;
    }
    return status;
}

/* Runs the cached id query `which` with text parameters ?1…?count and
 * collects the ids (read lock taken here). */
static ptx_status journal_ids_query(journal *j, journal_stmt which, const char *const *params,
                                    size_t count_params, const char *what, char ***ids,
                                    size_t *count, ptx_error *error)
{
    *ids = NULL;
    *count = 0;
    ptx_status status;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, which);
    if (stmt == NULL) {
        status = journal_fail(j, error, what);
    } else {
        for (size_t i = 0; i < count_params; i++)
            bind_text(stmt, (int)i + 1, params[i]);
        status = journal_collect_ids(j, stmt, ids, count, error);
        sqlite3_reset(stmt);
    }
    pthread_mutex_unlock(&j->lock);
    return status;
}

ptx_status journal_orphans(journal *j, const char *broker, const char *account_hash,
                           const char *owner, char ***ids, size_t *count, ptx_error *error)
{
    const char *params[] = {owner, broker, account_hash};
    return journal_ids_query(j, broker ? STMT_ORPHANS : STMT_ORPHANS_ALL, params, broker ? 3 : 1,
                             "listing interrupted executions", ids, count, error);
}

long journal_running_count(journal *j)
{
    long count = -1;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_RUNNING);
    if (stmt != NULL && sqlite3_step(stmt) == SQLITE_ROW)
        count = (long)sqlite3_column_int64(stmt, 0);
    if (stmt != NULL)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&j->lock);
    return count;
}

/* ---- recovery load -------------------------------------------------------- */

static void journal_read_leg(sqlite3_stmt *stmt, exec_leg *leg, char *state)
{
    memset(leg, 0, sizeof *leg);
    leg->target_index = 0;
    leg->sequence = (size_t)sqlite3_column_int64(stmt, 1);
    copy_column(stmt, 2, leg->symbol, sizeof leg->symbol);
    const unsigned char *side = sqlite3_column_text(stmt, 3);
    leg->side =
        side && strcmp((const char *)side, "SELL") == 0 ? BROKER_SIDE_SELL : BROKER_SIDE_BUY;
    leg->quantity = sqlite3_column_int64(stmt, 4);
    copy_column(stmt, 5, leg->client_order_id, sizeof leg->client_order_id);
    copy_column(stmt, 6, state, JOURNAL_STATE_MAX);
    copy_column(stmt, 7, leg->order_id, sizeof leg->order_id);
    leg->filled_quantity = sqlite3_column_int64(stmt, 8);
    leg->average_price = sqlite3_column_double(stmt, 9);
    leg->attempts = (unsigned)sqlite3_column_int64(stmt, 10);
    copy_column(stmt, 11, leg->reason, sizeof leg->reason);
    leg->status = LEG_PLANNED;
}

static bool journal_load_legs(journal *j, const char *id, exec_result *result,
                              char (*states)[JOURNAL_STATE_MAX])
{
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_LOAD_LEGS);
    if (stmt == NULL)
        return false;
    bind_text(stmt, 1, id);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < result->leg_count) {
        journal_read_leg(stmt, &result->legs[n], states[n]);
        n++;
    }
    sqlite3_reset(stmt);
    result->leg_count = n;
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

static bool journal_load_positions(journal *j, const char *id, exec_result *result)
{
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_LOAD_POSITIONS);
    if (stmt == NULL)
        return false;
    bind_text(stmt, 1, id);
    size_t n = 0, capacity = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            exec_position *grown = realloc(result->positions, capacity * sizeof *grown);
            if (grown == NULL)
                break;
            result->positions = grown;
        }
        exec_position *position = &result->positions[n++];
        memset(position, 0, sizeof *position);
        copy_column(stmt, 0, position->symbol, sizeof position->symbol);
        position->before = sqlite3_column_int64(stmt, 1);
        position->target = sqlite3_column_int64(stmt, 2);
        position->after = position->before;
        position->residual = position->target - position->after;
        result->position_count = n;
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE;
}

/* Each leg's target_index: its symbol's place among the positions. */
static void journal_link_targets(exec_result *result)
{
    for (size_t i = 0; i < result->leg_count; i++)
        for (size_t p = 0; p < result->position_count; p++)
            if (strcmp(result->legs[i].symbol, result->positions[p].symbol) == 0) {
                result->legs[i].target_index = p;
                break;
            }
}

ptx_status journal_load(journal *j, const char *execution_id, exec_result *result,
                        char (**states)[JOURNAL_STATE_MAX], ptx_error *error)
{
    memset(result, 0, sizeof *result);
    *states = NULL;
    journal_execution row;
    ptx_status status = journal_get(j, execution_id, &row, error);
    if (status != PTX_OK)
        return status;
    snprintf(result->execution_id, sizeof result->execution_id, "%s", row.id);
    snprintf(result->broker, sizeof result->broker, "%s", row.broker);
    snprintf(result->account_hash, sizeof result->account_hash, "%s", row.account_hash);
    result->started_ms = row.created_ms;
    size_t legs = row.leg_count;
    journal_execution_clear(&row);
    result->legs = calloc(legs ? legs : 1, sizeof *result->legs);
    *states = calloc(legs ? legs : 1, sizeof **states);
    result->leg_count = legs;
    if (result->legs == NULL || *states == NULL) {
        status = ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
        goto fail;
    }
    journal_flush(j); /* leg updates still queued belong in what is read */
    pthread_mutex_lock(&j->lock);
    bool ok = journal_load_legs(j, execution_id, result, *states) &&
              journal_load_positions(j, execution_id, result);
    if (!ok)
        status = journal_fail(j, error, "reading an interrupted execution");
    pthread_mutex_unlock(&j->lock);
    if (status != PTX_OK)
        goto fail;
    journal_link_targets(result);
    return PTX_OK;
fail:
    free(*states);
    *states = NULL;
    exec_result_free(result);
    return status;
}

/* ---- JSON for history ----------------------------------------------------- */

static void write_time(json_writer *w, int64_t ms)
{
    if (ms <= 0) {
        json_write_null(w);
        return;
    }
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    char text[40];
    gmtime_r(&seconds, &utc);
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)(ms % 1000));
    json_write_string(w, text);
}

static void write_execution_fields(json_writer *w, const journal_execution *e)
{
    json_key_write(w, "execution_id");
    json_write_string(w, e->id);
    json_key_write(w, "broker");
    json_write_string(w, e->broker);
    json_key_write(w, "account_hash");
    json_write_string(w, e->account_hash);
    json_key_write(w, "status");
    json_write_string(w, e->status);
    json_key_write(w, "idempotency_key");
    json_write_text_or_null(w, e->idempotency_key);
    json_key_write(w, "orders");
    json_write_int(w, (int64_t)e->leg_count);
    json_key_write(w, "created_at");
    write_time(w, e->created_ms);
    json_key_write(w, "finished_at");
    write_time(w, e->finished_ms);
}

ptx_status journal_list_json(journal *j, const journal_filter *filter, char **json,
                             ptx_error *error)
{
    *json = NULL;
    journal_execution *items = NULL;
    size_t count = 0;
    ptx_status status = journal_list(j, filter, &items, &count, error);
    if (status != PTX_OK)
        return status;
    json_writer w;
    json_writer_init(&w);
    json_object_begin(&w);
    json_key_write(&w, "executions");
    json_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        json_object_begin(&w);
        write_execution_fields(&w, &items[i]);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
    journal_list_free(items, count);
    *json = json_writer_finish(&w, NULL);
    return *json ? PTX_OK : ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
}

static void write_leg_fields(json_writer *w, sqlite3_stmt *legs)
{
    json_key_write(w, "leg_index");
    json_write_int(w, sqlite3_column_int64(legs, 0));
    json_key_write(w, "sequence");
    json_write_int(w, sqlite3_column_int64(legs, 1));
    json_key_write(w, "symbol");
    json_write_string(w, (const char *)sqlite3_column_text(legs, 2));
    json_key_write(w, "side");
    json_write_string(w, (const char *)sqlite3_column_text(legs, 3));
    json_key_write(w, "quantity");
    json_write_int(w, sqlite3_column_int64(legs, 4));
    json_key_write(w, "client_order_id");
    json_write_string(w, (const char *)sqlite3_column_text(legs, 5));
    json_key_write(w, "state");
    json_write_string(w, (const char *)sqlite3_column_text(legs, 6));
    json_key_write(w, "order_id");
    json_write_text_or_null(w, (const char *)sqlite3_column_text(legs, 7));
    json_key_write(w, "filled_quantity");
    json_write_int(w, sqlite3_column_int64(legs, 8));
    json_key_write(w, "average_price");
    if (sqlite3_column_int64(legs, 8) > 0)
        json_write_double(w, sqlite3_column_double(legs, 9));
    else
        json_write_null(w);
    json_key_write(w, "attempts");
    json_write_int(w, sqlite3_column_int64(legs, 10));
    json_key_write(w, "reason");
    json_write_text_or_null(w, (const char *)sqlite3_column_text(legs, 11));
}

/* Writes the events of leg `index`; `events` is stepped in leg order and
 * `*rc` holds its last step result. */
static void write_leg_events(json_writer *w, sqlite3_stmt *events, int64_t index, int *rc)
{
    json_key_write(w, "events");
    json_array_begin(w);
    while (*rc == SQLITE_ROW && sqlite3_column_int64(events, 0) <= index) {
        if (sqlite3_column_int64(events, 0) == index) {
            json_object_begin(w);
            json_key_write(w, "at");
            write_time(w, sqlite3_column_int64(events, 1));
            json_key_write(w, "state");
            json_write_string(w, (const char *)sqlite3_column_text(events, 2));
            json_key_write(w, "detail");
            json_write_text_or_null(w, (const char *)sqlite3_column_text(events, 3));
            json_object_end(w);
        }
        *rc = sqlite3_step(events);
    }
    json_array_end(w);
}

/* The "legs" array of journal_show_json; false on a read failure. */
static bool write_show_legs(journal *j, json_writer *w, const char *id)
{
    sqlite3_stmt *legs = journal_stmt_get(j, STMT_LOAD_LEGS);
    sqlite3_stmt *events = journal_stmt_get(j, STMT_LEG_EVENTS);
    if (legs == NULL || events == NULL)
        return false;
    bind_text(legs, 1, id);
    bind_text(events, 1, id);
    json_key_write(w, "legs");
    json_array_begin(w);
    int rc_events = sqlite3_step(events);
    int rc;
    while ((rc = sqlite3_step(legs)) == SQLITE_ROW) {
        json_object_begin(w);
        write_leg_fields(w, legs);
        write_leg_events(w, events, sqlite3_column_int64(legs, 0), &rc_events);
        json_object_end(w);
    }
    json_array_end(w);
    bool ok = rc == SQLITE_DONE && (rc_events == SQLITE_DONE || rc_events == SQLITE_ROW);
    sqlite3_reset(legs);
    sqlite3_reset(events);
    return ok;
}

ptx_status journal_show_json(journal *j, const char *execution_id, char **json, ptx_error *error)
{
    *json = NULL;
    journal_flush(j); /* leg updates still queued belong in what is shown */
    journal_execution row;
    ptx_status status = journal_get(j, execution_id, &row, error);
    if (status == PTX_NOT_FOUND)
        return ptx_fail(error, PTX_NOT_FOUND, NULL, "no execution '%s' in the journal",
                        execution_id);
    if (status != PTX_OK)
        return status;
    json_writer w;
    json_writer_init(&w);
    json_object_begin(&w);
    write_execution_fields(&w, &row);
    json_key_write(&w, "response");
    if (row.response != NULL)
        json_write_raw(&w, row.response);
    else
        json_write_null(&w);
    pthread_mutex_lock(&j->lock);
    bool ok = write_show_legs(j, &w, row.id);
    if (!ok)
        status = journal_fail(j, error, "reading the legs of an execution");
    pthread_mutex_unlock(&j->lock);
    json_object_end(&w);
    journal_execution_clear(&row);
    if (status != PTX_OK) {
        json_writer_discard(&w);
        return status;
    }
    *json = json_writer_finish(&w, NULL);
    return *json ? PTX_OK : ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
}
