/* Check suite for host/journal.c: schema and migration, write/read round
 * trip, idempotency lookups, orphans, retention, failures of the file,
 * durability of each leg state across SIGKILL, file modes, a journal file
 * deleted or replaced under an open journal. The
 * test reaches into the file with sqlite3 itself to build a version-1
 * journal and to age rows; host code other than journal.c never does. */
#include <check.h>
#include <sqlite3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "retry.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    char *path;
} fixture;

static fixture fixture_new(void)
{
    fixture f;
    f.dir = tu_tempdir();
    f.path = tu_format("%s/journal.db", f.dir);
    return f;
}

static void fixture_free(fixture *f)
{
    char *command = tu_format("rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(f->path);
    free(f->dir);
}

static journal *open_ok(const char *path, unsigned retention_days)
{
    journal_options options = {.retention_days = retention_days};
    journal *j = NULL;
    ptx_error error;
    ck_assert_msg(journal_open(path, &options, &j, &error) == PTX_OK, "open: %s", error.message);
    return j;
}

/* Runs raw SQL on the file with a connection of our own. */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    ck_assert_msg(rc == SQLITE_OK, "sql: %s", message ? message : "?");
    sqlite3_free(message);
    sqlite3_close(db);
}

static long raw_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    long count = (long)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return count;
}

/* An execution of two legs (SELL TCS 5 first, BUY RELIANCE 10) and three
 * positions, with id `id` on account `account`. */
static void make_result(exec_result *r, const char *id, const char *account)
{
    memset(r, 0, sizeof *r);
    snprintf(r->execution_id, sizeof r->execution_id, "%s", id);
    snprintf(r->broker, sizeof r->broker, "zerodha");
    snprintf(r->account_hash, sizeof r->account_hash, "%s", account);
    r->legs = calloc(2, sizeof *r->legs);
    r->positions = calloc(3, sizeof *r->positions);
    r->leg_count = 2;
    r->position_count = 3;
    const char *symbols[] = {"RELIANCE", "TCS", "INFY"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(r->positions[i].symbol, BROKER_SYMBOL_MAX, "%s", symbols[i]);
        r->positions[i].before = (int64_t)(10 * (i + 1));
        r->positions[i].target = (int64_t)(20 * i);
    }
    snprintf(r->legs[0].symbol, BROKER_SYMBOL_MAX, "RELIANCE");
    r->legs[0].side = BROKER_SIDE_BUY;
    r->legs[0].quantity = 10;
    r->legs[0].sequence = 2;
    snprintf(r->legs[0].client_order_id, BROKER_CLIENT_ORDER_ID_MAX, "%sL0", id + 3);
    snprintf(r->legs[1].symbol, BROKER_SYMBOL_MAX, "TCS");
    r->legs[1].side = BROKER_SIDE_SELL;
    r->legs[1].quantity = 5;
    r->legs[1].sequence = 1;
    r->legs[1].target_index = 1;
    snprintf(r->legs[1].client_order_id, BROKER_CLIENT_ORDER_ID_MAX, "%sL1", id + 3);
}

/* journal_begin for a test that writes no leg state: ends the run at once. */
static ptx_status begin_only(journal *j, const exec_result *r, const char *key, const char *hash,
                             const char *owner, ptx_error *error)
{
    journal_run *run = NULL;
    ptx_status status = journal_begin(j, r, key, hash, owner, &run, error);
    ck_assert(status == PTX_OK ? run != NULL : run == NULL);
    journal_run_end(run);
    return status;
}

START_TEST(test_new_file_has_current_schema)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                       "('executions','events','legs','leg_events',"
                                       "'executions_running')"),
                     5);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                       "('intents','executions_created','executions_status')"),
                     0);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM sqlite_master WHERE type = 'view'"
                                       " AND name IN ('legs','leg_events')"),
                     2);
    char *wal = tu_format("%s-wal", f.path);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(f.path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    free(wal);
    fixture_free(&f);
}
END_TEST

START_TEST(test_migrates_version_1)
{
    fixture f = fixture_new();
    raw_sql(f.path,
            "CREATE TABLE executions(id TEXT PRIMARY KEY, broker TEXT NOT NULL,"
            " account_hash TEXT NOT NULL, idempotency_key TEXT, status TEXT NOT NULL,"
            " created_ms INTEGER NOT NULL, finished_ms INTEGER, response TEXT);"
            "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash,"
            " idempotency_key);"
            "CREATE TABLE legs(execution_id TEXT NOT NULL, leg_index INTEGER NOT NULL,"
            " sequence INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,"
            " quantity INTEGER NOT NULL, client_order_id TEXT NOT NULL, status TEXT NOT NULL,"
            " order_id TEXT, filled_quantity INTEGER NOT NULL DEFAULT 0,"
            " average_price REAL NOT NULL DEFAULT 0, reason TEXT, created_ms INTEGER NOT NULL,"
            " updated_ms INTEGER NOT NULL, PRIMARY KEY(execution_id, leg_index));"
            "INSERT INTO executions VALUES('ex-OLD', 'zerodha', 'abcd', 'old-key', 'COMPLETED',"
            " 4102444800000, 4102444800100, '{\"old\":true}');"
            "INSERT INTO legs VALUES('ex-OLD', 0, 1, 'TCS', 'SELL', 5, 'OLDTAG0', 'FILLED',"
            " '42', 5, 100.5, NULL, 4102444800000, 4102444800100);"
            "PRAGMA user_version = 1;");
    journal *j = open_ok(f.path, 0);
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    journal_execution row;
    ptx_error error;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "abcd", "old-key", &row, &error), PTX_OK);
    ck_assert_str_eq(row.id, "ex-OLD");
    ck_assert_str_eq(row.response, "{\"old\":true}");
    ck_assert_uint_eq(row.leg_count, 1);
    journal_execution_clear(&row);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(j, "ex-OLD", &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"client_order_id\":\"OLDTAG0\""));
    ck_assert_ptr_nonnull(strstr(json, "\"response\":{\"old\":true}"));
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"FILLED\""));
    ck_assert_ptr_nonnull(strstr(json, "\"order_id\":\"42\""));
    ck_assert_ptr_nonnull(strstr(json, "\"events\":[]"));
    free(json);
    exec_result r;
    make_result(&r, "ex-NEW", "abcd");
    ck_assert_int_eq(begin_only(j, &r, "new-key", "h", "me", &error), PTX_OK);
    exec_result_free(&r);
    journal_close(j);
    j = open_ok(f.path, 0); /* opening again migrates nothing */
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* The version-2 schema as ptexec 0.1 wrote it (v1 tables plus migration 2). */
static const char schema_v2[] =
    "CREATE TABLE executions(id TEXT PRIMARY KEY, broker TEXT NOT NULL,"
    " account_hash TEXT NOT NULL, idempotency_key TEXT, status TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, finished_ms INTEGER, response TEXT,"
    " request_hash TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',"
    " leg_count INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash, idempotency_key);"
    "CREATE TABLE legs(execution_id TEXT NOT NULL, leg_index INTEGER NOT NULL,"
    " sequence INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,"
    " quantity INTEGER NOT NULL, client_order_id TEXT NOT NULL, status TEXT NOT NULL,"
    " order_id TEXT, filled_quantity INTEGER NOT NULL DEFAULT 0,"
    " average_price REAL NOT NULL DEFAULT 0, reason TEXT, created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(execution_id, leg_index));"
    "CREATE TABLE positions(execution_id TEXT NOT NULL, position_index INTEGER NOT NULL,"
    " symbol TEXT NOT NULL, before_quantity INTEGER NOT NULL, target_quantity INTEGER NOT NULL,"
    " PRIMARY KEY(execution_id, position_index));"
    "CREATE TABLE leg_events(execution_id TEXT NOT NULL, leg_index INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX leg_events_leg ON leg_events(execution_id, leg_index);"
    "CREATE INDEX executions_created ON executions(created_ms);"
    "CREATE INDEX executions_status ON executions(status);";

