/* Fyers API v3 — simulated mode. Facts from ../shared/reference/broker-apis.md
 * §2: orderTag 1–30 alphanumeric, 12-digit numeric order ids, NSE:SYMBOL-EQ
 * instruments, negative error codes (-300 invalid symbol, -429 rate limit,
 * -8 token expired), 10 orders/s. The real API needs the app id (client_id in
 * the login flow) and access_token; fy_id, when given, is the identity. */
#include "sim.h"

static broker_status fyers_create(const broker_host_services *services, broker_host *host,
                                  broker_instance **instance, broker_text *error);

static const broker_plugin fyers_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "fyers",
    .version = "0.1.0",
    .description = "Fyers API v3 (simulated exchange)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS | BROKER_CAP_CONCURRENT_SESSIONS |
                              BROKER_CAP_PARALLEL_SESSION_CALLS | BROKER_CAP_TAG_ALNUM_ONLY,
                     .tag_min_length = 1,
                     .tag_max_length = 30,
                     .rate_limit_per_second = 10},
    .create = fyers_create,
    SIM_PLUGIN_OPERATIONS,
};

static const sim_profile fyers_profile = {
    .plugin = &fyers_plugin,
    .key = {{"app_id", "client_id", "api_key", NULL}},
    .token = {{"access_token", NULL}},
    .identity = {{"fy_id", "user_id", NULL}},
    .instrument_prefix = "NSE:",
    .instrument_suffix = "-EQ",
    .tag_max_hyphens = 0,
    .order_id_prefix = "808",
    .order_id_length = 12,
    .wording =
        {
            .network = "-1: could not reach the Fyers API (HTTP 503), try again",
            .rate_limited = "-429: request limit reached (HTTP 429)",
            .reply_lost = "201: order request sent but not acknowledged; check the order book",
            .token_invalid = "-16: could not authenticate, invalid token",
            .token_expired = "-8: token expired",
            .not_logged_in = "-17: token invalid or expired, log in first",
            .invalid_symbol = "-300: invalid symbol",
            .invalid_quantity = "-50: invalid parameters: qty",
            .invalid_tag = "-50: invalid parameters: orderTag must be 1-30 alphanumeric "
                           "characters",
            .insufficient_holdings = "-99: order rejected: insufficient holdings",
            .rms_rejected = "-99: order rejected by RMS: insufficient funds",
            .remainder_cancelled = "partially traded; remaining quantity cancelled",
            .cancelled = "cancelled by user",
            .not_cancellable = "-99: order is in a final state and cannot be cancelled",
            .order_not_found = "-51: invalid order id",
            .duplicate_tag = NULL,
            .insufficient_funds = "-99: order rejected by RMS: insufficient funds",
            .market_closed = "-99: market is closed; place an AMO (offlineOrder) instead",
            .invalid_price = "-50: invalid parameters: limitPrice",
            .not_tradable = "-300: symbol is not tradable",
            .order_expired = "remaining quantity expired",
            .state_names = {"6", "2", "1", "5", "1"},
        },
    /* 10 requests/s and 200/min shared by every endpoint. */
    .limits = {.orders_per_minute = 200, .reads_per_second = 10, .reads_per_minute = 200},
    .brokerage = {.flat = 20.0, .percent = 0.3, .minimum = 0.0},
};

static broker_status fyers_create(const broker_host_services *services, broker_host *host,
                                  broker_instance **instance, broker_text *error)
{
    return sim_create(&fyers_profile, services, host, instance, error);
}

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR || descriptor == NULL)
        return BROKER_UNSUPPORTED;
    *descriptor = &fyers_plugin;
    return BROKER_OK;
}
