/* The chaos suite (issue 12): seeded executions of random portfolios across
 * the five simulated plugins with every fault class on — transient failures,
 * unknown outcomes, rejections, partial fills over time, token expiry, the
 * broker's own rate limit, insufficient funds, and a market that closes
 * mid-run — each checked against the broker's own records, read straight
 * from the plugin (not through the engine):
 *   - every leg we report has the broker's status and fill for its client
 *     order id (find_order, then get_order_ex), and a leg we say was never
 *     placed is unknown to the broker (unless we said its outcome is unknown);
 *   - holdings after = before + the broker's fills, per symbol (so no client
 *     order id filled twice: a second order would fill beyond our report);
 *   - cash after = before − Σ buy value + Σ sell value − Σ charges, and
 *     never negative;
 *   - every position away from its target has an unfilled_reason;
 *   - the broker never refused a call of the execution for its own rate
 *     limits (its rate_limit_log gained no line). The strict sections meter
 *     orders and reads, per second and per minute, at small limits that the
 *     host learns only from the plugin (get_rate_limits), and inject no
 *     transient failure, so there no call was retried as TRANSIENT either.
 * PTEXEC_CHAOS_RUNS sets the number of executions (default 500, fixed seed;
 * `make chaos` runs 10,000); PTEXEC_CHAOS_SEED the seed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "ids.h"
#include "registry.h"
#include "render.h"
#include "testutil.h"

static const char *const plugins[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
#define PLUGIN_COUNT (sizeof plugins / sizeof plugins[0])

/* Symbols the portfolios are drawn from: lot-1 equities of every price, and
 * futures with lots and freeze quantities. */
static const char *const symbols[] = {
    "RELIANCE", "TCS",    "INFY",          "HDFCBANK",          "ITC",      "SBIN", "WIPRO", "BEL",
    "LT",       "MARUTI", "NIFTY26DECFUT", "BANKNIFTY26DECFUT", "COALINDIA"};
#define SYMBOL_COUNT (sizeof symbols / sizeof symbols[0])

/* Fault settings of every section; "strict" sections inject no transient
 * failure, so any TRANSIENT there is the broker's rate limit. */
#define CHAOS_FAULTS                                                                               \
    "unknown_outcome_rate = 0.03\nreject_rate = 0.04\npartial_fill_rate = 0.05\n"                  \
    "auth_expiry_rate = 0.01\ninitial_cash = 3000000\nfill_latency_ms = 1\nliquidity = 4\n"        \
    "order_timeout_ms = 30\npoll_interval_ms = 1\nmax_retries = 6\nretry_base_ms = 1\n"            \
    "latency_ms = 1\n"                                                                             \
    "retry_max_ms = 4\ninitial_holdings = RELIANCE:10,TCS:5,INFY:8\n"

/* What a fresh account holds, as initial_holdings and initial_cash say. */
static const struct {
    const char *symbol;
    int64_t quantity;
} chaos_initial[] = {{"RELIANCE", 10}, {"TCS", 5}, {"INFY", 8}};
#define CHAOS_INITIAL_CASH 3000000.0

/* The rate limits: the other sections meter orders per second only (the
 * simulated brokers' default); the strict ones meter reads too, and per
 * minute, at limits set only as the plugin's own keys, which the host paces
 * at because the plugin declares them. The per-second limits bind in a few
 * of the larger runs (at 30 reads/s and 10 orders/s in most: the 500 runs
 * take 80 s instead of 25); an account is fresh each run, so the per-minute
 * ones are above what one run makes and are metered, not binding (binding
 * would cost a minute). */
#define CHAOS_RATES "rate_limit_per_second = 200\n"
#define CHAOS_STRICT_RATES                                                                         \
    "rate_limit_per_second = " CHAOS_STRICT_ORDERS_PER_SECOND "\nrate_limit_per_minute = 900\n"    \
    "read_rate_limit_per_second = " CHAOS_STRICT_READS_PER_SECOND                                  \
    "\nread_rate_limit_per_minute = 3000\n"
#define CHAOS_STRICT_ORDERS_PER_SECOND "20"
#define CHAOS_STRICT_READS_PER_SECOND "60"