/* A version-2 journal (one finished execution, one interrupted with a leg
 * sent and a leg never sent) migrates to version 3: intents, current leg
 * states, timelines, responses and keys carry over. */
START_TEST(test_migrates_version_2)
{
    fixture f = fixture_new();
    char *sql = tu_format(
        "%s"
        "INSERT INTO executions VALUES('ex-DONE', 'zerodha', 'acct', 'k1', 'COMPLETED',"
        " 4102444800000, 4102444800100, '{\"done\":1}', 'h1', 'old', 1, 4102444800100);"
        "INSERT INTO executions VALUES('ex-HALF', 'zerodha', 'acct', NULL, 'RUNNING',"
        " 4102444800200, NULL, NULL, 'h2', 'old', 2, 4102444800200);"
        "INSERT INTO legs VALUES('ex-DONE', 0, 1, 'TCS', 'SELL', 5, 'DONE0', 'FILLED', 'O-1', 5,"
        " 101.25, NULL, 4102444800000, 4102444800090, 1);"
        "INSERT INTO legs VALUES('ex-HALF', 0, 2, 'INFY', 'BUY', 3, 'HALF0', 'PENDING_SEND',"
        " NULL, 0, 0, NULL, 4102444800200, 4102444800200, 0);"
        "INSERT INTO legs VALUES('ex-HALF', 1, 1, 'TCS', 'SELL', 2, 'HALF1', 'ACCEPTED', 'O-2',"
        " 0, 0, NULL, 4102444800200, 4102444800210, 1);"
        "INSERT INTO positions VALUES('ex-HALF', 0, 'INFY', 0, 3);"
        "INSERT INTO positions VALUES('ex-HALF', 1, 'TCS', 7, 5);"
        "INSERT INTO leg_events VALUES('ex-DONE', 0, 4102444800010, 'SENDING', NULL);"
        "INSERT INTO leg_events VALUES('ex-DONE', 0, 4102444800050, 'ACCEPTED', 'a');"
        "INSERT INTO leg_events VALUES('ex-DONE', 0, 4102444800090, 'FILLED', NULL);"
        "INSERT INTO leg_events VALUES('ex-HALF', 1, 4102444800205, 'SENDING', NULL);"
        "INSERT INTO leg_events VALUES('ex-HALF', 1, 4102444800210, 'ACCEPTED', NULL);"
        "PRAGMA user_version = 2;",
        schema_v2);
    raw_sql(f.path, sql);
    free(sql);
    journal *j = open_ok(f.path, 0);
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    ptx_error error;
    journal_execution row;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "acct", "k1", &row, &error), PTX_OK);
    ck_assert_str_eq(row.id, "ex-DONE");
    ck_assert_str_eq(row.response, "{\"done\":1}");
    journal_execution_clear(&row);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(j, "ex-DONE", &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"FILLED\""));
    ck_assert_ptr_nonnull(strstr(json, "\"order_id\":\"O-1\""));
    ck_assert_ptr_nonnull(strstr(json, "\"average_price\":101.25"));
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"SENDING\",\"detail\":null},{"));
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"ACCEPTED\",\"detail\":\"a\"},{"));
    ck_assert_ptr_null(strstr(json, "\"events\":[]"));
    free(json);
    /* the interrupted one is an orphan and loads for recovery as it was */
    char **ids = NULL;
    size_t count = 0;
    ck_assert_int_eq(journal_orphans(j, "zerodha", "acct", "new", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(ids[0], "ex-HALF");
    journal_ids_free(ids, count);
    exec_result r;
    leg_state *states = NULL;
    ck_assert_int_eq(journal_load(j, "ex-HALF", &r, &states, &error), PTX_OK);
    ck_assert_uint_eq(r.leg_count, 2);
    ck_assert_int_eq(states[0], LEG_STATE_PENDING_SEND);
    ck_assert_str_eq(r.legs[0].client_order_id, "HALF0");
    ck_assert_uint_eq(r.legs[0].sequence, 2);
    ck_assert_int_eq(states[1], LEG_STATE_ACCEPTED);
    ck_assert_str_eq(r.legs[1].order_id, "O-2");
    ck_assert_uint_eq(r.legs[1].attempts, 1);
    ck_assert_int_eq(r.legs[1].side, BROKER_SIDE_SELL);
    ck_assert_uint_eq(r.position_count, 2);
    ck_assert_str_eq(r.positions[1].symbol, "TCS");
    ck_assert_int_eq(r.positions[1].before, 7);
    ck_assert_int_eq(r.positions[1].target, 5);
    free(states);
    exec_result_free(&r);
    /* the old tables are gone; the views read the new ones */
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                       " AND name IN ('legs','positions','leg_events')"),
                     0);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE status = 'FILLED'"
                                       " AND order_id = 'O-1' AND filled_quantity = 5"),
                     1);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM leg_events"), 5);
    fixture_free(&f);
}
END_TEST

/* A version-3 journal (intents in a table of their own) migrates to
 * version 4: intents move onto the execution rows, the interrupted
 * execution still loads for recovery, and the views read the new layout. */
