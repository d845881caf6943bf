/* Zerodha Kite Connect v3 — simulated mode. Facts from
 * ../shared/reference/broker-apis.md §1: tag ≤ 20 alphanumeric, 15-digit
 * numeric order ids, plain NSE trading symbols, error_type-prefixed messages,
 * 10 orders/s. The real API needs api_key and access_token; user_id, when
 * given, is the account identity. */
#include "sim.h"

static broker_status zerodha_create(const broker_host_services *services, broker_host *host,
                                    broker_instance **instance, broker_text *error);

static const broker_plugin zerodha_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "zerodha",
    .version = "0.1.0",
    .description = "Zerodha Kite Connect v3 (simulated exchange)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS | BROKER_CAP_CONCURRENT_SESSIONS |
                              BROKER_CAP_PARALLEL_SESSION_CALLS | BROKER_CAP_TAG_ALNUM_ONLY,
                     .tag_min_length = 1,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 10},
    .create = zerodha_create,
    SIM_PLUGIN_OPERATIONS,
};

static const sim_profile zerodha_profile = {
    .plugin = &zerodha_plugin,
    .key = {{"api_key", NULL}},
    .token = {{"access_token", NULL}},
    .identity = {{"user_id", NULL}},
    .instrument_prefix = "",
    .instrument_suffix = "",
    .tag_max_hyphens = 0,
    .order_id_prefix = "151220",
    .order_id_length = 15,
    .wording =
        {
            .network = "NetworkException: couldn't connect to the OMS, try again",
            .rate_limited = "NetworkException: Too many requests (HTTP 429)",
            .reply_lost = "GeneralException: gateway timed out (HTTP 504) after the order was "
                          "sent",
            .token_invalid = "TokenException: Incorrect `api_key` or `access_token`.",
            .token_expired = "TokenException: session expired, log in again",
            .not_logged_in = "TokenException: not logged in",
            .invalid_symbol = "InputException: invalid tradingsymbol",
            .invalid_quantity = "InputException: invalid quantity",
            .invalid_tag = "InputException: tag must be alphanumeric and at most 20 characters",
            .insufficient_holdings = "HoldingException: insufficient holdings",
            .rms_rejected = "RMS:Margin Exceeds, order rejected by risk management",
            .remainder_cancelled = "partially executed; remaining quantity cancelled",
            .cancelled = "Cancelled by user",
            .not_cancellable = "OrderException: order is complete, rejected or cancelled and "
                               "cannot be cancelled",
            .order_not_found = "InputException: couldn't find that order_id",
            .duplicate_tag = NULL,
            .insufficient_funds =
                "MarginException: Insufficient funds. Required margin exceeds available margin",
            .market_closed = "InputException: Markets are closed right now. Use GTT for placing "
                             "long standing orders instead",
            .invalid_price = "InputException: invalid price",
            .not_tradable = "InputException: instrument is not tradable (expired or suspended)",
            .order_expired = "remaining quantity expired at the end of the day",
            .state_names = {"OPEN", "COMPLETE", "CANCELLED", "REJECTED", "CANCELLED"},
        },
    /* Delivery brokerage is zero; reads 10/s, orders 400/min. */
    .limits = {.orders_per_minute = 400, .reads_per_second = 10, .reads_per_minute = 0},
    .brokerage = {.flat = 0.0, .percent = 0.0, .minimum = 0.0},
};

static broker_status zerodha_create(const broker_host_services *services, broker_host *host,
                                    broker_instance **instance, broker_text *error)
{
    return sim_create(&zerodha_profile, services, host, instance, error);
}

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR || descriptor == NULL)
        return BROKER_UNSUPPORTED;
    *descriptor = &zerodha_plugin;
    return BROKER_OK;
}