typedef struct chaos_env {
    char *dir;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
} chaos_env;

/* The kinds of section: faults with transient failures; strict (none, so a
 * TRANSIENT can only be the broker's rate limit); a market that closes
 * about a second after start; and limit orders in a moving market with a
 * spread (limits not always reached). A section must be named after its plugin, so
 * each kind is an ini (and a registry) of its own. */
enum { CHAOS_FAULTY, CHAOS_STRICT, CHAOS_CLOSING, CHAOS_LIMIT, CHAOS_KINDS };

/* The closing market is set up again every this many of its runs. */
#define CHAOS_CLOSING_EVERY 25

static void chaos_open(chaos_env *e, unsigned seed, int kind)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_format("%s/brokers.ini", e->dir);
    FILE *file = fopen(e->ini, "w");
    ck_assert_ptr_nonnull(file);
    fprintf(file, "[host]\nplugin_dir = %s/plugins\nlog_level = error\n\n", tu_build_dir());
    for (size_t i = 0; i < PLUGIN_COUNT; i++)
        fprintf(file,
                "[broker.%s]\nplugin = %s.so\nseed = %u\ntransient_failure_rate = %s\n"
                "rate_limit_log = %s/%s.refused\n%s%s%s\n",
                plugins[i], plugins[i], seed + (unsigned)i, kind == CHAOS_STRICT ? "0" : "0.05",
                e->dir, plugins[i],
                kind == CHAOS_CLOSING ? "market_hours = nse\nclock = 2026-12-01T15:29:59+05:30\n"
                : kind == CHAOS_LIMIT ? "order_type = limit\nlimit_offset_bps = 2\n"
                                        "volatility_bps = 30\nspread_bps = 8\nprice_step_ms = 2\n"
                                      : "",
                kind == CHAOS_STRICT ? CHAOS_STRICT_RATES : CHAOS_RATES, CHAOS_FAULTS);
    fclose(file);
    ptx_error error;
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    ck_assert_uint_eq(registry_count(e->reg), PLUGIN_COUNT);
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
}

static void chaos_close(chaos_env *e)
{
    engine_destroy(e->eng);
    registry_free(e->reg);
    config_free(&e->cfg);
    unlink(e->ini);
    for (size_t i = 0; i < PLUGIN_COUNT; i++) {
        char *refused = tu_format("%s/%s.refused", e->dir, plugins[i]);
        unlink(refused);
        free(refused);
    }
    rmdir(e->dir);
    free(e->ini);
    free(e->dir);
}

/* The broker's side: a session of our own on the plugin's instance. */
typedef struct broker_view {
    const broker_plugin *plugin;
    broker_instance *instance;
    broker_session *session;
} broker_view;

static void view_open(broker_view *v, registry_broker *broker, const broker_credentials *creds)
{
    v->plugin = registry_broker_plugin(broker);
    v->instance = registry_broker_instance(broker);
    broker_text account, error;
    ck_assert_int_eq(v->plugin->open_session(v->instance, creds, &v->session, &account, &error),
                     BROKER_OK);
}

/* Retries what injected faults make fail: TRANSIENT (after the broker's
 * retry-after, when it gives one: the view is not paced by the host), and
 * AUTH after a new login. The view's calls are reads and cancels: they never
 * place anything. */
#define VIEW_CALL(v, status, call)                                                                 \
    do {                                                                                           \
        for (int try_ = 0; try_ < 200; try_++) {                                                   \
            status = (call);                                                                       \
            if (status == BROKER_AUTH)                                                             \
                (v)->plugin->authenticate((v)->instance, (v)->session);                            \
            else if (status != BROKER_TRANSIENT)                                                   \
                break;                                                                             \
            else                                                                                   \
                view_wait((v));                                                                    \
        }                                                                                          \
    } while (0)

/* Sleeps the broker's retry-after hint, if any, after a TRANSIENT call. */
static void view_wait(const broker_view *v)
{
    uint32_t wait_ms = v->plugin->retry_after_ms(v->instance, v->session);
    if (wait_ms > 0)
        usleep((useconds_t)wait_ms * 1000);
}

