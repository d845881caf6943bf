/* Upstox API v2 (+v3 orders) — simulated mode. Facts from
 * ../shared/reference/broker-apis.md §4: instrument keys NSE_EQ|<ISIN> (here
 * a deterministic fake ISIN), 15-digit order ids like 240101000123456,
 * UDAPI error codes (UDAPI10005 too many requests, UDAPI100050 invalid
 * token), 10 orders/s. The tag length is unconfirmed; 20 is assumed. The real
 * API needs the api_key (client_id) for login and the access_token; user_id,
 * when given, is the account identity. */
#include "sim.h"

static broker_status upstox_create(const broker_host_services *services, broker_host *host,
                                   broker_instance **instance, broker_text *error);

static const broker_plugin upstox_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "upstox",
    .version = "0.1.0",
    .description = "Upstox API v2/v3 (simulated exchange)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS | BROKER_CAP_CONCURRENT_SESSIONS |
                              BROKER_CAP_PARALLEL_SESSION_CALLS,
                     .tag_min_length = 1,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 10},
    .create = upstox_create,
    SIM_PLUGIN_OPERATIONS,
};

static const sim_profile upstox_profile = {
    .plugin = &upstox_plugin,
    .key = {{"api_key", "client_id", NULL}},
    .token = {{"access_token", NULL}},
    .identity = {{"user_id", NULL}},
    .instrument_prefix = "NSE_EQ|",
    .instrument_suffix = "",
    .instrument_isin = true,
    .tag_max_hyphens = -1,
    .order_id_prefix = "240101",
    .order_id_length = 15,
    .wording =
        {
            .network = "UDAPI100500 Something went wrong, please try again",
            .rate_limited = "UDAPI10005 Too many requests",
            .reply_lost = "UDAPI100500 unexpected error after the order was sent; the order "
                          "may exist",
            .token_invalid = "UDAPI100050 Invalid token used to access API",
            .token_expired = "UDAPI100050 Invalid token used to access API (token expired)",
            .not_logged_in = "UDAPI100050 Invalid token used to access API (not logged in)",
            .invalid_symbol = "UDAPI100036 Invalid input: instrument_token",
            .invalid_quantity = "UDAPI100036 Invalid input: quantity",
            .invalid_tag = "UDAPI100036 Invalid input: tag",
            .insufficient_holdings = "RMS: insufficient holdings for the sell order",
            .rms_rejected = "RMS: margin exceeds, order rejected",
            .remainder_cancelled = "partially executed; remaining quantity cancelled",
            .cancelled = "cancelled by user",
            .not_cancellable = "order is complete, rejected or cancelled and cannot be cancelled",
            .order_not_found = "UDAPI100036 Invalid input: order_id not found",
            .duplicate_tag = NULL,
            .insufficient_funds = "UDAPI100013 Insufficient funds: order rejected by RMS",
            .market_closed =
                "UDAPI100500 market is closed; set is_amo to place an after market order",
            .invalid_price = "UDAPI1055 Invalid input: price",
            .not_tradable = "UDAPI100036 Invalid input: instrument not tradable",
            .order_expired = "remaining quantity expired",
            .state_names = {"open", "complete", "cancelled", "rejected", "cancelled"},
        },
    /* orders 10/s 500/min; other APIs 50/s 500/min. */
    .limits = {.orders_per_minute = 500, .reads_per_second = 50, .reads_per_minute = 500},
    .brokerage = {.flat = 20.0, .percent = 2.5, .minimum = 0.0},
};

static broker_status upstox_create(const broker_host_services *services, broker_host *host,
                                   broker_instance **instance, broker_text *error)
{
    return sim_create(&upstox_profile, services, host, instance, error);
}

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR || descriptor == NULL)
        return BROKER_UNSUPPORTED;
    *descriptor = &upstox_plugin;
    return BROKER_OK;
}
