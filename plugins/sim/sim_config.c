#include "sim_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_format.h"

#define SIM_DEFAULT_HOLDINGS "RELIANCE:10,TCS:5,INFY:8"

const char *const sim_config_keys[] = {
    "mode",
    "seed",
    "initial_holdings",
    "transient_failure_rate",
    "unknown_outcome_rate",
    "reject_rate",
    "partial_fill_rate",
    "auth_expiry_rate",
    "latency_ms",
    "rate_limit_per_second",
    "rate_limit_per_minute",
    "read_rate_limit_per_second",
    "read_rate_limit_per_minute",
    "rate_limit_log",
    "unknown_symbols",
    "state_file",
    "order_history",
    "unlisted_symbols",
    "market_hours",
    "amo",
    "clock",
    "initial_cash",
    "fill_latency_ms",
    "liquidity",
    "slippage_bps",
    "spread_bps",
    "volatility_bps",
    "price_step_ms",
    "session_expiry",
    "rate_limits",
    "settlement",
    NULL,
};

static broker_status sim_config_fail(broker_text *error, const char *key, const char *value,
                                     const char *reason)
{
    snprintf(error->text, sizeof error->text, "%s: '%.48s' %s", key, value, reason);
    return BROKER_CONFIG;
}

/* Copies `text[0..length)` without surrounding blanks into `out`. */
static void sim_trim_copy(const char *text, size_t length, char *out, size_t out_size)
{
    while (length > 0 && isspace((unsigned char)text[0])) {
        text++;
        length--;
    }
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        length--;
    size_t n = length < out_size - 1 ? length : out_size - 1;
    memcpy(out, text, n);
    out[n] = '\0';
}

static broker_status sim_config_rate(const broker_host_services *services, broker_host *host,
                                     const char *key, double *rate, broker_text *error)
{
    const char *value = services->config_get(host, key);
    *rate = 0.0;
    if (value == NULL)
        return BROKER_OK;
    char *end = NULL;
    errno = 0;
    double parsed = strtod(value, &end);
    while (end != NULL && isspace((unsigned char)*end))
        end++;
    if (end == value || end == NULL || *end != '\0' || errno != 0 || !isfinite(parsed) ||
        parsed < 0.0 || parsed > 1.0)
        return sim_config_fail(error, key, value, "is not a probability between 0 and 1");
    *rate = parsed;
    return BROKER_OK;
}

/* Parses a whole decimal number in [0, maximum] from trimmed text. */
static bool sim_parse_count(const char *text, long long maximum, long long *out)
{
    if (*text == '\0')
        return false;
    long long value = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        value = value * 10 + (*p - '0');
        if (value > maximum)
            return false;
    }
    *out = value;
    return true;
}

static broker_status sim_config_uint(const broker_host_services *services, broker_host *host,
                                     const char *key, uint32_t maximum, uint32_t *out,
                                     broker_text *error)
{
    const char *value = services->config_get(host, key);
    if (value == NULL)
        return BROKER_OK;
    char trimmed[32];
    sim_trim_copy(value, strlen(value), trimmed, sizeof trimmed);
    long long parsed = 0;
    if (strlen(value) >= sizeof trimmed || !sim_parse_count(trimmed, maximum, &parsed)) {
        char reason[64];
        snprintf(reason, sizeof reason, "is not an integer between 0 and %u", (unsigned)maximum);
        return sim_config_fail(error, key, value, reason);
    }
    *out = (uint32_t)parsed;
    return BROKER_OK;
}

/* Calls item(config, text, error) for every non-blank comma-separated item
 * of `value`, the value of `key`. */
typedef broker_status (*sim_item_fn)(sim_config *config, const char *item, broker_text *error);

static broker_status sim_config_each(sim_config *config, const char *key, const char *value,
                                     sim_item_fn item, broker_text *error)
{
    const char *start = value;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t length = comma ? (size_t)(comma - start) : strlen(start);
        char text[96];
        sim_trim_copy(start, length, text, sizeof text);
        if (length >= sizeof text)
            return sim_config_fail(error, key, text, "is too long");
        if (text[0] != '\0') {
            broker_status status = item(config, text, error);
            if (status != BROKER_OK)
                return status;
        }
        if (comma == NULL)
            return BROKER_OK;
        start = comma + 1;
    }
}

