/*
 * plugins/sim: the simulated exchange shared by the five in-tree broker
 * plugins (simulated mode, design §2.3). It is compiled into each plugin; a
 * plugin file supplies a sim_profile — the facts of its broker — and wires its
 * descriptor to the generic sim_* callbacks below.
 *
 * Behaviour, the same for every profile:
 *
 *   Credentials. open_session needs a key field and a token field (each with
 *   the broker's native names as alternatives; "api_key" and "access_token"
 *   always suffice) and takes the account identity from the broker's client id
 *   field when given, else from the key. Credential values are never copied
 *   into messages or logs, and the token itself is not kept.
 *
 *   Tokens. authenticate succeeds for any non-empty access token, except that
 *   a token equal to or starting with "invalid" or "expired" fails with
 *   BROKER_AUTH in the broker's wording ("invalid token" / "token expired").
 *   Every other session call returns BROKER_AUTH until authenticate succeeds.
 *
 *   Accounts. Each account (per instance, keyed by its identity) starts with
 *   `initial_holdings`; its holdings live as long as the instance. Its order
 *   book keeps every open order and the last `order_history` (default 1000;
 *   0 = all) terminal ones; older terminal orders are forgotten (get_order and
 *   find_order answer NOT_FOUND for them), so memory stays bounded however
 *   many orders an account places.
 *
 *   Orders. An order's fate (FILLED, PARTIALLY_FILLED or REJECTED) is drawn
 *   when it is placed; place_order reports it OPEN, and the first get_order or
 *   find_order moves it to that terminal state and applies the filled quantity
 *   to the holdings. get_holdings settles every pending order of the account
 *   first, and cancel_order of a still-open order cancels it with nothing
 *   filled, so holdings always equal the initial ones plus the filled
 *   quantities the broker reports. A pending SELL reserves its quantity.
 *
 *   Faults, drawn from the host's seeded random source (same seed + same
 *   requests ⇒ same outcomes): transient_failure_rate (any call, before it
 *   reaches the broker, no state change), auth_expiry_rate (any session call
 *   but authenticate: the session's token expires), reject_rate,
 *   partial_fill_rate and unknown_outcome_rate (place_order: the order is
 *   recorded but the reply is lost). rate_limit_per_second counts placements
 *   per account in a rolling second (monotonic clock) and answers with the
 *   broker's "too many requests" wording as BROKER_TRANSIENT.
 *
 *   Rate limits. Besides placements per second, the instance meters per
 *   account, in fixed windows of the monotonic clock: orders (places and
 *   cancels) per minute, and reads (every session call but authenticate,
 *   place and cancel) per second and per minute — with rate_limits = broker
 *   at the profile's `limits`, otherwise not at all; rate_limit_per_minute,
 *   read_rate_limit_per_second and read_rate_limit_per_minute (the host's
 *   keys too) replace either. A refusal is TRANSIENT in the broker's wording
 *   with a retry-after hint. get_rate_limits (ABI 1.2) reports exactly what
 *   is metered, so the host paces at it. rate_limit_log = FILE appends one
 *   line "MONOTONIC_MS ACCOUNT LIMIT" per call refused for these limits
 *   (LIMIT: orders/s, orders/min, reads/s, reads/min) — never for injected
 *   faults — so tests and benchmarks can count the broker's own 429s.
 *
 * Threading: the instance state is behind one mutex (the plugins declare
 * BROKER_CAP_CONCURRENT_SESSIONS); latency_ms is slept outside it.
 * get_holdings calls `emit` with that mutex held, so `emit` must not call
 * back into the same instance. errmsg(instance, NULL) reads a thread-local
 * buffer that create and open_session failures also write.
 */
#ifndef PTEXEC_SIM_H
#define PTEXEC_SIM_H

#include <stdbool.h>

#include <ptexec/broker_plugin.h>

#include "sim_market.h"

/* Accepted names of one credential field, preferred first, NULL-terminated. */
typedef struct sim_credential_names {
    const char *names[5];
} sim_credential_names;

/*
 * The broker's wording of each outcome. Where a message has a subject (an
 * instrument, an order id), it is appended as " (SUBJECT)".
 */
typedef struct sim_wording {
    const char *network;               /* TRANSIENT: the call never reached the broker */
    const char *rate_limited;          /* TRANSIENT: HTTP 429, too many requests */
    const char *reply_lost;            /* UNKNOWN: the order was sent, the reply lost */
    const char *token_invalid;         /* AUTH: login refused */
    const char *token_expired;         /* AUTH: the session expired */
    const char *not_logged_in;         /* AUTH: a call before authenticate */
    const char *invalid_symbol;        /* REJECTED (instrument) */
    const char *invalid_quantity;      /* REJECTED */
    const char *invalid_tag;           /* REJECTED: client order id breaks the tag rules */
    const char *insufficient_holdings; /* REJECTED (instrument): SELL more than held */
    const char *rms_rejected;          /* message of an order rejected after acceptance */
    const char *remainder_cancelled;   /* message of a PARTIALLY_FILLED order */
    const char *cancelled;             /* message of an order cancelled on request */
    const char *not_cancellable;       /* REJECTED: cancel of a terminal order */
    const char *order_not_found;       /* NOT_FOUND (order id or tag) */
    const char *duplicate_tag;         /* UNKNOWN on a reused tag; NULL: duplicates accepted */
    /* The market (sim_market.h); subjects name the amounts, sizes or times. */
    const char *insufficient_funds; /* REJECTED: (required ₹X, available ₹Y) */
    const char *market_closed;      /* REJECTED outside hours: (opens …) */
    const char *invalid_price;      /* REJECTED: off the tick or outside the band */
    const char *not_tradable;       /* REJECTED: listed but not tradable */
    const char *order_expired;      /* message of an order whose remainder expired */
    /* The broker's words for OPEN, FILLED, (unused), REJECTED, CANCELLED. */
    const char *state_names[5];
} sim_wording;

