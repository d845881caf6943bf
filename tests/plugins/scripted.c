/*
 * A scripted broker for the engine's rare paths (tests/test_engine_paths.c).
 *
 * The simulated brokers settle every order on its first read and record every
 * UNKNOWN order; this one does what its brokers.ini section tells it to:
 *
 *   holdings          = RELIANCE:10,TCS:5    the account's initial holdings
 *   script            = fill                 what every place_order does:
 *       fill            accepted OPEN; FILLED on the first read
 *       partial         accepted OPEN; PARTIALLY_FILLED (partial_percent) on the first read
 *       reject_ok       BROKER_OK with state REJECTED and a message
 *       reject          BROKER_REJECTED with the reason in errmsg
 *       unknown_absent  UNKNOWN without recording the order, unknown_times times per
 *                       client order id; then as `fill`. find_order proves it absent.
 *       unknown_present UNKNOWN, but the order was recorded (then as `fill`)
 *       unknown_lost    UNKNOWN; the order was recorded and filled at once, and
 *                       find_order for it fails TRANSIENT every time
 *       unknown_foreign UNKNOWN without placing; find_order answers with another
 *                       order that carries the same tag (symbol FOREIGN, other quantity)
 *   symbol_scripts    = TCS:partial,INFY:reject   per-symbol overrides of `script`
 *   unknown_times     = 1     see unknown_absent
 *   lost_finds        = -1    find_order calls for unknown_lost orders that fail
 *                             before it answers (instance-wide; -1: all of them)
 *   partial_percent   = 40    share of the quantity a `partial` order fills
 *   open_forever      = 1     accepted orders never leave OPEN on a read
 *   open_fill_percent = 0     share an open_forever order fills while open
 *   cancel            = ok    cancel_order: ok (CANCELLED), fill (the order fills
 *                             first; the cancel is refused), reject (refused, stays open)
 *   cancel_fill_percent = 0   with cancel = reject: the share the order has filled by
 *                             the time the cancel is refused (it stays OPEN)
 *   no_cancel         = 1     the descriptor's cancel_order is NULL
 *   die_in            = place the process SIGKILLs itself on entering that call
 *                             (place, get or find; requote: the second get_quote of
 *                             a real symbol; replace: the second place call; cancelled:
 *                             cancel_order, once it has cancelled the order): a crash
 *                             inside a broker call, for the journal's durability
 *                             tests. A real plugin never does this.
 *   limit_orders      = 1     the descriptor gets place_order_ex (ABI 1.1): limit
 *                             orders. Quotes of real symbols start at 100.00 and rise
 *                             by quote_step_paise on each get_quote; a limit order
 *                             fills (at its limit) on a read only when its limit is at
 *                             or past limit_fill_paise (a buy at or above, a sell at
 *                             or below); below it, it stays OPEN and fills
 *                             open_fill_percent of its quantity.
 *   quote_step_paise  = 0
 *   limit_fill_paise  = 0     0: every limit order fills as `script` says
 *
 * no_cancel is applied by create() to the static descriptor, which the host
 * reads at call time. That is sound only because the descriptor's name must
 * equal the section suffix, so one loaded library serves exactly one section.
 *
 * Every call is counted, per instance and under the instance's mutex. The
 * counts are read through get_quote with a lower-case "symbol" no canonical
 * symbol can take (the value arrives in *last_price):
 *   ?place_calls ?get_calls ?find_calls ?cancel_calls
 *   ?distinct_ids            client order ids ever passed to place_order
 *   ?max_places_per_id       most place_order calls made with one id
 *   ?orders ?open_orders     orders the broker recorded / still OPEN
 *   ?max_orders_per_id       most recorded orders sharing one id (1 = no duplicate)
 *   ?placed:ID ?recorded:ID ?filled:ID   per client order id
 * Fixed capacities keep it simple; past them a call returns BROKER_INTERNAL.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptexec/broker_plugin.h>

#define SCRIPTED_MAX_HOLDINGS 64
#define SCRIPTED_MAX_ORDERS 256
#define SCRIPTED_MAX_IDS 256
#define SCRIPTED_MAX_SYMBOL_SCRIPTS 16
#define SCRIPTED_PRICE 100.0

typedef enum scripted_script {
    SCRIPT_FILL,
    SCRIPT_PARTIAL,
    SCRIPT_REJECT_OK,
    SCRIPT_REJECT,
    SCRIPT_UNKNOWN_ABSENT,
    SCRIPT_UNKNOWN_PRESENT,
    SCRIPT_UNKNOWN_LOST,
    SCRIPT_UNKNOWN_FOREIGN
} scripted_script;

static const char *const scripted_script_names[] = {
    "fill",           "partial",         "reject_ok",    "reject",
    "unknown_absent", "unknown_present", "unknown_lost", "unknown_foreign"};

typedef enum scripted_cancel { CANCEL_OK, CANCEL_FILL, CANCEL_REJECT } scripted_cancel;

/* The call that die_in names. */
typedef enum scripted_call {
    CALL_NONE,
    CALL_PLACE,
    CALL_GET,
    CALL_FIND,
    CALL_REQUOTE,
    CALL_REPLACE,
    CALL_CANCELLED
} scripted_call;

