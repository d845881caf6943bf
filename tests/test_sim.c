/* The simulated exchange and the five broker plugins, loaded from the built
 * .so files with a small services table implemented here (config from a
 * key/value list, a splitmix64 random source seeded from `seed`, a frozen
 * clock the tests move by hand). */
#include <ctype.h>
#include <dlfcn.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <ptexec/broker_plugin.h>

#include "testutil.h"

#define BROKER_COUNT 5

/* What each broker says, and how it names things. */
typedef struct broker_facts {
    const char *name;
    const char *identity_field;
    const char *token_field; /* named when only the key is given */
    const char *key_field;   /* named when only the token is given */
    const char *token_invalid;
    const char *token_expired;
    const char *rate_limited;
    const char *network;
    const char *reply_lost;
    const char *invalid_symbol;
    const char *xyz_instrument;
    const char *insufficient;
    const char *order_id_prefix;
    size_t order_id_length;
    unsigned tag_max_length;
    unsigned rate_limit;
} broker_facts;

static const broker_facts facts[BROKER_COUNT] = {
    {"zerodha", "user_id", "access_token", "api_key", "TokenException", "TokenException",
     "NetworkException: Too many requests", "NetworkException", "GeneralException",
     "InputException: invalid tradingsymbol", "(XYZ)", "HoldingException: insufficient holdings",
     "151220", 15, 20, 10},
    {"fyers", "fy_id", "access_token", "app_id", "-16:", "-8: token expired", "-429:", "HTTP 503",
     "201:", "-300: invalid symbol", "(NSE:XYZ-EQ)", "-99: order rejected", "808", 12, 30, 10},
    {"angelone", "client_code", "jwt_token", "api_key", "AG8001", "AG8002", "exceeding access rate",
     "AB1004", "AB2000", "AB1009", "(XYZ-EQ)", "insufficient holdings", "2501", 15, 19, 20},
    {"groww", "user_id", "access_token", "api_key", "GA005", "GA005", "429", "GA003", "GA000",
     "GA001", "(XYZ)", "GA006", "GMK", 19, 20, 10},
    {"upstox", "user_id", "access_token", "api_key", "UDAPI100050", "UDAPI100050",
     "UDAPI10005 Too many requests", "UDAPI100500", "UDAPI100500", "UDAPI100036", "(NSE_EQ|INE",
     "insufficient holdings", "240101", 15, 20, 10},
};

/* ---- the test's host services ------------------------------------------ */

struct broker_host {
    const char *const *pairs; /* key, value, …, NULL */
    uint64_t random_state;
    int64_t clock_ms;
    unsigned sleeps;
    unsigned slept_ms;
    pthread_mutex_t lock;
};

static void host_log(broker_host *host, broker_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void host_log(broker_host *host, broker_log_level level, const char *format, ...)
{
    (void)host;
    (void)level;
    (void)format;
}

static const char *host_config_get(broker_host *host, const char *key)
{
    for (const char *const *p = host->pairs; p && p[0]; p += 2)
        if (strcmp(p[0], key) == 0)
            return p[1];
    return NULL;
}

static int64_t host_clock(broker_host *host)
{
    return host->clock_ms;
}

static void host_sleep(broker_host *host, uint32_t milliseconds)
{
    struct timespec pause = {0, (long)milliseconds * 1000000L};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&host->lock);
    host->sleeps++;
    host->slept_ms += milliseconds;
    pthread_mutex_unlock(&host->lock);
}

static uint64_t host_random(broker_host *host)
{
    pthread_mutex_lock(&host->lock);
    uint64_t z = (host->random_state += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&host->lock);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const broker_host_services services = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_host_services),
    .log = host_log,
    .config_get = host_config_get,
    .now_ms = host_clock,
    .monotonic_ms = host_clock,
    .sleep_ms = host_sleep,
    .random_u64 = host_random,
};

/* ---- fixtures ----------------------------------------------------------- */

typedef struct fixture {
    const broker_plugin *plugin;
    struct broker_host host;
    broker_instance *instance;
} fixture;

static const broker_plugin *load_plugin(const char *name)
{
    char *path = tu_format("%s/plugins/%s.so", tu_build_dir(), name);
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(handle != NULL, "dlopen %s: %s", path, dlerror());
    broker_plugin_entry_fn entry;
    *(void **)&entry = dlsym(handle, BROKER_PLUGIN_SYMBOL);
    ck_assert_msg(entry != NULL, "%s has no %s", path, BROKER_PLUGIN_SYMBOL);
    const broker_plugin *plugin = NULL;
    ck_assert_int_eq(entry(&services, &plugin), BROKER_OK);
    ck_assert_ptr_nonnull(plugin);
    free(path);
    return plugin;
}

static broker_status fx_try(fixture *fx, const char *name, const char *const *pairs,
                            broker_text *error)
{
    memset(fx, 0, sizeof *fx);
    fx->plugin = load_plugin(name);
    fx->host.pairs = pairs;
    pthread_mutex_init(&fx->host.lock, NULL);
    const char *seed = host_config_get(&fx->host, "seed");
    fx->host.random_state = seed ? strtoull(seed, NULL, 10) : 1;
    fx->host.clock_ms = 1000000;
    return fx->plugin->create(&services, &fx->host, &fx->instance, error);
}

static void fx_open(fixture *fx, const char *name, const char *const *pairs)
{
    broker_text error = {""};
    broker_status status = fx_try(fx, name, pairs, &error);
    ck_assert_msg(status == BROKER_OK, "%s create: %s", name, error.text);
    ck_assert_ptr_nonnull(fx->instance);
}

static void fx_close(fixture *fx)
{
    fx->plugin->destroy(fx->instance);
    pthread_mutex_destroy(&fx->host.lock);
}

/* Calls `expr` again while it fails with BROKER_TRANSIENT. */
#define RETRY(status, expr)                                                                        \
    do {                                                                                           \
        int tries_ = 0;                                                                            \
        do                                                                                         \
            status = (expr);                                                                       \
        while (status == BROKER_TRANSIENT && ++tries_ < 10000);                                    \
    } while (0)

static broker_status fx_session_status(fixture *fx, const char *key, const char *token,
                                       broker_session **session)
{
    broker_credential items[] = {{"api_key", key}, {"access_token", token}};
    broker_credentials credentials = {2, items};
    broker_text account = {""}, error = {""};
    broker_status status =
        fx->plugin->open_session(fx->instance, &credentials, session, &account, &error);
    ck_assert_msg(status == BROKER_OK, "open_session: %s", error.text);
    ck_assert_str_eq(account.text, key);
    RETRY(status, fx->plugin->authenticate(fx->instance, *session));
    return status;
}

static broker_session *fx_session(fixture *fx, const char *key)
{
    broker_session *session = NULL;
    broker_status status = fx_session_status(fx, key, "demo", &session);
    ck_assert_msg(status == BROKER_OK, "authenticate: %s",
                  fx->plugin->errmsg(fx->instance, session));
    return session;
}

/* After a failed call: true (call again) for TRANSIENT, and for AUTH once the
 * session logged in again. */
static bool should_retry(fixture *fx, broker_session *session, broker_status status)
{
    if (status == BROKER_TRANSIENT)
        return true;
    if (status != BROKER_AUTH)
        return false;
    broker_status login;
    RETRY(login, fx->plugin->authenticate(fx->instance, session));
    ck_assert_int_eq(login, BROKER_OK);
    return true;
}

typedef struct holdings_list {
    size_t count;
    char symbols[64][BROKER_SYMBOL_MAX];
    int64_t quantities[64];
} holdings_list;

static int collect_holding(void *context, const char *symbol, int64_t quantity)
{
    holdings_list *list = context;
    ck_assert_uint_lt(list->count, 64);
    snprintf(list->symbols[list->count], BROKER_SYMBOL_MAX, "%s", symbol);
    list->quantities[list->count++] = quantity;
    return 0;
}

static holdings_list fx_holdings(fixture *fx, broker_session *session)
{
    holdings_list list;
    broker_status status;
    do {
        memset(&list, 0, sizeof list);
        status = fx->plugin->get_holdings(fx->instance, session, collect_holding, &list);
    } while (should_retry(fx, session, status));
    ck_assert_msg(status == BROKER_OK, "get_holdings: %s",
                  fx->plugin->errmsg(fx->instance, session));
    return list;
}

static int64_t held(const holdings_list *list, const char *symbol)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->symbols[i], symbol) == 0)
            return list->quantities[i];
    return 0;
}

static broker_order_request order_request(const char *symbol, broker_side side, int64_t quantity,
                                          unsigned tag)
{
    broker_order_request request;
    memset(&request, 0, sizeof request);
    snprintf(request.symbol, sizeof request.symbol, "%s", symbol);
    snprintf(request.client_order_id, sizeof request.client_order_id, "C%07u", tag);
    request.side = side;
    request.quantity = quantity;
    return request;
}

static broker_status fx_place(fixture *fx, broker_session *session, const char *symbol,
                              broker_side side, int64_t quantity, unsigned tag, broker_order *order)
{
    broker_order_request request = order_request(symbol, side, quantity, tag);
    return fx->plugin->place_order(fx->instance, session, &request, order);
}

static broker_order fx_read(fixture *fx, broker_session *session, const char *order_id)
{
    broker_order order;
    broker_status status;
    do
        status = fx->plugin->get_order(fx->instance, session, order_id, &order);
    while (should_retry(fx, session, status));
    ck_assert_msg(status == BROKER_OK, "get_order %s: %s", order_id,
                  fx->plugin->errmsg(fx->instance, session));
    return order;
}

static const char *errmsg(fixture *fx, broker_session *session)
{
    return fx->plugin->errmsg(fx->instance, session);
}

#define ASSERT_CONTAINS(text, part)                                                                \
    ck_assert_msg(strstr((text), (part)) != NULL, "'%s' does not contain '%s'", (text), (part))

/* ---- descriptor and exports ---------------------------------------------- */