typedef struct holding_list {
    int64_t quantity[SYMBOL_COUNT];
} holding_list;

static int collect_holding(void *context, const char *symbol, int64_t quantity)
{
    holding_list *list = context;
    for (size_t i = 0; i < SYMBOL_COUNT; i++)
        if (strcmp(symbols[i], symbol) == 0)
            list->quantity[i] += quantity;
    return 0;
}

/* What a fresh account holds (initial_holdings, initial_cash). */
static void view_initial(holding_list *held, double *cash)
{
    memset(held, 0, sizeof *held);
    for (size_t i = 0; i < sizeof chaos_initial / sizeof chaos_initial[0]; i++)
        collect_holding(held, chaos_initial[i].symbol, chaos_initial[i].quantity);
    *cash = CHAOS_INITIAL_CASH;
}

/* Calls the broker refused for its own rate limits so far: the lines of the
 * section's rate_limit_log. */
static size_t refused_calls(const chaos_env *e, const char *broker)
{
    char *path = tu_format("%s/%s.refused", e->dir, broker);
    FILE *file = fopen(path, "r");
    size_t lines = 0;
    for (int c; file != NULL && (c = fgetc(file)) != EOF;)
        lines += c == '\n';
    if (file != NULL)
        fclose(file);
    free(path);
    return lines;
}

/* Holdings and cash as the broker has them. */
static void view_read(broker_view *v, holding_list *held, double *cash)
{
    broker_status status;
    VIEW_CALL(v, status, v->plugin->authenticate(v->instance, v->session));
    ck_assert_int_eq(status, BROKER_OK);
    memset(held, 0, sizeof *held);
    VIEW_CALL(v, status,
              (memset(held, 0, sizeof *held),
               v->plugin->get_holdings(v->instance, v->session, collect_holding, held)));
    ck_assert_int_eq(status, BROKER_OK);
    broker_funds funds;
    memset(&funds, 0, sizeof funds);
    funds.size = sizeof funds;
    VIEW_CALL(v, status, v->plugin->get_funds(v->instance, v->session, &funds));
    ck_assert_int_eq(status, BROKER_OK);
    *cash = funds.available_cash;
}

static leg_status status_of_order(broker_order_state state)
{
    switch (state) {
    case BROKER_ORDER_FILLED:
        return LEG_FILLED;
    case BROKER_ORDER_PARTIALLY_FILLED:
        return LEG_PARTIALLY_FILLED;
    case BROKER_ORDER_REJECTED:
        return LEG_REJECTED;
    case BROKER_ORDER_CANCELLED:
        return LEG_CANCELLED;
    case BROKER_ORDER_OPEN:
        break;
    }
    return LEG_FAILED;
}

static size_t symbol_index(const char *symbol)
{
    for (size_t i = 0; i < SYMBOL_COUNT; i++)
        if (strcmp(symbols[i], symbol) == 0)
            return i;
    ck_abort_msg("symbol %s not drawn", symbol);
    return 0;
}

/* The broker's record of order `attempt` of leg `index` (re-pricing gives
 * each resubmission the next client order id): false when it has none. */
static bool view_find_attempt(broker_view *v, const exec_result *result, size_t index,
                              unsigned attempt, broker_order_detail *detail)
{
    const broker_capabilities *caps = &v->plugin->capabilities;
    char id[BROKER_CLIENT_ORDER_ID_MAX];
    ids_client_order_id(result->execution_id, index + (size_t)attempt * result->leg_count,
                        caps->tag_min_length, caps->tag_max_length, id, sizeof id);
    broker_order order;
    broker_status status;
    VIEW_CALL(v, status, v->plugin->find_order(v->instance, v->session, id, &order));
    if (status == BROKER_NOT_FOUND)
        return false;
    ck_assert_int_eq(status, BROKER_OK);
    memset(detail, 0, sizeof *detail);
    detail->size = sizeof *detail;
    VIEW_CALL(v, status, v->plugin->get_order_ex(v->instance, v->session, order.order_id, detail));
    ck_assert_int_eq(status, BROKER_OK);
    return true;
}