typedef struct scripted_holding {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
} scripted_holding;

typedef struct scripted_symbol_script {
    char symbol[BROKER_SYMBOL_MAX];
    scripted_script script;
} scripted_symbol_script;

typedef struct scripted_order {
    broker_order order;
    scripted_script script;
    int64_t applied;    /* filled quantity already applied to the holdings */
    double limit_price; /* 0: a market order */
} scripted_order;

typedef struct scripted_id {
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    int64_t placed; /* place_order calls with this id */
} scripted_id;

struct broker_session {
    char message[BROKER_MESSAGE_MAX];
    broker_session *next;
};

struct broker_instance {
    const broker_host_services *services;
    broker_host *host;
    pthread_mutex_t lock;
    broker_session *sessions;

    scripted_script script;
    scripted_symbol_script symbol_scripts[SCRIPTED_MAX_SYMBOL_SCRIPTS];
    size_t symbol_script_count;
    int64_t unknown_times;
    int64_t lost_finds;
    int64_t partial_percent;
    bool open_forever;
    int64_t open_fill_percent;
    int64_t cancel_fill_percent;
    scripted_cancel cancel;
    scripted_call die_in;
    int64_t quote_step_paise;
    int64_t limit_fill_paise;
    int64_t quotes; /* get_quote calls for real symbols */

    scripted_holding holdings[SCRIPTED_MAX_HOLDINGS];
    size_t holding_count;
    scripted_order orders[SCRIPTED_MAX_ORDERS];
    size_t order_count;
    scripted_id ids[SCRIPTED_MAX_IDS];
    size_t id_count;

    int64_t place_calls;
    int64_t get_calls;
    int64_t find_calls;
    int64_t cancel_calls;
};

static broker_plugin scripted_descriptor;
static broker_status scripted_cancel_order(broker_instance *instance, broker_session *session,
                                           const char *order_id, broker_order *order);

static const char *const scripted_config_keys[] = {"holdings",         "script",
                                                   "symbol_scripts",   "unknown_times",
                                                   "lost_finds",       "partial_percent",
                                                   "open_forever",     "open_fill_percent",
                                                   "cancel",           "cancel_fill_percent",
                                                   "no_cancel",        "die_in",
                                                   "limit_orders",     "quote_step_paise",
                                                   "limit_fill_paise", NULL};

/* ---- configuration ------------------------------------------------------ */

static bool scripted_parse_script(const char *text, scripted_script *out)
{
    for (size_t i = 0; i < sizeof scripted_script_names / sizeof scripted_script_names[0]; i++) {
        if (strcmp(text, scripted_script_names[i]) == 0) {
            *out = (scripted_script)i;
            return true;
        }
    }
    return false;
}

static bool scripted_parse_int(const char *text, int64_t low, int64_t high, int64_t *out)
{
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || value < low || value > high)
        return false;
    *out = value;
    return true;
}

/* Reads integer key `key` (default `fallback`) into *out. */
static bool scripted_config_int(broker_instance *in, const char *key, int64_t fallback,
                                int64_t high, int64_t *out, broker_text *error)
{
    const char *text = in->services->config_get(in->host, key);
    *out = fallback;
    if (text == NULL || scripted_parse_int(text, 0, high, out))
        return true;
    snprintf(error->text, sizeof error->text, "%s = '%.64s' is not an integer 0..%lld", key, text,
             (long long)high);
    return false;
}

