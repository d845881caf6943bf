#include "sim.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_book.h"
#include "sim_config.h"
#include "sim_format.h"
#include "sim_state.h"

typedef enum sim_token { SIM_TOKEN_VALID, SIM_TOKEN_INVALID, SIM_TOKEN_EXPIRED } sim_token;

struct broker_instance {
    const sim_profile *profile;
    const broker_host_services *services;
    broker_host *host;
    sim_config config;
    sim_book book;
    pthread_mutex_t lock; /* guards book and the session list */
    broker_session *sessions;
};

struct broker_session {
    broker_session *prev, *next;
    uint32_t account;
    sim_token token; /* what authenticate will say of the token given */
    bool logged_in;  /* authenticate succeeded and the token has not expired since */
    bool expired;    /* the token expired during the session */
    char error[BROKER_MESSAGE_MAX];
};

/* errmsg(instance, NULL): the last instance-level failure of this thread. */
static _Thread_local char sim_thread_error[BROKER_MESSAGE_MAX];

/* ---- messages and faults ------------------------------------------------ */

/* Writes "PHRASE" or "PHRASE (SUBJECT)" into `out`. */
static void sim_compose(char *out, const char *phrase, const char *subject)
{
    if (subject != NULL && *subject != '\0')
        snprintf(out, BROKER_MESSAGE_MAX, "%s (%s)", phrase, subject);
    else
        snprintf(out, BROKER_MESSAGE_MAX, "%s", phrase);
}

static broker_status sim_fail(broker_session *session, broker_status status, const char *phrase,
                              const char *subject)
{
    sim_compose(session ? session->error : sim_thread_error, phrase, subject);
    return status;
}

/* True with probability `rate`, drawn from the host's seeded source. */
static bool sim_roll(broker_instance *instance, double rate)
{
    if (rate <= 0.0)
        return false;
    uint64_t draw = instance->services->random_u64(instance->host);
    return (double)(draw >> 11) * 0x1.0p-53 < rate;
}

/* A number in [0, bound) from the host's seeded source; bound > 0. */
static uint64_t sim_draw(broker_instance *instance, uint64_t bound)
{
    return instance->services->random_u64(instance->host) % bound;
}

/* Sleeps latency_ms (outside the lock), then takes the lock. */
static void sim_enter(broker_instance *instance, broker_session *session)
{
    if (instance->config.latency_ms > 0)
        instance->services->sleep_ms(instance->host, instance->config.latency_ms);
    pthread_mutex_lock(&instance->lock);
    session->error[0] = '\0';
}

/* With the lock held: saves the book to state_file when it changed. A
 * failure is logged; the in-memory exchange carries on. */
static void sim_persist(broker_instance *instance)
{
    if (instance->config.state_file == NULL || !instance->book.dirty)
        return;
    char why[BROKER_MESSAGE_MAX];
    if (sim_state_save(&instance->book, instance->config.state_file, why, sizeof why) == 0)
        instance->book.dirty = false;
    else if (instance->services->log != NULL)
        instance->services->log(instance->host, BROKER_LOG_ERROR, "state_file: %s", why);
}

static void sim_leave(broker_instance *instance)
{
    sim_persist(instance);
    pthread_mutex_unlock(&instance->lock);
}

/* The checks every session call passes first: a transient failure before the
 * broker, a session that is not logged in, a token that expires now. */
static broker_status sim_gate(broker_instance *instance, broker_session *session)
{
    const sim_wording *wording = &instance->profile->wording;
    if (sim_roll(instance, instance->config.transient_failure_rate))
        return sim_fail(session, BROKER_TRANSIENT, wording->network, NULL);
    if (!session->logged_in)
        return sim_fail(session, BROKER_AUTH,
                        session->expired ? wording->token_expired : wording->not_logged_in, NULL);
    if (sim_roll(instance, instance->config.auth_expiry_rate)) {
        session->logged_in = false;
        session->expired = true;
        return sim_fail(session, BROKER_AUTH, wording->token_expired, NULL);
    }
    return BROKER_OK;
}

static bool sim_bad_call(broker_instance *instance, broker_session *session)
{
    if (instance != NULL && session != NULL)
        return false;
    sim_compose(session ? session->error : sim_thread_error, "missing instance or session", NULL);
    return true;
}

/* ---- instance ----------------------------------------------------------- */