START_TEST(test_exports_one_symbol)
{
    char *command =
        tu_format("nm -D --defined-only '%s/plugins/%s.so'", tu_build_dir(), facts[_i].name);
    FILE *pipe = popen(command, "r");
    ck_assert_ptr_nonnull(pipe);
    char line[512];
    int count = 0;
    bool entry = false;
    while (fgets(line, sizeof line, pipe) != NULL) {
        count++;
        entry = entry || strstr(line, " broker_plugin_v1") != NULL;
    }
    ck_assert_int_eq(pclose(pipe), 0);
    ck_assert_msg(count == 1 && entry, "%s exports %d symbols", facts[_i].name, count);
    free(command);
}
END_TEST

START_TEST(test_descriptor)
{
    const broker_facts *f = &facts[_i];
    const broker_plugin *plugin = load_plugin(f->name);
    ck_assert_uint_eq(plugin->abi_major, 1);
    ck_assert_uint_ge(plugin->size, BROKER_PLUGIN_V1_0_SIZE);
    ck_assert_str_eq(plugin->name, f->name);
    ck_assert_uint_eq(plugin->capabilities.flags &
                          (BROKER_CAP_CONCURRENT_SESSIONS | BROKER_CAP_PARTIAL_FILLS),
                      BROKER_CAP_CONCURRENT_SESSIONS | BROKER_CAP_PARTIAL_FILLS);
    ck_assert_uint_eq(plugin->capabilities.tag_max_length, f->tag_max_length);
    ck_assert_uint_eq(plugin->capabilities.tag_min_length, strcmp(f->name, "groww") ? 1 : 8);
    ck_assert_uint_eq(plugin->capabilities.rate_limit_per_second, f->rate_limit);
    static const char *const keys[] = {"seed",
                                       "initial_holdings",
                                       "transient_failure_rate",
                                       "unknown_outcome_rate",
                                       "reject_rate",
                                       "partial_fill_rate",
                                       "auth_expiry_rate",
                                       "latency_ms",
                                       "rate_limit_per_second",
                                       "unknown_symbols"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        bool found = false;
        for (const char *const *p = plugin->config_keys; p && *p; p++)
            found = found || strcmp(*p, keys[k]) == 0;
        ck_assert_msg(found, "%s does not list %s", f->name, keys[k]);
    }
    ck_assert_ptr_nonnull(plugin->cancel_order);
    ck_assert_ptr_nonnull(plugin->get_quote);
}
END_TEST

/* ---- sessions and credentials ------------------------------------------- */

START_TEST(test_seed_credentials_and_initial_holdings)
{
    fixture fx;
    fx_open(&fx, facts[_i].name, NULL);
    broker_session *session = fx_session(&fx, "demo");
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_uint_eq(list.count, 3);
    ck_assert_str_eq(list.symbols[0], "RELIANCE");
    ck_assert_int_eq(list.quantities[0], 10);
    ck_assert_str_eq(list.symbols[1], "TCS");
    ck_assert_int_eq(list.quantities[1], 5);
    ck_assert_str_eq(list.symbols[2], "INFY");
    ck_assert_int_eq(list.quantities[2], 8);
    fx.plugin->close_session(fx.instance, session);
    fx_close(&fx);
}
END_TEST

START_TEST(test_accounts_are_separate)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    fx_open(&fx, f->name, NULL);
    broker_credential items[] = {
        {"api_key", "demo"}, {"access_token", "demo"}, {f->identity_field, "CLIENT42"}};
    broker_credentials credentials = {3, items};
    broker_session *client = NULL;
    broker_text account = {""}, error = {""};
    ck_assert_int_eq(fx.plugin->open_session(fx.instance, &credentials, &client, &account, &error),
                     BROKER_OK);
    ck_assert_str_eq(account.text, "CLIENT42");
    broker_status status;
    RETRY(status, fx.plugin->authenticate(fx.instance, client));
    ck_assert_int_eq(status, BROKER_OK);
    broker_session *other = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, client, "RELIANCE", BROKER_SIDE_BUY, 7, 1, &order), BROKER_OK);
    holdings_list mine = fx_holdings(&fx, client);
    holdings_list theirs = fx_holdings(&fx, other);
    ck_assert_int_eq(held(&mine, "RELIANCE"), 17);
    ck_assert_int_eq(held(&theirs, "RELIANCE"), 10);
    /* The other account cannot see or read this account's order. */
    broker_order seen;
    ck_assert_int_eq(fx.plugin->get_order(fx.instance, other, order.order_id, &seen),
                     BROKER_NOT_FOUND);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, other, order.client_order_id, &seen),
                     BROKER_NOT_FOUND);
    fx_close(&fx);
}
END_TEST

START_TEST(test_missing_credential_named)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    fx_open(&fx, f->name, NULL);
    broker_credential only_key[] = {{"api_key", "s3cr3tKEY"}};
    broker_credential only_token[] = {{"access_token", "s3cr3tTOKEN"}};
    broker_credentials key_creds = {1, only_key}, token_creds = {1, only_token};
    broker_session *session = NULL;
    broker_text account = {""}, error = {""};
    ck_assert_int_eq(fx.plugin->open_session(fx.instance, &key_creds, &session, &account, &error),
                     BROKER_INVALID);
    ck_assert_ptr_null(session);
    char *expected = tu_format("missing credential '%s'", f->token_field);
    ASSERT_CONTAINS(error.text, expected);
    ASSERT_CONTAINS(error.text, f->name);
    ASSERT_CONTAINS(error.text, "access_token");
    ck_assert_str_eq(errmsg(&fx, NULL), error.text);
    ck_assert_ptr_null(strstr(error.text, "s3cr3t"));
    ck_assert_int_eq(fx.plugin->open_session(fx.instance, &token_creds, &session, &account, &error),
                     BROKER_INVALID);
    free(expected);
    expected = tu_format("missing credential '%s'", f->key_field);
    ASSERT_CONTAINS(error.text, expected);
    ASSERT_CONTAINS(error.text, "api_key");
    ck_assert_ptr_null(strstr(error.text, "s3cr3t"));
    free(expected);
    fx_close(&fx);
}
END_TEST

START_TEST(test_bad_token_is_auth)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    fx_open(&fx, f->name, NULL);
    broker_session *session = NULL;
    ck_assert_int_eq(fx_session_status(&fx, "demo", "invalid-SECRETX", &session), BROKER_AUTH);
    ASSERT_CONTAINS(errmsg(&fx, session), f->token_invalid);
    ck_assert_ptr_null(strstr(errmsg(&fx, session), "SECRETX"));
    /* Nothing works on a session that never logged in. */
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 1, &order),
                     BROKER_AUTH);
    broker_session *expired = NULL;
    ck_assert_int_eq(fx_session_status(&fx, "demo2", "expired", &expired), BROKER_AUTH);
    ASSERT_CONTAINS(errmsg(&fx, expired), f->token_expired);
    fx_close(&fx);
}
END_TEST

/* ---- orders and holdings ----------------------------------------------- */

static void assert_order_id_format(const broker_facts *f, const char *order_id)
{
    ck_assert_uint_eq(strlen(order_id), f->order_id_length);
    ck_assert_int_eq(strncmp(order_id, f->order_id_prefix, strlen(f->order_id_prefix)), 0);
    for (const char *p = order_id; *p; p++)
        ck_assert(isdigit((unsigned char)*p) ||
                  (strcmp(f->name, "groww") == 0 && isupper((unsigned char)*p)));
}

START_TEST(test_buy_changes_holdings)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    fx_open(&fx, f->name, NULL);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 5, 1, &order), BROKER_OK);
    ck_assert_int_eq(order.state, BROKER_ORDER_OPEN);
    ck_assert_int_eq(order.filled_quantity, 0);
    ck_assert_str_eq(order.symbol, "RELIANCE");
    ck_assert_str_eq(order.client_order_id, "C0000001");
    assert_order_id_format(f, order.order_id);
    broker_order read = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(read.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(read.filled_quantity, 5);
    double price = 0;
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "RELIANCE", &price), BROKER_OK);
    ck_assert(price >= 50.0 && price <= 5000.0);
    ck_assert(read.average_price == price);
    ck_assert(price * 100 == (double)(int64_t)(price * 100 + 0.5) ||
              price * 100 == (double)(int64_t)(price * 100));
    ck_assert_int_eq(fx_place(&fx, session, "HDFCBANK", BROKER_SIDE_BUY, 3, 2, &order), BROKER_OK);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 15);
    ck_assert_int_eq(held(&list, "HDFCBANK"), 3);
    /* The order, read after get_holdings settled it, is FILLED; a second
     * order id is different. */
    broker_order second = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(second.state, BROKER_ORDER_FILLED);
    ck_assert_str_ne(second.order_id, read.order_id);
    /* Holdings outlive the session. */
    fx.plugin->close_session(fx.instance, session);
    session = fx_session(&fx, "demo");
    list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 15);
    fx_close(&fx);
}
END_TEST

START_TEST(test_sell_more_than_held_rejected)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    fx_open(&fx, f->name, NULL);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 6, 1, &order),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), f->insufficient);
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 5, 2, &order), BROKER_OK);
    /* The open SELL reserves the quantity. */
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 1, 3, &order),
                     BROKER_REJECTED);
    ck_assert_int_eq(fx_place(&fx, session, "WIPRO", BROKER_SIDE_SELL, 1, 4, &order),
                     BROKER_REJECTED);
    ck_assert_int_eq(fx_place(&fx, session, "INFY", BROKER_SIDE_BUY, 0, 5, &order),
                     BROKER_REJECTED);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "TCS"), 0);
    ck_assert_uint_eq(list.count, 2); /* a zero quantity is not emitted */
    fx_close(&fx);
}
END_TEST

START_TEST(test_unknown_symbols_and_quotes)
{
    const broker_facts *f = &facts[_i];
    const char *const config[] = {"unknown_symbols", "xyz, ABC", NULL};
    fixture fx;
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "XYZ", BROKER_SIDE_BUY, 1, 1, &order), BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), f->invalid_symbol);
    ASSERT_CONTAINS(errmsg(&fx, session), f->xyz_instrument);
    double price = 0, again = 0;
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "ABC", &price), BROKER_REJECTED);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_OK);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &again), BROKER_OK);
    ck_assert(price == again);
    ck_assert(price >= 50.0 && price <= 5000.0);
    fx_close(&fx);
}
END_TEST

