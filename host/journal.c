/*
 * The write-ahead journal (design §1 step 9), in WAL mode; the design is in
 * docs/journal-design.md.
 *
 * Writes are jobs in one FIFO (the Redis bio.c shape: a job struct, one
 * mutex, a condition variable for the writer and one for the callers). One
 * writer thread owns the writing connection; it takes every job queued and
 * commits them in one BEGIN IMMEDIATE transaction, so concurrent executions
 * share commits without waiting for each other longer than one commit. Reads
 * use a second connection under read_lock (WAL lets it read while the writer
 * writes), except for ":memory:", where both share one connection and the
 * writer holds read_lock while it writes. Statements are prepared once per
 * connection and cached.
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
 *      way to partial indexes of running and unsettled executions.
 * A new file is created at version 1 and migrated like any old file, so the
 * migration path runs every time a journal is made.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "json.h"
#include "log.h"
#include "retry.h"

#define JOURNAL_DEFAULT_BUSY_MS 2000u
#define JOURNAL_DEFAULT_LIMIT 50u
#define JOURNAL_MAX_LIMIT 10000u
#define JOURNAL_MESSAGE_MAX 512
#define JOURNAL_CHECKPOINT_PAGES 1000 /* WAL pages past which the writer checkpoints */
#define JOURNAL_SMALL_CACHE_KIB "256" /* the page cache of the reading connection */
/* Queued jobs nobody waits for (journal_record_noop) past which the next
 * one waits for room: the queue's memory stays bounded when the disk cannot
 * keep up. */
#define JOURNAL_UNWAITED_MAX 1024
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
    STMT_INSERT_NOOP,
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
    [STMT_INSERT_NOOP] =
        "INSERT INTO executions(id, broker, account_hash, idempotency_key, request_hash, status,"
        " owner, leg_count, created_ms, updated_ms, legs, positions, response, finished_ms)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?11, ?6, ?7, ?8, ?13, ?9, ?10, ?12, ?13)",
    [STMT_INSERT_EVENTS] = "INSERT INTO events(execution_id, data) VALUES(?1, ?2)",
    [STMT_SETTLE] = "UPDATE executions SET unsettled = ?2, updated_ms = ?3 WHERE id = ?1",
    [STMT_UNSETTLED] = "SELECT id FROM executions WHERE unsettled > 0 AND status <> 'RUNNING'"
                       " AND broker = ?1 AND account_hash = ?2 ORDER BY rowid",
    [STMT_FINISH] = "UPDATE executions SET status = ?4, response = ?5, finished_ms = ?3,"
                    " unsettled = ?2, updated_ms = ?3 WHERE id = ?1",
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
        " SELECT l.key, l.value ->> 0, l.value ->> 1, l.value ->> 2,"
        " coalesce(last.v ->> 10, l.value ->> 3),"
        " coalesce(last.v ->> 11, l.value ->> 4), coalesce(last.v ->> 2, 'PENDING_SEND'),"
        " coalesce(last.v ->> 4, ''),"
        " coalesce(last.v ->> 5, 0), coalesce(last.v ->> 6, 0.0), coalesce(last.v ->> 7, 0),"
        " coalesce(last.v ->> 8, ''), l.value ->> 3, coalesce(last.v ->> 12, 0),"
        " coalesce(last.v ->> 13, 0), coalesce(last.v ->> 14, 0.0), coalesce(last.v ->> 15, 0.0)"
        " FROM executions i, json_each(i.legs) l"
        " LEFT JOIN last ON last.leg_index = l.key WHERE i.id = ?1 ORDER BY l.key",
    [STMT_LOAD_POSITIONS] = "SELECT p.value ->> 0, p.value ->> 1, p.value ->> 2 FROM executions i,"
                            " json_each(i.positions) p WHERE i.id = ?1 ORDER BY p.key",
    [STMT_LEG_EVENTS] = "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2,"
                        " coalesce(j.value ->> 3, '') FROM events e, json_each(e.data) j"
                        " WHERE e.execution_id = ?1 AND coalesce(j.value ->> 9, 0) = 0"
                        " ORDER BY 1, e.seq, j.key",
    [STMT_RUNNING] = "SELECT count(*) FROM executions WHERE status = 'RUNNING'",
};