/*
 * Walks "SYMBOL:VALUE,…", calling `add` for each item. Returns false and
 * writes the reason when an item is malformed or `add` refuses it.
 */
static bool scripted_parse_list(broker_instance *in, const char *key,
                                bool (*add)(broker_instance *, const char *, const char *),
                                broker_text *error)
{
    const char *text = in->services->config_get(in->host, key);
    if (text == NULL)
        return true;
    char *copy = strdup(text);
    bool ok = copy != NULL;
    char *save = NULL;
    for (char *item = ok ? strtok_r(copy, ",", &save) : NULL; ok && item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *colon = strchr(item, ':');
        ok = colon != NULL && colon != item && (size_t)(colon - item) < BROKER_SYMBOL_MAX;
        if (ok) {
            *colon = '\0';
            ok = add(in, item, colon + 1);
        }
    }
    if (!ok)
        snprintf(error->text, sizeof error->text, "%s = '%.128s' is not a list of SYMBOL:VALUE",
                 key, text);
    free(copy);
    return ok;
}

static bool scripted_add_holding(broker_instance *in, const char *symbol, const char *value)
{
    int64_t quantity;
    if (in->holding_count == SCRIPTED_MAX_HOLDINGS ||
        !scripted_parse_int(value, 0, INT64_C(1000000000), &quantity))
        return false;
    scripted_holding *holding = &in->holdings[in->holding_count++];
    snprintf(holding->symbol, sizeof holding->symbol, "%s", symbol);
    holding->quantity = quantity;
    return true;
}

static bool scripted_add_symbol_script(broker_instance *in, const char *symbol, const char *value)
{
    if (in->symbol_script_count == SCRIPTED_MAX_SYMBOL_SCRIPTS)
        return false;
    scripted_symbol_script *entry = &in->symbol_scripts[in->symbol_script_count];
    if (!scripted_parse_script(value, &entry->script))
        return false;
    snprintf(entry->symbol, sizeof entry->symbol, "%s", symbol);
    in->symbol_script_count++;
    return true;
}

static bool scripted_read_script(broker_instance *in, broker_text *error)
{
    const char *text = in->services->config_get(in->host, "script");
    in->script = SCRIPT_FILL;
    if (text == NULL || scripted_parse_script(text, &in->script))
        return true;
    snprintf(error->text, sizeof error->text,
             "script = '%.64s' is not one of fill, partial, reject_ok, reject, unknown_absent, "
             "unknown_present, unknown_lost, unknown_foreign",
             text);
    return false;
}

static bool scripted_read_cancel(broker_instance *in, broker_text *error)
{
    const char *text = in->services->config_get(in->host, "cancel");
    in->cancel = CANCEL_OK;
    if (text == NULL || strcmp(text, "ok") == 0)
        return true;
    if (strcmp(text, "fill") == 0 || strcmp(text, "reject") == 0) {
        in->cancel = strcmp(text, "fill") == 0 ? CANCEL_FILL : CANCEL_REJECT;
        return true;
    }
    snprintf(error->text, sizeof error->text, "cancel = '%.64s' is not one of ok, fill, reject",
             text);
    return false;
}

static bool scripted_read_die_in(broker_instance *in, broker_text *error)
{
    static const char *const names[] = {"",        "place",   "get",      "find",
                                        "requote", "replace", "cancelled"};
    const char *text = in->services->config_get(in->host, "die_in");
    in->die_in = CALL_NONE;
    for (size_t i = 1; text != NULL && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(text, names[i]) == 0)
            in->die_in = (scripted_call)i;
    if (text == NULL || in->die_in != CALL_NONE)
        return true;
    snprintf(error->text, sizeof error->text,
             "die_in = '%.64s' is not one of place, get, find, requote, replace, cancelled", text);
    return false;
}

/* die_in: a crash of the whole process inside broker call `call`. */
static void scripted_maybe_die(const broker_instance *in, scripted_call call)
{
    if (in->die_in == call)
        raise(SIGKILL);
}

#if BROKER_ABI_MINOR >= 1 /* not in the build against the frozen 1.0 header */
static broker_status scripted_place_order_ex(broker_instance *instance, broker_session *session,
                                             const broker_order_params *params,
                                             broker_order_detail *detail);
#endif