START_TEST(test_migrates_version_3)
{
    fixture f = fixture_new();
    raw_sql(f.path, "CREATE TABLE executions(id TEXT PRIMARY KEY, broker TEXT NOT NULL,"
                    " account_hash TEXT NOT NULL, idempotency_key TEXT, status TEXT NOT NULL,"
                    " created_ms INTEGER NOT NULL, finished_ms INTEGER, response TEXT,"
                    " request_hash TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',"
                    " leg_count INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL DEFAULT 0);"
                    "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash,"
                    " idempotency_key) WHERE idempotency_key IS NOT NULL;"
                    "CREATE INDEX executions_created ON executions(created_ms);"
                    "CREATE INDEX executions_status ON executions(status);"
                    "CREATE TABLE intents(execution_id TEXT PRIMARY KEY, legs TEXT NOT NULL,"
                    " positions TEXT NOT NULL) WITHOUT ROWID;"
                    "CREATE TABLE events(seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL,"
                    " data TEXT NOT NULL);"
                    "CREATE INDEX events_execution ON events(execution_id);"
                    "INSERT INTO executions VALUES('ex-DONE', 'zerodha', 'acct', 'k1', 'COMPLETED',"
                    " 4102444800000, 4102444800100, '{\"done\":1}', 'h1', 'old', 1, 4102444800100);"
                    "INSERT INTO executions VALUES('ex-HALF', 'zerodha', 'acct', NULL, 'RUNNING',"
                    " 4102444800200, NULL, NULL, 'h2', 'old', 2, 4102444800200);"
                    "INSERT INTO intents VALUES('ex-DONE', '[[1,\"TCS\",\"SELL\",5,\"DONE0\"]]',"
                    " '[[\"TCS\",5,0]]');"
                    "INSERT INTO intents VALUES('ex-HALF', '[[2,\"INFY\",\"BUY\",3,\"HALF0\"],"
                    "[1,\"TCS\",\"SELL\",2,\"HALF1\"]]', '[[\"INFY\",0,3],[\"TCS\",7,5]]');"
                    "INSERT INTO events(execution_id, data) VALUES('ex-DONE',"
                    " '[[0,4102444800010,\"SENDING\",null,null,0,0,1,null],"
                    "[0,4102444800090,\"FILLED\",null,\"O-1\",5,101.25,1,null]]');"
                    "INSERT INTO events(execution_id, data) VALUES('ex-HALF',"
                    " '[[1,4102444800210,\"ACCEPTED\",null,\"O-2\",0,0,1,null]]');"
                    "PRAGMA user_version = 3;");
    journal *j = open_ok(f.path, 0);
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    ptx_error error;
    journal_execution row;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "acct", "k1", &row, &error), PTX_OK);
    ck_assert_str_eq(row.response, "{\"done\":1}");
    journal_execution_clear(&row);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(j, "ex-DONE", &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"client_order_id\":\"DONE0\""));
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"FILLED\""));
    ck_assert_ptr_nonnull(strstr(json, "\"average_price\":101.25"));
    free(json);
    char **ids = NULL;
    size_t count = 0;
    ck_assert_int_eq(journal_orphans(j, "zerodha", "acct", "new", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    journal_ids_free(ids, count);
    ck_assert_int_eq(journal_orphans(j, "zerodha", "other", "new", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 0);
    exec_result r;
    leg_state *states = NULL;
    ck_assert_int_eq(journal_load(j, "ex-HALF", &r, &states, &error), PTX_OK);
    ck_assert_uint_eq(r.leg_count, 2);
    ck_assert_int_eq(states[0], LEG_STATE_PENDING_SEND);
    ck_assert_str_eq(r.legs[0].client_order_id, "HALF0");
    ck_assert_int_eq(states[1], LEG_STATE_ACCEPTED);
    ck_assert_str_eq(r.legs[1].order_id, "O-2");
    ck_assert_uint_eq(r.position_count, 2);
    ck_assert_int_eq(r.positions[1].before, 7);
    free(states);
    exec_result_free(&r);
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM sqlite_master WHERE name = 'intents'"),
                     0);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-HALF'"
                                       " AND client_order_id = 'HALF1' AND status = 'ACCEPTED'"),
                     1);
    fixture_free(&f);
}
END_TEST

/* The version-4 schema as ptexec wrote it before the journal became plain
 * (its .schema, views without their column comments). */
static const char schema_v4[] =
    "CREATE TABLE executions( id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_hash TEXT NOT"
    " NULL, idempotency_key TEXT, status TEXT NOT NULL, created_ms INTEGER NOT NULL, finished_ms"
    " INTEGER, response TEXT, request_hash TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT"
    " '', leg_count INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL DEFAULT 0, legs TEXT"
    " NOT NULL DEFAULT '[]', positions TEXT NOT NULL DEFAULT '[]', unsettled INTEGER NOT NULL"
    " DEFAULT 0);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, data TEXT NOT"
    " NULL);"
    "CREATE INDEX events_execution ON events(execution_id);"
    "CREATE UNIQUE INDEX executions_key ON executions(broker, account_hash, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE VIEW leg_events AS SELECT e.execution_id AS execution_id, j.value ->> 0 AS"
    " leg_index, j.value ->> 1 AS at_ms, j.value ->> 2 AS state, j.value ->> 3 AS detail,"
    " e.seq * 65536 + j.key AS seq FROM events e, json_each(e.data) j WHERE coalesce(j.value"
    " ->> 9, 0) = 0;"
    "CREATE INDEX executions_running ON executions(broker, account_hash) WHERE status ="
    " 'RUNNING';"
    "CREATE INDEX executions_unsettled ON executions(broker, account_hash) WHERE unsettled > 0;"
    "CREATE VIEW legs AS WITH ev AS (SELECT e.execution_id AS x, j.value ->> 0 AS leg_index,"
    " j.value AS v, e.seq * 65536 + j.key AS o FROM events e, json_each(e.data) j), last AS"
    " (SELECT x, leg_index, v, max(o) FROM ev GROUP BY x, leg_index) SELECT i.id AS"
    " execution_id, l.key AS leg_index, l.value ->> 0 AS sequence, l.value ->> 1 AS symbol,"
    " l.value ->> 2 AS side, l.value ->> 3 AS quantity, l.value ->> 4 AS client_order_id,"
    " coalesce(last.v ->> 2, 'PENDING_SEND') AS status, last.v ->> 4 AS order_id,"
    " coalesce(last.v ->> 5, 0) AS filled_quantity, coalesce(last.v ->> 6, 0.0) AS"
    " average_price, coalesce(last.v ->> 7, 0) AS attempts, last.v ->> 8 AS reason FROM"
    " executions i, json_each(i.legs) l LEFT JOIN last ON last.x = i.id AND last.leg_index ="
    " l.key;"
    "PRAGMA user_version = 4;";

/* A version-4 journal written by the group-commit writer (several events of
 * a commit in one row) opens as it is: a finished keyed execution replays,
 * an interrupted one loads for recovery, an unsettled one is listed, and new
 * executions are written beside them. */