/* What a job writes. */
typedef enum job_kind {
    JOB_BEGIN,  /* an execution's intent: its RUNNING row */
    JOB_NOOP,   /* an execution that placed nothing: its finished row */
    JOB_EVENT,  /* one leg state */
    JOB_FINISH, /* an execution's end */
    JOB_SETTLE  /* a finished execution's count of unknown legs */
} job_kind;

/*
 * One write for the writer thread. A job owns its strings. The caller of a
 * waited job sleeps until the writer sets `done` (both under journal.lock);
 * a job nobody waits for is freed by the writer.
 */
typedef struct journal_job {
    struct journal_job *next;
    job_kind kind;
    bool wait;
    bool done;
    ptx_status status;
    char message[JOURNAL_MESSAGE_MAX];
    int64_t now;
    int64_t created_ms;
    char execution_id[IDS_EXECUTION_ID_MAX];
    char broker[REQUEST_BROKER_MAX];
    char account_hash[IDS_ACCOUNT_HASH_MAX];
    char key[REQUEST_IDEMPOTENCY_KEY_MAX];
    char request_hash[JOURNAL_HASH_MAX];
    char owner[JOURNAL_OWNER_MAX];
    size_t leg_count;
    exec_status exec_status; /* JOB_NOOP, JOB_FINISH */
    size_t unsettled;        /* JOB_FINISH, JOB_SETTLE: legs whose last state is UNKNOWN */
    char *legs;              /* JOB_BEGIN, JOB_NOOP: the intent's JSON */
    char *positions;
    char *response; /* JOB_NOOP, JOB_FINISH */
    char *events;   /* JOB_EVENT: [[leg_index, at_ms, state, …]] */
} journal_job;

/* One running execution: which of its legs were last recorded UNKNOWN,
 * for the count its end stores. Used by one thread at a time. */
struct journal_run {
    journal *j;
    const exec_result *result; /* borrowed: outlives the run */
    unsigned char *unknown;    /* per leg */
};

struct journal {
    char *path;
    bool memory; /* ":memory:": one connection for reads and writes */
    /* The reading connection (every read, and open-time schema work) and
     * its cached statements, under read_lock. */
    sqlite3 *db;
    pthread_mutex_t read_lock;
    sqlite3_stmt *stmts[STMT_COUNT];
    /* The writing connection, used by the writer thread alone (`db` for
     * ":memory:", the writer then holding read_lock while it writes). */
    sqlite3 *wdb;
    sqlite3_stmt *wstmts[STMT_COUNT];
    int wal_pages; /* writer: the WAL's size after its last commit */
    pthread_t writer;
    bool started;
    /* The queue: a FIFO of jobs under `lock`; the writer waits on `work`,
     * callers of waited jobs on `done`. */
    pthread_mutex_t lock;
    pthread_cond_t work;
    pthread_cond_t done;
    journal_job *head;
    journal_job *tail;
    size_t unwaited; /* queued or being written, nobody waiting for them */
    bool stop;
    /* The files opened (journal_check_file): device and inode of the
     * database and of its WAL (wal_known false when there was none). */
    dev_t dev, wal_dev;
    ino_t ino, wal_ino;
    bool wal_known;
    bool file_lost; /* under `lock`: the last check found them gone */
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
    pthread_mutex_lock(&j->read_lock);
    if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&j->read_lock);
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

/* ---- files ------------------------------------------------------------------ */

/* Creates the journal file 0600 whatever the umask, when it does not exist
 * yet: SQLite then gives its WAL and shared-memory files the same mode. A
 * path that cannot be created is left for sqlite3_open to report. */
static void journal_create_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (fchmod(fd, 0600) != 0)
        log_write(LOG_WARN, "journal", "journal %s: cannot make it 0600: %s", path,
                  strerror(errno));
    close(fd);
}

/* Remembers which files the journal opened (see journal_check_file). */
static void journal_note_files(journal *j)
{
    struct stat st;
    char wal[4096];
    if (stat(j->path, &st) == 0) {
        j->dev = st.st_dev;
        j->ino = st.st_ino;
    }
    snprintf(wal, sizeof wal, "%s-wal", j->path);
    j->wal_known = stat(wal, &st) == 0;
    if (j->wal_known) {
        j->wal_dev = st.st_dev;
        j->wal_ino = st.st_ino;
    }
}