static broker_status sim_holding_item(sim_config *config, const char *item, broker_text *error)
{
    const char *colon = strchr(item, ':');
    char symbol[64], count[48];
    long long quantity = 0;
    if (colon == NULL)
        return sim_config_fail(error, "initial_holdings", item, "is not SYMBOL:QUANTITY");
    sim_trim_copy(item, (size_t)(colon - item), symbol, sizeof symbol);
    sim_trim_copy(colon + 1, strlen(colon + 1), count, sizeof count);
    sim_symbol_normalize(symbol);
    if (!sim_symbol_valid(symbol))
        return sim_config_fail(error, "initial_holdings", item, "has an invalid symbol");
    if (!sim_parse_count(count, SIM_QUANTITY_MAX, &quantity))
        return sim_config_fail(error, "initial_holdings", item,
                               "needs a whole quantity between 0 and 1000000000");
    if (sim_map_find(&config->initial_index, symbol) != SIM_MAP_NONE)
        return sim_config_fail(error, "initial_holdings", item, "names a symbol twice");
    if (config->initial_count == config->initial_capacity) {
        size_t capacity = config->initial_capacity ? config->initial_capacity * 2 : 8;
        sim_position *grown = realloc(config->initial_holdings, capacity * sizeof *grown);
        if (grown == NULL)
            return BROKER_INTERNAL;
        config->initial_holdings = grown;
        config->initial_capacity = capacity;
    }
    sim_position *grown = config->initial_holdings;
    sim_position *position = &grown[config->initial_count++];
    snprintf(position->symbol, sizeof position->symbol, "%.32s", symbol);
    position->quantity = quantity;
    if (sim_map_put(&config->initial_index, position->symbol,
                    (uint32_t)(config->initial_count - 1)) != 0)
        return BROKER_INTERNAL;
    return BROKER_OK;
}

static const char *sim_initial_key(const void *context, uint32_t value)
{
    const sim_config *config = context;
    return config->initial_holdings[value].symbol;
}

static const char *sim_unknown_key(const void *context, uint32_t value)
{
    const sim_config *config = context;
    return config->unknown_symbols[value];
}

static broker_status sim_unknown_item(sim_config *config, const char *item, broker_text *error)
{
    char symbol[64];
    snprintf(symbol, sizeof symbol, "%s", item);
    sim_symbol_normalize(symbol);
    if (!sim_symbol_valid(symbol))
        return sim_config_fail(error, "unknown_symbols", item, "is not a valid symbol");
    if (sim_map_find(&config->unknown_index, symbol) != SIM_MAP_NONE)
        return BROKER_OK;
    void *grown = realloc(config->unknown_symbols, (config->unknown_count + 1) * BROKER_SYMBOL_MAX);
    if (grown == NULL)
        return BROKER_INTERNAL;
    config->unknown_symbols = grown;
    uint32_t index = (uint32_t)config->unknown_count++;
    snprintf(config->unknown_symbols[index], BROKER_SYMBOL_MAX, "%.32s", symbol);
    if (sim_map_put(&config->unknown_index, symbol, index) != 0)
        return BROKER_INTERNAL;
    return BROKER_OK;
}

static broker_status sim_config_mode(const char *mode, broker_text *error)
{
    if (mode == NULL || strcmp(mode, "simulated") == 0)
        return BROKER_OK;
    if (strcmp(mode, "live") == 0) {
        snprintf(error->text, sizeof error->text, "mode = live is not available in this build");
        return BROKER_CONFIG;
    }
    return sim_config_fail(error, "mode", mode, "is not simulated or live");
}

static broker_status sim_config_rates(sim_config *config, const broker_host_services *services,
                                      broker_host *host, broker_text *error)
{
    struct {
        const char *key;
        double *rate;
    } rates[] = {
        {"transient_failure_rate", &config->transient_failure_rate},
        {"unknown_outcome_rate", &config->unknown_outcome_rate},
        {"reject_rate", &config->reject_rate},
        {"partial_fill_rate", &config->partial_fill_rate},
        {"auth_expiry_rate", &config->auth_expiry_rate},
    };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        broker_status status = sim_config_rate(services, host, rates[i].key, rates[i].rate, error);
        if (status != BROKER_OK)
            return status;
    }
    return BROKER_OK;
}

/* The per-minute and read limit keys; each SIM_LIMIT_UNSET when absent. */
static broker_status sim_config_limits(sim_config *config, const broker_host_services *services,
                                       broker_host *host, broker_text *error)
{
    struct {
        const char *key;
        uint32_t maximum;
        uint32_t *field;
    } limits[] = {
        {"rate_limit_per_minute", SIM_RATE_LIMIT_MINUTE_MAX, &config->rate_limit_per_minute},
        {"read_rate_limit_per_second", SIM_RATE_LIMIT_MAX, &config->read_rate_limit_per_second},
        {"read_rate_limit_per_minute", SIM_RATE_LIMIT_MINUTE_MAX,
         &config->read_rate_limit_per_minute},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        *limits[i].field = SIM_LIMIT_UNSET;
        broker_status status = sim_config_uint(services, host, limits[i].key, limits[i].maximum,
                                               limits[i].field, error);
        if (status != BROKER_OK)
            return status;
    }
    return BROKER_OK;
}

