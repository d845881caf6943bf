/* Check suite for the journaled engine (host/engine.c with host/journal.c):
 * idempotent executions, crash recovery after SIGKILL at random points, and
 * journal faults (read-only file, locked database, full disk). Runs the real
 * simulated plugins with `state_file`, so the broker survives the "crash". */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "config.h"
#include "engine.h"
#include "journal.h"
#include "registry.h"
#include "retry.h"
#include "testutil.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct env {
    char *dir;
    char *ini;
    char *state;
    char *journal_path;
    config cfg;
    registry *reg;
    engine *eng;
    journal *records;
} env;

/* Writes an ini with one zerodha broker: `extra` in its section, its
 * state_file in the folder, and the journal at `journal_path`. */
static void env_write(env *e, const char *extra, const char *journal_path)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_format("%s/brokers.ini", e->dir);
    e->state = tu_format("%s/state.txt", e->dir);
    e->journal_path = journal_path ? strdup(journal_path) : tu_format("%s/journal.db", e->dir);
    char *text = tu_format("[host]\nplugin_dir = %s/plugins\njournal = %s\n\n[broker.zerodha]\n"
                           "plugin = zerodha.so\nmax_retries = 5\nretry_base_ms = 1\n"
                           "retry_max_ms = 5\npoll_interval_ms = 1\nrate_limit_per_second = 0\n"
                           "state_file = %s\n%s%s",
                           tu_build_dir(), e->journal_path, e->state,
                           extra && strstr(extra, "failure_rate")
                               ? ""
                               : "transient_failure_rate = 0\nunknown_outcome_rate = 0\n",
                           extra ? extra : "");
    tu_write_file(e->ini, text);
    free(text);
}

/* Loads config, plugins and engine; opens the journal with `busy_ms`. */
static ptx_status env_load(env *e, unsigned busy_ms, ptx_error *error)
{
    ck_assert_msg(config_load(e->ini, &e->cfg, error) == PTX_OK, "config: %s", error->message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, error) == PTX_OK, "registry: %s", error->message);
    ck_assert_uint_eq(registry_count(e->reg), 1);
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
    journal_options options = {.retention_days = 30, .busy_timeout_ms = busy_ms};
    ptx_status status = journal_open(e->journal_path, &options, &e->records, error);
    if (status == PTX_OK)
        engine_set_journal(e->eng, e->records);
    else
        engine_set_journal_error(e->eng, error->message);
    return status;
}

static void env_unload(env *e)
{
    engine_destroy(e->eng);
    journal_close(e->records);
    registry_free(e->reg);
    config_free(&e->cfg);
    e->eng = NULL;
    e->records = NULL;
    e->reg = NULL;
}

static void env_open(env *e, const char *extra)
{
    env_write(e, extra, NULL);
    ptx_error error;
    ck_assert_msg(env_load(e, 0, &error) == PTX_OK, "journal: %s", error.message);
}

static void env_close(env *e)
{
    env_unload(e);
    char *command = tu_format("rm -rf '%s'", e->dir);
    ck_assert_int_eq(system(command), 0);
    free(command);
    free(e->dir);
    free(e->ini);
    free(e->state);
    free(e->journal_path);
}

typedef struct test_request {
    exec_request request;
    broker_credential credentials[2];
    exec_target targets[16];
} test_request;

/* zerodha, account `api_key`, targets "SYMBOL:QTY,…", key (may be NULL). */
static exec_request *make_request(test_request *t, const char *api_key, const char *targets,
                                  const char *key)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "zerodha");
    t->credentials[0] = (broker_credential){"api_key", api_key};
    t->credentials[1] = (broker_credential){"access_token", "token"};
    t->request.credentials = t->credentials;
    t->request.credential_count = 2;
    t->request.targets = t->targets;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", targets);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        *colon = '\0';
        exec_target *target = &t->targets[t->request.target_count++];
        snprintf(target->symbol, sizeof target->symbol, "%s", item);
        target->target_quantity = atoll(colon + 1);
    }
    if (key != NULL)
        snprintf(t->request.idempotency_key, sizeof t->request.idempotency_key, "%s", key);
    return &t->request;
}