/* True when `path` is the file `dev`/`ino`. */
static bool same_file(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

ptx_status journal_check_file(journal *j, ptx_error *error)
{
    if (j->memory)
        return PTX_OK;
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", j->path);
    bool present = same_file(j->path, j->dev, j->ino) &&
                   (!j->wal_known || same_file(wal, j->wal_dev, j->wal_ino));
    pthread_mutex_lock(&j->lock);
    bool changed = present == j->file_lost;
    j->file_lost = !present;
    pthread_mutex_unlock(&j->lock);
    if (changed && !present)
        log_write(LOG_ERROR, "journal",
                  "journal %s: the file (or its WAL) was deleted or replaced while open; "
                  "executions are refused until ptexec reopens the journal (restart it)",
                  j->path);
    else if (changed)
        log_write(LOG_WARN, "journal", "journal %s: the file opened is back; executions run again",
                  j->path);
    if (present)
        return PTX_OK;
    return ptx_fail(error, PTX_JOURNAL, NULL,
                    "the journal file was deleted or replaced while open; executions are refused "
                    "until the journal is reopened");
}

/* ---- the writer (its thread alone) --------------------------------------------- */

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

/* Records why `job` failed: "journal PATH: WHAT failed: sqlite's message". */
static void job_fail(journal *j, journal_job *job, const char *what)
{
    job->status = PTX_JOURNAL;
    snprintf(job->message, sizeof job->message, "journal %s: %s failed: %s", j->path, what,
             sqlite3_errmsg(j->wdb));
}

/* An execution's row: its intent (JOB_BEGIN), or all of it (JOB_NOOP). A
 * reused key fails this INSERT alone (a statement is atomic), not the rest
 * of the commit. */
static void writer_insert(journal *j, journal_job *job)
{
    bool noop = job->kind == JOB_NOOP;
    sqlite3_stmt *stmt = writer_stmt(j, noop ? STMT_INSERT_NOOP : STMT_INSERT_EXECUTION);
    if (stmt != NULL) {
        bind_static(stmt, 1, job->execution_id);
        bind_static(stmt, 2, job->broker);
        bind_static(stmt, 3, job->account_hash);
        bind_text_or_null(stmt, 4, job->key);
        bind_static(stmt, 5, job->request_hash);
        bind_static(stmt, 6, job->owner);
        sqlite3_bind_int64(stmt, 7, (sqlite3_int64)job->leg_count);
        sqlite3_bind_int64(stmt, 8, job->created_ms);
        bind_static(stmt, 9, job->legs);
        bind_static(stmt, 10, job->positions);
    }
    if (stmt != NULL && noop) {
        bind_static(stmt, 11, exec_status_name(job->exec_status));
        bind_static(stmt, 12, job->response);
        sqlite3_bind_int64(stmt, 13, job->now);
    }
    if (stmt != NULL && journal_step_done(stmt))
        return;
    if (sqlite3_extended_errcode(j->wdb) == SQLITE_CONSTRAINT_UNIQUE) {
        job->status = PTX_CONFLICT;
        snprintf(job->message, sizeof job->message,
                 "idempotency key already used for this %s account", job->broker);
    } else {
        job_fail(j, job, "recording the intent of an execution");
    }
}

static void writer_event(journal *j, journal_job *job)
{
    sqlite3_stmt *stmt = writer_stmt(j, STMT_INSERT_EVENTS);
    if (stmt != NULL) {
        bind_static(stmt, 1, job->execution_id);
        bind_static(stmt, 2, job->events);
    }
    if (stmt == NULL || !journal_step_done(stmt))
        job_fail(j, job, "recording a leg state");
}

/* An execution's end (JOB_FINISH) or its count of unknown legs (JOB_SETTLE). */
static void writer_finish(journal *j, journal_job *job)
{
    bool finish = job->kind == JOB_FINISH;
    sqlite3_stmt *stmt = writer_stmt(j, finish ? STMT_FINISH : STMT_SETTLE);
    if (stmt != NULL) {
        bind_static(stmt, 1, job->execution_id);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)job->unsettled);
        sqlite3_bind_int64(stmt, 3, job->now);
    }
    if (stmt != NULL && finish) {
        bind_static(stmt, 4, exec_status_name(job->exec_status));
        bind_static(stmt, 5, job->response);
    }
    if (stmt == NULL || !journal_step_done(stmt)) {
        job_fail(j, job, "recording the end of an execution");
    } else if (sqlite3_changes(j->wdb) != 1) {
        job->status = PTX_JOURNAL;
        snprintf(job->message, sizeof job->message,
                 "journal %s: recording the end of an execution failed: no execution %s", j->path,
                 job->execution_id);
    }
}