START_TEST(test_cancel_open_order)
{
    fixture fx;
    fx_open(&fx, facts[_i].name, NULL);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order, cancelled;
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 5, 1, &order), BROKER_OK);
    ck_assert_int_eq(fx.plugin->cancel_order(fx.instance, session, order.order_id, &cancelled),
                     BROKER_OK);
    ck_assert_int_eq(cancelled.state, BROKER_ORDER_CANCELLED);
    ck_assert_int_eq(cancelled.filled_quantity, 0);
    ck_assert_int_eq(fx_read(&fx, session, order.order_id).state, BROKER_ORDER_CANCELLED);
    ck_assert_int_eq(fx.plugin->cancel_order(fx.instance, session, order.order_id, &cancelled),
                     BROKER_REJECTED);
    /* The reservation is released: the same SELL goes through. */
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 5, 2, &order), BROKER_OK);
    ck_assert_int_eq(fx_read(&fx, session, order.order_id).state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(fx.plugin->cancel_order(fx.instance, session, order.order_id, &cancelled),
                     BROKER_REJECTED);
    ck_assert_int_eq(fx.plugin->cancel_order(fx.instance, session, "nonsense", &cancelled),
                     BROKER_NOT_FOUND);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "TCS"), 0);
    fx_close(&fx);
}
END_TEST

/* ---- failure classes ------------------------------------------------------ */

START_TEST(test_transient_records_nothing)
{
    const broker_facts *f = &facts[_i];
    const char *const always[] = {"transient_failure_rate", "1", NULL};
    fixture fx;
    fx_open(&fx, f->name, always);
    broker_session *session = NULL;
    ck_assert_int_eq(fx_session_status(&fx, "demo", "demo", &session), BROKER_TRANSIENT);
    ASSERT_CONTAINS(errmsg(&fx, session), f->network);
    fx_close(&fx);

    const char *const half[] = {"transient_failure_rate", "0.5", "seed", "7",
                                "rate_limit_per_second",  "0",   NULL};
    fx_open(&fx, f->name, half);
    session = fx_session(&fx, "demo");
    int transients = 0, placed = 0;
    for (unsigned tag = 1; tag <= 40; tag++) {
        broker_order order, found;
        broker_status status = fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order);
        broker_order_request request = order_request("RELIANCE", BROKER_SIDE_BUY, 1, tag);
        broker_status lookup;
        RETRY(lookup, fx.plugin->find_order(fx.instance, session, request.client_order_id, &found));
        if (status == BROKER_TRANSIENT) {
            transients++;
            ck_assert_int_eq(lookup, BROKER_NOT_FOUND);
        } else {
            ck_assert_int_eq(status, BROKER_OK);
            ck_assert_int_eq(lookup, BROKER_OK);
            ck_assert_str_eq(found.order_id, order.order_id);
            placed++;
        }
    }
    ck_assert_int_gt(transients, 0);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + placed);
    fx_close(&fx);
}
END_TEST

START_TEST(test_unknown_outcome_order_exists)
{
    const broker_facts *f = &facts[_i];
    const char *const config[] = {"unknown_outcome_rate", "1.0", NULL};
    fixture fx;
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order, found;
    ck_assert_int_eq(fx_place(&fx, session, "INFY", BROKER_SIDE_SELL, 3, 9, &order),
                     BROKER_UNKNOWN);
    ASSERT_CONTAINS(errmsg(&fx, session), f->reply_lost);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000009", &found), BROKER_OK);
    ck_assert_int_eq(found.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(found.filled_quantity, 3);
    ck_assert_int_eq(found.side, BROKER_SIDE_SELL);
    assert_order_id_format(f, found.order_id);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000010", &found),
                     BROKER_NOT_FOUND);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "INFY"), 5);
    fx_close(&fx);
}
END_TEST

START_TEST(test_partial_fill)
{
    fixture fx;
    const char *const config[] = {"partial_fill_rate", "1", NULL};
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order buy, sell;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &buy), BROKER_OK);
    ck_assert_int_eq(buy.state, BROKER_ORDER_OPEN);
    ck_assert_int_eq(fx_place(&fx, session, "INFY", BROKER_SIDE_SELL, 8, 2, &sell), BROKER_OK);
    broker_order bought = fx_read(&fx, session, buy.order_id);
    ck_assert_int_eq(bought.state, BROKER_ORDER_PARTIALLY_FILLED);
    ck_assert(bought.filled_quantity >= 1 && bought.filled_quantity <= 9);
    ck_assert(bought.average_price > 0);
    ASSERT_CONTAINS(bought.message, "cancelled");
    ck_assert_int_eq(fx_read(&fx, session, buy.order_id).filled_quantity, bought.filled_quantity);
    holdings_list list = fx_holdings(&fx, session); /* settles the SELL too */
    broker_order sold = fx_read(&fx, session, sell.order_id);
    ck_assert_int_eq(sold.state, BROKER_ORDER_PARTIALLY_FILLED);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + bought.filled_quantity);
    ck_assert_int_eq(held(&list, "INFY"), 8 - sold.filled_quantity);
    fx_close(&fx);
}
END_TEST

START_TEST(test_reject_after_acceptance)
{
    fixture fx;
    const char *const config[] = {"reject_rate", "1", NULL};
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 4, 1, &order), BROKER_OK);
    ck_assert_int_eq(order.state, BROKER_ORDER_OPEN);
    broker_order read = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(read.state, BROKER_ORDER_REJECTED);
    ck_assert_int_eq(read.filled_quantity, 0);
    ASSERT_CONTAINS(read.message, "RMS");
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10);
    fx_close(&fx);
}
END_TEST

START_TEST(test_auth_expiry_until_reauthenticated)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    const char *const always[] = {"auth_expiry_rate", "1", NULL};
    fx_open(&fx, f->name, always);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 1, &order),
                     BROKER_AUTH);
    ASSERT_CONTAINS(errmsg(&fx, session), f->token_expired);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000001", &order), BROKER_AUTH);
    fx_close(&fx);

    const char *const some[] = {"auth_expiry_rate",      "0.3", "seed", "11",
                                "rate_limit_per_second", "0",   NULL};
    fx_open(&fx, f->name, some);
    session = fx_session(&fx, "demo");
    int expiries = 0, oks = 0;
    for (unsigned tag = 1; tag <= 60; tag++) {
        broker_status status = fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order);
        if (status == BROKER_OK) {
            oks++;
            continue;
        }
        ck_assert_int_eq(status, BROKER_AUTH);
        expiries++;
        double price;
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price),
                             BROKER_AUTH);
        ck_assert_int_eq(fx.plugin->authenticate(fx.instance, session), BROKER_OK);
    }
    ck_assert_int_gt(expiries, 0);
    ck_assert_int_gt(oks, 0);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + oks);
    fx_close(&fx);
}
END_TEST

START_TEST(test_rate_limit)
{
    const broker_facts *f = &facts[_i];
    fixture fx;
    const char *const config[] = {"rate_limit_per_second", "3", NULL};
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_session *other = fx_session(&fx, "other");
    broker_order order;
    for (unsigned tag = 1; tag <= 3; tag++)
        ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order),
                         BROKER_OK);
    fx.host.clock_ms += 999;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 4, &order),
                     BROKER_TRANSIENT);
    ASSERT_CONTAINS(errmsg(&fx, session), f->rate_limited);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000004", &order),
                     BROKER_NOT_FOUND);
    /* Per account: another account is not limited. */
    ck_assert_int_eq(fx_place(&fx, other, "RELIANCE", BROKER_SIDE_BUY, 1, 5, &order), BROKER_OK);
    fx.host.clock_ms += 1;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 4, &order), BROKER_OK);
    fx_close(&fx);

    /* Default: the broker's real limit. */
    fx_open(&fx, f->name, NULL);
    session = fx_session(&fx, "demo");
    for (unsigned tag = 1; tag <= f->rate_limit; tag++)
        ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order),
                         BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 99, &order),
                     BROKER_TRANSIENT);
    fx_close(&fx);

    const char *const unlimited[] = {"rate_limit_per_second", "0", NULL};
    fx_open(&fx, f->name, unlimited);
    session = fx_session(&fx, "demo");
    for (unsigned tag = 1; tag <= 500; tag++)
        ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order),
                         BROKER_OK);
    fx_close(&fx);
}
END_TEST

/* Runs a fixed request sequence under every fault; returns its outcomes. */
static char *outcome_trace(const char *name, const char *seed)
{
    const char *const config[] = {"seed",
                                  seed,
                                  "transient_failure_rate",
                                  "0.2",
                                  "unknown_outcome_rate",
                                  "0.1",
                                  "reject_rate",
                                  "0.1",
                                  "partial_fill_rate",
                                  "0.3",
                                  "auth_expiry_rate",
                                  "0.05",
                                  "rate_limit_per_second",
                                  "0",
                                  NULL};
    fixture fx;
    fx_open(&fx, name, config);
    broker_session *session = fx_session(&fx, "demo");
    size_t size = 8192, used = 0;
    char *trace = calloc(1, size);
    for (unsigned tag = 1; tag <= 150; tag++) {
        broker_order order, read;
        broker_status status =
            fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1 + tag % 7, tag, &order);
        broker_status read_status = BROKER_NOT_FOUND;
        if (status == BROKER_OK)
            read_status = fx.plugin->get_order(fx.instance, session, order.order_id, &read);
        if (status == BROKER_AUTH || read_status == BROKER_AUTH)
            fx.plugin->authenticate(fx.instance, session);
        used += (size_t)snprintf(trace + used, size - used, "%d/%d/%d/%lld ", (int)status,
                                 (int)read_status, read_status == BROKER_OK ? (int)read.state : -1,
                                 read_status == BROKER_OK ? (long long)read.filled_quantity : -1);
        ck_assert_uint_lt(used, size);
    }
    fx_close(&fx);
    return trace;
}