static int64_t holding_of(env *e, const char *api_key, const char *symbol)
{
    test_request t;
    holdings *held = NULL;
    ptx_error error;
    ck_assert_msg(engine_holdings(e->eng, make_request(&t, api_key, "", NULL), &held, &error) ==
                      PTX_OK,
                  "holdings: %s", error.message);
    int64_t quantity = holdings_get(held, symbol);
    holdings_free(held);
    return quantity;
}

/* Orders in the simulated exchange's state file, and the largest number of
 * orders that share one client order id. */
static size_t state_orders(const char *state_path, size_t *max_per_client)
{
    char *text = tu_read_file(state_path);
    size_t count = 0;
    *max_per_client = 0;
    char ids[512][40];
    size_t seen[512] = {0};
    size_t distinct = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != 'O')
            continue;
        count++;
        char tag[40] = "";
        sscanf(line, "O %*u %*u %39s", tag);
        size_t i = 0;
        while (i < distinct && strcmp(ids[i], tag) != 0)
            i++;
        if (i == distinct && distinct < 512)
            snprintf(ids[distinct++], sizeof ids[0], "%s", tag);
        if (i < 512 && ++seen[i] > *max_per_client)
            *max_per_client = seen[i];
    }
    free(text);
    return count;
}

#define TARGETS "RELIANCE:20,TCS:0,INFY:3,WIPRO:7,HDFCBANK:4,SBIN:9"

/* ---- idempotency --------------------------------------------------------- */

START_TEST(test_same_key_places_once)
{
    env e;
    env_open(&e, "");
    test_request t;
    exec_result first, second;
    ptx_error error;
    engine_call_options options = {.lock_timeout_ms = 10000};
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", TARGETS, "key-1"), &options, &first, &error),
        PTX_OK);
    ck_assert(!first.replayed);
    ck_assert_ptr_nonnull(first.response);
    ck_assert_int_eq(first.status, EXEC_COMPLETED);
    size_t per_client = 0;
    size_t orders = state_orders(e.state, &per_client);
    ck_assert_uint_eq(orders, 6);
    ck_assert_int_eq(holding_of(&e, "acct", "RELIANCE"), 20);

    ck_assert_int_eq(engine_execute(e.eng, make_request(&t, "acct", TARGETS, "key-1"), &options,
                                    &second, &error),
                     PTX_OK);
    ck_assert(second.replayed);
    ck_assert_str_eq(second.response, first.response);
    ck_assert_str_eq(second.execution_id, first.execution_id);
    ck_assert_int_eq(second.status, EXEC_COMPLETED);
    ck_assert_uint_eq(second.leg_count, 6);
    ck_assert_uint_eq(state_orders(e.state, &per_client), 6); /* nothing placed */
    ck_assert_uint_eq(per_client, 1);
    exec_result_free(&second);

    /* A different key runs (and finds nothing to do). */
    ck_assert_int_eq(engine_execute(e.eng, make_request(&t, "acct", TARGETS, "key-2"), &options,
                                    &second, &error),
                     PTX_OK);
    ck_assert(!second.replayed);
    ck_assert_int_eq(second.status, EXEC_NOOP);
    exec_result_free(&second);
    exec_result_free(&first);
    env_close(&e);
}
END_TEST

START_TEST(test_same_key_other_request_conflicts)
{
    env e;
    env_open(&e, "");
    test_request t;
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", "RELIANCE:12", "k"), NULL, &result, &error),
        PTX_OK);
    exec_result_free(&result);
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", "RELIANCE:13", "k"), NULL, &result, &error),
        PTX_CONFLICT);
    ck_assert_str_eq(error.field, "idempotency_key");
    ck_assert_str_eq(ptx_status_code(error.status), "idempotency_conflict");
    ck_assert_int_eq(holding_of(&e, "acct", "RELIANCE"), 12);
    /* A dry run is not journaled and ignores the key. */
    exec_request *plan = make_request(&t, "acct", "RELIANCE:13", "k");
    plan->dry_run = true;
    ck_assert_int_eq(engine_execute(e.eng, plan, NULL, &result, &error), PTX_OK);
    ck_assert_int_eq(result.status, EXEC_PLANNED);
    exec_result_free(&result);
    /* Keys are scoped per account: the same key on another account runs. */
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "other", "RELIANCE:13", "k"), NULL, &result, &error),
        PTX_OK);
    ck_assert(!result.replayed);
    ck_assert_int_eq(holding_of(&e, "other", "RELIANCE"), 13);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