/* Writes one job inside the open transaction; false when its failure rolled
 * the transaction back. */
static bool writer_job(journal *j, journal_job *job)
{
    switch (job->kind) {
    case JOB_BEGIN:
    case JOB_NOOP:
        writer_insert(j, job);
        break;
    case JOB_EVENT:
        writer_event(j, job);
        break;
    case JOB_FINISH:
    case JOB_SETTLE:
        writer_finish(j, job);
        break;
    }
    return !sqlite3_get_autocommit(j->wdb);
}

/* Commits every job of `batch` in one transaction (group commit). When the
 * transaction fails nothing of it is stored, and every job of it fails
 * with that message. */
static void writer_commit(journal *j, journal_job *batch)
{
    char message[JOURNAL_MESSAGE_MAX] = "";
    if (j->memory)
        pthread_mutex_lock(&j->read_lock);
    if (!writer_simple(j, STMT_BEGIN))
        snprintf(message, sizeof message, "journal %s: beginning a write failed: %s", j->path,
                 sqlite3_errmsg(j->wdb));
    for (journal_job *job = batch; message[0] == '\0' && job != NULL; job = job->next)
        if (!writer_job(j, job))
            snprintf(message, sizeof message, "%s", job->message);
    if (message[0] == '\0' && !writer_simple(j, STMT_COMMIT))
        snprintf(message, sizeof message, "journal %s: committing failed: %s", j->path,
                 sqlite3_errmsg(j->wdb));
    int code = sqlite3_extended_errcode(j->wdb);
    if (message[0] != '\0' && !sqlite3_get_autocommit(j->wdb))
        writer_simple(j, STMT_ROLLBACK);
    if (j->memory)
        pthread_mutex_unlock(&j->read_lock);
    if (message[0] == '\0')
        return;
    size_t count = 0;
    for (journal_job *job = batch; job != NULL; job = job->next, count++)
        if (job->status != PTX_CONFLICT) {
            job->status = PTX_JOURNAL;
            snprintf(job->message, sizeof job->message, "%s", message);
        }
    log_write(LOG_ERROR, "journal",
              "%s (sqlite %d); none of the %zu writes of this commit is stored", message, code,
              count);
}

/* A job nobody waited for failed: its execution is not in the journal. */
static void log_unrecorded(const journal_job *job)
{
    log_write(LOG_ERROR, "journal",
              "execution %s broker=%s account=%s placed nothing and finished %s, but it is NOT "
              "RECORDED in the journal: %s",
              job->execution_id, job->broker, job->account_hash, exec_status_name(job->exec_status),
              job->message);
}

static void job_free(journal_job *job)
{
    if (job == NULL)
        return;
    free(job->legs);
    free(job->positions);
    free(job->response);
    free(job->events);
    free(job);
}

/* Hands a committed (or failed) batch back: waited jobs to their callers,
 * the others freed. */
static void writer_complete(journal *j, journal_job *batch)
{
    journal_job *unwaited = NULL;
    pthread_mutex_lock(&j->lock);
    while (batch != NULL) {
        journal_job *job = batch;
        batch = job->next;
        if (job->wait) {
            job->done = true; /* its caller owns it from here */
        } else {
            job->next = unwaited;
            unwaited = job;
            j->unwaited--;
        }
    }
    pthread_mutex_unlock(&j->lock);
    pthread_cond_broadcast(&j->done); /* unlocked: the callers woken need not wait for it */
    while (unwaited != NULL) {
        journal_job *job = unwaited;
        unwaited = job->next;
        if (job->status != PTX_OK)
            log_unrecorded(job);
        job_free(job);
    }
}

/* SQLite's WAL hook on the writing connection, after each commit. */
static int writer_wal_hook(void *context, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    ((journal *)context)->wal_pages = pages;
    return SQLITE_OK;
}

/* Copies the WAL back into the database once it has grown past
 * JOURNAL_CHECKPOINT_PAGES: between two commits, after the callers of the
 * last one were answered, so that no caller waits for it. */