broker_status sim_config_load(sim_config *config, const broker_host_services *services,
                              broker_host *host, uint32_t default_rate_limit, broker_text *error)
{
    memset(config, 0, sizeof *config);
    sim_map_init(&config->unknown_index, sim_unknown_key, config);
    sim_map_init(&config->initial_index, sim_initial_key, config);
    config->rate_limit_per_second = default_rate_limit;
    config->order_history = SIM_ORDER_HISTORY_DEFAULT;
    broker_status status = sim_config_mode(services->config_get(host, "mode"), error);
    if (status == BROKER_OK)
        status = sim_config_rates(config, services, host, error);
    if (status == BROKER_OK)
        status = sim_config_uint(services, host, "latency_ms", SIM_LATENCY_MAX_MS,
                                 &config->latency_ms, error);
    if (status == BROKER_OK)
        status = sim_config_uint(services, host, "rate_limit_per_second", SIM_RATE_LIMIT_MAX,
                                 &config->rate_limit_per_second, error);
    if (status == BROKER_OK)
        status = sim_config_limits(config, services, host, error);
    if (status == BROKER_OK)
        status = sim_config_uint(services, host, "order_history", SIM_ORDER_HISTORY_MAX,
                                 &config->order_history, error);
    const char *holdings = services->config_get(host, "initial_holdings");
    if (status == BROKER_OK)
        status =
            sim_config_each(config, "initial_holdings", holdings ? holdings : SIM_DEFAULT_HOLDINGS,
                            sim_holding_item, error);
    const char *unknown = services->config_get(host, "unknown_symbols");
    if (status == BROKER_OK && unknown != NULL)
        status = sim_config_each(config, "unknown_symbols", unknown, sim_unknown_item, error);
    if (status == BROKER_OK)
        status = sim_config_market(config, services, host, error);
    const char *state_file = services->config_get(host, "state_file");
    config->state_file = state_file != NULL && *state_file != '\0' ? state_file : NULL;
    const char *rate_limit_log = services->config_get(host, "rate_limit_log");
    config->rate_limit_log =
        rate_limit_log != NULL && *rate_limit_log != '\0' ? rate_limit_log : NULL;
    if (status == BROKER_INTERNAL)
        snprintf(error->text, sizeof error->text, "out of memory reading the configuration");
    return status;
}

/* Parses "HH:MM" into minutes after midnight; -1 when malformed. */
static int sim_parse_minute(const char *text, size_t length)
{
    int hour = 0, minute = 0, used = 0;
    char copy[8];
    if (length != 5)
        return -1;
    memcpy(copy, text, 5);
    copy[5] = '\0';
    if (sscanf(copy, "%2d:%2d%n", &hour, &minute, &used) != 2 || used != 5 || hour > 23 ||
        minute > 59)
        return -1;
    return hour * 60 + minute;
}

/* market_hours = always | nse | HH:MM-HH:MM (weekends and NSE holidays closed). */
static broker_status sim_config_hours(sim_config *config, const char *value, broker_text *error)
{
    sim_hours *hours = &config->hours;
    hours->always = value == NULL || strcmp(value, "always") == 0;
    if (hours->always)
        return BROKER_OK;
    hours->weekends_closed = true;
    hours->holidays = sim_market_nse_holidays();
    hours->holiday_count = sim_nse_holiday_count;
    const char *range = strcmp(value, "nse") == 0 ? "09:15-15:30" : value;
    const char *dash = strchr(range, '-');
    hours->open_minute = dash ? sim_parse_minute(range, (size_t)(dash - range)) : -1;
    hours->close_minute = dash ? sim_parse_minute(dash + 1, strlen(dash + 1)) : -1;
    if (hours->open_minute < 0 || hours->close_minute <= hours->open_minute)
        return sim_config_fail(error, "market_hours", value,
                               "is not always, nse or HH:MM-HH:MM (IST)");
    hours->pre_open_minute = hours->open_minute >= 15 ? hours->open_minute - 15 : 0;
    return BROKER_OK;
}

/* clock = 2026-12-01T10:00:00+05:30 (the exchange's time at start) or
 * +SECONDS / -SECONDS (an offset from the host's clock). */
