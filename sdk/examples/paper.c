/*
 * paper.so — a minimal "paper trading" broker for ptexec.
 *
 * It is the example a plugin author copies: written only against
 * <ptexec/broker_plugin.h>, it shows every required callback of ABI v1.
 *
 *   - Accounts are keyed by a hash of the `api_key` credential (the plugin
 *     keeps no secret) and start empty.
 *   - Orders fill at once, in full, at the fixed `price` of the brokers.ini
 *     section (default 100). A SELL of more than is held is REJECTED.
 *   - A client order id seen before returns the order it already made, so a
 *     resend after an unknown outcome can never trade twice.
 *   - Holdings live in memory, and also in `state_file` when that key is set:
 *     every fill appends "ACCOUNT SYMBOL DELTA" to it, and `create` replays
 *     it, so holdings survive from one ptexec run to the next. Orders are not
 *     kept across runs.
 *
 * Threading: the descriptor declares BROKER_CAP_CONCURRENT_SESSIONS, so calls
 * on different sessions may run in parallel. Everything shared between
 * sessions (the account table, the list of open sessions, the state file) is
 * guarded by the instance's mutex; what belongs to one session (its error
 * text) needs no lock, because the host serializes the calls on one session.
 *
 * Lookups are linear scans to keep the example short; a real plugin with
 * large portfolios would use a hash map.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptexec/broker_plugin.h>

#define PAPER_DEFAULT_PRICE 100.0

typedef struct paper_holding {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
} paper_holding;

typedef struct paper_account {
    char id[BROKER_ACCOUNT_ID_MAX]; /* "paper-" + hash of the api_key */
    paper_holding *holdings;
    size_t holding_count, holding_capacity;
    broker_order *orders; /* order i has order_id "PAPER-<i+1>" */
    size_t order_count, order_capacity;
    struct paper_account *next;
} paper_account;

struct broker_instance {
    const broker_host_services *services;
    broker_host *host;
    double price;
    pthread_mutex_t lock; /* guards `accounts`, what it reaches, and `journal` */
    paper_account *accounts;
    broker_session *sessions; /* open ones, freed by destroy if still open */
    FILE *journal;            /* state_file, open for appending; NULL when not set */
};

struct broker_session {
    paper_account *account; /* owned by the instance */
    bool authenticated;
    char errmsg[BROKER_MESSAGE_MAX];
    struct broker_session *next; /* the instance's open sessions */
};

/* Stores the detail of a failure on `session` and returns `status`. */
static broker_status paper_fail(broker_session *session, broker_status status, const char *format,
                                ...) __attribute__((format(printf, 3, 4)));
static broker_status paper_fail(broker_session *session, broker_status status, const char *format,
                                ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(session->errmsg, sizeof session->errmsg, format, args);
    va_end(args);
    return status;
}

static const char *paper_credential(const broker_credentials *credentials, const char *key)
{
    for (size_t i = 0; i < credentials->count; i++)
        if (strcmp(credentials->items[i].key, key) == 0 && credentials->items[i].value[0] != '\0')
            return credentials->items[i].value;
    return NULL;
}

/* Returns `items` (an array of `size`-byte elements) with room for one more
 * after `count`, possibly moved; NULL on OOM (then `items` is untouched). */
static void *paper_grow(void *items, size_t count, size_t *capacity, size_t size)
{
    if (count < *capacity)
        return items;
    size_t grown = *capacity ? *capacity * 2 : 16;
    void *bigger = realloc(items, grown * size);
    if (bigger != NULL)
        *capacity = grown;
    return bigger;
}

/* Writes the account identity of `api_key`: not a secret, stable across runs. */
static void paper_account_id(const char *api_key, char id[BROKER_ACCOUNT_ID_MAX])
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = api_key; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ull;
    snprintf(id, BROKER_ACCOUNT_ID_MAX, "paper-%016llx", (unsigned long long)hash);
}

/* Instance lock held. Finds or adds the account `id`; NULL on OOM. */
static paper_account *paper_account_get(broker_instance *instance, const char *id)
{
    for (paper_account *account = instance->accounts; account; account = account->next)
        if (strcmp(account->id, id) == 0)
            return account;
    paper_account *account = calloc(1, sizeof *account);
    if (account == NULL)
        return NULL;
    snprintf(account->id, sizeof account->id, "%s", id);
    account->next = instance->accounts;
    instance->accounts = account;
    return account;
}

/* Instance lock held. Returns the holding of `symbol`, adding a zero one if
 * `create` is set; NULL when absent (or on OOM). */