static void writer_checkpoint(journal *j)
{
    if (j->wal_pages < JOURNAL_CHECKPOINT_PAGES)
        return;
    j->wal_pages = 0;
    int rc = sqlite3_wal_checkpoint_v2(j->wdb, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_write(LOG_WARN, "journal", "journal %s: checkpoint failed: %s (sqlite %d)", j->path,
                  sqlite3_errmsg(j->wdb), rc);
}

/* Waits for jobs and takes them all; NULL once the journal closes with
 * nothing left to write. */
static journal_job *writer_take(journal *j)
{
    pthread_mutex_lock(&j->lock);
    while (j->head == NULL && !j->stop)
        pthread_cond_wait(&j->work, &j->lock);
    journal_job *batch = j->head;
    j->head = NULL;
    j->tail = NULL;
    pthread_mutex_unlock(&j->lock);
    return batch;
}

static void *journal_writer_main(void *context)
{
    journal *j = context;
    prctl(PR_SET_NAME, "ptx-journal");
    journal_job *batch;
    while ((batch = writer_take(j)) != NULL) {
        writer_commit(j, batch);
        writer_complete(j, batch);
        writer_checkpoint(j);
    }
    return NULL;
}

/* ---- open and close ------------------------------------------------------------- */

/* Opens the writing connection (the reading one for ":memory:"); the writer
 * checkpoints between commits (writer_checkpoint), not inside them. */
static ptx_status journal_open_writer(journal *j, const journal_options *options, ptx_error *error)
{
    if (j->memory) {
        j->wdb = j->db;
        return PTX_OK;
    }
    if (sqlite3_open_v2(j->path, &j->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: opening the writer failed: %s", j->path,
                 j->wdb ? sqlite3_errmsg(j->wdb) : "out of memory");
        log_write(LOG_ERROR, "journal", "%s", error->message);
        return PTX_JOURNAL;
    }
    ptx_status status = journal_configure(j, j->wdb, options, error);
    if (status != PTX_OK)
        return status;
    sqlite3_exec(j->db, "PRAGMA cache_size = -" JOURNAL_SMALL_CACHE_KIB, NULL, NULL, NULL);
    sqlite3_wal_autocheckpoint(j->wdb, 0);
    sqlite3_wal_hook(j->wdb, writer_wal_hook, j);
    return PTX_OK;
}

/* Everything journal_open does once `j` is allocated. */
static ptx_status journal_setup(journal *j, const journal_options *options, ptx_error *error)
{
    if (!j->memory)
        journal_create_file(j->path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(j->path, &j->db, flags, NULL) != SQLITE_OK)
        return journal_fail(j, error, "opening");
    ptx_status status = journal_configure(j, j->db, options, error);
    if (status == PTX_OK)
        status = journal_migrate(j, error);
    if (status == PTX_OK)
        status = journal_prune(j, options->retention_days, error);
    if (status == PTX_OK)
        status = journal_open_writer(j, options, error);
    if (status != PTX_OK)
        return status;
    journal_note_files(j);
    if (pthread_create(&j->writer, NULL, journal_writer_main, j) != 0)
        return ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: cannot start its writer thread",
                        j->path);
    j->started = true;
    return PTX_OK;
}

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
    j->memory = strcmp(path, ":memory:") == 0 || path[0] == '\0';
    pthread_mutex_init(&j->read_lock, NULL);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->work, NULL);
    pthread_cond_init(&j->done, NULL);
    ptx_status status = journal_setup(j, options, error);
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
        pthread_mutex_lock(&j->lock);
        j->stop = true;
        pthread_cond_signal(&j->work);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->writer, NULL); /* it writes what is queued first */
    }
    for (size_t i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(j->stmts[i]);
        sqlite3_finalize(j->wstmts[i]);
    }
    if (!j->memory)
        sqlite3_close(j->wdb);
    sqlite3_close(j->db);
    pthread_cond_destroy(&j->done);
    pthread_cond_destroy(&j->work);
    pthread_mutex_destroy(&j->lock);
    pthread_mutex_destroy(&j->read_lock);
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

/* ---- queuing writes --------------------------------------------------------------- */

/* Queues `job` for the writer; a waited job returns once it is committed
 * (or failed), another only waits for room in the queue when
 * JOURNAL_UNWAITED_MAX such jobs are queued already. */
