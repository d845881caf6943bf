/* The simulated-mode keys of one [broker.NAME] section (design §2.3). */
#ifndef PTEXEC_SIM_CONFIG_H
#define PTEXEC_SIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "sim_map.h"
#include "sim_market.h"

#define SIM_RATE_LIMIT_MAX 100000u
#define SIM_RATE_LIMIT_MINUTE_MAX 6000000u
#define SIM_LIMIT_UNSET UINT32_MAX /* a per-minute or read limit key that is absent */
#define SIM_LATENCY_MAX_MS 60000u
#define SIM_QUANTITY_MAX 1000000000ll
#define SIM_ORDER_HISTORY_DEFAULT 1000u /* terminal orders kept per account */
#define SIM_ORDER_HISTORY_MAX 100000000u

typedef struct sim_position {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
} sim_position;

typedef struct sim_config {
    double transient_failure_rate;
    double unknown_outcome_rate;
    double reject_rate;
    double partial_fill_rate;
    double auth_expiry_rate;
    uint32_t latency_ms;
    uint32_t rate_limit_per_second; /* 0 = unlimited */
    /* Overrides of what the broker meters besides orders per second (the
     * host reads the same keys); SIM_LIMIT_UNSET when absent: the profile's
     * limit with rate_limits = broker, else none. */
    uint32_t rate_limit_per_minute;
    uint32_t read_rate_limit_per_second;
    uint32_t read_rate_limit_per_minute;
    /* rate_limit_log: where each call refused for the broker's own rate
     * limits is appended as a line (NULL: nowhere). Borrowed like state_file. */
    const char *rate_limit_log;
    uint32_t order_history;         /* terminal orders kept per account; 0 = all */
    sim_position *initial_holdings; /* in the order the key lists them */
    size_t initial_count;
    size_t initial_capacity;
    sim_map initial_index; /* symbol → index in initial_holdings */
    /* state_file: where holdings and the order book persist across restarts
     * (NULL: in memory only). Borrowed from the host's configuration. */
    const char *state_file;
    char (*unknown_symbols)[BROKER_SYMBOL_MAX];
    size_t unknown_count;
    sim_map unknown_index;
    /* The market (all off by default: today's instant, unlimited exchange). */
    bool reject_unlisted;    /* unlisted_symbols = reject */
    sim_hours hours;         /* market_hours: always (default), nse, HH:MM-HH:MM */
    bool amo;                /* amo = on: orders outside hours wait for the open */
    bool settle_t1;          /* settlement = t1: today's buys settle over two trading days */
    bool clock_set;          /* clock: the exchange's time at create */
    int64_t clock_start_ms;  /* ... as ms since the epoch */
    int64_t clock_offset_ms; /* clock = +SECONDS / -SECONDS */
    bool cash_limited;       /* initial_cash given */
    double initial_cash;
    uint32_t fill_latency_ms; /* one slice of an order fills per this many ms; 0: at first read */
    int64_t liquidity;        /* shares per slice; 0: the whole order */
    uint32_t slippage_bps;
    sim_prices prices;         /* volatility_bps, spread_bps, the seed */
    int session_expiry_minute; /* session_expiry = HH:MM IST; -1: tokens never expire */
    bool broker_rate_limits;   /* rate_limits = broker: reads and per-minute metered too */
} sim_config;

/*
 * Reads every simulated-mode key through services->config_get into *config,
 * which the caller releases with sim_config_free (also after a failure).
 * Absent keys take their defaults; rate_limit_per_second defaults to
 * `default_rate_limit`. Returns BROKER_CONFIG with "KEY: reason" in `error`
 * for a malformed value or mode = live, BROKER_INTERNAL when memory runs out.
 */
broker_status sim_config_load(sim_config *config, const broker_host_services *services,
                              broker_host *host, uint32_t default_rate_limit, broker_text *error);

/* The market keys (part of sim_config_load): BROKER_OK or BROKER_CONFIG
 * naming the key. */
broker_status sim_config_market(sim_config *config, const broker_host_services *services,
                                broker_host *host, broker_text *error);

/* Releases what sim_config_load allocated; safe on a zeroed struct. */
void sim_config_free(sim_config *config);

/* True when `symbol` is listed in unknown_symbols. */
bool sim_config_is_unlisted(const sim_config *config, const char *symbol);

#endif
