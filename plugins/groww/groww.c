/* Groww Trading API — simulated mode. Facts from
 * ../shared/reference/broker-apis.md §5: order_reference_id of 8–20
 * characters, alphanumeric with at most two hyphens, and a duplicate is
 * refused with GA007 (so the host looks the order up); order ids like
 * GMK39038RDT490CCVRO; plain trading symbols; GA00x error codes. Rate limits
 * are unpublished: the regulatory 10 orders/s is assumed. The real API needs
 * the access_token (and the api_key for the key + secret flow); user_id, when
 * given, is the account identity. */
#include "sim.h"

static broker_status groww_create(const broker_host_services *services, broker_host *host,
                                  broker_instance **instance, broker_text *error);

static const broker_plugin groww_plugin = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_plugin),
    .name = "groww",
    .version = "0.1.0",
    .description = "Groww Trading API (simulated exchange)",
    .capabilities = {.flags = BROKER_CAP_PARTIAL_FILLS | BROKER_CAP_CONCURRENT_SESSIONS |
                              BROKER_CAP_PARALLEL_SESSION_CALLS,
                     .tag_min_length = 8,
                     .tag_max_length = 20,
                     .rate_limit_per_second = 10},
    .create = groww_create,
    SIM_PLUGIN_OPERATIONS,
};

static const sim_profile groww_profile = {
    .plugin = &groww_plugin,
    .key = {{"api_key", NULL}},
    .token = {{"access_token", NULL}},
    .identity = {{"user_id", NULL}},
    .instrument_prefix = "",
    .instrument_suffix = "",
    .tag_max_hyphens = 2,
    .order_id_prefix = "GMK",
    .order_id_alphanumeric = true,
    .wording =
        {
            .network = "GA003 Unable to serve the request currently, try again",
            .rate_limited = "GA003 Too many requests (HTTP 429)",
            .reply_lost = "GA000 Internal error after the order was sent; the order may exist",
            .token_invalid = "GA005 Not authorised: invalid access token",
            .token_expired = "GA005 Not authorised: access token expired",
            .not_logged_in = "GA005 Not authorised: not logged in",
            .invalid_symbol = "GA001 Bad request: invalid trading_symbol",
            .invalid_quantity = "GA001 Bad request: invalid quantity",
            .invalid_tag = "GA001 Bad request: order_reference_id must be 8-20 characters, "
                           "alphanumeric with at most two hyphens",
            .insufficient_holdings = "GA006 Cannot process: insufficient holdings",
            .rms_rejected = "Rejected by RMS: insufficient margin",
            .remainder_cancelled = "partially executed; remaining quantity cancelled",
            .cancelled = "Cancelled by user",
            .not_cancellable = "GA006 Cannot process: order is not open",
            .order_not_found = "GA004 Order not found",
            .duplicate_tag = "GA007 duplicate order reference id",
            .insufficient_funds = "GA006 Cannot process: insufficient funds",
            .market_closed = "GA006 Cannot process: market is closed",
            .invalid_price = "GA001 Bad request: invalid price",
            .not_tradable = "GA006 Cannot process: instrument not tradable",
            .order_expired = "remaining quantity expired",
            .state_names = {"OPEN", "EXECUTED", "CANCELLED", "REJECTED", "CANCELLED"},
        },
    /* No published figures: the regulatory 10/s for orders and reads. */
    .limits = {.orders_per_minute = 0, .reads_per_second = 10, .reads_per_minute = 0},
    .brokerage = {.flat = 20.0, .percent = 0.1, .minimum = 5.0},
};

static broker_status groww_create(const broker_host_services *services, broker_host *host,
                                  broker_instance **instance, broker_text *error)
{
    return sim_create(&groww_profile, services, host, instance, error);
}

BROKER_PLUGIN_ENTRY(services, descriptor)
{
    if (services == NULL || services->abi_major != BROKER_ABI_MAJOR || descriptor == NULL)
        return BROKER_UNSUPPORTED;
    *descriptor = &groww_plugin;
    return BROKER_OK;
}