START_TEST(test_same_seed_same_outcomes)
{
    char *first = outcome_trace(facts[_i].name, "42");
    char *second = outcome_trace(facts[_i].name, "42");
    char *other = outcome_trace(facts[_i].name, "43");
    ck_assert_str_eq(first, second);
    ck_assert_str_ne(first, other);
    free(first);
    free(second);
    free(other);
}
END_TEST

/* Whatever happens, holdings = initial + Σ filled quantities reported. */
START_TEST(test_holdings_invariant_under_faults)
{
    const char *const config[] = {"seed",
                                  "5",
                                  "transient_failure_rate",
                                  "0.2",
                                  "unknown_outcome_rate",
                                  "0.1",
                                  "reject_rate",
                                  "0.05",
                                  "partial_fill_rate",
                                  "0.2",
                                  "auth_expiry_rate",
                                  "0.02",
                                  "rate_limit_per_second",
                                  "0",
                                  NULL};
    static const char *const symbols[] = {"RELIANCE", "TCS", "INFY", "SBIN"};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    int64_t expected[4] = {10, 5, 8, 0};
    char(*order_ids)[BROKER_ORDER_ID_MAX] = calloc(400, BROKER_ORDER_ID_MAX);
    int sides[400], which[400], count = 0;
    for (unsigned tag = 1; tag <= 400; tag++) {
        int s = (int)(tag % 4);
        broker_side side = tag % 3 == 0 ? BROKER_SIDE_SELL : BROKER_SIDE_BUY;
        broker_order order;
        broker_status status = fx_place(&fx, session, symbols[s], side, 1 + tag % 3, tag, &order);
        if (status == BROKER_AUTH)
            should_retry(&fx, session, status);
        if (status == BROKER_UNKNOWN) {
            broker_order_request request = order_request(symbols[s], side, 1, tag);
            do
                status =
                    fx.plugin->find_order(fx.instance, session, request.client_order_id, &order);
            while (should_retry(&fx, session, status));
            ck_assert_int_eq(status, BROKER_OK);
        }
        if (status != BROKER_OK)
            continue;
        snprintf(order_ids[count], BROKER_ORDER_ID_MAX, "%s", order.order_id);
        sides[count] = side;
        which[count++] = s;
    }
    holdings_list list = fx_holdings(&fx, session);
    for (int i = 0; i < count; i++) {
        broker_order read = fx_read(&fx, session, order_ids[i]);
        ck_assert_int_ne(read.state, BROKER_ORDER_OPEN);
        expected[which[i]] +=
            sides[i] == BROKER_SIDE_BUY ? read.filled_quantity : -read.filled_quantity;
    }
    for (int s = 0; s < 4; s++)
        ck_assert_int_eq(held(&list, symbols[s]), expected[s]);
    free(order_ids);
    fx_close(&fx);
}
END_TEST

/* ---- configuration ------------------------------------------------------- */

START_TEST(test_mode_live_refused)
{
    const char *const live[] = {"mode", "live", NULL};
    fixture fx;
    broker_text error = {""};
    ck_assert_int_eq(fx_try(&fx, facts[_i].name, live, &error), BROKER_CONFIG);
    ck_assert_ptr_null(fx.instance);
    ck_assert_str_eq(error.text, "mode = live is not available in this build");
    const char *const simulated[] = {"mode", "simulated", NULL};
    fx_open(&fx, facts[_i].name, simulated);
    fx_close(&fx);
}
END_TEST

static const struct bad_config {
    const char *key;
    const char *value;
} bad_configs[] = {
    {"initial_holdings", "RELIANCE10"},
    {"initial_holdings", "RELIANCE:-1"},
    {"initial_holdings", "RELIANCE:1.5"},
    {"initial_holdings", "reliance:2,RELIANCE:3"},
    {"initial_holdings", "BAD SYM:1"},
    {"transient_failure_rate", "1.5"},
    {"unknown_outcome_rate", "abc"},
    {"reject_rate", "-0.1"},
    {"partial_fill_rate", ""},
    {"auth_expiry_rate", "nan"},
    {"latency_ms", "-1"},
    {"rate_limit_per_second", "ten"},
    {"unknown_symbols", "OK,not ok!"},
    {"mode", "paper"},
};

START_TEST(test_bad_config_names_key)
{
    const struct bad_config *bad = &bad_configs[_i];
    const char *const config[] = {bad->key, bad->value, NULL};
    for (int b = 0; b < BROKER_COUNT; b++) {
        fixture fx;
        broker_text error = {""};
        ck_assert_int_eq(fx_try(&fx, facts[b].name, config, &error), BROKER_CONFIG);
        ck_assert_ptr_null(fx.instance);
        ASSERT_CONTAINS(error.text, bad->key);
    }
}
END_TEST

START_TEST(test_initial_holdings_parsed)
{
    const char *const config[] = {"initial_holdings", " sbin : 4 , TCS:0,M&M:2 ", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    holdings_list list = fx_holdings(&fx, fx_session(&fx, "demo"));
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(list.symbols[0], "SBIN");
    ck_assert_int_eq(list.quantities[0], 4);
    ck_assert_str_eq(list.symbols[1], "M&M");
    fx_close(&fx);
    const char *const empty[] = {"initial_holdings", "", NULL};
    fx_open(&fx, facts[_i].name, empty);
    ck_assert_uint_eq(fx_holdings(&fx, fx_session(&fx, "demo")).count, 0);
    fx_close(&fx);
}
END_TEST

START_TEST(test_latency_sleeps_every_call)
{
    const char *const config[] = {"latency_ms", "2", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo"); /* authenticate: 1 call */
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_BUY, 1, 1, &order), BROKER_OK);
    fx_read(&fx, session, order.order_id);
    ck_assert_uint_eq(fx.host.sleeps, 3);
    ck_assert_uint_eq(fx.host.slept_ms, 6);
    fx_close(&fx);
}
END_TEST

/* ---- broker-specific tag rules ------------------------------------------ */

static broker_status place_tagged(fixture *fx, broker_session *session, const char *tag,
                                  broker_order *order)
{
    broker_order_request request = order_request("RELIANCE", BROKER_SIDE_BUY, 1, 0);
    snprintf(request.client_order_id, sizeof request.client_order_id, "%s", tag);
    return fx->plugin->place_order(fx->instance, session, &request, order);
}

START_TEST(test_groww_duplicate_reference_unknown)
{
    fixture fx;
    fx_open(&fx, "groww", NULL);
    broker_session *session = fx_session(&fx, "demo");
    broker_order first, second, found;
    ck_assert_int_eq(place_tagged(&fx, session, "Ab-6543212-x", &first), BROKER_OK);
    ck_assert_int_eq(place_tagged(&fx, session, "Ab-6543212-x", &second), BROKER_UNKNOWN);
    ck_assert_str_eq(errmsg(&fx, session), "GA007 duplicate order reference id");
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "Ab-6543212-x", &found),
                     BROKER_OK);
    ck_assert_str_eq(found.order_id, first.order_id);
    ck_assert_int_eq(place_tagged(&fx, session, "short", &second), BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "GA001");
    ck_assert_int_eq(place_tagged(&fx, session, "a-b-c-d12345", &second), BROKER_REJECTED);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 11);
    fx_close(&fx);
}
END_TEST

START_TEST(test_zerodha_accepts_duplicate_tags)
{
    fixture fx;
    fx_open(&fx, "zerodha", NULL);
    broker_session *session = fx_session(&fx, "demo");
    broker_order first, second, found;
    ck_assert_int_eq(place_tagged(&fx, session, "tag1", &first), BROKER_OK);
    ck_assert_int_eq(place_tagged(&fx, session, "tag1", &second), BROKER_OK);
    ck_assert_str_ne(first.order_id, second.order_id);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "tag1", &found), BROKER_OK);
    ck_assert_str_eq(found.order_id, second.order_id);
    ck_assert_int_eq(place_tagged(&fx, session, "tag-1", &second), BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "InputException");
    ck_assert_int_eq(place_tagged(&fx, session, "A23456789012345678901", &second), BROKER_REJECTED);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 12);
    fx_close(&fx);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------- */

typedef struct worker {
    fixture *fx;
    const char *account;
    int failures;
} worker;

static void *worker_run(void *argument)
{
    worker *w = argument;
    broker_credential items[] = {{"api_key", w->account}, {"access_token", "demo"}};
    broker_credentials credentials = {2, items};
    broker_session *session = NULL;
    broker_text account = {""}, error = {""};
    const broker_plugin *plugin = w->fx->plugin;
    if (plugin->open_session(w->fx->instance, &credentials, &session, &account, &error) != 0 ||
        plugin->authenticate(w->fx->instance, session) != BROKER_OK)
        w->failures++;
    for (unsigned tag = 1; tag <= 2000 && w->failures == 0; tag++) {
        broker_order_request request = order_request("RELIANCE", BROKER_SIDE_BUY, 1, tag);
        broker_order order, read;
        if (plugin->place_order(w->fx->instance, session, &request, &order) != BROKER_OK ||
            plugin->get_order(w->fx->instance, session, order.order_id, &read) != BROKER_OK ||
            read.filled_quantity != 1)
            w->failures++;
    }
    plugin->close_session(w->fx->instance, session);
    return NULL;
}