static void journal_submit(journal *j, journal_job *job)
{
    pthread_mutex_lock(&j->lock);
    while (!job->wait && j->unwaited >= JOURNAL_UNWAITED_MAX)
        pthread_cond_wait(&j->done, &j->lock);
    j->unwaited += !job->wait;
    job->next = NULL;
    if (j->tail != NULL)
        j->tail->next = job;
    else
        j->head = job;
    j->tail = job;
    pthread_cond_signal(&j->work);
    while (job->wait && !job->done)
        pthread_cond_wait(&j->done, &j->lock);
    pthread_mutex_unlock(&j->lock);
}

/* Submits a waited job, frees it and returns its outcome. */
static ptx_status journal_wait(journal *j, journal_job *job, ptx_error *error)
{
    journal_submit(j, job);
    ptx_status status = job->status;
    if (status != PTX_OK)
        ptx_fail(error, status, status == PTX_CONFLICT ? "idempotency_key" : NULL, "%s",
                 job->message);
    job_free(job);
    return status;
}

static ptx_status journal_no_memory(journal *j, ptx_error *error, const char *what)
{
    ptx_fail(error, PTX_JOURNAL, NULL, "journal %s: %s failed: out of memory", j->path, what);
    log_write(LOG_ERROR, "journal", "%s", error->message);
    return PTX_JOURNAL;
}