static paper_holding *paper_holding_get(paper_account *account, const char *symbol, bool create)
{
    for (size_t i = 0; i < account->holding_count; i++)
        if (strcmp(account->holdings[i].symbol, symbol) == 0)
            return &account->holdings[i];
    if (!create)
        return NULL;
    paper_holding *grown = paper_grow(account->holdings, account->holding_count,
                                      &account->holding_capacity, sizeof *grown);
    if (grown == NULL)
        return NULL;
    account->holdings = grown;
    paper_holding *holding = &account->holdings[account->holding_count++];
    snprintf(holding->symbol, sizeof holding->symbol, "%s", symbol);
    holding->quantity = 0;
    return holding;
}

/* Instance lock held. */
static broker_order *paper_order_by_client_id(paper_account *account, const char *client_order_id)
{
    for (size_t i = 0; i < account->order_count; i++)
        if (strcmp(account->orders[i].client_order_id, client_order_id) == 0)
            return &account->orders[i];
    return NULL;
}

/* Instance lock held. Fills the order at once and books it. */
static broker_status paper_execute(broker_instance *instance, broker_session *session,
                                   const broker_order_request *request, broker_order *order)
{
    paper_account *account = session->account;
    paper_holding *holding = paper_holding_get(account, request->symbol, true);
    broker_order *grown =
        paper_grow(account->orders, account->order_count, &account->order_capacity, sizeof *grown);
    if (grown != NULL)
        account->orders = grown;
    if (holding == NULL || grown == NULL)
        return paper_fail(session, BROKER_INTERNAL, "out of memory");
    broker_order *booked = &account->orders[account->order_count++];
    memset(booked, 0, sizeof *booked);
    snprintf(booked->order_id, sizeof booked->order_id, "PAPER-%zu", account->order_count);
    memcpy(booked->client_order_id, request->client_order_id, sizeof booked->client_order_id);
    memcpy(booked->symbol, request->symbol, sizeof booked->symbol);
    booked->side = request->side;
    booked->quantity = request->quantity;
    if (request->side == BROKER_SIDE_SELL && holding->quantity < request->quantity) {
        booked->state = BROKER_ORDER_REJECTED;
        snprintf(booked->message, sizeof booked->message, "insufficient holdings: %lld held",
                 (long long)holding->quantity);
    } else {
        booked->state = BROKER_ORDER_FILLED;
        booked->filled_quantity = request->quantity;
        booked->average_price = instance->price;
        int64_t delta = request->side == BROKER_SIDE_BUY ? request->quantity : -request->quantity;
        holding->quantity += delta;
        if (instance->journal != NULL) {
            fprintf(instance->journal, "%s %s %lld\n", account->id, request->symbol,
                    (long long)delta);
            fflush(instance->journal);
        }
    }
    *order = *booked;
    return BROKER_OK;
}

/* Main thread, before any session exists: replays `file` into the accounts.
 * Returns false with the reason in `error`. */
static bool paper_replay(broker_instance *instance, FILE *file, broker_text *error)
{
    char line[256], id[BROKER_ACCOUNT_ID_MAX], symbol[BROKER_SYMBOL_MAX];
    long long delta;
    for (int number = 1; fgets(line, sizeof line, file) != NULL; number++) {
        if (sscanf(line, "%63s %32s %lld", id, symbol, &delta) != 3) {
            snprintf(error->text, sizeof error->text, "state_file: line %d is malformed", number);
            return false;
        }
        paper_account *account = paper_account_get(instance, id);
        paper_holding *holding = account ? paper_holding_get(account, symbol, true) : NULL;
        if (holding == NULL) {
            snprintf(error->text, sizeof error->text, "out of memory");
            return false;
        }
        holding->quantity += delta;
    }
    return true;
}

/* Loads and opens `path` for appending (created when missing). */
static broker_status paper_open_state(broker_instance *instance, const char *path,
                                      broker_text *error)
{
    FILE *old = fopen(path, "r");
    if (old != NULL) {
        bool replayed = paper_replay(instance, old, error);
        fclose(old);
        if (!replayed)
            return BROKER_CONFIG;
    }
    instance->journal = fopen(path, "a");
    if (instance->journal == NULL) {
        snprintf(error->text, sizeof error->text, "state_file: cannot open %.180s: %s", path,
                 strerror(errno));
        return BROKER_CONFIG;
    }
    return BROKER_OK;
}

static broker_status paper_read_price(const char *text, double *price, broker_text *error)
{
    char *end = NULL;
    *price = text ? strtod(text, &end) : PAPER_DEFAULT_PRICE;
    if (text != NULL && (end == text || *end != '\0' || !(*price > 0))) {
        snprintf(error->text, sizeof error->text, "price: expected a positive number");
        return BROKER_CONFIG;
    }
    return BROKER_OK;
}