typedef struct racer {
    env *e;
    const char *key;
    unsigned lock_timeout_ms;
    ptx_status status;
    exec_result result;
    ptx_error error;
} racer;

static void *race(void *argument)
{
    racer *r = argument;
    test_request t;
    engine_call_options options = {.lock_timeout_ms = r->lock_timeout_ms};
    r->status = engine_execute(r->e->eng, make_request(&t, "acct", TARGETS, r->key), &options,
                               &r->result, &r->error);
    return NULL;
}

START_TEST(test_concurrent_same_key_places_once)
{
    env e;
    env_open(&e, "latency_ms = 5\n");
    racer racers[6];
    pthread_t threads[6];
    for (size_t i = 0; i < 6; i++) {
        racers[i] = (racer){.e = &e, .key = "concurrent", .lock_timeout_ms = 30000};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    size_t fresh = 0;
    for (size_t i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(racers[i].status == PTX_OK, "racer %zu: %s", i, racers[i].error.message);
        fresh += !racers[i].result.replayed;
    }
    ck_assert_uint_eq(fresh, 1);
    for (size_t i = 1; i < 6; i++)
        ck_assert_str_eq(racers[i].result.response, racers[0].result.response);
    size_t per_client = 0;
    ck_assert_uint_eq(state_orders(e.state, &per_client), 6);
    ck_assert_uint_eq(per_client, 1);
    ck_assert_int_eq(holding_of(&e, "acct", "SBIN"), 9);
    for (size_t i = 0; i < 6; i++)
        exec_result_free(&racers[i].result);
    env_close(&e);
}
END_TEST

START_TEST(test_running_key_is_in_progress)
{
    env e;
    env_open(&e, "latency_ms = 40\n");
    racer first = {.e = &e, .key = "slow", .lock_timeout_ms = 30000};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, race, &first), 0);
    while (journal_running_count(e.records) < 1)
        retry_sleep_ms(2);
    racer second = {.e = &e, .key = "slow", .lock_timeout_ms = 0};
    race(&second);
    ck_assert_int_eq(second.status, PTX_IN_PROGRESS);
    ck_assert_str_eq(ptx_status_code(second.status), "in_progress");
    racer other = {.e = &e, .key = "another", .lock_timeout_ms = 0};
    race(&other);
    ck_assert_int_eq(other.status, PTX_BUSY);
    pthread_join(thread, NULL);
    ck_assert_int_eq(first.status, PTX_OK);
    race(&second); /* now finished: the stored response */
    ck_assert_int_eq(second.status, PTX_OK);
    ck_assert(second.result.replayed);
    ck_assert_str_eq(second.result.response, first.result.response);
    exec_result_free(&first.result);
    exec_result_free(&second.result);
    env_close(&e);
}
END_TEST

/* ---- crash recovery ---------------------------------------------------- */

/* In a child: runs the execution with key `key`; tells the parent on `ready`
 * just before the engine starts, then runs until killed or done. */
static void crash_child(env *e, int ready, const char *key)
{
    ptx_error error;
    if (env_load(e, 0, &error) != PTX_OK)
        _exit(3);
    test_request t;
    exec_result result;
    engine_call_options options = {.lock_timeout_ms = 1000};
    ssize_t written = write(ready, "x", 1);
    (void)written;
    ptx_status status =
        engine_execute(e->eng, make_request(&t, "acct", TARGETS, key), &options, &result, &error);
    _exit(status == PTX_OK ? 0 : 4);
}

static long journal_count(const char *path, const char *sql)
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

/* After a crash: resubmits, and checks the four invariants. Returns whether
 * the resubmission replayed a RECOVERED execution. */