broker_status sim_create(const sim_profile *profile, const broker_host_services *services,
                         broker_host *host, broker_instance **instance, broker_text *error)
{
    broker_text scratch;
    error = error ? error : &scratch;
    error->text[0] = '\0';
    if (instance == NULL || services == NULL || services->abi_major != BROKER_ABI_MAJOR ||
        services->size < BROKER_HOST_SERVICES_V1_0_SIZE) {
        snprintf(error->text, sizeof error->text, "unusable host services table");
        return BROKER_INTERNAL;
    }
    *instance = NULL;
    broker_instance *created = calloc(1, sizeof *created);
    if (created == NULL) {
        snprintf(error->text, sizeof error->text, "out of memory");
        return BROKER_INTERNAL;
    }
    created->profile = profile;
    created->services = services;
    created->host = host;
    broker_status status =
        sim_config_load(&created->config, services, host,
                        profile->plugin->capabilities.rate_limit_per_second, error);
    if (status != BROKER_OK || pthread_mutex_init(&created->lock, NULL) != 0) {
        sim_config_free(&created->config);
        free(created);
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
        return status != BROKER_OK ? status : BROKER_INTERNAL;
    }
    sim_book_init(&created->book, created->config.rate_limit_per_second);
    sim_book_set_history(&created->book, created->config.order_history);
    if (created->config.state_file != NULL &&
        sim_state_load(&created->book, created->config.state_file, error->text,
                       sizeof error->text) != 0) {
        char why[BROKER_MESSAGE_MAX];
        snprintf(why, sizeof why, "state_file: %.200s", error->text);
        snprintf(error->text, sizeof error->text, "%s", why);
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", why);
        sim_book_free(&created->book);
        sim_config_free(&created->config);
        pthread_mutex_destroy(&created->lock);
        free(created);
        return BROKER_CONFIG;
    }
    if (services->log != NULL)
        services->log(host, BROKER_LOG_DEBUG,
                      "simulated %s: %zu initial holdings, %" PRIu32 " orders/s",
                      profile->plugin->name, created->config.initial_count,
                      created->config.rate_limit_per_second);
    *instance = created;
    return BROKER_OK;
}

void sim_destroy(broker_instance *instance)
{
    if (instance == NULL)
        return;
    while (instance->sessions != NULL) {
        broker_session *next = instance->sessions->next;
        free(instance->sessions);
        instance->sessions = next;
    }
    sim_book_free(&instance->book);
    sim_config_free(&instance->config);
    pthread_mutex_destroy(&instance->lock);
    free(instance);
}

/* ---- sessions ----------------------------------------------------------- */

/* The value of the first of `names` present (non-empty) in `credentials`. */
static const char *sim_credential(const broker_credentials *credentials,
                                  const sim_credential_names *names)
{
    for (size_t n = 0; n < 5 && names->names[n] != NULL; n++)
        for (size_t i = 0; i < credentials->count; i++) {
            const broker_credential *item = &credentials->items[i];
            if (item->key && item->value && item->value[0] != '\0' &&
                strcmp(item->key, names->names[n]) == 0)
                return item->value;
        }
    return NULL;
}

/* Appends "a/b/c" of `names` to `out` (`size` bytes in all). */
static void sim_join_names(char *out, size_t size, const sim_credential_names *names)
{
    for (size_t n = 0; n < 5 && names->names[n] != NULL; n++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", n ? "/" : "", names->names[n]);
    }
}

static broker_status sim_missing(const sim_profile *profile, const sim_credential_names *missing,
                                 broker_text *error)
{
    char needs[160] = "";
    sim_join_names(needs, sizeof needs, &profile->key);
    snprintf(needs + strlen(needs), sizeof needs - strlen(needs), " and ");
    sim_join_names(needs, sizeof needs, &profile->token);
    snprintf(error->text, sizeof error->text, "missing credential '%s' (%s needs %s)",
             missing->names[0], profile->plugin->name, needs);
    snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
    return BROKER_INVALID;
}

static sim_token sim_classify_token(const char *token)
{
    if (strncmp(token, "invalid", 7) == 0)
        return SIM_TOKEN_INVALID;
    if (strncmp(token, "expired", 7) == 0)
        return SIM_TOKEN_EXPIRED;
    return SIM_TOKEN_VALID;
}

static broker_status sim_session_new(broker_instance *instance, const char *account_id,
                                     sim_token token, broker_session **out)
{
    broker_session *session = calloc(1, sizeof *session);
    if (session == NULL)
        return BROKER_INTERNAL;
    session->token = token;
    pthread_mutex_lock(&instance->lock);
    session->account =
        sim_book_account(&instance->book, account_id, instance->config.initial_holdings,
                         instance->config.initial_count);
    if (session->account != SIM_MAP_NONE) {
        session->next = instance->sessions;
        if (instance->sessions != NULL)
            instance->sessions->prev = session;
        instance->sessions = session;
    }
    sim_persist(instance);
    pthread_mutex_unlock(&instance->lock);
    if (session->account == SIM_MAP_NONE) {
        free(session);
        return BROKER_INTERNAL;
    }
    *out = session;
    return BROKER_OK;
}