START_TEST(test_parallel_sessions)
{
    const char *const config[] = {"rate_limit_per_second", "0", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    worker workers[2] = {{&fx, "alpha", 0}, {&fx, "beta", 0}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, worker_run, &workers[t]), 0);
    for (int t = 0; t < 2; t++) {
        pthread_join(threads[t], NULL);
        ck_assert_int_eq(workers[t].failures, 0);
    }
    holdings_list alpha = fx_holdings(&fx, fx_session(&fx, "alpha"));
    holdings_list beta = fx_holdings(&fx, fx_session(&fx, "beta"));
    ck_assert_int_eq(held(&alpha, "RELIANCE"), 2010);
    ck_assert_int_eq(held(&beta, "RELIANCE"), 2010);
    fx_close(&fx);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

/* ---- persistence (state_file) -------------------------------------------- */

static broker_order fx_find(fixture *fx, broker_session *session, const char *client_order_id)
{
    broker_order order;
    broker_status status;
    do
        status = fx->plugin->find_order(fx->instance, session, client_order_id, &order);
    while (should_retry(fx, session, status));
    ck_assert_msg(status == BROKER_OK, "find_order %s: %s", client_order_id,
                  fx->plugin->errmsg(fx->instance, session));
    return order;
}

START_TEST(test_state_file_survives_restart)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/state.txt", dir);
    const char *pairs[] = {"state_file", path, NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, pairs);
    broker_session *session = fx_session(&fx, "demo");
    broker_session *other = fx_session(&fx, "someone");
    broker_order bought, sold, other_order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 5, 1, &bought), BROKER_OK);
    ck_assert_int_eq(fx_read(&fx, session, bought.order_id).state, BROKER_ORDER_FILLED);
    /* An order still open when the process stops. */
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 5, 2, &sold), BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, other, "INFY", BROKER_SIDE_SELL, 3, 7, &other_order), BROKER_OK);
    fx_close(&fx);

    fx_open(&fx, facts[_i].name, pairs);
    session = fx_session(&fx, "demo");
    broker_order found = fx_find(&fx, session, "C0000002");
    ck_assert_str_eq(found.order_id, sold.order_id);
    ck_assert_int_eq(found.state, BROKER_ORDER_FILLED); /* settled on its first read */
    ck_assert_str_eq(fx_find(&fx, session, "C0000001").order_id, bought.order_id);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 15);
    ck_assert_int_eq(held(&list, "TCS"), 0);
    ck_assert_int_eq(held(&list, "INFY"), 8);
    broker_order next;
    ck_assert_int_eq(fx_place(&fx, session, "INFY", BROKER_SIDE_BUY, 1, 3, &next), BROKER_OK);
    ck_assert_str_ne(next.order_id, bought.order_id);
    ck_assert_str_ne(next.order_id, sold.order_id);
    ck_assert_str_ne(next.order_id, other_order.order_id);
    other = fx_session(&fx, "someone");
    list = fx_holdings(&fx, other);
    ck_assert_int_eq(held(&list, "INFY"), 5); /* the other account's open SELL settled */
    fx_close(&fx);
    /* Written atomically: no temporary file is left behind. */
    char *command = tu_format("test $(ls -A '%s' | wc -l) -eq 1", dir);
    ck_assert_int_eq(system(command), 0);
    free(command);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

/* A file of version 1 (before the market's fields) still loads: its
 * holdings and its finished order. */
START_TEST(test_state_file_version_1_loads)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/state.txt", dir);
    tu_write_file(path, "ptexec-sim-state 1\nA demo\nH RELIANCE 12\nH TCS 0\n"
                        "O 0 0 C0000009 5 5 1 1 1\n");
    const char *pairs[] = {"state_file", path, NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, pairs);
    broker_session *session = fx_session(&fx, "demo");
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 12);
    broker_order found = fx_find(&fx, session, "C0000009");
    ck_assert_int_eq(found.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(found.filled_quantity, 5);
    fx_close(&fx);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_state_file_malformed_refused)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/state.txt", dir);
    tu_write_file(path, "ptexec-sim-state 1\nA demo\nZ what is this\n");
    const char *pairs[] = {"state_file", path, NULL};
    fixture fx;
    broker_text error = {""};
    ck_assert_int_eq(fx_try(&fx, facts[_i].name, pairs, &error), BROKER_CONFIG);
    ASSERT_CONTAINS(error.text, "state_file");
    ASSERT_CONTAINS(error.text, "line 3");
    pthread_mutex_destroy(&fx.host.lock);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

/* ---- bounded order book (order_history) ----------------------------------- */

/* Places a 1-share BUY of RELIANCE with `tag` and reads it (settling it). */
static broker_order fx_buy_and_read(fixture *fx, broker_session *session, unsigned tag)
{
    broker_order placed;
    broker_status status;
    do
        status = fx_place(fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &placed);
    while (should_retry(fx, session, status));
    ck_assert_msg(status == BROKER_OK, "place_order: %s", errmsg(fx, session));
    return fx_read(fx, session, placed.order_id);
}

START_TEST(test_order_history_bounded)
{
    const char *pairs[] = {"order_history", "50", "rate_limit_per_second", "0", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, pairs);
    broker_session *session = fx_session(&fx, "demo");
    broker_order open_order, dropped = {0}, kept = {0}, probe;
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 1, 1, &open_order), BROKER_OK);
    unsigned tag = 2;
    for (; tag < 2002; tag++) {
        broker_order read = fx_buy_and_read(&fx, session, tag);
        if (tag == 2)
            dropped = read;
    }
    /* From here on the book holds 50 terminal orders and one open order,
     * however many more are placed: the heap does not grow with them. */
    struct mallinfo2 heap = mallinfo2();
    size_t before = heap.uordblks + heap.hblkhd; /* small blocks + mmapped ones */
    for (; tag < 22002; tag++)
        kept = fx_buy_and_read(&fx, session, tag);
    heap = mallinfo2();
    size_t after = heap.uordblks + heap.hblkhd;
    ck_assert_msg(after < before + 64 * 1024, "heap grew from %zu to %zu bytes over 20000 orders",
                  before, after);
    /* The newest orders are found by id and by client order id, the oldest not. */
    ck_assert_str_eq(fx_read(&fx, session, kept.order_id).client_order_id, "C0022001");
    ck_assert_str_eq(fx_find(&fx, session, "C0021952").client_order_id, "C0021952");
    ck_assert_int_eq(fx.plugin->get_order(fx.instance, session, dropped.order_id, &probe),
                     BROKER_NOT_FOUND);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000002", &probe),
                     BROKER_NOT_FOUND);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0021951", &probe),
                     BROKER_NOT_FOUND);
    /* An order still open is never dropped; its first read settles it. */
    broker_order found = fx_find(&fx, session, "C0000001");
    ck_assert_str_eq(found.order_id, open_order.order_id);
    ck_assert_int_eq(found.state, BROKER_ORDER_FILLED);
    /* Holdings still count every fill, dropped orders included. */
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + 22000);
    ck_assert_int_eq(held(&list, "TCS"), 4);
    fx_close(&fx);
}
END_TEST

START_TEST(test_order_history_state_file)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/state.txt", dir);
    const char *pairs[] = {
        "order_history", "3", "rate_limit_per_second", "0", "state_file", path, NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, pairs);
    broker_session *session = fx_session(&fx, "demo");
    broker_order first = fx_buy_and_read(&fx, session, 1), last = first;
    for (unsigned tag = 2; tag <= 10; tag++)
        last = fx_buy_and_read(&fx, session, tag);
    fx_close(&fx);

    fx_open(&fx, facts[_i].name, pairs);
    session = fx_session(&fx, "demo");
    broker_order probe;
    ck_assert_int_eq(fx.plugin->get_order(fx.instance, session, first.order_id, &probe),
                     BROKER_NOT_FOUND);
    ck_assert_str_eq(fx_read(&fx, session, last.order_id).client_order_id, "C0000010");
    ck_assert_int_eq(fx_find(&fx, session, "C0000008").state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(fx.plugin->find_order(fx.instance, session, "C0000007", &probe),
                     BROKER_NOT_FOUND);
    /* Sequence numbers continue after the dropped orders: no id is reused. */
    broker_order next = fx_buy_and_read(&fx, session, 11);
    ck_assert_str_ne(next.order_id, last.order_id);
    ck_assert_str_ne(next.order_id, first.order_id);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + 11);
    fx_close(&fx);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

/* ---- the market (ABI 1.1, market keys) ------------------------------------ */

/* Places a 1.1 order; returns the status, the detail in *detail. */
static broker_status fx_place_ex(fixture *fx, broker_session *session, const char *symbol,
                                 broker_side side, int64_t quantity, unsigned tag,
                                 broker_order_type type, double limit, broker_validity validity,
                                 broker_order_detail *detail)
{
    broker_order_params params;
    memset(&params, 0, sizeof params);
    params.size = sizeof params;
    params.base = order_request(symbol, side, quantity, tag);
    params.order_type = type;
    params.limit_price = limit;
    params.validity = validity;
    memset(detail, 0, sizeof *detail);
    detail->size = sizeof *detail;
    return fx->plugin->place_order_ex(fx->instance, session, &params, detail);
}

static broker_order_detail fx_detail(fixture *fx, broker_session *session, const char *order_id)
{
    broker_order_detail detail;
    memset(&detail, 0, sizeof detail);
    detail.size = sizeof detail;
    ck_assert_int_eq(fx->plugin->get_order_ex(fx->instance, session, order_id, &detail), BROKER_OK);
    return detail;
}

static broker_funds fx_funds(fixture *fx, broker_session *session)
{
    broker_funds funds;
    memset(&funds, 0, sizeof funds);
    funds.size = sizeof funds;
    ck_assert_int_eq(fx->plugin->get_funds(fx->instance, session, &funds), BROKER_OK);
    return funds;
}

START_TEST(test_market_descriptor_is_1_2)
{
    const broker_plugin *plugin = load_plugin(facts[_i].name);
    ck_assert_uint_eq(plugin->abi_minor, 2);
    ck_assert_uint_ge(plugin->size, BROKER_PLUGIN_V1_2_SIZE);
    ck_assert(plugin->place_order_ex && plugin->get_order_ex && plugin->get_positions &&
              plugin->get_open_orders && plugin->get_funds && plugin->get_instrument &&
              plugin->get_market_session && plugin->retry_after_ms && plugin->get_rate_limits);
}
END_TEST