static bool crash_check(env *e, const char *key)
{
    ptx_error error;
    ck_assert_msg(env_load(e, 0, &error) == PTX_OK, "journal: %s", error.message);
    test_request t;
    exec_result result;
    engine_call_options options = {.lock_timeout_ms = 1000};
    ck_assert_msg(engine_execute(e->eng, make_request(&t, "acct", TARGETS, key), &options, &result,
                                 &error) == PTX_OK,
                  "resubmit: %s", error.message);
    bool recovered = result.status == EXEC_RECOVERED;
    /* 1. No client order id was sent twice. */
    size_t per_client = 0;
    state_orders(e->state, &per_client);
    ck_assert_uint_le(per_client, 1);
    /* 2. Holdings equal the target of every leg reported FILLED. */
    for (size_t i = 0; i < result.leg_count; i++) {
        const exec_leg *leg = &result.legs[i];
        if (leg->status != LEG_FILLED)
            continue;
        for (size_t k = 0; k < t.request.target_count; k++)
            if (strcmp(t.targets[k].symbol, leg->symbol) == 0)
                ck_assert_int_eq(holding_of(e, "acct", leg->symbol), t.targets[k].target_quantity);
    }
    /* 3. Every leg in the journal has a final state; nothing is RUNNING. */
    ck_assert_int_eq(
        journal_count(e->journal_path,
                      "SELECT count(*) FROM legs WHERE status NOT IN ('FILLED',"
                      "'PARTIALLY_FILLED','REJECTED','CANCELLED','FAILED','NOT_SENT')"),
        0);
    ck_assert_int_eq(journal_running_count(e->records), 0);
    /* 4. The replayed response is the journal's. */
    journal_execution row;
    ck_assert_int_eq(journal_get(e->records, result.execution_id, &row, &error), PTX_OK);
    ck_assert_str_eq(row.response, result.response);
    journal_execution_clear(&row);
    exec_result again;
    ck_assert_int_eq(
        engine_execute(e->eng, make_request(&t, "acct", TARGETS, key), &options, &again, &error),
        PTX_OK);
    ck_assert(again.replayed);
    ck_assert_str_eq(again.response, result.response);
    exec_result_free(&again);
    exec_result_free(&result);
    env_unload(e);
    return recovered;
}

START_TEST(test_crash_recovery_random_kills)
{
    unsigned seed = 20240611u;
    size_t recovered = 0, runs = 50;
    for (size_t run = 0; run < runs; run++) {
        env e;
        int latency = 1 + (int)(rand_r(&seed) % 4);
        char extra[160];
        snprintf(extra, sizeof extra,
                 "latency_ms = %d\ntransient_failure_rate = 0.05\nunknown_outcome_rate = 0.05\n"
                 "seed = %zu\n",
                 latency, run + 1);
        env_write(&e, extra, NULL);
        int pipe_fds[2];
        ck_assert_int_eq(pipe(pipe_fds), 0);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
            close(pipe_fds[0]);
            crash_child(&e, pipe_fds[1], "crash-key");
        }
        close(pipe_fds[1]);
        char byte;
        ck_assert_int_eq(read(pipe_fds[0], &byte, 1), 1);
        close(pipe_fds[0]);
        /* An execution takes about 20 broker calls of `latency` ms. */
        retry_sleep_ms(rand_r(&seed) % (unsigned)(latency * 24));
        kill(child, SIGKILL);
        int status = 0;
        waitpid(child, &status, 0);
        recovered += crash_check(&e, "crash-key");
        env_close(&e);
    }
    fprintf(stderr, "crash recovery: %zu runs, %zu resubmissions returned a RECOVERED execution\n",
            runs, recovered);
    ck_assert_uint_gt(recovered, 0); /* the kills did land mid-flight */
}
END_TEST

/* ---- freeze slicing under a crash ---------------------------------------- */

#define SLICED_TARGETS "BANKNIFTY26DECFUT:3000,RELIANCE:12"

typedef struct kill_after {
    size_t legs_done; /* kill -9 once this many legs are final */
    size_t seen;
} kill_after;

static void kill_between_children(void *context, const exec_result *result, const exec_leg *leg)
{
    (void)result;
    (void)leg;
    kill_after *after = context;
    if (++after->seen == after->legs_done)
        raise(SIGKILL);
}