/* What the broker did for the legs of `result`: fills per symbol, and the
 * cash they moved; checks each leg's report against the broker's record of
 * every order the leg placed (one per re-pricing). */
static void view_check_legs(broker_view *v, const exec_result *result, holding_list *fills,
                            double *cash_moved)
{
    memset(fills, 0, sizeof *fills);
    *cash_moved = 0.0;
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        int64_t filled = 0, earlier = 0;
        broker_order_detail detail;
        bool found = false;
        for (unsigned attempt = 0; attempt <= leg->reprices; attempt++) {
            earlier = filled;
            found = view_find_attempt(v, result, i, attempt, &detail);
            ck_assert_msg(found || attempt == leg->reprices,
                          "%s: attempt %u of a re-priced leg "
                          "unknown to the broker",
                          leg->client_order_id, attempt);
            if (!found)
                break;
            broker_status status;
            if (detail.order.state == BROKER_ORDER_OPEN) {
                /* We said we could not follow it (outcome unknown): the
                 * account's next execution would settle it; here it is
                 * cancelled, so that it stops filling before the holdings
                 * are read. */
                ck_assert_msg(leg->outcome_unknown && attempt == leg->reprices,
                              "%s: open at the broker, reported %s", leg->client_order_id,
                              leg_status_name(leg->status));
                broker_order cancelled;
                VIEW_CALL(v, status,
                          v->plugin->cancel_order(v->instance, v->session, detail.order.order_id,
                                                  &cancelled));
                VIEW_CALL(v, status,
                          v->plugin->get_order_ex(v->instance, v->session, detail.order.order_id,
                                                  &detail));
                ck_assert_int_eq(status, BROKER_OK);
                ck_assert_int_ne(detail.order.state, BROKER_ORDER_OPEN);
            }
            const broker_order *record = &detail.order;
            filled += record->filled_quantity;
            double value = record->average_price * (double)record->filled_quantity;
            int64_t sign = record->side == BROKER_SIDE_BUY ? 1 : -1;
            fills->quantity[symbol_index(leg->symbol)] += sign * record->filled_quantity;
            *cash_moved += -(double)sign * value - detail.charges.total;
        }
        if (!found) { /* the leg (or its last resubmission) never reached the broker */
            ck_assert_msg(leg->reprices > 0 || leg->order_id[0] == '\0',
                          "%s: reported order %s unknown to the broker", leg->client_order_id,
                          leg->order_id);
            ck_assert_int_eq(leg->filled_quantity, filled);
            continue;
        }
        if (leg->outcome_unknown)
            continue;
        const broker_order *record = &detail.order;
        leg_status expected = status_of_order(record->state);
        if (earlier > 0 && (expected == LEG_REJECTED || expected == LEG_CANCELLED))
            expected = LEG_PARTIALLY_FILLED; /* the re-priced rest ended unfilled */
        ck_assert_msg(strcmp(leg->order_id, record->order_id) == 0,
                      "%s: we report order '%s', the broker has %s", leg->client_order_id,
                      leg->order_id, record->order_id);
        ck_assert_msg(leg->status == expected ||
                          (leg->status == LEG_FAILED && record->state == BROKER_ORDER_OPEN),
                      "%s: we report %s (%s), the broker %d (filled %lld)", leg->client_order_id,
                      leg_status_name(leg->status), leg->reason, (int)record->state,
                      (long long)record->filled_quantity);
        ck_assert_msg(leg->filled_quantity == filled,
                      "%s: we report %s %lld filled (%s), the broker %d %lld", leg->client_order_id,
                      leg_status_name(leg->status), (long long)leg->filled_quantity, leg->reason,
                      (int)record->state, (long long)filled);
    }
}

/* Every position off its target says why. */
static void check_reasons(const exec_result *result)
{
    size_t off = 0;
    for (size_t i = 0; i < result->position_count; i++)
        off += result->positions[i].residual != 0;
    char *text = render_result(result, NULL);
    size_t reasons = 0;
    for (const char *p = text; (p = strstr(p, "\"unfilled_reason\":\"")) != NULL; p++)
        reasons++;
    ck_assert_uint_eq(reasons, off);
    free(text);
}