static void paper_destroy(broker_instance *instance);

static broker_status paper_create(const broker_host_services *services, broker_host *host,
                                  broker_instance **instance, broker_text *error)
{
    double price;
    *instance = NULL;
    if (paper_read_price(services->config_get(host, "price"), &price, error) != BROKER_OK)
        return BROKER_CONFIG;
    broker_instance *created = calloc(1, sizeof *created);
    if (created == NULL || pthread_mutex_init(&created->lock, NULL) != 0) {
        free(created);
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    created->services = services;
    created->host = host;
    created->price = price;
    const char *state_file = services->config_get(host, "state_file");
    if (state_file != NULL && *state_file != '\0') {
        broker_status status = paper_open_state(created, state_file, error);
        if (status != BROKER_OK) {
            paper_destroy(created);
            return status;
        }
    }
    *instance = created;
    services->log(host, BROKER_LOG_DEBUG, "paper broker ready, price %.2f", price);
    return BROKER_OK;
}

static void paper_destroy(broker_instance *instance)
{
    if (instance->journal != NULL)
        fclose(instance->journal);
    while (instance->sessions != NULL) {
        broker_session *next = instance->sessions->next;
        free(instance->sessions);
        instance->sessions = next;
    }
    paper_account *account = instance->accounts;
    while (account) {
        paper_account *next = account->next;
        free(account->holdings);
        free(account->orders);
        free(account);
        account = next;
    }
    pthread_mutex_destroy(&instance->lock);
    free(instance);
}

static broker_status paper_open_session(broker_instance *instance,
                                        const broker_credentials *credentials,
                                        broker_session **session, broker_text *account_id,
                                        broker_text *error)
{
    static const char *const required[] = {"api_key", "access_token"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (paper_credential(credentials, required[i]) == NULL) {
            /* Name the field, never its value. */
            snprintf(error->text, sizeof error->text, "missing credential field '%s'", required[i]);
            return BROKER_INVALID;
        }
    }
    char id[BROKER_ACCOUNT_ID_MAX];
    paper_account_id(paper_credential(credentials, "api_key"), id);
    broker_session *opened = calloc(1, sizeof *opened);
    if (opened == NULL) {
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    pthread_mutex_lock(&instance->lock);
    opened->account = paper_account_get(instance, id);
    if (opened->account != NULL) {
        opened->next = instance->sessions;
        instance->sessions = opened;
    }
    pthread_mutex_unlock(&instance->lock);
    if (opened->account == NULL) {
        free(opened);
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    snprintf(account_id->text, sizeof account_id->text, "%s", id);
    *session = opened;
    return BROKER_OK;
}

static void paper_close_session(broker_instance *instance, broker_session *session)
{
    pthread_mutex_lock(&instance->lock);
    broker_session **link = &instance->sessions;
    while (*link != NULL && *link != session)
        link = &(*link)->next;
    if (*link != NULL)
        *link = session->next;
    pthread_mutex_unlock(&instance->lock);
    free(session); /* the account stays with the instance */
}

static broker_status paper_authenticate(broker_instance *instance, broker_session *session)
{
    (void)instance;
    session->authenticated = true; /* a paper broker accepts any token */
    return BROKER_OK;
}

static broker_status paper_get_holdings(broker_instance *instance, broker_session *session,
                                        broker_holding_fn emit, void *context)
{
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    pthread_mutex_lock(&instance->lock);
    paper_account *account = session->account;
    for (size_t i = 0; i < account->holding_count; i++) {
        if (account->holdings[i].quantity == 0)
            continue;
        if (emit(context, account->holdings[i].symbol, account->holdings[i].quantity) != 0)
            break;
    }
    pthread_mutex_unlock(&instance->lock);
    return BROKER_OK;
}

static broker_status paper_place_order(broker_instance *instance, broker_session *session,
                                       const broker_order_request *request, broker_order *order)
{
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    if (request->quantity <= 0 || request->symbol[0] == '\0')
        return paper_fail(session, BROKER_REJECTED, "invalid order: quantity must be positive");
    pthread_mutex_lock(&instance->lock);
    broker_status status = BROKER_OK;
    broker_order *existing = paper_order_by_client_id(session->account, request->client_order_id);
    if (existing != NULL)
        *order = *existing; /* same tag: the same order, never a second one */
    else
        status = paper_execute(instance, session, request, order);
    pthread_mutex_unlock(&instance->lock);
    return status;
}

static broker_status paper_get_order(broker_instance *instance, broker_session *session,
                                     const char *order_id, broker_order *order)
{
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    char *end = NULL;
    unsigned long long number =
        strncmp(order_id, "PAPER-", 6) == 0 ? strtoull(order_id + 6, &end, 10) : 0;
    pthread_mutex_lock(&instance->lock);
    paper_account *account = session->account;
    bool found = number >= 1 && *end == '\0' && number <= account->order_count;
    if (found)
        *order = account->orders[number - 1];
    pthread_mutex_unlock(&instance->lock);
    return found ? BROKER_OK : paper_fail(session, BROKER_NOT_FOUND, "no order %s", order_id);
}

static broker_status paper_find_order(broker_instance *instance, broker_session *session,
                                      const char *client_order_id, broker_order *order)
{
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    pthread_mutex_lock(&instance->lock);
    broker_order *found = paper_order_by_client_id(session->account, client_order_id);
    if (found != NULL)
        *order = *found;
    pthread_mutex_unlock(&instance->lock);
    return found ? BROKER_OK
                 : paper_fail(session, BROKER_NOT_FOUND, "no order tagged %s", client_order_id);
}

static broker_status paper_get_quote(broker_instance *instance, broker_session *session,
                                     const char *symbol, double *last_price)
{
    (void)session;
    (void)symbol;
    *last_price = instance->price;
    return BROKER_OK;
}

/* ---- ABI 1.1: optional callbacks; each output struct arrives zeroed with
 * `size` set by the host, and nothing is written past that size. ---- */

/* Everything a paper account holds is settled: it fills at once and has no
 * T+1 cycle, so bought_today/sold_today stay 0. */
static broker_status paper_get_positions(broker_instance *instance, broker_session *session,
                                         broker_position_fn emit, void *context)
{
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    pthread_mutex_lock(&instance->lock);
    paper_account *account = session->account;
    for (size_t i = 0; i < account->holding_count; i++) {
        broker_position position = {.size = sizeof position,
                                    .exchange = BROKER_EXCHANGE_NSE,
                                    .settled = account->holdings[i].quantity,
                                    .average_price = instance->price};
        snprintf(position.symbol, sizeof position.symbol, "%s", account->holdings[i].symbol);
        if (position.settled != 0 && emit(context, &position) != 0)
            break;
    }
    pthread_mutex_unlock(&instance->lock);
    return BROKER_OK;
}

/* A paper market never closes. */
static broker_status paper_get_market_session(broker_instance *instance, broker_session *session,
                                              broker_exchange exchange,
                                              broker_market_session *market)
{
    (void)exchange;
    if (!session->authenticated)
        return paper_fail(session, BROKER_AUTH, "not logged in");
    if (BROKER_FITS(market, broker_market_session, state))
        market->state = BROKER_MARKET_OPEN;
    if (BROKER_FITS(market, broker_market_session, now_ms))
        market->now_ms = instance->services->now_ms(instance->host);
    return BROKER_OK;
}

static const char *paper_errmsg(broker_instance *instance, broker_session *session)
{
    (void)instance;
    /* Instance-level failures (create, open_session) report through their
     * `error` argument, so there is no instance-level detail to give here. */
    return session ? session->errmsg : "";
}

static const char *const paper_config_keys[] = {"price", "state_file", NULL};

static const broker_plugin paper_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "paper",
    .version = "1.0.0",
    .description = "in-memory paper trading: immediate fills at a fixed price",
    .capabilities = {.flags = BROKER_CAP_CONCURRENT_SESSIONS | BROKER_CAP_TAG_ALNUM_ONLY,
                     .tag_min_length = 8,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 0},
    .config_keys = paper_config_keys,
    .create = paper_create,
    .destroy = paper_destroy,
    .open_session = paper_open_session,
    .close_session = paper_close_session,
    .authenticate = paper_authenticate,
    .get_holdings = paper_get_holdings,
    .place_order = paper_place_order,
    .get_order = paper_get_order,
    .find_order = paper_find_order,
    .cancel_order = NULL, /* optional: orders never rest, nothing to cancel */
    .get_quote = paper_get_quote,
    .errmsg = paper_errmsg,
    /* ABI 1.1: optional; NULL ones fall back to the 1.0 calls. */
    .get_positions = paper_get_positions,
    .get_market_session = paper_get_market_session,
};

/* The one exported symbol. Refuse a host of another major version. */
BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR)
        return BROKER_UNSUPPORTED;
    *descriptor = &paper_plugin;
    return BROKER_OK;
}