/* In a child: runs SLICED_TARGETS with `key`, killed after `legs_done` legs. */
static void sliced_child(env *e, size_t legs_done, const char *key)
{
    ptx_error error;
    if (env_load(e, 0, &error) != PTX_OK)
        _exit(3);
    test_request t;
    exec_result result;
    kill_after after = {legs_done, 0};
    engine_call_options options = {
        .lock_timeout_ms = 1000, .progress = kill_between_children, .progress_context = &after};
    engine_execute(e->eng, make_request(&t, "acct", SLICED_TARGETS, key), &options, &result,
                   &error);
    _exit(5); /* not killed: the test's premise failed */
}

/* BANKNIFTY futures (lot 30, freeze 900): 3000 is four children of 900, 900,
 * 900 and 300 under one leg. kill -9 after 1, 2 or 3 of them, then the same
 * key again: recovery finishes the rest, nothing is sent twice, and the
 * replay reports one leg summing its children. */
START_TEST(test_freeze_children_survive_kill)
{
    for (size_t done = 1; done <= 3; done++) {
        env e;
        env_write(&e, "latency_ms = 1\nmax_in_flight = 1\n", NULL);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0)
            sliced_child(&e, done, "sliced-key");
        int status = 0;
        waitpid(child, &status, 0);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child: %d", status);
        size_t per_client = 0;
        ck_assert_uint_eq(state_orders(e.state, &per_client), done);
        ptx_error error;
        ck_assert_msg(env_load(&e, 0, &error) == PTX_OK, "journal: %s", error.message);
        test_request t;
        exec_result result;
        engine_call_options options = {.lock_timeout_ms = 1000};
        ck_assert_int_eq(engine_execute(e.eng,
                                        make_request(&t, "acct", SLICED_TARGETS, "sliced-key"),
                                        &options, &result, &error),
                         PTX_OK);
        ck_assert_int_eq(result.status, EXEC_RECOVERED);
        ck_assert_uint_le(state_orders(e.state, &per_client), 5);
        ck_assert_uint_eq(per_client, 1);
        ck_assert_int_eq(holding_of(&e, "acct", "BANKNIFTY26DECFUT"), 900 * (int64_t)done);
        ck_assert_ptr_nonnull(strstr(result.response, "\"children\""));
        exec_result_free(&result);
        /* The key again: the same response, nothing placed. */
        size_t before = state_orders(e.state, &per_client);
        ck_assert_int_eq(engine_execute(e.eng,
                                        make_request(&t, "acct", SLICED_TARGETS, "sliced-key"),
                                        &options, &result, &error),
                         PTX_OK);
        ck_assert(result.replayed);
        ck_assert_uint_eq(state_orders(e.state, &per_client), before);
        exec_result_free(&result);
        /* A new key finishes the job: the remaining children only. */
        ck_assert_int_eq(engine_execute(e.eng, make_request(&t, "acct", SLICED_TARGETS, "next-key"),
                                        &options, &result, &error),
                         PTX_OK);
        ck_assert_int_eq(result.status, EXEC_COMPLETED);
        ck_assert_int_eq(holding_of(&e, "acct", "BANKNIFTY26DECFUT"), 3000);
        ck_assert_uint_eq(per_client, 1);
        exec_result_free(&result);
        env_unload(&e);
        env_close(&e);
    }
}
END_TEST

/* ---- leg states in the file ------------------------------------------------ */

static void journal_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    ck_assert_msg(rc == SQLITE_OK, "sql: %s", message ? message : "?");
    sqlite3_free(message);
    sqlite3_close(db);
}

/* Once engine_execute returns every leg state is in the file (read by a
 * connection of our own, journal still open). */