static bool scripted_configure(broker_instance *in, broker_text *error)
{
    int64_t open_forever = 0, no_cancel = 0, limit_orders = 0;
    if (!scripted_read_script(in, error) || !scripted_read_cancel(in, error) ||
        !scripted_read_die_in(in, error) ||
        !scripted_config_int(in, "unknown_times", 1, 1000000, &in->unknown_times, error) ||
        !scripted_config_int(in, "lost_finds", -1, 1000000, &in->lost_finds, error) ||
        !scripted_config_int(in, "partial_percent", 40, 100, &in->partial_percent, error) ||
        !scripted_config_int(in, "open_fill_percent", 0, 100, &in->open_fill_percent, error) ||
        !scripted_config_int(in, "cancel_fill_percent", 0, 100, &in->cancel_fill_percent, error) ||
        !scripted_config_int(in, "open_forever", 0, 1, &open_forever, error) ||
        !scripted_config_int(in, "no_cancel", 0, 1, &no_cancel, error) ||
        !scripted_config_int(in, "limit_orders", 0, 1, &limit_orders, error) ||
        !scripted_config_int(in, "quote_step_paise", 0, 100000, &in->quote_step_paise, error) ||
        !scripted_config_int(in, "limit_fill_paise", 0, 100000000, &in->limit_fill_paise, error) ||
        !scripted_parse_list(in, "holdings", scripted_add_holding, error) ||
        !scripted_parse_list(in, "symbol_scripts", scripted_add_symbol_script, error))
        return false;
    in->open_forever = open_forever != 0;
    scripted_descriptor.cancel_order = no_cancel ? NULL : scripted_cancel_order;
#if BROKER_ABI_MINOR >= 1
    scripted_descriptor.place_order_ex = limit_orders ? scripted_place_order_ex : NULL;
#endif
    return true;
}

/* ---- state --------------------------------------------------------------- */

static void session_fail(broker_session *session, const char *text)
{
    snprintf(session->message, sizeof session->message, "%s", text);
}

static scripted_holding *scripted_holding_slot(broker_instance *in, const char *symbol)
{
    for (size_t i = 0; i < in->holding_count; i++)
        if (strcmp(in->holdings[i].symbol, symbol) == 0)
            return &in->holdings[i];
    if (in->holding_count == SCRIPTED_MAX_HOLDINGS)
        return NULL;
    scripted_holding *holding = &in->holdings[in->holding_count++];
    snprintf(holding->symbol, sizeof holding->symbol, "%s", symbol);
    holding->quantity = 0;
    return holding;
}

/* Sets the order's filled quantity and moves the holdings by the change. */
static void scripted_set_filled(broker_instance *in, scripted_order *entry, int64_t filled)
{
    entry->order.filled_quantity = filled;
    double price = entry->limit_price > 0.0 ? entry->limit_price : SCRIPTED_PRICE;
    entry->order.average_price = filled > 0 ? price : 0.0;
    int64_t change = filled - entry->applied;
    scripted_holding *holding = scripted_holding_slot(in, entry->order.symbol);
    if (change == 0 || holding == NULL)
        return;
    holding->quantity += entry->order.side == BROKER_SIDE_BUY ? change : -change;
    entry->applied = filled;
}

static int64_t scripted_share(int64_t quantity, int64_t percent)
{
    return quantity * percent / 100;
}

/* What a read of an open order finds: the script's next state. */
static void scripted_advance(broker_instance *in, scripted_order *entry)
{
    broker_order *order = &entry->order;
    if (order->state != BROKER_ORDER_OPEN)
        return;
    double threshold = (double)in->limit_fill_paise / 100.0;
    bool short_of_limit = entry->limit_price > 0.0 && in->limit_fill_paise > 0 &&
                          (order->side == BROKER_SIDE_BUY ? entry->limit_price < threshold - 1e-9
                                                          : entry->limit_price > threshold + 1e-9);
    if (in->open_forever || short_of_limit) {
        int64_t share = scripted_share(order->quantity, in->open_fill_percent);
        if (share > order->filled_quantity)
            scripted_set_filled(in, entry, share);
        return;
    }
    if (entry->script == SCRIPT_PARTIAL) {
        int64_t filled = scripted_share(order->quantity, in->partial_percent);
        if (order->quantity >= 2 && filled < 1)
            filled = 1;
        if (order->quantity >= 2 && filled >= order->quantity)
            filled = order->quantity - 1;
        order->state = BROKER_ORDER_PARTIALLY_FILLED;
        snprintf(order->message, sizeof order->message, "remainder expired at market close");
        scripted_set_filled(in, entry, filled);
        return;
    }
    order->state = BROKER_ORDER_FILLED;
    scripted_set_filled(in, entry, order->quantity);
}