/* A waited job of `kind` for execution `execution_id`; NULL on no memory. */
static journal_job *job_new(job_kind kind, const char *execution_id)
{
    journal_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->kind = kind;
    job->wait = true;
    job->now = retry_wall_ms();
    job->created_ms = job->now;
    snprintf(job->execution_id, sizeof job->execution_id, "%s", execution_id);
    return job;
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

/* A JOB_BEGIN or JOB_NOOP job for the row of `result`; NULL on no memory. */
static journal_job *job_intent(job_kind kind, const exec_result *result, const char *key,
                               const char *request_hash, const char *owner)
{
    journal_job *job = job_new(kind, result->execution_id);
    if (job == NULL)
        return NULL;
    snprintf(job->broker, sizeof job->broker, "%s", result->broker);
    snprintf(job->account_hash, sizeof job->account_hash, "%s", result->account_hash);
    snprintf(job->key, sizeof job->key, "%s", key);
    snprintf(job->request_hash, sizeof job->request_hash, "%s", request_hash);
    snprintf(job->owner, sizeof job->owner, "%s", owner);
    job->leg_count = result->leg_count;
    job->exec_status = result->status;
    job->legs = intent_legs_json(result);
    job->positions = intent_positions_json(result);
    if (job->legs == NULL || job->positions == NULL) {
        job_free(job);
        return NULL;
    }
    return job;
}

/* A run of execution `result`; NULL on no memory. */
static journal_run *run_new(journal *j, const exec_result *result, const leg_state *states)
{
    journal_run *run = calloc(1, sizeof *run);
    unsigned char *unknown = calloc(result->leg_count ? result->leg_count : 1, 1);
    if (run == NULL || unknown == NULL) {
        free(run);
        free(unknown);
        return NULL;
    }
    for (size_t i = 0; states != NULL && i < result->leg_count; i++)
        unknown[i] = states[i] == LEG_STATE_UNKNOWN;
    run->j = j;
    run->result = result;
    run->unknown = unknown;
    return run;
}

void journal_run_end(journal_run *run)
{
    if (run == NULL)
        return;
    free(run->unknown);
    free(run);
}

ptx_status journal_begin(journal *j, const exec_result *result, const char *key,
                         const char *request_hash, const char *owner, journal_run **run,
                         ptx_error *error)
{
    *run = NULL;
    journal_run *made = run_new(j, result, NULL);
    journal_job *job = made ? job_intent(JOB_BEGIN, result, key, request_hash, owner) : NULL;
    if (job == NULL) {
        journal_run_end(made);
        return journal_no_memory(j, error, "recording the intent of an execution");
    }
    ptx_status status = journal_wait(j, job, error);
    if (status == PTX_OK)
        *run = made;
    else
        journal_run_end(made);
    return status;
}

ptx_status journal_record_noop(journal *j, const exec_result *result, const char *key,
                               const char *request_hash, const char *owner, const char *response,
                               ptx_error *error)
{
    journal_job *job = job_intent(JOB_NOOP, result, key, request_hash, owner);
    if (job != NULL) {
        job->created_ms = result->started_ms > 0 ? result->started_ms : job->now;
        job->response = strdup(response);
        job->wait = key[0] != '\0';
    }
    if (job == NULL || job->response == NULL) {
        job_free(job);
        return journal_no_memory(j, error, "recording an execution");
    }
    if (job->wait)
        return journal_wait(j, job, error);
    journal_submit(j, job); /* the writer frees it */
    return PTX_OK;
}

ptx_status journal_resume(journal *j, const exec_result *result, const leg_state *states,
                          journal_run **run, ptx_error *error)
{
    *run = run_new(j, result, states);
    return *run ? PTX_OK : journal_no_memory(j, error, "resuming an execution");
}

/* The event [[leg_index, at_ms, state, detail, order_id, filled_quantity,
 * average_price, attempts, reason]] of `leg`, as an events row holds it;
 * a leg the funds gate cut after its intent adds [0, quantity] (the carried
 * over mark, and the quantity it is placed at); a re-priced leg (legs.c)
 * adds [.., .., client_order_id, reprices, prior_filled, prior_value,
 * prior_charges]: the id of its current order and what its earlier orders
 * filled, so that recovery asks the broker for the right order and keeps
 * the earlier fills. */
static char *event_json(size_t leg_index, leg_state state, const exec_leg *leg, const char *detail)
{
    json_writer w;
    json_writer_init(&w);
    json_array_begin(&w);
    json_array_begin(&w);
    json_write_int(&w, (int64_t)leg_index);
    json_write_int(&w, retry_wall_ms());
    json_write_string(&w, leg_state_name(state));
    json_write_text_or_null(&w, detail);
    json_write_text_or_null(&w, leg->order_id);
    json_write_int(&w, leg->filled_quantity);
    json_write_double(&w, leg->average_price);
    json_write_int(&w, leg->attempts);
    json_write_text_or_null(&w, leg->reason);
    if (leg->requested_quantity != 0 || leg->reprices > 0) {
        json_write_int(&w, 0);
        if (leg->requested_quantity != 0) /* cut by the funds gate after its intent */
            json_write_int(&w, leg->quantity);
        else
            json_write_null(&w);
    }
    if (leg->reprices > 0) {
        json_write_string(&w, leg->client_order_id);
        json_write_int(&w, leg->reprices);
        json_write_int(&w, leg->prior_filled);
        json_write_double(&w, leg->prior_value);
        json_write_double(&w, leg->prior_charges);
    }
    json_array_end(&w);
    json_array_end(&w);
    return json_writer_finish(&w, NULL);
}

ptx_status journal_leg(journal_run *run, size_t leg_index, leg_state state, const exec_leg *leg,
                       const char *detail, ptx_error *error)
{
    journal *j = run->j;
    const char *id = run->result->execution_id;
    if (leg_index >= run->result->leg_count)
        return ptx_fail(error, PTX_INVALID, NULL,
                        "journal %s: recording a leg failed: no leg %zu in execution %s", j->path,
                        leg_index, id);
    run->unknown[leg_index] = state == LEG_STATE_UNKNOWN;
    journal_job *job = job_new(JOB_EVENT, id);
    if (job != NULL && (job->events = event_json(leg_index, state, leg, detail)) == NULL) {
        job_free(job);
        job = NULL;
    }
    if (job == NULL)
        return journal_no_memory(j, error, "recording a leg state");
    return journal_wait(j, job, error);
}

/* Legs of the run whose last state is UNKNOWN. */
static size_t run_unknown_count(const journal_run *run)
{
    size_t count = 0;
    for (size_t i = 0; i < run->result->leg_count; i++)
        count += run->unknown[i];
    return count;
}

ptx_status journal_finish(journal_run *run, exec_status status, const char *response,
                          ptx_error *error)
{
    journal_job *job = job_new(JOB_FINISH, run->result->execution_id);
    if (job != NULL) {
        job->exec_status = status;
        job->unsettled = run_unknown_count(run);
        job->response = strdup(response);
    }
    if (job == NULL || job->response == NULL) {
        job_free(job);
        return journal_no_memory(run->j, error, "recording the end of an execution");
    }
    return journal_wait(run->j, job, error);
}

ptx_status journal_settle(journal_run *run, size_t *remaining, ptx_error *error)
{
    *remaining = run_unknown_count(run);
    journal_job *job = job_new(JOB_SETTLE, run->result->execution_id);
    if (job == NULL)
        return journal_no_memory(run->j, error, "recording settled legs");
    job->unsettled = *remaining;
    return journal_wait(run->j, job, error);
}

ptx_status journal_unsettled(journal *j, const char *broker, const char *account_hash, char ***ids,
                             size_t *count, ptx_error *error)
{
    const char *params[] = {broker, account_hash};
    return journal_ids_query(j, STMT_UNSETTLED, params, 2, "reading legs to settle", ids, count,
                             error);
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
    pthread_mutex_lock(&j->read_lock);
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
    pthread_mutex_unlock(&j->read_lock);
    return status;
}

ptx_status journal_get(journal *j, const char *execution_id, journal_execution *out,
                       ptx_error *error)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&j->read_lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_GET);
    ptx_status status;
    if (stmt == NULL) {
        status = journal_fail(j, error, "reading an execution");
    } else {
        bind_text(stmt, 1, execution_id);
        status = journal_one_execution(j, stmt, out, error);
    }
    pthread_mutex_unlock(&j->read_lock);
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
    pthread_mutex_lock(&j->read_lock);
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
    pthread_mutex_unlock(&j->read_lock);
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
    pthread_mutex_lock(&j->read_lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, which);
    if (stmt == NULL) {
        status = journal_fail(j, error, what);
    } else {
        for (size_t i = 0; i < count_params; i++)
            bind_text(stmt, (int)i + 1, params[i]);
        status = journal_collect_ids(j, stmt, ids, count, error);
        sqlite3_reset(stmt);
    }
    pthread_mutex_unlock(&j->read_lock);
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
    pthread_mutex_lock(&j->read_lock);
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_RUNNING);
    if (stmt != NULL && sqlite3_step(stmt) == SQLITE_ROW)
        count = (long)sqlite3_column_int64(stmt, 0);
    if (stmt != NULL)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&j->read_lock);
    return count;
}