START_TEST(test_opens_version_4)
{
    fixture f = fixture_new();
    char *sql =
        tu_format("%s"
                  "INSERT INTO executions VALUES('ex-DONE', 'zerodha', 'acct', 'k1', 'COMPLETED',"
                  " 4102444800000, 4102444800100, '{\"done\":1}', 'h1', 'old', 2, 4102444800100,"
                  " '[[1,\"TCS\",\"SELL\",2,\"DONE0\"],[2,\"INFY\",\"BUY\",1,\"DONE1\"]]',"
                  " '[[\"TCS\",5,3],[\"INFY\",8,9]]', 1);"
                  "INSERT INTO executions VALUES('ex-HALF', 'zerodha', 'acct', NULL, 'RUNNING',"
                  " 4102444800200, NULL, NULL, '', 'old', 2, 4102444800200,"
                  " '[[2,\"INFY\",\"BUY\",3,\"HALF0\"],[1,\"TCS\",\"SELL\",2,\"HALF1\"]]',"
                  " '[[\"INFY\",0,3],[\"TCS\",7,5]]', 0);"
                  "INSERT INTO events(execution_id, data) VALUES('ex-DONE',"
                  " '[[0,4102444800010,\"SENDING\",null,null,0,0,1,null],"
                  "[0,4102444800020,\"ACCEPTED\",null,\"O-1\",0,0,1,null],"
                  "[0,4102444800030,\"FILLED\",null,\"O-1\",2,101.25,1,null],"
                  "[1,4102444800040,\"SENDING\",null,null,0,0,1,null]]');"
                  "INSERT INTO events(execution_id, data) VALUES('ex-DONE',"
                  " '[[1,4102444800050,\"UNKNOWN\",\"timeout\",null,0,0,1,\"lost\"]]');"
                  "INSERT INTO events(execution_id, data) VALUES('ex-HALF',"
                  " '[[1,4102444800210,\"SENDING\",null,null,0,0,1,null],"
                  "[1,4102444800220,\"ACCEPTED\",null,\"O-2\",0,0,1,null]]');",
                  schema_v4);
    raw_sql(f.path, sql);
    free(sql);
    journal *j = open_ok(f.path, 0);
    ck_assert_int_eq(journal_schema_version(j), JOURNAL_SCHEMA_VERSION);
    ptx_error error;
    journal_execution row;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "acct", "k1", &row, &error), PTX_OK);
    ck_assert_str_eq(row.response, "{\"done\":1}");
    journal_execution_clear(&row);
    char **ids = NULL;
    size_t count = 0;
    ck_assert_int_eq(journal_orphans(j, "zerodha", "acct", "new", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(ids[0], "ex-HALF");
    journal_ids_free(ids, count);
    ck_assert_int_eq(journal_unsettled(j, "zerodha", "acct", &ids, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(ids[0], "ex-DONE");
    journal_ids_free(ids, count);
    exec_result r;
    leg_state *states = NULL;
    ck_assert_int_eq(journal_load(j, "ex-DONE", &r, &states, &error), PTX_OK);
    ck_assert_int_eq(states[0], LEG_STATE_FILLED);
    ck_assert_int_eq(states[1], LEG_STATE_UNKNOWN);
    ck_assert_str_eq(r.legs[1].reason, "lost");
    free(states);
    exec_result_free(&r);
    ck_assert_int_eq(journal_load(j, "ex-HALF", &r, &states, &error), PTX_OK);
    ck_assert_int_eq(states[0], LEG_STATE_PENDING_SEND);
    ck_assert_int_eq(states[1], LEG_STATE_ACCEPTED);
    ck_assert_str_eq(r.legs[1].order_id, "O-2");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_resume(j, &r, states, &run, &error), PTX_OK);
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_FILLED, &r.legs[1], "recovery", &error), PTX_OK);
    ck_assert_int_eq(journal_leg(run, 0, LEG_STATE_NOT_SENT, &r.legs[0], NULL, &error), PTX_OK);
    ck_assert_int_eq(journal_finish(run, EXEC_RECOVERED, "{}", &error), PTX_OK);
    journal_run_end(run);
    free(states);
    exec_result_free(&r);
    make_result(&r, "ex-NEW", "acct");
    ck_assert_int_eq(begin_only(j, &r, "k2", "h2", "new", &error), PTX_OK);
    exec_result_free(&r);
    char *json = NULL;
    ck_assert_int_eq(journal_show_json(j, "ex-DONE", &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"state\":\"UNKNOWN\",\"detail\":\"timeout\""));
    ck_assert_ptr_nonnull(strstr(json, "\"average_price\":101.25"));
    free(json);
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-HALF'"
                                       " AND status IN ('FILLED', 'NOT_SENT')"),
                     2);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM leg_events WHERE execution_id ="
                                       " 'ex-DONE'"),
                     5);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions WHERE status ="
                                       " 'RECOVERED'"),
                     1);
    fixture_free(&f);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    fixture f = fixture_new();
    raw_sql(f.path, "CREATE TABLE x(y); PRAGMA user_version = 99;");
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(f.path, NULL, &j, &error), PTX_JOURNAL);
    ck_assert_ptr_null(j);
    ck_assert_ptr_nonnull(strstr(error.message, f.path));
    ck_assert_ptr_nonnull(strstr(error.message, "newer"));
    fixture_free(&f);
}
END_TEST