static scripted_script scripted_script_for(const broker_instance *in, const char *symbol)
{
    for (size_t i = 0; i < in->symbol_script_count; i++)
        if (strcmp(in->symbol_scripts[i].symbol, symbol) == 0)
            return in->symbol_scripts[i].script;
    return in->script;
}

/* The id's counter, created on first sight; NULL when the table is full. */
static scripted_id *scripted_id_slot(broker_instance *in, const char *client_order_id)
{
    for (size_t i = 0; i < in->id_count; i++)
        if (strcmp(in->ids[i].client_order_id, client_order_id) == 0)
            return &in->ids[i];
    if (in->id_count == SCRIPTED_MAX_IDS)
        return NULL;
    scripted_id *id = &in->ids[in->id_count++];
    snprintf(id->client_order_id, sizeof id->client_order_id, "%s", client_order_id);
    id->placed = 0;
    return id;
}

static scripted_order *scripted_record(broker_instance *in, const broker_order_request *request,
                                       scripted_script script)
{
    if (in->order_count == SCRIPTED_MAX_ORDERS)
        return NULL;
    scripted_order *entry = &in->orders[in->order_count++];
    memset(entry, 0, sizeof *entry);
    broker_order *order = &entry->order;
    snprintf(order->order_id, sizeof order->order_id, "S%zu", in->order_count);
    snprintf(order->client_order_id, sizeof order->client_order_id, "%s", request->client_order_id);
    snprintf(order->symbol, sizeof order->symbol, "%s", request->symbol);
    order->side = request->side;
    order->state = BROKER_ORDER_OPEN;
    order->quantity = request->quantity;
    entry->script = script;
    return entry;
}

static scripted_order *scripted_by_order_id(broker_instance *in, const char *order_id)
{
    for (size_t i = 0; i < in->order_count; i++)
        if (strcmp(in->orders[i].order.order_id, order_id) == 0)
            return &in->orders[i];
    return NULL;
}