START_TEST(test_clean_finish_is_durable)
{
    env e;
    env_write(&e, "", NULL);
    ptx_error error;
    ck_assert_int_eq(env_load(&e, 0, &error), PTX_OK);
    test_request t;
    exec_result result;
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", TARGETS, NULL), NULL, &result, &error),
        PTX_OK);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    long legs = (long)result.leg_count;
    ck_assert_int_gt(legs, 0);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM legs WHERE status = "
                                                   "'FILLED' AND order_id IS NOT NULL"),
                     legs);
    /* SENDING, ACCEPTED and FILLED of every leg, in that order. */
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM leg_events"), 3 * legs);
    ck_assert_int_eq(journal_count(e.journal_path,
                                   "SELECT count(*) FROM leg_events a JOIN leg_events b ON"
                                   " a.execution_id = b.execution_id AND a.leg_index = b.leg_index"
                                   " AND a.seq < b.seq WHERE a.state = 'FILLED'"),
                     0);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM executions WHERE status ="
                                                   " 'COMPLETED' AND response IS NOT NULL"),
                     1);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* A journal of an older ptexec (which queued leg states) could lose them in
 * a crash: it then shows legs that were sent as PENDING_SEND. Recovery must
 * ask the broker (and adopt them), never take them for unsent nor send them
 * again. */
START_TEST(test_pending_legs_that_were_sent_are_adopted)
{
    env e;
    env_write(&e, "", NULL);
    ptx_error error;
    ck_assert_int_eq(env_load(&e, 0, &error), PTX_OK);
    test_request t;
    exec_result result;
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", TARGETS, "lost"), NULL, &result, &error),
        PTX_OK);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    size_t legs = result.leg_count;
    exec_result_free(&result);
    env_unload(&e);
    /* What a crash right after the last order, before any queued leg state
     * reached the file, leaves behind. */
    journal_sql(e.journal_path,
                "UPDATE executions SET status = 'RUNNING', response = NULL, finished_ms = NULL,"
                " owner = 'crashed'; DELETE FROM events;");
    size_t per_client = 0;
    size_t orders = state_orders(e.state, &per_client);
    ck_assert_msg(env_load(&e, 0, &error) == PTX_OK, "journal: %s", error.message);
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", TARGETS, "lost"), NULL, &result, &error),
        PTX_OK);
    ck_assert_int_eq(result.status, EXEC_RECOVERED);
    ck_assert_uint_eq(result.leg_count, legs);
    for (size_t i = 0; i < result.leg_count; i++)
        ck_assert_msg(result.legs[i].status == LEG_FILLED, "leg %zu: %s", i, result.legs[i].reason);
    ck_assert_uint_eq(state_orders(e.state, &per_client), orders); /* nothing sent again */
    ck_assert_uint_le(per_client, 1);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM legs WHERE status ="
                                                   " 'FILLED' AND order_id IS NOT NULL"),
                     (long)legs);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

/* ---- journal faults ---------------------------------------------------- */

/* Expects an execution to be refused with PTX_JOURNAL and nothing placed. */
static void expect_refused(env *e, const char *why)
{
    test_request t;
    exec_result result;
    ptx_error error;
    ck_assert_int_eq(holding_of(e, "acct", "RELIANCE"), 10);
    ptx_status status =
        engine_execute(e->eng, make_request(&t, "acct", "RELIANCE:55", "f"), NULL, &result, &error);
    ck_assert_msg(status == PTX_JOURNAL, "%s: status %d: %s", why, status, error.message);
    ck_assert_str_eq(ptx_status_code(status), "journal_unavailable");
    ck_assert_ptr_nonnull(strstr(error.message, "journal"));
    ck_assert_int_eq(holding_of(e, "acct", "RELIANCE"), 10);
    size_t per_client = 0;
    ck_assert_uint_eq(state_orders(e->state, &per_client), 0);
}

START_TEST(test_read_only_journal_refused)
{
    env e;
    env_write(&e, "", NULL);
    journal *j = NULL;
    ptx_error error;
    ck_assert_int_eq(journal_open(e.journal_path, NULL, &j, &error), PTX_OK);
    journal_close(j);
    chmod(e.journal_path, 0444);
    chmod(e.dir, 0777); /* the simulated broker's state file stays writable */
    /* As root the mode bits do not stop writes: run as nobody. */
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(99);
        if (env_load(&e, 0, &error) != PTX_JOURNAL)
            _exit(2);
        if (strstr(error.message, e.journal_path) == NULL)
            _exit(3);
        expect_refused(&e, "read-only");
        env_unload(&e);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    env_close(&e);
}
END_TEST