START_TEST(test_buy_beyond_cash_rejected)
{
    const char *const config[] = {"initial_cash", "10000", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &order),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "required Rs 147");
    ASSERT_CONTAINS(errmsg(&fx, session), "available Rs 10000.00");
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 5, 2, &order), BROKER_OK);
    broker_order_detail detail = fx_detail(&fx, session, order.order_id);
    ck_assert_int_eq(detail.order.state, BROKER_ORDER_FILLED);
    ck_assert(detail.charges.stt > 7.34 && detail.charges.stt < 7.36); /* 0.1% of 7350 */
    ck_assert(fabs(detail.charges.total - (detail.charges.brokerage + detail.charges.stt +
                                           detail.charges.exchange_fee + detail.charges.sebi_fee +
                                           detail.charges.stamp_duty + detail.charges.gst)) < 1e-6);
    broker_funds funds = fx_funds(&fx, session);
    ck_assert(fabs(funds.available_cash - (10000.0 - 7350.0 - detail.charges.total)) < 1e-6);
    ck_assert(funds.margin_used < 1e-6);
    /* A sell releases cash on fill. */
    ck_assert_int_eq(fx_place(&fx, session, "TCS", BROKER_SIDE_SELL, 5, 3, &order), BROKER_OK);
    fx_read(&fx, session, order.order_id);
    ck_assert(fx_funds(&fx, session).available_cash > funds.available_cash + 15000.0);
    fx_close(&fx);
}
END_TEST

typedef struct position_list {
    broker_position items[16];
    size_t count;
} position_list;

static int collect_position(void *context, const broker_position *position)
{
    position_list *list = context;
    if (list->count < 16)
        list->items[list->count++] = *position;
    return 0;
}

static broker_position fx_position(fixture *fx, broker_session *session, const char *symbol)
{
    position_list list = {.count = 0};
    ck_assert_int_eq(fx->plugin->get_positions(fx->instance, session, collect_position, &list),
                     BROKER_OK);
    for (size_t i = 0; i < list.count; i++)
        if (strcmp(list.items[i].symbol, symbol) == 0)
            return list.items[i];
    broker_position none;
    memset(&none, 0, sizeof none);
    return none;
}

/* The state file keeps the market's side of the book (version 2): a restart
 * in the middle of an order that fills over time finds it still OPEN with
 * what it had filled, goes on filling it at the touch, and keeps the cash,
 * the cash an open buy blocks, and today's T+1 split. */
START_TEST(test_state_file_keeps_the_market)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/state.txt", dir);
    const char *const config[] = {
        "state_file",   path,     "fill_latency_ms", "100", "liquidity", "3",
        "initial_cash", "200000", "settlement",      "t1",  NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &order), BROKER_OK);
    fx.host.clock_ms += 250; /* two slices of 3 */
    broker_order before = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(before.state, BROKER_ORDER_OPEN);
    ck_assert_int_eq(before.filled_quantity, 6);
    broker_funds funds = fx_funds(&fx, session);
    broker_position position = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(position.bought_today, 6);
    int64_t clock = fx.host.clock_ms;
    fx_close(&fx);

    fx_open(&fx, facts[_i].name, config);
    fx.host.clock_ms = clock;
    session = fx_session(&fx, "demo");
    broker_order again = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(again.state, BROKER_ORDER_OPEN);
    ck_assert_int_eq(again.filled_quantity, 6);
    ck_assert(again.average_price == before.average_price);
    broker_funds restored = fx_funds(&fx, session);
    ck_assert_double_eq_tol(restored.available_cash, funds.available_cash, 0.005);
    ck_assert_double_eq_tol(restored.margin_used, funds.margin_used, 0.005);
    broker_position split = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(split.settled, position.settled);
    ck_assert_int_eq(split.bought_today, 6);
    fx.host.clock_ms += 200; /* the rest: 3, then 1 */
    broker_order done = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(done.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(done.filled_quantity, 10);
    ck_assert(done.average_price > 0.0);
    ck_assert_int_eq(fx_position(&fx, session, "RELIANCE").bought_today, 10);
    ck_assert_double_eq_tol(fx_funds(&fx, session).margin_used, 0.0, 0.005);
    fx_close(&fx);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

/* settlement = t1: today's buy is a position (not a holding) until the next
 * trading day, then T1, then settled; the account holds it all along. A
 * weekend does not count as trading days. */
START_TEST(test_same_day_settlement)
{
    const char *const config[] = {"settlement", "t1", "market_hours", "nse",
                                  "amo",        "on", "clock",        "2026-12-03T10:00:00+05:30",
                                  NULL}; /* a Thursday */
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 4, 1, &order), BROKER_OK);
    fx_read(&fx, session, order.order_id);
    broker_position today = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(today.settled, 10);
    ck_assert_int_eq(today.bought_today, 4);
    ck_assert_int_eq(today.t1, 0);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10); /* holdings: settled + T1 only */

    fx.host.clock_ms += 24 * 3600 * 1000LL; /* Friday */
    broker_position friday = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(friday.settled, 10);
    ck_assert_int_eq(friday.t1, 4);
    ck_assert_int_eq(friday.bought_today, 0);
    list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 14);
    /* sells may use T1 */
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_SELL, 12, 2, &order),
                     BROKER_OK);
    fx_read(&fx, session, order.order_id);
    broker_position sold = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(sold.sold_today, 12);
    ck_assert_int_eq(sold.settled + sold.t1 + sold.bought_today - sold.sold_today, 2);

    fx.host.clock_ms += 2 * 24 * 3600 * 1000LL; /* Sunday: no trading day since Friday */
    ck_assert_int_eq(fx_position(&fx, session, "RELIANCE").sold_today, 12);
    fx.host.clock_ms += 24 * 3600 * 1000LL; /* Monday */
    broker_position monday = fx_position(&fx, session, "RELIANCE");
    ck_assert_int_eq(monday.settled, 2);
    ck_assert_int_eq(monday.t1, 0);
    ck_assert_int_eq(monday.sold_today, 0);
    fx_close(&fx);
}
END_TEST

START_TEST(test_order_fills_in_slices)
{
    const char *const config[] = {"fill_latency_ms", "100", "liquidity", "3", NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &order), BROKER_OK);
    static const int64_t expected[] = {0, 3, 6, 9};
    for (int poll = 0; poll < 4; poll++) {
        fx.host.clock_ms += poll == 0 ? 50 : 100;
        broker_order read = fx_read(&fx, session, order.order_id);
        ck_assert_int_eq(read.state, BROKER_ORDER_OPEN);
        ck_assert_int_eq(read.filled_quantity, expected[poll]);
    }
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 19); /* holdings move with each slice */
    fx.host.clock_ms += 100;
    broker_order read = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(read.state, BROKER_ORDER_FILLED);
    ck_assert_int_eq(read.filled_quantity, 10);
    ck_assert(read.average_price == 1470.0);
    fx_close(&fx);
}
END_TEST

/* The injected faults apply to orders that fill over time too: rejected
 * after acceptance (at the first read), or filling part before the rest
 * expires. */
START_TEST(test_faults_of_timed_orders)
{
    const char *const rejecting[] = {"fill_latency_ms", "100", "liquidity", "3",
                                     "reject_rate",     "1",   NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, rejecting);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &order), BROKER_OK);
    fx.host.clock_ms += 500;
    broker_order read = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(read.state, BROKER_ORDER_REJECTED);
    ck_assert_int_eq(read.filled_quantity, 0);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10);
    fx_close(&fx);

    const char *const partial[] = {"fill_latency_ms",   "100", "liquidity", "3",
                                   "partial_fill_rate", "1",   NULL};
    fx_open(&fx, facts[_i].name, partial);
    session = fx_session(&fx, "demo");
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 10, 1, &order), BROKER_OK);
    fx.host.clock_ms += 2000; /* long past the time the whole would take */
    read = fx_read(&fx, session, order.order_id);
    ck_assert_int_eq(read.state, BROKER_ORDER_PARTIALLY_FILLED);
    ck_assert(read.filled_quantity >= 1 && read.filled_quantity < 10);
    list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "RELIANCE"), 10 + read.filled_quantity);
    fx_close(&fx);
}
END_TEST