static broker_status sim_config_clock(sim_config *config, const char *value, broker_text *error)
{
    if (value == NULL)
        return BROKER_OK;
    if (value[0] == '+' || value[0] == '-') {
        long long seconds = 0;
        if (!sim_parse_count(value + 1, 100LL * 365 * 86400, &seconds))
            return sim_config_fail(error, "clock", value, "is not a time or an offset");
        config->clock_offset_ms = (value[0] == '-' ? -1 : 1) * seconds * 1000;
        return BROKER_OK;
    }
    if (!sim_market_parse_time(value, &config->clock_start_ms))
        return sim_config_fail(error, "clock", value,
                               "is not a time like 2026-12-01T10:00:00+05:30 or an offset "
                               "like +3600");
    config->clock_set = true;
    return BROKER_OK;
}

/* A choice key: `value` must be one of `a` (false) or `b` (true). */
static broker_status sim_config_switch(const char *key, const char *value, const char *a,
                                       const char *b, bool *out, broker_text *error)
{
    if (value == NULL)
        return BROKER_OK;
    if (strcmp(value, a) == 0 || strcmp(value, b) == 0) {
        *out = strcmp(value, b) == 0;
        return BROKER_OK;
    }
    char reason[64];
    snprintf(reason, sizeof reason, "is not %s or %s", a, b);
    return sim_config_fail(error, key, value, reason);
}

static broker_status sim_config_money(const char *value, double *out, broker_text *error)
{
    char *end = NULL;
    errno = 0;
    double parsed = value ? strtod(value, &end) : 0.0;
    if (value == NULL)
        return BROKER_OK;
    if (end == value || *end != '\0' || errno != 0 || !isfinite(parsed) || parsed < 0.0 ||
        parsed > 1e15)
        return sim_config_fail(error, "initial_cash", value, "is not an amount of rupees");
    *out = parsed;
    return BROKER_OK;
}

broker_status sim_config_market(sim_config *config, const broker_host_services *services,
                                broker_host *host, broker_text *error)
{
    const char *cash = services->config_get(host, "initial_cash");
    const char *expiry = services->config_get(host, "session_expiry");
    uint32_t liquidity = 0;
    config->session_expiry_minute = -1;
    config->cash_limited = cash != NULL;
    config->prices.step_ms = 1000;
    broker_status status =
        sim_config_switch("unlisted_symbols", services->config_get(host, "unlisted_symbols"),
                          "accept", "reject", &config->reject_unlisted, error);
    if (status == BROKER_OK)
        status = sim_config_hours(config, services->config_get(host, "market_hours"), error);
    if (status == BROKER_OK)
        status = sim_config_switch("amo", services->config_get(host, "amo"), "off", "on",
                                   &config->amo, error);
    if (status == BROKER_OK)
        status = sim_config_switch("rate_limits", services->config_get(host, "rate_limits"),
                                   "orders", "broker", &config->broker_rate_limits, error);
    if (status == BROKER_OK)
        status = sim_config_switch("settlement", services->config_get(host, "settlement"),
                                   "instant", "t1", &config->settle_t1, error);
    if (status == BROKER_OK)
        status = sim_config_clock(config, services->config_get(host, "clock"), error);
    if (status == BROKER_OK)
        status = sim_config_money(cash, &config->initial_cash, error);
    struct {
        const char *key;
        uint32_t maximum;
        uint32_t *field;
    } numbers[] = {
        {"fill_latency_ms", SIM_LATENCY_MAX_MS, &config->fill_latency_ms},
        {"liquidity", 1000000000u, &liquidity},
        {"slippage_bps", 10000, &config->slippage_bps},
        {"spread_bps", 10000, &config->prices.spread_bps},
        {"volatility_bps", 10000, &config->prices.volatility_bps},
        {"price_step_ms", 3600000, &config->prices.step_ms},
    };
    for (size_t i = 0; status == BROKER_OK && i < sizeof numbers / sizeof numbers[0]; i++)
        status = sim_config_uint(services, host, numbers[i].key, numbers[i].maximum,
                                 numbers[i].field, error);
    config->liquidity = liquidity;
    if (status == BROKER_OK && config->prices.step_ms == 0)
        status = sim_config_fail(error, "price_step_ms", "0", "must be at least 1");
    if (status == BROKER_OK && expiry != NULL &&
        (config->session_expiry_minute = sim_parse_minute(expiry, strlen(expiry))) < 0)
        status = sim_config_fail(error, "session_expiry", expiry, "is not HH:MM (IST)");
    return status;
}

void sim_config_free(sim_config *config)
{
    free(config->initial_holdings);
    free(config->unknown_symbols);
    sim_map_free(&config->unknown_index);
    sim_map_free(&config->initial_index);
    config->initial_holdings = NULL;
    config->unknown_symbols = NULL;
    config->initial_count = 0;
    config->initial_capacity = 0;
    config->unknown_count = 0;
}

bool sim_config_is_unlisted(const sim_config *config, const char *symbol)
{
    return sim_map_find(&config->unknown_index, symbol) != SIM_MAP_NONE;
}