START_TEST(test_round_trip)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    exec_result r;
    make_result(&r, "ex-A1", "acct1");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_begin(j, &r, "key-1", "hash-1", "owner-1", &run, &error), PTX_OK);
    ck_assert_int_eq(journal_running_count(j), 1);

    exec_leg *sell = &r.legs[1];
    sell->attempts = 1;
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_SENDING, sell, NULL, &error), PTX_OK);
    snprintf(sell->order_id, sizeof sell->order_id, "ORD-7");
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_ACCEPTED, sell, NULL, &error), PTX_OK);
    sell->filled_quantity = 5;
    sell->average_price = 3960.25;
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_FILLED, sell, NULL, &error), PTX_OK);

    exec_result loaded;
    leg_state *states = NULL;
    ck_assert_int_eq(journal_load(j, "ex-A1", &loaded, &states, &error), PTX_OK);
    ck_assert_uint_eq(loaded.leg_count, 2);
    ck_assert_uint_eq(loaded.position_count, 3);
    ck_assert_int_eq(states[0], LEG_STATE_PENDING_SEND);
    ck_assert_int_eq(states[1], LEG_STATE_FILLED);
    ck_assert_str_eq(loaded.legs[1].order_id, "ORD-7");
    ck_assert_int_eq(loaded.legs[1].filled_quantity, 5);
    ck_assert_int_eq(loaded.legs[1].side, BROKER_SIDE_SELL);
    ck_assert_uint_eq(loaded.legs[1].sequence, 1);
    ck_assert_uint_eq(loaded.legs[1].target_index, 1);
    ck_assert_str_eq(loaded.legs[0].client_order_id, r.legs[0].client_order_id);
    ck_assert_int_eq(loaded.positions[2].before, 30);
    ck_assert_int_eq(loaded.positions[2].target, 40);
    free(states);
    exec_result_free(&loaded);

    const char *response = "{\"execution_id\":\"ex-A1\",\"x\":[1,2.50,\"\\u00e9\"]}";
    ck_assert_int_eq(journal_finish(run, EXEC_PARTIAL, response, &error), PTX_OK);
    journal_run_end(run);
    ck_assert_int_eq(journal_running_count(j), 0);
    journal_execution row;
    ck_assert_int_eq(journal_get(j, "ex-A1", &row, &error), PTX_OK);
    ck_assert_str_eq(row.response, response); /* byte for byte */
    ck_assert_str_eq(row.status, "PARTIAL");
    ck_assert_str_eq(row.request_hash, "hash-1");
    ck_assert_int_gt(row.finished_ms, 0);
    journal_execution_clear(&row);

    char *json = NULL;
    ck_assert_int_eq(journal_show_json(j, "ex-A1", &json, &error), PTX_OK);
    const char *timeline = strstr(json, "\"leg_index\":1");
    ck_assert_ptr_nonnull(timeline);
    const char *sending = strstr(timeline, "\"state\":\"SENDING\"");
    const char *accepted = strstr(timeline, "\"state\":\"ACCEPTED\"");
    ck_assert_ptr_nonnull(sending);
    ck_assert_ptr_nonnull(accepted);
    ck_assert(sending < accepted);
    free(json);
    ck_assert_int_eq(journal_show_json(j, "ex-NOPE", &json, &error), PTX_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(error.message, "ex-NOPE"));
    exec_result_free(&r);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

START_TEST(test_idempotency_lookups)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    exec_result r;
    make_result(&r, "ex-K1", "acct1");
    ck_assert_int_eq(begin_only(j, &r, "same", "h1", "o", &error), PTX_OK);
    exec_result_free(&r);
    journal_execution row;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "acct1", "same", &row, &error), PTX_OK);
    ck_assert_str_eq(row.id, "ex-K1");
    ck_assert_ptr_null(row.response); /* still running */
    ck_assert_str_eq(row.status, "RUNNING");
    journal_execution_clear(&row);
    /* Keys are scoped per account and per broker. */
    ck_assert_int_eq(journal_find_key(j, "zerodha", "acct2", "same", &row, &error), PTX_NOT_FOUND);
    ck_assert_int_eq(journal_find_key(j, "fyers", "acct1", "same", &row, &error), PTX_NOT_FOUND);
    make_result(&r, "ex-K2", "acct2");
    ck_assert_int_eq(begin_only(j, &r, "same", "h2", "o", &error), PTX_OK);
    exec_result_free(&r);
    /* The same key on the same account cannot be taken twice. */
    make_result(&r, "ex-K3", "acct1");
    ck_assert_int_eq(begin_only(j, &r, "same", "h3", "o", &error), PTX_CONFLICT);
    ck_assert_int_eq(journal_get(j, "ex-K3", &row, &error), PTX_NOT_FOUND);
    /* No key: any number of executions. */
    ck_assert_int_eq(begin_only(j, &r, "", "h3", "o", &error), PTX_OK);
    exec_result_free(&r);
    make_result(&r, "ex-K4", "acct1");
    ck_assert_int_eq(begin_only(j, &r, "", "h4", "o", &error), PTX_OK);
    exec_result_free(&r);
    ck_assert_int_eq(journal_get(j, "ex-K4", &row, &error), PTX_OK);
    ck_assert_str_eq(row.idempotency_key, "");
    journal_execution_clear(&row);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

