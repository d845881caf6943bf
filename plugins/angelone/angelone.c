/* Angel One SmartAPI — simulated mode. Facts from
 * ../shared/reference/broker-apis.md §3: ordertag shorter than 20 characters
 * (AB4008 otherwise), numeric order ids, SYMBOL-EQ trading symbols, AB/AG
 * error codes (AB1004 retry later, AB1009 symbol not found, AG8001/AG8002
 * token), a non-JSON "exceeding access rate" reply to rate-limit breaches,
 * placeOrder 20/s. The real API needs the api_key (X-PrivateKey) and the JWT
 * (jwt_token); client_code, when given, is the account identity. */
#include "sim.h"

static broker_status angelone_create(const broker_host_services *services, broker_host *host,
                                     broker_instance **instance, broker_text *error);

static const broker_plugin angelone_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "angelone",
    .version = "0.1.0",
    .description = "Angel One SmartAPI (simulated exchange)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS | BROKER_CAP_CONCURRENT_SESSIONS |
                              BROKER_CAP_PARALLEL_SESSION_CALLS,
                     .tag_min_length = 1,
                     .tag_max_length = 19,
                     .rate_limit_per_second = 20},
    .create = angelone_create,
    SIM_PLUGIN_OPERATIONS,
};

static const sim_profile angelone_profile = {
    .plugin = &angelone_plugin,
    .key = {{"api_key", NULL}},
    .token = {{"jwt_token", "access_token", NULL}},
    .identity = {{"client_code", "clientcode", NULL}},
    .instrument_prefix = "",
    .instrument_suffix = "-EQ",
    .tag_max_hyphens = -1,
    .order_id_prefix = "2501",
    .order_id_length = 15,
    .wording =
        {
            .network = "AB1004 Something went wrong, please try after some time",
            .rate_limited = "Access denied because of exceeding access rate",
            .reply_lost = "AB2000 internal error after placeOrder was sent; the order may exist",
            .token_invalid = "AG8001 Invalid Token",
            .token_expired = "AG8002 Token expired",
            .not_logged_in = "AB1011 Client not logged in",
            .invalid_symbol = "AB1009 Symbol not found",
            .invalid_quantity = "Invalid quantity",
            .invalid_tag = "AB4008 ordertag length should be less than 20 characters",
            .insufficient_holdings = "RMS:Rule: insufficient holdings to sell",
            .rms_rejected = "RMS:Rule: margin exceeds, order rejected",
            .remainder_cancelled = "partially executed; remaining quantity cancelled",
            .cancelled = "Cancelled by user",
            .not_cancellable = "Order is complete, rejected or cancelled; cannot cancel",
            .order_not_found = "AB1013 Order not found",
            .duplicate_tag = NULL,
            .insufficient_funds = "RMS:Rule: Check circuit limit including square off order "
                                  "exceeds : margin insufficient",
            .market_closed = "RMS:Rule: market is closed; use variety AMO",
            .invalid_price =
                "AB1008 Invalid price: price out of range or not a multiple of the tick size",
            .not_tradable = "AB1009 Symbol not tradable",
            .order_expired = "remaining quantity expired",
            .state_names = {"open", "complete", "cancelled", "rejected", "cancelled"},
        },
    /* placeOrder 20/s 500/min; order details 10/s 500/min. */
    .limits = {.orders_per_minute = 500, .reads_per_second = 10, .reads_per_minute = 500},
    .brokerage = {.flat = 20.0, .percent = 0.1, .minimum = 2.0},
};

static broker_status angelone_create(const broker_host_services *services, broker_host *host,
                                     broker_instance **instance, broker_text *error)
{
    return sim_create(&angelone_profile, services, host, instance, error);
}

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR || descriptor == NULL)
        return BROKER_UNSUPPORTED;
    *descriptor = &angelone_plugin;
    return BROKER_OK;
}