typedef struct chaos_request {
    exec_request request;
    broker_credential credentials[2];
    exec_target targets[SYMBOL_COUNT];
    char account[48];
} chaos_request;

/* A random portfolio of 1..8 symbols for a fresh account. */
static void chaos_draw(chaos_request *t, const char *broker, size_t run, unsigned *seed)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "%s", broker);
    snprintf(t->account, sizeof t->account, "chaos%zu", run);
    t->credentials[0] = (broker_credential){"api_key", t->account};
    t->credentials[1] = (broker_credential){"access_token", "demo"};
    t->request.credentials = t->credentials;
    t->request.credential_count = 2;
    bool used[SYMBOL_COUNT] = {false};
    size_t count = 1 + rand_r(seed) % 8;
    for (size_t k = 0; k < count; k++) {
        size_t s = rand_r(seed) % SYMBOL_COUNT;
        if (used[s])
            continue;
        used[s] = true;
        exec_target *target = &t->targets[t->request.target_count++];
        snprintf(target->symbol, sizeof target->symbol, "%s", symbols[s]);
        bool future = strstr(symbols[s], "FUT") != NULL;
        target->target_quantity = future ? rand_r(seed) % 2000 : rand_r(seed) % 400;
    }
    t->request.targets = t->targets;
}

static size_t chaos_runs(void)
{
    const char *text = getenv("PTEXEC_CHAOS_RUNS");
    long runs = text ? strtol(text, NULL, 10) : 500;
    return runs > 0 ? (size_t)runs : 500;
}

static unsigned chaos_seed(void)
{
    const char *text = getenv("PTEXEC_CHAOS_SEED");
    return text ? (unsigned)strtoul(text, NULL, 10) : 20261201u;
}

/* What the runs went through, to show every fault class was met. */
typedef struct chaos_tally {
    size_t executions, refused, transient, unknown, logins, partial, rejected, cut, children,
        limits, cancelled, reprices, broker_rejected;
} chaos_tally;

static void chaos_count(chaos_tally *tally, const exec_result *result)
{
    tally->transient += result->retries.transient;
    tally->unknown += result->retries.unknown_lookups;
    tally->logins += result->retries.reauthentications;
    for (size_t i = 0; i < result->leg_count; i++) {
        const exec_leg *leg = &result->legs[i];
        tally->partial += leg->status == LEG_PARTIALLY_FILLED;
        tally->rejected += leg->status == LEG_REJECTED;
        tally->broker_rejected += leg->status == LEG_REJECTED && leg->order_id[0] != '\0';
        tally->cut += leg->requested_quantity != 0;
        tally->limits += leg->limit_price > 0.0;
        tally->cancelled += leg->status == LEG_CANCELLED;
        tally->reprices += leg->reprices;
        tally->children += i > 0 && leg->target_index == result->legs[i - 1].target_index;
    }
}