/* The broker's metered limits besides orders per second (rate_limits =
 * broker; each replaced by rate_limit_per_minute, read_rate_limit_per_second
 * or read_rate_limit_per_minute when the section sets it); 0 = not
 * metered. */
typedef struct sim_limits {
    uint32_t orders_per_minute;
    uint32_t reads_per_second;
    uint32_t reads_per_minute;
} sim_limits;

typedef struct sim_profile {
    /* Name, version, description and capabilities (tag rules, rate limit). */
    const broker_plugin *plugin;

    sim_credential_names key;      /* e.g. {"api_key"} */
    sim_credential_names token;    /* e.g. {"access_token"} */
    sim_credential_names identity; /* client id fields; the account id when present */

    /* Instrument = prefix + (isin ? a deterministic fake ISIN : symbol) + suffix. */
    const char *instrument_prefix;
    const char *instrument_suffix;
    bool instrument_isin;

    /* Tags: at most this many '-' besides [A-Za-z0-9] (ignored with
     * BROKER_CAP_TAG_ALNUM_ONLY); any printable character when negative. */
    int tag_max_hyphens;

    /* Order ids: numeric = prefix + zero-padded sequence, `order_id_length`
     * digits in all; alphanumeric = prefix + 16 upper-case letters/digits. */
    const char *order_id_prefix;
    unsigned order_id_length;
    bool order_id_alphanumeric;

    sim_wording wording;
    sim_limits limits;
    sim_brokerage brokerage; /* delivery brokerage per executed order */
} sim_profile;

/* The brokers.ini keys the simulated exchange reads, NULL-terminated. */
extern const char *const sim_config_keys[];

/*
 * Creates an instance of `profile`'s simulated broker from the section's
 * keys. Fails with BROKER_CONFIG naming the key for a malformed value or for
 * mode = live, BROKER_INTERNAL when memory runs out. Main thread.
 */
broker_status sim_create(const sim_profile *profile, const broker_host_services *services,
                         broker_host *host, broker_instance **instance, broker_text *error);

/* The remaining callbacks implement the descriptor fields of the same name
 * (see <ptexec/broker_plugin.h> for their contracts). */
void sim_destroy(broker_instance *instance);
broker_status sim_open_session(broker_instance *instance, const broker_credentials *credentials,
                               broker_session **session, broker_text *account_id,
                               broker_text *error);
void sim_close_session(broker_instance *instance, broker_session *session);
broker_status sim_authenticate(broker_instance *instance, broker_session *session);
broker_status sim_get_holdings(broker_instance *instance, broker_session *session,
                               broker_holding_fn emit, void *context);
broker_status sim_place_order(broker_instance *instance, broker_session *session,
                              const broker_order_request *request, broker_order *order);
broker_status sim_get_order(broker_instance *instance, broker_session *session,
                            const char *order_id, broker_order *order);
broker_status sim_find_order(broker_instance *instance, broker_session *session,
                             const char *client_order_id, broker_order *order);
broker_status sim_cancel_order(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order *order);
broker_status sim_get_quote(broker_instance *instance, broker_session *session, const char *symbol,
                            double *last_price);
const char *sim_errmsg(broker_instance *instance, broker_session *session);
broker_status sim_place_order_ex(broker_instance *instance, broker_session *session,
                                 const broker_order_params *params, broker_order_detail *detail);
broker_status sim_get_order_ex(broker_instance *instance, broker_session *session,
                               const char *order_id, broker_order_detail *detail);
broker_status sim_get_positions(broker_instance *instance, broker_session *session,
                                broker_position_fn emit, void *context);
broker_status sim_get_open_orders(broker_instance *instance, broker_session *session,
                                  broker_open_order_fn emit, void *context);
broker_status sim_get_funds(broker_instance *instance, broker_session *session,
                            broker_funds *funds);
broker_status sim_get_instrument(broker_instance *instance, broker_session *session,
                                 const char *symbol, broker_instrument *instrument);
broker_status sim_get_market_session(broker_instance *instance, broker_session *session,
                                     broker_exchange exchange, broker_market_session *market);
uint32_t sim_retry_after_ms(broker_instance *instance, broker_session *session);
broker_status sim_get_rate_limits(broker_instance *instance, broker_rate_limits *limits);

/* Descriptor fields shared by every simulated plugin (all but `create`). */
#define SIM_PLUGIN_OPERATIONS                                                                      \
    .config_keys = sim_config_keys, .destroy = sim_destroy, .open_session = sim_open_session,      \
    .close_session = sim_close_session, .authenticate = sim_authenticate,                          \
    .get_holdings = sim_get_holdings, .place_order = sim_place_order, .get_order = sim_get_order,  \
    .find_order = sim_find_order, .cancel_order = sim_cancel_order, .get_quote = sim_get_quote,    \
    .errmsg = sim_errmsg, .place_order_ex = sim_place_order_ex, .get_order_ex = sim_get_order_ex,  \
    .get_positions = sim_get_positions, .get_open_orders = sim_get_open_orders,                    \
    .get_funds = sim_get_funds, .get_instrument = sim_get_instrument,                              \
    .get_market_session = sim_get_market_session, .retry_after_ms = sim_retry_after_ms,            \
    .get_rate_limits = sim_get_rate_limits

#endif