START_TEST(test_limit_never_crossing_expires)
{
    const char *const config[] = {"market_hours", "nse", "clock", "2026-12-01T10:00:00+05:30",
                                  NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order_detail detail;
    ck_assert_int_eq(fx_place_ex(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 4, 1,
                                 BROKER_ORDER_LIMIT, 1400.00, BROKER_VALIDITY_DAY, &detail),
                     BROKER_OK);
    ck_assert_int_eq(detail.order.state, BROKER_ORDER_OPEN);
    ck_assert_int_eq(detail.pending_quantity, 4);
    fx.host.clock_ms += 3 * 3600 * 1000; /* 13:00: the price never came down */
    ck_assert_int_eq(fx_detail(&fx, session, detail.order.order_id).order.state, BROKER_ORDER_OPEN);
    fx.host.clock_ms += (int64_t)(2 * 3600 + 31 * 60) * 1000; /* 15:31 */
    broker_order_detail end = fx_detail(&fx, session, detail.order.order_id);
    ck_assert_int_eq(end.order.state, BROKER_ORDER_CANCELLED);
    ck_assert_int_eq(end.order.filled_quantity, 0);
    ck_assert_int_eq(end.cancelled_quantity, 4);
    /* A limit that crosses fills at the touch, not at the limit. */
    ck_assert_int_eq(fx_place_ex(&fx, session, "TCS", BROKER_SIDE_SELL, 1, 2, BROKER_ORDER_LIMIT,
                                 3000.00, BROKER_VALIDITY_DAY, &detail),
                     BROKER_REJECTED); /* the market is closed now */
    fx_close(&fx);
}
END_TEST

START_TEST(test_cancelled_with_fills)
{
    const broker_facts *f = &facts[_i];
    const char *const config[] = {"fill_latency_ms", "100", "liquidity", "3", NULL};
    fixture fx;
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order, cancelled;
    ck_assert_int_eq(fx_place(&fx, session, "INFY", BROKER_SIDE_BUY, 10, 1, &order), BROKER_OK);
    fx.host.clock_ms += 150;
    ck_assert_int_eq(fx.plugin->cancel_order(fx.instance, session, order.order_id, &cancelled),
                     BROKER_OK);
    ck_assert_int_eq(cancelled.state, BROKER_ORDER_PARTIALLY_FILLED);
    ck_assert_int_eq(cancelled.filled_quantity, 3);
    broker_order_detail detail = fx_detail(&fx, session, order.order_id);
    ck_assert_int_eq(detail.cancelled_quantity, 7);
    /* The broker's own word is its cancelled state, as Kite says CANCELLED. */
    ck_assert_str_eq(detail.broker_state,
                     strcmp(f->name, "fyers") == 0 ? "1"
                     : strcmp(f->name, "zerodha") == 0 || strcmp(f->name, "groww") == 0
                         ? "CANCELLED"
                         : "cancelled");
    /* IOC: what cannot fill at once is cancelled. */
    const char *const ioc_config[] = {"liquidity", "4", NULL};
    fx_close(&fx);
    fx_open(&fx, f->name, ioc_config);
    session = fx_session(&fx, "demo");
    ck_assert_int_eq(fx_place_ex(&fx, session, "INFY", BROKER_SIDE_BUY, 10, 2, BROKER_ORDER_MARKET,
                                 0, BROKER_VALIDITY_IOC, &detail),
                     BROKER_OK);
    ck_assert_int_eq(detail.order.state, BROKER_ORDER_PARTIALLY_FILLED);
    ck_assert_int_eq(detail.order.filled_quantity, 4);
    holdings_list list = fx_holdings(&fx, session);
    ck_assert_int_eq(held(&list, "INFY"), 12);
    fx_close(&fx);
}
END_TEST

START_TEST(test_lots_ticks_and_bands)
{
    const broker_facts *f = &facts[_i];
    const char *const config[] = {"unlisted_symbols", "reject", NULL};
    fixture fx;
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    broker_order order;
    broker_order_detail detail;
    ck_assert_int_eq(fx_place(&fx, session, "NIFTY26DECFUT", BROKER_SIDE_BUY, 1, 1, &order),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "lot size 65");
    ck_assert_int_eq(fx_place(&fx, session, "NIFTY26DECFUT", BROKER_SIDE_BUY, 65, 2, &order),
                     BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, session, "NIFTY26DECFUT", BROKER_SIDE_BUY, 1820, 3, &order),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "freeze quantity 1755");
    ck_assert_int_eq(fx_place(&fx, session, "NIFTY25JANFUT", BROKER_SIDE_BUY, 75, 4, &order),
                     BROKER_REJECTED);
    ck_assert_int_eq(fx_place_ex(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 5,
                                 BROKER_ORDER_LIMIT, 1470.03, BROKER_VALIDITY_DAY, &detail),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "tick 0.05");
    ck_assert_int_eq(fx_place_ex(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 6,
                                 BROKER_ORDER_LIMIT, 1700.00, BROKER_VALIDITY_DAY, &detail),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), "outside the band 1323.00-1617.00");
    ck_assert_int_eq(fx_place_ex(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 7,
                                 BROKER_ORDER_LIMIT, 1500.05, BROKER_VALIDITY_DAY, &detail),
                     BROKER_OK);
    ck_assert_int_eq(detail.order.state, BROKER_ORDER_OPEN); /* filled at its first read */
    ck_assert_int_eq(fx_place(&fx, session, "NOSUCHCO", BROKER_SIDE_BUY, 1, 8, &order),
                     BROKER_REJECTED);
    ASSERT_CONTAINS(errmsg(&fx, session), f->invalid_symbol);
    broker_instrument instrument;
    memset(&instrument, 0, sizeof instrument);
    instrument.size = sizeof instrument;
    ck_assert_int_eq(fx.plugin->get_instrument(fx.instance, session, "NIFTY26DECFUT", &instrument),
                     BROKER_OK);
    ck_assert(instrument.listed && instrument.tradable && instrument.lot_size == 65 &&
              instrument.freeze_quantity == 1755 && instrument.tick_size == 0.10);
    ck_assert_int_eq(fx.plugin->get_instrument(fx.instance, session, "NOSUCHCO", &instrument),
                     BROKER_OK);
    ck_assert(!instrument.listed && !instrument.tradable);
    ASSERT_CONTAINS(instrument.reason, f->invalid_symbol);
    fx_close(&fx);
}
END_TEST

static broker_market_session fx_market(fixture *fx, broker_session *session)
{
    broker_market_session market;
    memset(&market, 0, sizeof market);
    market.size = sizeof market;
    ck_assert_int_eq(
        fx->plugin->get_market_session(fx->instance, session, BROKER_EXCHANGE_NSE, &market),
        BROKER_OK);
    return market;
}

START_TEST(test_holidays_and_hours)
{
    static const struct {
        const char *clock;
        broker_market_state state;
        const char *opens;
    } cases[] = {
        {"2026-01-26T10:00:00+05:30", BROKER_MARKET_CLOSED, "opens 2026-01-27 09:15 IST"},
        {"2026-01-15T10:00:00+05:30", BROKER_MARKET_CLOSED, "opens 2026-01-16 09:15 IST"},
        {"2026-11-29T02:00:00+05:30", BROKER_MARKET_CLOSED, "opens 2026-11-30 09:15 IST"},
        {"2026-12-01T16:00:00+05:30", BROKER_MARKET_CLOSED, "opens 2026-12-02 09:15 IST"},
        {"2026-12-24T15:45:00+05:30", BROKER_MARKET_CLOSED, "opens 2026-12-28 09:15 IST"},
        {"2026-12-01T09:05:00+05:30", BROKER_MARKET_PRE_OPEN, "opens 2026-12-01 09:15 IST"},
        {"2026-12-01T09:15:00+05:30", BROKER_MARKET_OPEN, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *const config[] = {"market_hours", "nse", "clock", cases[c].clock, NULL};
        fixture fx;
        fx_open(&fx, facts[_i].name, config);
        broker_session *session = fx_session(&fx, "demo");
        ck_assert_int_eq(fx_market(&fx, session).state, cases[c].state);
        broker_order order;
        broker_status status = fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 1, &order);
        if (cases[c].opens == NULL) {
            ck_assert_int_eq(status, BROKER_OK);
        } else {
            ck_assert_int_eq(status, BROKER_REJECTED);
            ASSERT_CONTAINS(errmsg(&fx, session), cases[c].opens);
        }
        fx_close(&fx);
    }
    /* amo = on: taken outside hours, filled after the open. */
    const char *const amo[] = {"market_hours", "nse", "clock", "2026-12-01T20:00:00+05:30",
                               "amo",          "on",  NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, amo);
    broker_session *session = fx_session(&fx, "demo");
    ck_assert(fx_market(&fx, session).amo_accepted);
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 2, 1, &order), BROKER_OK);
    ck_assert_int_eq(fx_read(&fx, session, order.order_id).state, BROKER_ORDER_OPEN);
    fx.host.clock_ms += (int64_t)(13 * 3600 + 20 * 60) * 1000; /* 09:20 the next day */
    ck_assert_int_eq(fx_read(&fx, session, order.order_id).state, BROKER_ORDER_FILLED);
    fx_close(&fx);
}
END_TEST

START_TEST(test_fixed_time_token_expiry)
{
    const broker_facts *f = &facts[_i];
    const char *const config[] = {"session_expiry", "06:00", "clock", "2026-12-01T05:50:00+05:30",
                                  NULL};
    fixture fx;
    fx_open(&fx, f->name, config);
    broker_session *session = fx_session(&fx, "demo");
    ck_assert_int_gt(fx_market(&fx, session).token_expires_ms, 0);
    broker_order order;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 1, &order), BROKER_OK);
    fx.host.clock_ms += 11 * 60 * 1000; /* 06:01 */
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 2, &order),
                     BROKER_AUTH);
    ASSERT_CONTAINS(errmsg(&fx, session), f->token_expired);
    /* Logging in again with the same token does not help, nor a new session. */
    ck_assert_int_eq(fx.plugin->authenticate(fx.instance, session), BROKER_AUTH);
    broker_session *again = NULL;
    ck_assert_int_eq(fx_session_status(&fx, "demo", "demo", &again), BROKER_AUTH);
    /* New credentials work until the next 06:00. */
    broker_session *fresh = NULL;
    ck_assert_int_eq(fx_session_status(&fx, "demo", "new-token", &fresh), BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, fresh, "RELIANCE", BROKER_SIDE_BUY, 1, 3, &order), BROKER_OK);
    fx.host.clock_ms += (int64_t)24 * 3600 * 1000;
    ck_assert_int_eq(fx_place(&fx, fresh, "RELIANCE", BROKER_SIDE_BUY, 1, 4, &order), BROKER_AUTH);
    fx_close(&fx);
}
END_TEST

START_TEST(test_read_and_write_rate_limits)
{
    /* zerodha: reads 10/s; fyers: 200 orders a minute. */
    const char *const config[] = {"rate_limits", "broker", NULL};
    fixture fx;
    fx_open(&fx, "zerodha", config);
    broker_session *session = fx_session(&fx, "demo");
    double price = 0;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_OK);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_TRANSIENT);
    ASSERT_CONTAINS(errmsg(&fx, session), "Too many requests");
    ASSERT_CONTAINS(errmsg(&fx, session), "retry after");
    uint32_t wait = fx.plugin->retry_after_ms(fx.instance, session);
    ck_assert(wait > 0 && wait <= 1000);
    fx.host.clock_ms += wait;
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_OK);
    fx_close(&fx);

    const char *const orders[] = {"rate_limits", "broker", "rate_limit_per_second", "0", NULL};
    fx_open(&fx, "fyers", orders);
    fx.host.clock_ms = 60000 * 100;
    session = fx_session(&fx, "demo");
    broker_order order;
    for (unsigned tag = 1; tag <= 200; tag++)
        ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order),
                         BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 201, &order),
                     BROKER_TRANSIENT);
    ASSERT_CONTAINS(errmsg(&fx, session), "-429");
    ck_assert_uint_eq(fx.plugin->retry_after_ms(fx.instance, session), 60000);
    fx.host.clock_ms += 60000;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 201, &order),
                     BROKER_OK);
    fx_close(&fx);
}
END_TEST