/* The journal's files deleted, or another journal put at its path, under a
 * running engine: the next execution is refused before any order, with a
 * message that names no path. */
START_TEST(test_deleted_or_replaced_journal_refused)
{
    for (int replace = 0; replace < 2; replace++) {
        env e;
        env_open(&e, "");
        char *command =
            replace ? tu_format("cd '%s' && sqlite3 other.db 'CREATE TABLE t(x)' && mv other.db "
                                "journal.db && rm -f journal.db-wal journal.db-shm",
                                e.dir)
                    : tu_format("rm -f '%s' '%s-wal' '%s-shm'", e.journal_path, e.journal_path,
                                e.journal_path);
        ck_assert_int_eq(system(command), 0);
        free(command);
        expect_refused(&e, replace ? "replaced" : "deleted");
        test_request t;
        exec_result result;
        ptx_error error;
        ck_assert_int_eq(engine_execute(e.eng, make_request(&t, "acct", "RELIANCE:55", NULL), NULL,
                                        &result, &error),
                         PTX_JOURNAL);
        ck_assert_ptr_null(strstr(error.message, e.dir));
        ck_assert_ptr_nonnull(strstr(error.message, "deleted or replaced"));
        env_close(&e);
    }
}
END_TEST

/* Another process that, after `delay_ms`, holds an exclusive lock on the
 * journal at `path` until locker_stop. */
typedef struct locker {
    pid_t pid;
    int fds[2];
} locker;

static void locker_start(locker *l, const char *path, unsigned delay_ms)
{
    ck_assert_int_eq(pipe(l->fds), 0);
    l->pid = fork();
    ck_assert_int_ge(l->pid, 0);
    if (l->pid != 0)
        return;
    retry_sleep_ms(delay_ms);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK)
        _exit(2);
    ssize_t written = write(l->fds[1], "x", 1);
    (void)written;
    pause();
    _exit(0);
}

/* Returns once the other process holds the lock (or has held it). */
static void locker_wait(const locker *l)
{
    char byte;
    ck_assert_int_eq(read(l->fds[0], &byte, 1), 1);
}

static void locker_stop(locker *l)
{
    kill(l->pid, SIGKILL);
    waitpid(l->pid, NULL, 0);
    close(l->fds[0]);
    close(l->fds[1]);
}

START_TEST(test_locked_journal_refused)
{
    env e;
    env_write(&e, "", NULL);
    ptx_error error;
    ck_assert_int_eq(env_load(&e, 200, &error), PTX_OK);
    locker lock;
    locker_start(&lock, e.journal_path, 0);
    locker_wait(&lock);
    expect_refused(&e, "locked");
    locker_stop(&lock);
    /* The lock is gone: the next execution runs. */
    test_request t;
    exec_result result;
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", "RELIANCE:55", "f"), NULL, &result, &error),
        PTX_OK);
    ck_assert_int_eq(result.status, EXEC_COMPLETED);
    exec_result_free(&result);
    env_close(&e);
}
END_TEST

START_TEST(test_full_disk_refused)
{
    char *mount_dir = tu_tempdir();
    if (mount("tmpfs", mount_dir, "tmpfs", 0, "size=512k") != 0) {
        tu_skip("full_disk_refused", "cannot mount a small tmpfs on %s (%s)", mount_dir,
                strerror(errno));
        rmdir(mount_dir);
        free(mount_dir);
        return;
    }
    char *path = tu_format("%s/journal.db", mount_dir);
    env e;
    env_write(&e, "", path);
    ptx_error error;
    ck_assert_int_eq(env_load(&e, 0, &error), PTX_OK);
    /* Fill what is left of the file system. */
    char *filler = tu_format("%s/filler", mount_dir);
    FILE *file = fopen(filler, "w");
    ck_assert_ptr_nonnull(file);
    char block[1024];
    memset(block, 'x', sizeof block);
    while (fwrite(block, 1, sizeof block, file) == sizeof block && fflush(file) == 0)
        ;
    fclose(file);
    expect_refused(&e, "disk full");
    env_unload(&e);
    unlink(filler);
    ck_assert_int_eq(umount(mount_dir), 0);
    rmdir(mount_dir);
    free(filler);
    free(path);
    free(mount_dir);
    env_close(&e);
}
END_TEST