START_TEST(test_orphans_and_list)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    const char *ids[] = {"ex-O1", "ex-O2", "ex-O3"};
    const char *owners[] = {"dead", "alive", "dead"};
    const char *accounts[] = {"a1", "a1", "a2"};
    for (size_t i = 0; i < 3; i++) {
        exec_result r;
        make_result(&r, ids[i], accounts[i]);
        ck_assert_int_eq(begin_only(j, &r, "", "h", owners[i], &error), PTX_OK);
        exec_result_free(&r);
        retry_sleep_ms(2);
    }
    char **found = NULL;
    size_t count = 0;
    ck_assert_int_eq(journal_orphans(j, "zerodha", "a1", "alive", &found, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(found[0], "ex-O1");
    journal_ids_free(found, count);
    ck_assert_int_eq(journal_orphans(j, NULL, NULL, "alive", &found, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 2);
    journal_ids_free(found, count);
    exec_result o1;
    make_result(&o1, "ex-O1", "a1");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_resume(j, &o1, NULL, &run, &error), PTX_OK);
    ck_assert_int_eq(journal_finish(run, EXEC_RECOVERED, "{}", &error), PTX_OK);
    journal_run_end(run);
    exec_result_free(&o1);
    ck_assert_int_eq(journal_orphans(j, NULL, NULL, "alive", &found, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(found[0], "ex-O3");
    journal_ids_free(found, count);

    journal_execution *items = NULL;
    journal_filter filter = {.limit = 2};
    ck_assert_int_eq(journal_list(j, &filter, &items, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 2);
    ck_assert_str_eq(items[0].id, "ex-O3"); /* newest first */
    ck_assert_str_eq(items[1].id, "ex-O2");
    journal_list_free(items, count);
    filter = (journal_filter){.status = "RECOVERED"};
    ck_assert_int_eq(journal_list(j, &filter, &items, &count, &error), PTX_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(items[0].id, "ex-O1");
    journal_list_free(items, count);
    filter = (journal_filter){.broker = "fyers"};
    char *json = NULL;
    ck_assert_int_eq(journal_list_json(j, &filter, &json, &error), PTX_OK);
    ck_assert_str_eq(json, "{\"executions\":[]}");
    free(json);
    ck_assert_int_eq(journal_list_json(j, NULL, &json, &error), PTX_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"execution_id\":\"ex-O1\",\"broker\":\"zerodha\""));
    ck_assert_ptr_nonnull(strstr(json, "\"finished_at\":null"));
    free(json);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

START_TEST(test_retention)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    const char *ids[] = {"ex-R1", "ex-R2", "ex-R3"};
    exec_result r[3];
    journal_run *runs[3];
    for (size_t i = 0; i < 3; i++) {
        make_result(&r[i], ids[i], "a");
        ck_assert_int_eq(journal_begin(j, &r[i], "", "h", "o", &runs[i], &error), PTX_OK);
        ck_assert_int_eq(journal_leg(runs[i], 0, LEG_STATE_SENDING, &r[i].legs[0], NULL, &error),
                         PTX_OK);
    }
    ck_assert_int_eq(journal_finish(runs[0], EXEC_COMPLETED, "{}", &error), PTX_OK);
    ck_assert_int_eq(journal_finish(runs[1], EXEC_COMPLETED, "{}", &error), PTX_OK);
    for (size_t i = 0; i < 3; i++) {
        journal_run_end(runs[i]);
        exec_result_free(&r[i]);
    }
    journal_close(j);
    /* R1 finished 40 days ago, R2 today, R3 (old) still running. */
    int64_t old = retry_wall_ms() - 40LL * 86400000;
    char *sql = tu_format("UPDATE executions SET finished_ms = %lld, created_ms = %lld WHERE id "
                          "= 'ex-R1'; UPDATE executions SET created_ms = %lld WHERE id = 'ex-R3';",
                          (long long)old, (long long)old, (long long)old);
    raw_sql(f.path, sql);
    free(sql);
    j = open_ok(f.path, 0); /* 0 keeps everything */
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions"), 3);
    j = open_ok(f.path, 30);
    journal_execution row;
    ck_assert_int_eq(journal_get(j, "ex-R1", &row, &error), PTX_NOT_FOUND);
    ck_assert_int_eq(journal_get(j, "ex-R2", &row, &error), PTX_OK);
    journal_execution_clear(&row);
    ck_assert_int_eq(journal_get(j, "ex-R3", &row, &error), PTX_OK);
    journal_execution_clear(&row);
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id='ex-R1'"), 0);
    ck_assert_int_eq(
        raw_count(f.path, "SELECT count(*) FROM leg_events WHERE execution_id='ex-R1'"), 0);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions WHERE id='ex-R1'"), 0);
    fixture_free(&f);
}
END_TEST

START_TEST(test_unusable_paths)
{
    fixture f = fixture_new();
    journal *j = NULL;
    ptx_error error;
    char *missing = tu_format("%s/no/such/folder/j.db", f.dir);
    ck_assert_int_eq(journal_open(missing, NULL, &j, &error), PTX_JOURNAL);
    ck_assert_ptr_null(j);
    ck_assert_ptr_nonnull(strstr(error.message, missing));
    ck_assert_ptr_nonnull(strstr(error.message, "unable to open"));
    free(missing);
    /* A folder where the file should be. */
    ck_assert_int_eq(journal_open(f.dir, NULL, &j, &error), PTX_JOURNAL);
    ck_assert_ptr_nonnull(strstr(error.message, f.dir));
    /* A file that is not a database. */
    tu_write_file(f.path, "this is not an SQLite database, just text that is long enough to "
                          "fill a header of a hundred bytes or so..........................\n");
    ck_assert_int_eq(journal_open(f.path, NULL, &j, &error), PTX_JOURNAL);
    ck_assert_ptr_nonnull(strstr(error.message, "not a database"));
    fixture_free(&f);
}
END_TEST

START_TEST(test_sync_modes)
{
    journal_sync_mode mode = JOURNAL_SYNC_NORMAL;
    ck_assert(journal_parse_sync("full", &mode));
    ck_assert_int_eq(mode, JOURNAL_SYNC_FULL);
    ck_assert(journal_parse_sync("normal", &mode));
    ck_assert_int_eq(mode, JOURNAL_SYNC_NORMAL);
    ck_assert(!journal_parse_sync("off", &mode));
    fixture f = fixture_new();
    journal_options options = {.sync = JOURNAL_SYNC_FULL};
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(f.path, &options, &j, &error), PTX_OK);
    exec_result r;
    make_result(&r, "ex-S1", "a");
    ck_assert_int_eq(begin_only(j, &r, "", "h", "o", &error), PTX_OK);
    exec_result_free(&r);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* Every leg state is in the file when journal_leg returns, in both sync
 * modes (read by another connection while the journal is open). */
static void check_states_committed_when_reported(journal_sync_mode sync)
{
    fixture f = fixture_new();
    journal_options options = {.sync = sync};
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(f.path, &options, &j, &error), PTX_OK);
    exec_result r;
    make_result(&r, "ex-Q1", "a");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_begin(j, &r, "", "h", "o", &run, &error), PTX_OK);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-Q1'"
                                       " AND status = 'PENDING_SEND'"),
                     2);
    for (size_t i = 0; i < 2; i++) {
        exec_leg *leg = &r.legs[i];
        ck_assert_int_eq(journal_leg(run, i, LEG_STATE_SENDING, leg, NULL, &error), PTX_OK);
        ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id ="
                                           " 'ex-Q1' AND status = 'SENDING'"),
                         1);
        snprintf(leg->order_id, sizeof leg->order_id, "ORD-%zu", i);
        ck_assert_int_eq(journal_leg(run, i, LEG_STATE_ACCEPTED, leg, "accepted", &error), PTX_OK);
        ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id ="
                                           " 'ex-Q1' AND status = 'ACCEPTED' AND order_id LIKE"
                                           " 'ORD-%'"),
                         1);
        leg->filled_quantity = leg->quantity;
        ck_assert_int_eq(journal_leg(run, i, LEG_STATE_FILLED, leg, NULL, &error), PTX_OK);
    }
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-Q1'"
                                       " AND status = 'FILLED' AND filled_quantity = quantity"),
                     2);
    ck_assert_int_eq(journal_finish(run, EXEC_COMPLETED, "{}", &error), PTX_OK);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM leg_events WHERE execution_id ="
                                       " 'ex-Q1'"),
                     6);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM leg_events WHERE execution_id ="
                                       " 'ex-Q1' AND state = 'ACCEPTED' AND detail = 'accepted'"),
                     2);
    /* A state of a leg the execution does not have is refused at once. */
    ck_assert_int_eq(journal_leg(run, 7, LEG_STATE_FILLED, &r.legs[0], NULL, &error), PTX_INVALID);
    ck_assert_ptr_nonnull(strstr(error.message, "no leg 7"));
    journal_run_end(run);
    exec_result_free(&r);
    journal_close(j);
    fixture_free(&f);
}

START_TEST(test_states_committed_when_reported)
{
    check_states_committed_when_reported(JOURNAL_SYNC_NORMAL);
    check_states_committed_when_reported(JOURNAL_SYNC_FULL);
}
END_TEST

/* Under journal_sync = full, journal_leg returns once the state is
 * committed; a reused key fails only its own intent, not a concurrent one. */