broker_status sim_open_session(broker_instance *instance, const broker_credentials *credentials,
                               broker_session **session, broker_text *account_id,
                               broker_text *error)
{
    broker_text scratch;
    error = error ? error : &scratch;
    error->text[0] = '\0';
    if (instance == NULL || credentials == NULL || session == NULL) {
        snprintf(error->text, sizeof error->text, "missing instance, credentials or session");
        return BROKER_INVALID;
    }
    *session = NULL;
    const sim_profile *profile = instance->profile;
    const char *key = sim_credential(credentials, &profile->key);
    const char *token = sim_credential(credentials, &profile->token);
    if (key == NULL)
        return sim_missing(profile, &profile->key, error);
    if (token == NULL)
        return sim_missing(profile, &profile->token, error);
    const char *identity = sim_credential(credentials, &profile->identity);
    char account[BROKER_ACCOUNT_ID_MAX];
    snprintf(account, sizeof account, "%s", identity ? identity : key);
    if (sim_session_new(instance, account, sim_classify_token(token), session) != BROKER_OK) {
        snprintf(error->text, sizeof error->text, "out of memory opening a session");
        snprintf(sim_thread_error, sizeof sim_thread_error, "%s", error->text);
        return BROKER_INTERNAL;
    }
    if (account_id != NULL)
        snprintf(account_id->text, sizeof account_id->text, "%s", account);
    return BROKER_OK;
}

void sim_close_session(broker_instance *instance, broker_session *session)
{
    if (instance == NULL || session == NULL)
        return;
    pthread_mutex_lock(&instance->lock);
    if (session->prev != NULL)
        session->prev->next = session->next;
    else
        instance->sessions = session->next;
    if (session->next != NULL)
        session->next->prev = session->prev;
    pthread_mutex_unlock(&instance->lock);
    free(session);
}

broker_status sim_authenticate(broker_instance *instance, broker_session *session)
{
    if (sim_bad_call(instance, session))
        return BROKER_INVALID;
    const sim_wording *wording = &instance->profile->wording;
    broker_status status = BROKER_OK;
    sim_enter(instance, session);
    if (sim_roll(instance, instance->config.transient_failure_rate))
        status = sim_fail(session, BROKER_TRANSIENT, wording->network, NULL);
    else if (session->token == SIM_TOKEN_INVALID)
        status = sim_fail(session, BROKER_AUTH, wording->token_invalid, NULL);
    else if (session->token == SIM_TOKEN_EXPIRED)
        status = sim_fail(session, BROKER_AUTH, wording->token_expired, NULL);
    else
        session->logged_in = true;
    if (status == BROKER_OK)
        session->expired = false;
    sim_leave(instance);
    return status;
}

const char *sim_errmsg(broker_instance *instance, broker_session *session)
{
    (void)instance;
    return session ? session->error : sim_thread_error;
}

/* ---- holdings and quotes ------------------------------------------------ */

broker_status sim_get_holdings(broker_instance *instance, broker_session *session,
                               broker_holding_fn emit, void *context)
{
    if (sim_bad_call(instance, session) || emit == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK) {
        sim_account *account = sim_book_account_at(&instance->book, session->account);
        sim_book_settle_pending(&instance->book, account);
        for (size_t i = 0; i < account->holding_count; i++) {
            const sim_holding *holding = &account->holdings[i];
            if (holding->quantity != 0 && emit(context, holding->symbol, holding->quantity) != 0)
                break;
        }
    }
    sim_leave(instance);
    return status;
}

/* BROKER_OK when the broker lists `symbol`, else REJECTED in its wording. */
static broker_status sim_check_symbol(broker_instance *instance, broker_session *session,
                                      const char *symbol)
{
    char instrument[SIM_INSTRUMENT_MAX];
    if (!sim_symbol_valid(symbol)) {
        snprintf(instrument, sizeof instrument, "%.32s", symbol);
        return sim_fail(session, BROKER_REJECTED, instance->profile->wording.invalid_symbol,
                        instrument);
    }
    if (!sim_config_is_unlisted(&instance->config, symbol))
        return BROKER_OK;
    sim_instrument(instance->profile, symbol, instrument);
    return sim_fail(session, BROKER_REJECTED, instance->profile->wording.invalid_symbol,
                    instrument);
}