/* The journal is locked by another process while an execution is placing:
 * placing stops at the next leg and the end cannot be recorded. The orders
 * already placed are at the broker and the result says so; the next
 * execution records that end first, so a retry with the same key replays
 * the first response instead of answering in_progress, and places nothing. */
START_TEST(test_unrecorded_finish_is_retried)
{
    env e;
    env_write(&e, "latency_ms = 300\nmax_in_flight = 1\n", NULL); /* one leg at a time */
    ptx_error error;
    ck_assert_int_eq(env_load(&e, 200, &error), PTX_OK);
    /* authenticate, positions, open orders, the market's session and three
     * instruments take 7 × 300 ms; then the intent is committed and the legs
     * are placed, 300 ms each: the lock lands while the second is placed */
    locker lock;
    locker_start(&lock, e.journal_path, 2500);
    test_request t;
    exec_result first, again;
    engine_call_options options = {.lock_timeout_ms = 10000};
    const char *targets = "RELIANCE:12,TCS:4,INFY:9";
    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", targets, "k-u"), &options, &first, &error),
        PTX_OK);
    locker_wait(&lock); /* the lock was held */
    ck_assert_int_eq(first.status, EXEC_PARTIAL);
    ck_assert_uint_ge(first.summary.filled, 1);
    ck_assert_uint_ge(first.summary.failed, 1); /* not placed once the journal failed */
    ck_assert_ptr_nonnull(strstr(first.response, "journal unavailable"));
    locker_stop(&lock);
    size_t per_client = 0;
    size_t placed = state_orders(e.state, &per_client);
    ck_assert_uint_eq(placed, first.summary.filled);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM executions WHERE"
                                                   " status = 'RUNNING'"),
                     1); /* the end is not recorded yet */

    ck_assert_int_eq(
        engine_execute(e.eng, make_request(&t, "acct", targets, "k-u"), &options, &again, &error),
        PTX_OK);
    ck_assert(again.replayed);
    ck_assert_str_eq(again.execution_id, first.execution_id);
    ck_assert_str_eq(again.response, first.response);
    ck_assert_uint_eq(state_orders(e.state, &per_client), placed); /* nothing placed */
    ck_assert_uint_eq(per_client, 1);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM legs WHERE status ="
                                                   " 'FILLED'"),
                     (long)first.summary.filled);
    ck_assert_int_eq(journal_count(e.journal_path, "SELECT count(*) FROM executions WHERE"
                                                   " status = 'PARTIAL' AND response IS NOT NULL"),
                     1);
    exec_result_free(&again);
    exec_result_free(&first);
    env_close(&e);
}
END_TEST

static Suite *recovery_suite(void)
{
    Suite *suite = suite_create("recovery");
    TCase *idempotency = tcase_create("idempotency");
    tcase_set_timeout(idempotency, 60);
    tcase_add_test(idempotency, test_same_key_places_once);
    tcase_add_test(idempotency, test_same_key_other_request_conflicts);
    tcase_add_test(idempotency, test_concurrent_same_key_places_once);
    tcase_add_test(idempotency, test_running_key_is_in_progress);
    suite_add_tcase(suite, idempotency);
    TCase *crash = tcase_create("crash");
    tcase_set_timeout(crash, 600);
    tcase_add_test(crash, test_crash_recovery_random_kills);
    tcase_add_test(crash, test_freeze_children_survive_kill);
    tcase_add_test(crash, test_clean_finish_is_durable);
    tcase_add_test(crash, test_pending_legs_that_were_sent_are_adopted);
    suite_add_tcase(suite, crash);
    TCase *faults = tcase_create("faults");
    tcase_set_timeout(faults, 60);
    tcase_add_test(faults, test_read_only_journal_refused);
    tcase_add_test(faults, test_locked_journal_refused);
    tcase_add_test(faults, test_deleted_or_replaced_journal_refused);
    tcase_add_test(faults, test_full_disk_refused);
    tcase_add_test(faults, test_unrecorded_finish_is_retried);
    suite_add_tcase(suite, faults);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(recovery_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