static broker_rate_limits fx_rate_limits(fixture *fx)
{
    broker_rate_limits limits;
    memset(&limits, 0, sizeof limits);
    limits.size = sizeof limits;
    ck_assert_int_eq(fx->plugin->get_rate_limits(fx->instance, &limits), BROKER_OK);
    return limits;
}

/* get_rate_limits reports what the instance meters: orders per second only
 * by default; the broker's table with rate_limits = broker; each key in
 * the section in place of either. */
START_TEST(test_declared_rate_limits)
{
    fixture fx;
    fx_open(&fx, "angelone", NULL);
    broker_rate_limits limits = fx_rate_limits(&fx);
    ck_assert_uint_eq(limits.orders_per_second, 20);
    ck_assert(limits.orders_per_minute == 0 && limits.reads_per_second == 0 &&
              limits.reads_per_minute == 0);
    fx_close(&fx);

    const char *const broker[] = {"rate_limits", "broker", NULL};
    fx_open(&fx, "angelone", broker);
    limits = fx_rate_limits(&fx);
    ck_assert_uint_eq(limits.orders_per_second, 20);
    ck_assert_uint_eq(limits.orders_per_minute, 500);
    ck_assert_uint_eq(limits.reads_per_second, 10);
    ck_assert_uint_eq(limits.reads_per_minute, 500);
    fx_close(&fx);

    const char *const keys[] = {"rate_limits",
                                "broker",
                                "rate_limit_per_second",
                                "4",
                                "rate_limit_per_minute",
                                "0",
                                "read_rate_limit_per_second",
                                "3",
                                "read_rate_limit_per_minute",
                                "30",
                                NULL};
    fx_open(&fx, "angelone", keys);
    limits = fx_rate_limits(&fx);
    ck_assert_uint_eq(limits.orders_per_second, 4);
    ck_assert_uint_eq(limits.orders_per_minute, 0);
    ck_assert_uint_eq(limits.reads_per_second, 3);
    ck_assert_uint_eq(limits.reads_per_minute, 30);
    fx_close(&fx);

    /* A host that knows an older, shorter struct gets no byte past it. */
    fx_open(&fx, "zerodha", broker);
    broker_rate_limits shorter;
    memset(&shorter, 0xee, sizeof shorter);
    shorter.size = offsetof(broker_rate_limits, reads_per_second);
    ck_assert_int_eq(fx.plugin->get_rate_limits(fx.instance, &shorter), BROKER_OK);
    ck_assert_uint_eq(shorter.orders_per_second, 10);
    ck_assert_uint_eq(shorter.orders_per_minute, 400);
    ck_assert_uint_eq(shorter.reads_per_second, 0xeeeeeeeeu);
    fx_close(&fx);
}
END_TEST

/* The read and per-minute keys are metered even with rate_limits = orders,
 * and every call refused for them is one line of rate_limit_log; an
 * injected transient failure is not. */
START_TEST(test_rate_limit_overrides_metered_and_logged)
{
    char *dir = tu_tempdir();
    char *log_path = tu_format("%s/refused.log", dir);
    const char *const config[] = {"read_rate_limit_per_second",
                                  "3",
                                  "read_rate_limit_per_minute",
                                  "5",
                                  "rate_limit_per_minute",
                                  "2",
                                  "rate_limit_log",
                                  log_path,
                                  NULL};
    fixture fx;
    fx_open(&fx, "upstox", config);
    fx.host.clock_ms = 60000 * 50;
    broker_session *session = fx_session(&fx, "metered");
    double price = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_OK);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_TRANSIENT);
    ASSERT_CONTAINS(errmsg(&fx, session), "Too many requests");
    fx.host.clock_ms += 1000;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_OK);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_TRANSIENT);
    ck_assert_uint_eq(fx.plugin->retry_after_ms(fx.instance, session), 59000);
    broker_order order;
    for (unsigned tag = 1; tag <= 2; tag++)
        ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, tag, &order),
                         BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 3, &order),
                     BROKER_TRANSIENT);
    char *log = tu_read_file(log_path);
    ck_assert_msg(strstr(log, " metered reads/s\n") && strstr(log, " metered reads/min\n") &&
                      strstr(log, " metered orders/min\n"),
                  "%s", log);
    size_t lines = 0;
    for (const char *p = log; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 3);
    free(log);
    fx_close(&fx);

    /* Injected failures are not the broker's limit: nothing is logged. */
    unlink(log_path);
    const char *const faulty[] = {"transient_failure_rate", "1", "rate_limit_log", log_path, NULL};
    fx_open(&fx, "upstox", faulty);
    ck_assert_int_eq(fx_session_status(&fx, "faulty", "demo", &session), BROKER_TRANSIENT);
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "TCS", &price), BROKER_TRANSIENT);
    fx_close(&fx);
    ck_assert_int_ne(access(log_path, F_OK), 0);
    free(log_path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_random_walk_and_spread)
{
    const char *const config[] = {"volatility_bps", "30", "spread_bps", "10", "slippage_bps", "5",
                                  "seed",           "3",  NULL};
    fixture fx;
    fx_open(&fx, facts[_i].name, config);
    broker_session *session = fx_session(&fx, "demo");
    double first = 0, later = 0;
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "RELIANCE", &first), BROKER_OK);
    fx.host.clock_ms += 600000;
    ck_assert_int_eq(fx.plugin->get_quote(fx.instance, session, "RELIANCE", &later), BROKER_OK);
    ck_assert(later != first);
    ck_assert(later >= 1323.0 && later <= 1617.0);
    ck_assert(fabs(later / 0.05 - round(later / 0.05)) < 1e-6);
    broker_order buy, sell;
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_BUY, 1, 1, &buy), BROKER_OK);
    ck_assert_int_eq(fx_place(&fx, session, "RELIANCE", BROKER_SIDE_SELL, 1, 2, &sell), BROKER_OK);
    double paid = fx_read(&fx, session, buy.order_id).average_price;
    double got = fx_read(&fx, session, sell.order_id).average_price;
    ck_assert(paid > later && got < later);
    fx_close(&fx);
}
END_TEST

static void add_per_broker(Suite *suite, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test, 0, BROKER_COUNT);
    suite_add_tcase(suite, tc);
}

static Suite *sim_suite(void)
{
    Suite *suite = suite_create("sim");
    add_per_broker(suite, "exports", test_exports_one_symbol);
    add_per_broker(suite, "descriptor", test_descriptor);
    add_per_broker(suite, "seed_credentials", test_seed_credentials_and_initial_holdings);
    add_per_broker(suite, "accounts", test_accounts_are_separate);
    add_per_broker(suite, "missing_credential", test_missing_credential_named);
    add_per_broker(suite, "bad_token", test_bad_token_is_auth);
    add_per_broker(suite, "buy", test_buy_changes_holdings);
    add_per_broker(suite, "sell", test_sell_more_than_held_rejected);
    add_per_broker(suite, "symbols", test_unknown_symbols_and_quotes);
    add_per_broker(suite, "cancel", test_cancel_open_order);
    add_per_broker(suite, "transient", test_transient_records_nothing);
    add_per_broker(suite, "unknown", test_unknown_outcome_order_exists);
    add_per_broker(suite, "partial", test_partial_fill);
    add_per_broker(suite, "reject", test_reject_after_acceptance);
    add_per_broker(suite, "auth_expiry", test_auth_expiry_until_reauthenticated);
    add_per_broker(suite, "rate_limit", test_rate_limit);
    add_per_broker(suite, "determinism", test_same_seed_same_outcomes);
    add_per_broker(suite, "invariant", test_holdings_invariant_under_faults);
    add_per_broker(suite, "mode_live", test_mode_live_refused);
    add_per_broker(suite, "initial_holdings", test_initial_holdings_parsed);
    add_per_broker(suite, "latency", test_latency_sleeps_every_call);
    add_per_broker(suite, "parallel", test_parallel_sessions);
    add_per_broker(suite, "state_file", test_state_file_survives_restart);
    add_per_broker(suite, "state_file_malformed", test_state_file_malformed_refused);
    add_per_broker(suite, "state_file_v1", test_state_file_version_1_loads);
    add_per_broker(suite, "order_history", test_order_history_bounded);
    add_per_broker(suite, "order_history_state_file", test_order_history_state_file);
    add_per_broker(suite, "market_descriptor", test_market_descriptor_is_1_2);
    add_per_broker(suite, "market_cash", test_buy_beyond_cash_rejected);
    add_per_broker(suite, "market_settlement", test_same_day_settlement);
    add_per_broker(suite, "state_file_market", test_state_file_keeps_the_market);
    add_per_broker(suite, "market_timed_faults", test_faults_of_timed_orders);
    add_per_broker(suite, "market_slices", test_order_fills_in_slices);
    add_per_broker(suite, "market_limit_expires", test_limit_never_crossing_expires);
    add_per_broker(suite, "market_cancelled_with_fills", test_cancelled_with_fills);
    add_per_broker(suite, "market_lots_ticks", test_lots_ticks_and_bands);
    add_per_broker(suite, "market_hours", test_holidays_and_hours);
    add_per_broker(suite, "market_token_expiry", test_fixed_time_token_expiry);
    add_per_broker(suite, "market_walk", test_random_walk_and_spread);

    TCase *config = tcase_create("bad_config");
    tcase_set_timeout(config, 30);
    tcase_add_loop_test(config, test_bad_config_names_key, 0,
                        (int)(sizeof bad_configs / sizeof bad_configs[0]));
    suite_add_tcase(suite, config);

    TCase *limits = tcase_create("market_rate_limits");
    tcase_set_timeout(limits, 30);
    tcase_add_test(limits, test_read_and_write_rate_limits);
    tcase_add_test(limits, test_declared_rate_limits);
    tcase_add_test(limits, test_rate_limit_overrides_metered_and_logged);
    suite_add_tcase(suite, limits);

    TCase *tags = tcase_create("tags");
    tcase_set_timeout(tags, 30);
    tcase_add_test(tags, test_groww_duplicate_reference_unknown);
    tcase_add_test(tags, test_zerodha_accepts_duplicate_tags);
    suite_add_tcase(suite, tags);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(sim_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