START_TEST(test_full_mode_leg_is_synchronous)
{
    fixture f = fixture_new();
    journal_options options = {.sync = JOURNAL_SYNC_FULL};
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(f.path, &options, &j, &error), PTX_OK);
    exec_result r;
    make_result(&r, "ex-F1", "a");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_begin(j, &r, "k", "h", "o", &run, &error), PTX_OK);
    snprintf(r.legs[1].order_id, sizeof r.legs[1].order_id, "ORD-1");
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_ACCEPTED, &r.legs[1], NULL, &error), PTX_OK);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-F1'"
                                       " AND status = 'ACCEPTED' AND order_id = 'ORD-1'"),
                     1);
    exec_result again;
    make_result(&again, "ex-F2", "a");
    ck_assert_int_eq(begin_only(j, &again, "k", "h", "o", &error), PTX_CONFLICT);
    ck_assert_str_eq(error.field, "idempotency_key");
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-F2'"),
                     0);
    exec_result_free(&again);
    journal_run_end(run);
    exec_result_free(&r);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* An execution that placed nothing is one row. Without a key nobody waits
 * for it, and closing the journal writes it; with a key the caller waits,
 * and a key already used is refused. */
START_TEST(test_noop_is_one_row)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    exec_result r;
    make_result(&r, "ex-N1", "a");
    r.leg_count = 0;
    r.status = EXEC_NOOP;
    r.started_ms = 1000000000000;
    ck_assert_int_eq(journal_record_noop(j, &r, "", "", "o", "{\"n\":1}", &error), PTX_OK);
    snprintf(r.execution_id, sizeof r.execution_id, "ex-N2");
    ck_assert_int_eq(journal_record_noop(j, &r, "nk", "h", "o", "{\"n\":2}", &error), PTX_OK);
    journal_execution row;
    ck_assert_int_eq(journal_find_key(j, "zerodha", "a", "nk", &row, &error), PTX_OK);
    ck_assert_str_eq(row.status, "NOOP");
    ck_assert_str_eq(row.response, "{\"n\":2}");
    ck_assert_int_eq(row.created_ms, 1000000000000);
    ck_assert_int_ge(row.finished_ms, row.created_ms);
    journal_execution_clear(&row);
    snprintf(r.execution_id, sizeof r.execution_id, "ex-N3");
    ck_assert_int_eq(journal_record_noop(j, &r, "nk", "h", "o", "{}", &error), PTX_CONFLICT);
    ck_assert_str_eq(error.field, "idempotency_key");
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions WHERE id = 'ex-N1' AND"
                                       " status = 'NOOP' AND response = '{\"n\":1}' AND"
                                       " finished_ms IS NOT NULL AND idempotency_key IS NULL"),
                     1);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions"), 2);
    r.leg_count = 2;
    exec_result_free(&r);
    fixture_free(&f);
}
END_TEST

/* More executions without a key than the queue holds unwaited: each one is
 * stored once. */
START_TEST(test_many_noops_all_stored)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    exec_result r;
    make_result(&r, "ex-M0", "a");
    size_t legs = r.leg_count;
    r.leg_count = 0;
    r.status = EXEC_NOOP;
    for (int i = 0; i < 3000; i++) {
        snprintf(r.execution_id, sizeof r.execution_id, "ex-M%d", i);
        ck_assert_int_eq(journal_record_noop(j, &r, "", "", "o", "{}", &error), PTX_OK);
    }
    journal_close(j);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(DISTINCT id) FROM executions WHERE status ="
                                       " 'NOOP'"),
                     3000);
    r.leg_count = legs;
    exec_result_free(&r);
    fixture_free(&f);
}
END_TEST

/* Many threads with runs of their own: every state of every run is stored
 * once, in order, and each execution's finish carries its last states. */
typedef struct parallel_case {
    journal *j;
    int index;
    int failures;
} parallel_case;

static void *parallel_execution(void *context)
{
    parallel_case *c = context;
    char id[32];
    snprintf(id, sizeof id, "ex-P%d", c->index);
    exec_result r;
    make_result(&r, id, "p");
    ptx_error error;
    journal_run *run = NULL;
    c->failures += journal_begin(c->j, &r, "", "h", "o", &run, &error) != PTX_OK;
    for (int round = 0; run != NULL && round < 50; round++)
        for (size_t leg = 0; leg < r.leg_count; leg++) {
            r.legs[leg].attempts = (unsigned)round + 1;
            c->failures +=
                journal_leg(run, leg, LEG_STATE_SENDING, &r.legs[leg], NULL, &error) != PTX_OK;
        }
    if (run != NULL)
        c->failures += journal_finish(run, EXEC_COMPLETED, "{}", &error) != PTX_OK;
    journal_run_end(run);
    exec_result_free(&r);
    return NULL;
}

START_TEST(test_parallel_runs)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    enum { THREADS = 8 };
    pthread_t threads[THREADS];
    parallel_case cases[THREADS];
    for (int i = 0; i < THREADS; i++) {
        cases[i] = (parallel_case){j, i, 0};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, parallel_execution, &cases[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(cases[i].failures, 0);
    }
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM leg_events"), THREADS * 50 * 2);
    /* Each leg's current state is its last one (attempts 50). */
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE attempts = 50"),
                     THREADS * 2);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM executions WHERE status ="
                                       " 'COMPLETED'"),
                     THREADS);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* A commit that fails (the database is locked past the busy timeout) is
 * reported to the caller that waits for it, stores nothing, and leaves the
 * journal usable once the lock is gone. */
START_TEST(test_failed_commit_is_reported)
{
    fixture f = fixture_new();
    journal_options options = {.retention_days = 30, .busy_timeout_ms = 50};
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(f.path, &options, &j, &error), PTX_OK);
    exec_result r;
    make_result(&r, "ex-L1", "a");
    journal_run *run = NULL;
    ck_assert_int_eq(journal_begin(j, &r, "", "h", "o", &run, &error), PTX_OK);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(f.path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(journal_leg(run, 0, LEG_STATE_SENDING, &r.legs[0], NULL, &error), PTX_JOURNAL);
    ck_assert_ptr_nonnull(strstr(error.message, "locked"));
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(journal_leg(run, 1, LEG_STATE_SENDING, &r.legs[1], NULL, &error), PTX_OK);
    ck_assert_int_eq(journal_finish(run, EXEC_COMPLETED, "{}", &error), PTX_OK);
    journal_run_end(run);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-L1'"
                                       " AND leg_index = 0 AND status = 'PENDING_SEND'"),
                     1);
    ck_assert_int_eq(raw_count(f.path, "SELECT count(*) FROM legs WHERE execution_id = 'ex-L1'"
                                       " AND leg_index = 1 AND status = 'SENDING'"),
                     1);
    exec_result_free(&r);
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* The journal, its WAL and its shared-memory file are 0600 whatever the
 * umask. */