/* The latest order recorded with `client_order_id`, or NULL. */
static scripted_order *scripted_by_client_id(broker_instance *in, const char *client_order_id)
{
    for (size_t i = in->order_count; i > 0; i--)
        if (strcmp(in->orders[i - 1].order.client_order_id, client_order_id) == 0)
            return &in->orders[i - 1];
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

static broker_status scripted_create(const broker_host_services *services, broker_host *host,
                                     broker_instance **instance, broker_text *error)
{
    broker_instance *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    in->services = services;
    in->host = host;
    if (!scripted_configure(in, error)) {
        free(in);
        return BROKER_CONFIG;
    }
    pthread_mutex_init(&in->lock, NULL);
    *instance = in;
    return BROKER_OK;
}

static void scripted_destroy(broker_instance *instance)
{
    while (instance->sessions != NULL) {
        broker_session *next = instance->sessions->next;
        free(instance->sessions);
        instance->sessions = next;
    }
    pthread_mutex_destroy(&instance->lock);
    free(instance);
}

static broker_status scripted_open_session(broker_instance *instance,
                                           const broker_credentials *credentials,
                                           broker_session **session, broker_text *account_id,
                                           broker_text *error)
{
    bool has_key = false;
    for (size_t i = 0; i < credentials->count; i++)
        has_key |= strcmp(credentials->items[i].key, "api_key") == 0;
    if (!has_key) {
        snprintf(error->text, sizeof error->text, "missing credential field api_key");
        return BROKER_INVALID;
    }
    broker_session *created = calloc(1, sizeof *created);
    if (created == NULL)
        return BROKER_INTERNAL;
    pthread_mutex_lock(&instance->lock);
    created->next = instance->sessions;
    instance->sessions = created;
    pthread_mutex_unlock(&instance->lock);
    snprintf(account_id->text, sizeof account_id->text, "SCRIPTED1");
    *session = created;
    return BROKER_OK;
}

static void scripted_close_session(broker_instance *instance, broker_session *session)
{
    pthread_mutex_lock(&instance->lock);
    for (broker_session **link = &instance->sessions; *link != NULL; link = &(*link)->next) {
        if (*link == session) {
            *link = session->next;
            free(session);
            break;
        }
    }
    pthread_mutex_unlock(&instance->lock);
}

static broker_status scripted_authenticate(broker_instance *instance, broker_session *session)
{
    (void)instance;
    (void)session;
    return BROKER_OK;
}

static broker_status scripted_get_holdings(broker_instance *instance, broker_session *session,
                                           broker_holding_fn emit, void *context)
{
    (void)session;
    pthread_mutex_lock(&instance->lock);
    for (size_t i = 0; i < instance->holding_count; i++) {
        const scripted_holding *holding = &instance->holdings[i];
        if (holding->quantity > 0 && emit(context, holding->symbol, holding->quantity) != 0)
            break;
    }
    pthread_mutex_unlock(&instance->lock);
    return BROKER_OK;
}

/* ---- orders ---------------------------------------------------------------- */

/* place_order under the lock; `id` counts this call already. */
static broker_status scripted_place_locked(broker_instance *in, broker_session *session,
                                           const broker_order_request *request,
                                           const scripted_id *id, broker_order *order)
{
    scripted_script script = scripted_script_for(in, request->symbol);
    if (script == SCRIPT_REJECT) {
        session_fail(session, "scripted: RMS rejected: insufficient funds");
        return BROKER_REJECTED;
    }
    if (script == SCRIPT_UNKNOWN_ABSENT && id->placed <= in->unknown_times) {
        session_fail(session, "scripted: connection reset before the order reached the broker");
        return BROKER_UNKNOWN;
    }
    scripted_order *entry = scripted_record(in, request, script);
    if (entry == NULL) {
        session_fail(session, "scripted: order table full");
        return BROKER_INTERNAL;
    }
    if (script == SCRIPT_REJECT_OK) {
        entry->order.state = BROKER_ORDER_REJECTED;
        snprintf(entry->order.message, sizeof entry->order.message,
                 "scripted: RMS rejected after acceptance: margin shortfall");
    }
    if (script == SCRIPT_UNKNOWN_LOST) {
        entry->order.state = BROKER_ORDER_FILLED;
        scripted_set_filled(in, entry, entry->order.quantity);
    }
    if (script == SCRIPT_UNKNOWN_FOREIGN) {
        /* Another order that happens to carry the same tag; this one never arrived. */
        snprintf(entry->order.symbol, sizeof entry->order.symbol, "FOREIGN");
        entry->order.quantity += 1;
        session_fail(session, "scripted: gateway timeout; this order never arrived");
        return BROKER_UNKNOWN;
    }
    if (script == SCRIPT_UNKNOWN_PRESENT || script == SCRIPT_UNKNOWN_LOST) {
        session_fail(session, "scripted: gateway timeout after the order was sent");
        return BROKER_UNKNOWN;
    }
    *order = entry->order;
    return BROKER_OK;
}

static broker_status scripted_place_order(broker_instance *instance, broker_session *session,
                                          const broker_order_request *request, broker_order *order)
{
    scripted_maybe_die(instance, CALL_PLACE);
    pthread_mutex_lock(&instance->lock);
    instance->place_calls++;
    scripted_id *id = scripted_id_slot(instance, request->client_order_id);
    broker_status status = BROKER_INTERNAL;
    if (id == NULL) {
        session_fail(session, "scripted: id table full");
    } else {
        id->placed++;
        status = scripted_place_locked(instance, session, request, id, order);
    }
    pthread_mutex_unlock(&instance->lock);
    return status;
}

#if BROKER_ABI_MINOR >= 1
static broker_status scripted_place_order_ex(broker_instance *instance, broker_session *session,
                                             const broker_order_params *params,
                                             broker_order_detail *detail)
{
    if (instance->die_in == CALL_REPLACE) {
        pthread_mutex_lock(&instance->lock);
        int64_t before = instance->place_calls;
        pthread_mutex_unlock(&instance->lock);
        if (before >= 1)
            raise(SIGKILL);
    }
    broker_order order;
    memset(&order, 0, sizeof order);
    broker_status status = scripted_place_order(instance, session, &params->base, &order);
    pthread_mutex_lock(&instance->lock);
    scripted_order *entry = scripted_by_client_id(instance, params->base.client_order_id);
    if (entry != NULL && params->order_type == BROKER_ORDER_LIMIT) {
        entry->limit_price = params->limit_price;
        if (entry->order.filled_quantity > 0)
            scripted_set_filled(instance, entry, entry->order.filled_quantity);
    }
    if (status == BROKER_OK && entry != NULL)
        order = entry->order;
    pthread_mutex_unlock(&instance->lock);
    detail->order = order;
    return status;
}

#endif

static broker_status scripted_get_order(broker_instance *instance, broker_session *session,
                                        const char *order_id, broker_order *order)
{
    scripted_maybe_die(instance, CALL_GET);
    pthread_mutex_lock(&instance->lock);
    instance->get_calls++;
    scripted_order *entry = scripted_by_order_id(instance, order_id);
    broker_status status = BROKER_NOT_FOUND;
    if (entry == NULL) {
        session_fail(session, "scripted: no such order");
    } else {
        scripted_advance(instance, entry);
        *order = entry->order;
        status = BROKER_OK;
    }
    pthread_mutex_unlock(&instance->lock);
    return status;
}

static broker_status scripted_find_order(broker_instance *instance, broker_session *session,
                                         const char *client_order_id, broker_order *order)
{
    scripted_maybe_die(instance, CALL_FIND);
    pthread_mutex_lock(&instance->lock);
    instance->find_calls++;
    scripted_order *entry = scripted_by_client_id(instance, client_order_id);
    broker_status status = BROKER_OK;
    if (entry == NULL) {
        session_fail(session, "scripted: no order with that tag");
        status = BROKER_NOT_FOUND;
    } else if (entry->script == SCRIPT_UNKNOWN_LOST &&
               (instance->lost_finds < 0 || instance->lost_finds-- > 0)) {
        session_fail(session, "scripted: order book service unavailable (503)");
        status = BROKER_TRANSIENT;
    } else {
        *order = entry->order;
    }
    pthread_mutex_unlock(&instance->lock);
    return status;
}

static broker_status scripted_cancel_locked(broker_instance *in, broker_session *session,
                                            scripted_order *entry, broker_order *order)
{
    if (entry->order.state == BROKER_ORDER_OPEN && in->cancel == CANCEL_FILL) {
        entry->order.state = BROKER_ORDER_FILLED;
        scripted_set_filled(in, entry, entry->order.quantity);
    }
    if (entry->order.state != BROKER_ORDER_OPEN) {
        session_fail(session, "scripted: order is already complete");
        return BROKER_REJECTED;
    }
    if (in->cancel == CANCEL_REJECT) {
        int64_t share = scripted_share(entry->order.quantity, in->cancel_fill_percent);
        if (share > entry->order.filled_quantity)
            scripted_set_filled(in, entry, share);
        session_fail(session, "scripted: cancel refused by the exchange");
        return BROKER_REJECTED;
    }
    entry->order.state = BROKER_ORDER_CANCELLED;
    snprintf(entry->order.message, sizeof entry->order.message, "cancelled on request");
    *order = entry->order;
    return BROKER_OK;
}

static broker_status scripted_cancel_order(broker_instance *instance, broker_session *session,
                                           const char *order_id, broker_order *order)
{
    pthread_mutex_lock(&instance->lock);
    instance->cancel_calls++;
    scripted_order *entry = scripted_by_order_id(instance, order_id);
    broker_status status = BROKER_NOT_FOUND;
    if (entry == NULL)
        session_fail(session, "scripted: no such order");
    else
        status = scripted_cancel_locked(instance, session, entry, order);
    pthread_mutex_unlock(&instance->lock);
    if (status == BROKER_OK)
        scripted_maybe_die(instance, CALL_CANCELLED);
    return status;
}

/* ---- counters through get_quote ---------------------------------------------- */

typedef struct scripted_per_id {
    int64_t placed;
    int64_t recorded;
    int64_t filled;
} scripted_per_id;

static scripted_per_id scripted_count_id(const broker_instance *in, const char *client_order_id)
{
    scripted_per_id counts = {0, 0, 0};
    for (size_t i = 0; i < in->id_count; i++)
        if (strcmp(in->ids[i].client_order_id, client_order_id) == 0)
            counts.placed = in->ids[i].placed;
    for (size_t i = 0; i < in->order_count; i++) {
        if (strcmp(in->orders[i].order.client_order_id, client_order_id) == 0) {
            counts.recorded++;
            counts.filled += in->orders[i].order.filled_quantity;
        }
    }
    return counts;
}

static int64_t scripted_max_places(const broker_instance *in)
{
    int64_t most = 0;
    for (size_t i = 0; i < in->id_count; i++)
        most = in->ids[i].placed > most ? in->ids[i].placed : most;
    return most;
}

static int64_t scripted_max_orders(const broker_instance *in)
{
    int64_t most = 0;
    for (size_t i = 0; i < in->order_count; i++) {
        int64_t recorded = scripted_count_id(in, in->orders[i].order.client_order_id).recorded;
        most = recorded > most ? recorded : most;
    }
    return most;
}

static int64_t scripted_open_orders(const broker_instance *in)
{
    int64_t open = 0;
    for (size_t i = 0; i < in->order_count; i++)
        open += in->orders[i].order.state == BROKER_ORDER_OPEN;
    return open;
}

/* The counter named by `name` (without the '?'); false when there is none. */
static bool scripted_counter(const broker_instance *in, const char *name, int64_t *value)
{
    if (strncmp(name, "placed:", 7) == 0)
        *value = scripted_count_id(in, name + 7).placed;
    else if (strncmp(name, "recorded:", 9) == 0)
        *value = scripted_count_id(in, name + 9).recorded;
    else if (strncmp(name, "filled:", 7) == 0)
        *value = scripted_count_id(in, name + 7).filled;
    else if (strcmp(name, "place_calls") == 0)
        *value = in->place_calls;
    else if (strcmp(name, "get_calls") == 0)
        *value = in->get_calls;
    else if (strcmp(name, "find_calls") == 0)
        *value = in->find_calls;
    else if (strcmp(name, "cancel_calls") == 0)
        *value = in->cancel_calls;
    else if (strcmp(name, "distinct_ids") == 0)
        *value = (int64_t)in->id_count;
    else if (strcmp(name, "max_places_per_id") == 0)
        *value = scripted_max_places(in);
    else if (strcmp(name, "orders") == 0)
        *value = (int64_t)in->order_count;
    else if (strcmp(name, "open_orders") == 0)
        *value = scripted_open_orders(in);
    else if (strcmp(name, "max_orders_per_id") == 0)
        *value = scripted_max_orders(in);
    else
        return false;
    return true;
}

static broker_status scripted_get_quote(broker_instance *instance, broker_session *session,
                                        const char *symbol, double *last_price)
{
    if (symbol[0] != '?') {
        pthread_mutex_lock(&instance->lock);
        int64_t seen = instance->quotes++;
        pthread_mutex_unlock(&instance->lock);
        if (instance->die_in == CALL_REQUOTE && seen >= 1)
            raise(SIGKILL);
        *last_price = SCRIPTED_PRICE + (double)(seen * instance->quote_step_paise) / 100.0;
        return BROKER_OK;
    }
    int64_t value = 0;
    pthread_mutex_lock(&instance->lock);
    bool known = scripted_counter(instance, symbol + 1, &value);
    pthread_mutex_unlock(&instance->lock);
    if (!known) {
        session_fail(session, "scripted: no such counter");
        return BROKER_NOT_FOUND;
    }
    *last_price = (double)value;
    return BROKER_OK;
}

static const char *scripted_errmsg(broker_instance *instance, broker_session *session)
{
    (void)instance;
    return session != NULL ? session->message : "";
}

static broker_plugin scripted_descriptor = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "scripted",
    .version = "0.0.1",
    .description = "scripted broker for the engine's rare paths (tests only)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS,
                     .tag_min_length = 8,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 0},
    .config_keys = scripted_config_keys,
    .create = scripted_create,
    .destroy = scripted_destroy,
    .open_session = scripted_open_session,
    .close_session = scripted_close_session,
    .authenticate = scripted_authenticate,
    .get_holdings = scripted_get_holdings,
    .place_order = scripted_place_order,
    .get_order = scripted_get_order,
    .find_order = scripted_find_order,
    .cancel_order = scripted_cancel_order,
    .get_quote = scripted_get_quote,
    .errmsg = scripted_errmsg,
};

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    (void)services;
    *descriptor = &scripted_descriptor;
    return BROKER_OK;
}