broker_status sim_get_quote(broker_instance *instance, broker_session *session, const char *symbol,
                            double *last_price)
{
    if (sim_bad_call(instance, session) || symbol == NULL || last_price == NULL)
        return BROKER_INVALID;
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK)
        status = sim_check_symbol(instance, session, symbol);
    if (status == BROKER_OK)
        *last_price = sim_price(symbol);
    sim_leave(instance);
    return status;
}

/* ---- orders ------------------------------------------------------------- */

/* Fills `out` with what the broker says of order `sequence`. */
static void sim_describe(const broker_instance *instance, uint32_t sequence, broker_order *out)
{
    const sim_order *order = sim_book_order(&instance->book, sequence);
    const sim_wording *wording = &instance->profile->wording;
    const char *symbol = sim_book_order_symbol(&instance->book, order);
    memset(out, 0, sizeof *out);
    sim_order_id(instance->profile, sequence, out->order_id);
    /* Same-sized, NUL-terminated arrays: plain copies (this runs per order read). */
    memcpy(out->client_order_id, order->client_order_id, sizeof out->client_order_id);
    memcpy(out->symbol, symbol, sizeof out->symbol);
    out->side = (broker_side)order->side;
    out->state = (broker_order_state)order->state;
    out->quantity = order->quantity;
    bool filled = out->state == BROKER_ORDER_FILLED || out->state == BROKER_ORDER_PARTIALLY_FILLED;
    out->filled_quantity = filled ? order->filled : 0;
    out->average_price = out->filled_quantity > 0 ? sim_price(symbol) : 0.0;
    char subject[SIM_INSTRUMENT_MAX];
    if (out->state == BROKER_ORDER_REJECTED || out->state == BROKER_ORDER_CANCELLED) {
        sim_instrument(instance->profile, symbol, subject);
        sim_compose(out->message,
                    out->state == BROKER_ORDER_REJECTED ? wording->rms_rejected
                                                        : wording->cancelled,
                    subject);
    } else if (out->state == BROKER_ORDER_PARTIALLY_FILLED) {
        snprintf(subject, sizeof subject, "%" PRId64 " of %" PRId64 " filled", order->filled,
                 order->quantity);
        sim_compose(out->message, wording->remainder_cancelled, subject);
    }
}

/* Validates a placement; BROKER_OK or REJECTED/UNKNOWN with the wording. */
static broker_status sim_check_request(broker_instance *instance, broker_session *session,
                                       const broker_order_request *request)
{
    const sim_profile *profile = instance->profile;
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    char instrument[SIM_INSTRUMENT_MAX];
    if (request->quantity <= 0 || request->quantity > SIM_QUANTITY_MAX ||
        (request->side != BROKER_SIDE_BUY && request->side != BROKER_SIDE_SELL))
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_quantity, NULL);
    if (memchr(request->symbol, '\0', sizeof request->symbol) == NULL)
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_symbol, NULL);
    broker_status status = sim_check_symbol(instance, session, request->symbol);
    if (status != BROKER_OK)
        return status;
    if (memchr(request->client_order_id, '\0', sizeof request->client_order_id) == NULL ||
        ((request->client_order_id[0] != '\0' || profile->plugin->capabilities.tag_min_length) &&
         !sim_tag_valid(profile, request->client_order_id)))
        return sim_fail(session, BROKER_REJECTED, profile->wording.invalid_tag, NULL);
    if (profile->wording.duplicate_tag != NULL && request->client_order_id[0] != '\0' &&
        sim_book_find_client(account, request->client_order_id) != SIM_MAP_NONE)
        return sim_fail(session, BROKER_UNKNOWN, profile->wording.duplicate_tag, NULL);
    if (request->side == BROKER_SIDE_SELL &&
        sim_book_available(account, request->symbol) < request->quantity) {
        sim_instrument(profile, request->symbol, instrument);
        return sim_fail(session, BROKER_REJECTED, profile->wording.insufficient_holdings,
                        instrument);
    }
    return BROKER_OK;
}

/* Draws the terminal outcome of an accepted order of `quantity`. */
static broker_order_state sim_decide(broker_instance *instance, int64_t quantity, int64_t *filled)
{
    *filled = 0;
    if (sim_roll(instance, instance->config.reject_rate))
        return BROKER_ORDER_REJECTED;
    if (quantity >= 2 && sim_roll(instance, instance->config.partial_fill_rate)) {
        *filled = 1 + (int64_t)sim_draw(instance, (uint64_t)quantity - 1);
        return BROKER_ORDER_PARTIALLY_FILLED;
    }
    *filled = quantity;
    return BROKER_ORDER_FILLED;
}