START_TEST(test_files_are_0600)
{
    fixture f = fixture_new();
    mode_t old = umask(0);
    journal *j = open_ok(f.path, 30);
    umask(old);
    exec_result r;
    make_result(&r, "ex-M1", "a");
    ptx_error error;
    ck_assert_int_eq(begin_only(j, &r, "", "h", "o", &error), PTX_OK);
    exec_result_free(&r);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *path = tu_format("%s%s", f.path, suffixes[i]);
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
        ck_assert_msg((st.st_mode & 0777) == 0600, "%s is %o", path, st.st_mode & 0777);
        free(path);
    }
    journal_close(j);
    fixture_free(&f);
}
END_TEST

/* Deleting the journal's files, or putting another file at its path, makes
 * journal_check_file fail (without naming the path) until the file opened is
 * back. */
START_TEST(test_deleted_or_replaced_file_detected)
{
    fixture f = fixture_new();
    journal *j = open_ok(f.path, 30);
    ptx_error error;
    ck_assert_int_eq(journal_check_file(j, &error), PTX_OK);
    char *moved = tu_format("%s/moved.db", f.dir);
    ck_assert_int_eq(rename(f.path, moved), 0);
    ck_assert_int_eq(journal_check_file(j, &error), PTX_JOURNAL);
    ck_assert_ptr_null(strstr(error.message, f.dir));
    ck_assert_ptr_nonnull(strstr(error.message, "deleted or replaced"));
    ck_assert_int_eq(journal_check_file(j, &error), PTX_JOURNAL); /* stays so */
    tu_write_file(f.path, "");                                    /* another file at the path */
    ck_assert_int_eq(journal_check_file(j, &error), PTX_JOURNAL);
    ck_assert_int_eq(rename(moved, f.path), 0); /* the same file is back */
    ck_assert_int_eq(journal_check_file(j, &error), PTX_OK);
    char *wal = tu_format("%s-wal", f.path);
    ck_assert_int_eq(unlink(wal), 0); /* its WAL deleted */
    ck_assert_int_eq(journal_check_file(j, &error), PTX_JOURNAL);
    journal_close(j);
    free(wal);
    free(moved);
    fixture_free(&f);
}
END_TEST

/* In a child: opens the journal with `sync`, journals execution ex-D1 up to
 * leg state `state` of leg 0 (nothing past the intent for PENDING_SEND) and
 * SIGKILLs itself right after the call that recorded it returned. */
static void durable_child(const char *path, journal_sync_mode sync, leg_state state)
{
    journal_options options = {.sync = sync};
    journal *j = NULL;
    ptx_error error;
    if (journal_open(path, &options, &j, &error) != PTX_OK)
        _exit(2);
    exec_result r;
    make_result(&r, "ex-D1", "a");
    journal_run *run = NULL;
    if (journal_begin(j, &r, "", "h", "dead", &run, &error) != PTX_OK)
        _exit(3);
    snprintf(r.legs[0].order_id, sizeof r.legs[0].order_id, "O-%d", (int)state);
    r.legs[0].attempts = 1;
    if (state != LEG_STATE_PENDING_SEND &&
        journal_leg(run, 0, state, &r.legs[0], "reported", &error) != PTX_OK)
        _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5);
}

/* Each leg state is in the file once journal_leg (journal_begin for
 * PENDING_SEND) has returned, though the process is killed at once after,
 * in both sync modes. */
START_TEST(test_states_survive_sigkill)
{
    const leg_state states[] = {LEG_STATE_PENDING_SEND, LEG_STATE_SENDING, LEG_STATE_ACCEPTED,
                                LEG_STATE_FILLED, LEG_STATE_UNKNOWN};
    const journal_sync_mode modes[] = {JOURNAL_SYNC_NORMAL, JOURNAL_SYNC_FULL};
    for (size_t m = 0; m < 2; m++)
        for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
            fixture f = fixture_new();
            pid_t child = fork();
            ck_assert_int_ge(child, 0);
            if (child == 0)
                durable_child(f.path, modes[m], states[i]);
            int status = 0;
            ck_assert_int_eq(waitpid(child, &status, 0), child);
            ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child: %d", status);
            journal *j = open_ok(f.path, 30);
            exec_result r;
            leg_state *loaded = NULL;
            ptx_error error;
            ck_assert_int_eq(journal_load(j, "ex-D1", &r, &loaded, &error), PTX_OK);
            ck_assert_msg(loaded[0] == states[i], "%s journaled, %s found",
                          leg_state_name(states[i]), leg_state_name(loaded[0]));
            ck_assert_int_eq(loaded[1], LEG_STATE_PENDING_SEND);
            if (states[i] != LEG_STATE_PENDING_SEND)
                ck_assert_int_eq(r.legs[0].attempts, 1);
            char **ids = NULL;
            size_t count = 0;
            ck_assert_int_eq(journal_orphans(j, "zerodha", "a", "alive", &ids, &count, &error),
                             PTX_OK);
            ck_assert_uint_eq(count, 1);
            journal_ids_free(ids, count);
            free(loaded);
            exec_result_free(&r);
            journal_close(j);
            fixture_free(&f);
        }
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *suite = suite_create("journal");
    TCase *schema = tcase_create("schema");
    tcase_set_timeout(schema, 30);
    tcase_add_test(schema, test_new_file_has_current_schema);
    tcase_add_test(schema, test_migrates_version_1);
    tcase_add_test(schema, test_migrates_version_2);
    tcase_add_test(schema, test_migrates_version_3);
    tcase_add_test(schema, test_opens_version_4);
    tcase_add_test(schema, test_newer_schema_refused);
    tcase_add_test(schema, test_sync_modes);
    suite_add_tcase(suite, schema);
    TCase *records = tcase_create("records");
    tcase_set_timeout(records, 30);
    tcase_add_test(records, test_round_trip);
    tcase_add_test(records, test_idempotency_lookups);
    tcase_add_test(records, test_orphans_and_list);
    tcase_add_test(records, test_retention);
    tcase_add_test(records, test_unusable_paths);
    tcase_add_test(records, test_states_committed_when_reported);
    tcase_add_test(records, test_full_mode_leg_is_synchronous);
    tcase_add_test(records, test_noop_is_one_row);
    tcase_add_test(records, test_many_noops_all_stored);
    tcase_add_test(records, test_parallel_runs);
    tcase_add_test(records, test_failed_commit_is_reported);
    tcase_add_test(records, test_files_are_0600);
    tcase_add_test(records, test_deleted_or_replaced_file_detected);
    tcase_add_test(records, test_states_survive_sigkill);
    suite_add_tcase(suite, records);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(journal_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