/* One execution and its checks. Returns whether it placed anything. */
static bool chaos_one(chaos_env *e, const char *broker, bool strict, size_t run, unsigned *seed,
                      chaos_tally *tally)
{
    chaos_request t;
    chaos_draw(&t, broker, run, seed);
    registry_broker *rb = registry_find(e->reg, broker);
    ck_assert_ptr_nonnull(rb);
    broker_view view;
    broker_credentials creds = {t.request.credential_count, t.credentials};
    view_open(&view, rb, &creds);
    holding_list before, after, fills;
    double cash_before, cash_after, moved;
    /* The view is not paced by the host, so on a strict section it reads
     * nothing before the execution (its reads would take the host's share
     * of the broker's limit): the account is fresh, its state the
     * configured one. */
    if (strict)
        view_initial(&before, &cash_before);
    else
        view_read(&view, &before, &cash_before);
    size_t refused_before = refused_calls(e, broker);
    exec_result result;
    ptx_error error;
    ptx_status status = engine_execute(e->eng, &t.request, NULL, &result, &error);
    size_t refused = refused_calls(e, broker) - refused_before;
    ck_assert_msg(refused == 0,
                  "%s run %zu: the broker refused %zu calls for its own rate limits (%s)", broker,
                  run, refused, status == PTX_OK ? "executed" : error.message);
    if (status != PTX_OK) { /* refused whole (market closed, login failed): nothing placed */
        ck_assert_msg(status == PTX_MARKET_CLOSED || status == PTX_AUTH ||
                          status == PTX_UNAVAILABLE,
                      "%s run %zu: %s", broker, run, error.message);
        view_read(&view, &after, &cash_after);
        ck_assert_mem_eq(&before, &after, sizeof before);
        view.plugin->close_session(view.instance, view.session);
        tally->refused++;
        return false;
    }
    chaos_count(tally, &result);
    view_check_legs(&view, &result, &fills, &moved);
    view_read(&view, &after, &cash_after);
    for (size_t i = 0; i < SYMBOL_COUNT; i++)
        ck_assert_msg(after.quantity[i] == before.quantity[i] + fills.quantity[i],
                      "%s run %zu %s: before %lld + fills %lld, holds %lld", broker, run,
                      symbols[i], (long long)before.quantity[i], (long long)fills.quantity[i],
                      (long long)after.quantity[i]);
    ck_assert_msg(fabs(cash_after - (cash_before + moved)) < 0.01 * (double)(result.leg_count + 1),
                  "%s run %zu: cash %.2f, expected %.2f", broker, run, cash_after,
                  cash_before + moved);
    ck_assert_msg(cash_after >= 0.0, "%s run %zu: cash %.2f", broker, run, cash_after);
    check_reasons(&result);
    if (strict)
        ck_assert_msg(result.retries.transient == 0,
                      "%s run %zu: %zu calls retried as TRANSIENT without injected failures "
                      "(the broker's rate limit was hit)",
                      broker, run, result.retries.transient);
    bool placed = result.leg_count > 0;
    exec_result_free(&result);
    view.plugin->close_session(view.instance, view.session);
    return placed;
}

START_TEST(test_chaos)
{
    size_t runs = chaos_runs() / PLUGIN_COUNT;
    unsigned seed = chaos_seed() + (unsigned)_i;
    chaos_env envs[CHAOS_KINDS];
    for (int kind = 0; kind < CHAOS_KINDS; kind++)
        chaos_open(&envs[kind], seed + 100u * (unsigned)kind, kind);
    size_t placed = 0;
    chaos_tally tally = {0};
    for (size_t run = 0; run < runs; run++) {
        int kind = (int)(run % CHAOS_KINDS);
        if (kind == CHAOS_CLOSING && run / CHAOS_KINDS % CHAOS_CLOSING_EVERY == 0 && run > 0) {
            chaos_close(&envs[kind]); /* a new day that closes a second from now */
            chaos_open(&envs[kind], seed + (unsigned)run, kind);
        }
        placed += chaos_one(&envs[kind], plugins[_i], kind == CHAOS_STRICT, run, &seed, &tally);
    }
    fprintf(stderr,
            "chaos %s: %zu executions (%zu with orders, %zu refused whole), all invariants held; "
            "met: %zu transient retries, %zu unknown-outcome lookups, %zu logins again, "
            "%zu partial fills, %zu rejections (%zu after acceptance), %zu cancelled, %zu buys cut "
            "for funds, %zu child "
            "orders, %zu limit orders, %zu re-pricings\n",
            plugins[_i], runs, placed, tally.refused, tally.transient, tally.unknown, tally.logins,
            tally.partial, tally.rejected, tally.broker_rejected, tally.cancelled, tally.cut,
            tally.children, tally.limits, tally.reprices);
    ck_assert_uint_gt(placed, runs / 3);
    for (int kind = 0; kind < CHAOS_KINDS; kind++)
        chaos_close(&envs[kind]);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("chaos");
    TCase *chaos = tcase_create("chaos");
    tcase_set_timeout(chaos, 60.0 + (double)chaos_runs() / PLUGIN_COUNT * 0.1);
    tcase_add_loop_test(chaos, test_chaos, 0, (int)PLUGIN_COUNT);
    suite_add_tcase(suite, chaos);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