/* ---- recovery load -------------------------------------------------------- */

static void journal_read_leg(sqlite3_stmt *stmt, exec_leg *leg, leg_state *state)
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
    const unsigned char *name = sqlite3_column_text(stmt, 6);
    if (name == NULL || !leg_state_parse((const char *)name, state))
        *state = LEG_STATE_UNKNOWN; /* only the broker can tell */
    copy_column(stmt, 7, leg->order_id, sizeof leg->order_id);
    leg->filled_quantity = sqlite3_column_int64(stmt, 8);
    leg->average_price = sqlite3_column_double(stmt, 9);
    leg->attempts = (unsigned)sqlite3_column_int64(stmt, 10);
    copy_column(stmt, 11, leg->reason, sizeof leg->reason);
    int64_t intended = sqlite3_column_int64(stmt, 12);
    leg->requested_quantity = intended != leg->quantity ? intended : 0; /* the funds gate cut it */
    leg->reprices = (unsigned)sqlite3_column_int64(stmt, 13);
    leg->prior_filled = sqlite3_column_int64(stmt, 14);
    leg->prior_value = sqlite3_column_double(stmt, 15);
    leg->prior_charges = sqlite3_column_double(stmt, 16);
    leg->status = LEG_PLANNED;
}

static bool journal_load_legs(journal *j, const char *id, exec_result *result, leg_state *states)
{
    sqlite3_stmt *stmt = journal_stmt_get(j, STMT_LOAD_LEGS);
    if (stmt == NULL)
        return false;
    bind_text(stmt, 1, id);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < result->leg_count) {
        journal_read_leg(stmt, &result->legs[n], &states[n]);
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
                        leg_state **states, ptx_error *error)
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
    pthread_mutex_lock(&j->read_lock);
    bool ok = journal_load_legs(j, execution_id, result, *states) &&
              journal_load_positions(j, execution_id, result);
    if (!ok)
        status = journal_fail(j, error, "reading an interrupted execution");
    pthread_mutex_unlock(&j->read_lock);
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
    pthread_mutex_lock(&j->read_lock);
    bool ok = write_show_legs(j, &w, row.id);
    if (!ok)
        status = journal_fail(j, error, "reading the legs of an execution");
    pthread_mutex_unlock(&j->read_lock);
    json_object_end(&w);
    journal_execution_clear(&row);
    if (status != PTX_OK) {
        json_writer_discard(&w);
        return status;
    }
    *json = json_writer_finish(&w, NULL);
    return *json ? PTX_OK : ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
}