/* Everything place_order does under the lock once the gate passed. */
static broker_status sim_place_locked(broker_instance *instance, broker_session *session,
                                      const broker_order_request *request, broker_order *order)
{
    sim_account *account = sim_book_account_at(&instance->book, session->account);
    if (!sim_book_admit(&instance->book, account, instance->services->monotonic_ms(instance->host)))
        return sim_fail(session, BROKER_TRANSIENT, instance->profile->wording.rate_limited, NULL);
    broker_status status = sim_check_request(instance, session, request);
    if (status != BROKER_OK)
        return status;
    int64_t filled = 0;
    broker_order_state outcome = sim_decide(instance, request->quantity, &filled);
    uint32_t sequence =
        sim_book_record(&instance->book, session->account, request, outcome, filled);
    if (sequence == SIM_MAP_NONE)
        return sim_fail(session, BROKER_INTERNAL, "out of memory recording the order", NULL);
    if (sim_roll(instance, instance->config.unknown_outcome_rate))
        return sim_fail(session, BROKER_UNKNOWN, instance->profile->wording.reply_lost, NULL);
    sim_describe(instance, sequence, order);
    return BROKER_OK;
}

broker_status sim_place_order(broker_instance *instance, broker_session *session,
                              const broker_order_request *request, broker_order *order)
{
    if (sim_bad_call(instance, session) || request == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK)
        status = sim_place_locked(instance, session, request, order);
    sim_leave(instance);
    return status;
}

/* The sequence number of the account's order `order_id`, or SIM_MAP_NONE. */
static uint32_t sim_lookup(const broker_instance *instance, const broker_session *session,
                           const char *order_id)
{
    uint32_t sequence = 0;
    if (!sim_parse_order_id(instance->profile, order_id, &sequence))
        return SIM_MAP_NONE;
    const sim_order *order = sim_book_order(&instance->book, sequence);
    if (order == NULL || order->account != session->account)
        return SIM_MAP_NONE;
    return sequence;
}

/* Settles order `sequence` (its first read) and describes it. */
static broker_status sim_read(broker_instance *instance, broker_session *session, uint32_t sequence,
                              const char *subject, broker_order *order)
{
    if (sequence == SIM_MAP_NONE) {
        char shown[BROKER_ORDER_ID_MAX];
        snprintf(shown, sizeof shown, "%.40s", subject);
        return sim_fail(session, BROKER_NOT_FOUND, instance->profile->wording.order_not_found,
                        shown);
    }
    sim_book_settle(&instance->book, sim_book_order(&instance->book, sequence));
    sim_describe(instance, sequence, order);
    return BROKER_OK;
}

broker_status sim_get_order(broker_instance *instance, broker_session *session,
                            const char *order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK)
        status =
            sim_read(instance, session, sim_lookup(instance, session, order_id), order_id, order);
    sim_leave(instance);
    return status;
}

broker_status sim_find_order(broker_instance *instance, broker_session *session,
                             const char *client_order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || client_order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    if (status == BROKER_OK) {
        sim_account *account = sim_book_account_at(&instance->book, session->account);
        uint32_t sequence = client_order_id[0] != '\0'
                                ? sim_book_find_client(account, client_order_id)
                                : SIM_MAP_NONE;
        status = sim_read(instance, session, sequence, client_order_id, order);
    }
    sim_leave(instance);
    return status;
}

broker_status sim_cancel_order(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order *order)
{
    if (sim_bad_call(instance, session) || order_id == NULL || order == NULL)
        return BROKER_INVALID;
    memset(order, 0, sizeof *order);
    sim_enter(instance, session);
    broker_status status = sim_gate(instance, session);
    uint32_t sequence =
        status == BROKER_OK ? sim_lookup(instance, session, order_id) : SIM_MAP_NONE;
    if (status == BROKER_OK && sequence == SIM_MAP_NONE)
        status = sim_read(instance, session, sequence, order_id, order);
    if (status == BROKER_OK) {
        bool cancelled =
            sim_book_cancel(&instance->book, sim_book_order(&instance->book, sequence));
        sim_describe(instance, sequence, order);
        if (!cancelled)
            status = sim_fail(session, BROKER_REJECTED, instance->profile->wording.not_cancellable,
                              order_id);
    }
    sim_leave(instance);
    return status;
}
