/*
 * The market behind the simulated exchange: the instrument table
 * (sim_instruments.def), the exchange's calendar and clock, prices, and the
 * Indian delivery/intraday charges. Pure functions of their inputs, except
 * sim_market_price, which advances a per-symbol random walk the caller keeps.
 */
#ifndef PTEXEC_SIM_MARKET_H
#define PTEXEC_SIM_MARKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#define SIM_IST_OFFSET_MS (19800ll * 1000) /* UTC+05:30, no daylight saving */
#define SIM_DAY_MS (86400ll * 1000)

typedef struct sim_instrument_facts {
    const char *symbol;
    broker_exchange exchange;
    double reference_price; /* previous close */
    int64_t lot_size;
    double tick_size;
    int64_t freeze_quantity; /* 0: none */
    double band_percent;     /* 0: no band */
    bool tradable;
} sim_instrument_facts;

/* The listed instrument `symbol`, or NULL. O(log n). */
const sim_instrument_facts *sim_market_instrument(const char *symbol);

/* Number of listed instruments, and the i-th in table order (tests). */
size_t sim_market_instrument_count(void);
const sim_instrument_facts *sim_market_instrument_at(size_t index);

/* Band of `facts` around its reference price (lower == upper == 0: none). */
void sim_market_band(const sim_instrument_facts *facts, double *lower, double *upper);

/* True when `price` is a whole multiple of `tick` (to 1e-6 of a tick). */
bool sim_market_on_tick(double price, double tick);

/* Rounds `price` to the nearest multiple of `tick` (tick > 0). */
double sim_market_round(double price, double tick);

/* ---- calendar ---- */

/* Trading hours of a day, minutes after midnight IST; open == close == 0
 * with `always`: the market never closes (the default). */
typedef struct sim_hours {
    bool always;
    int open_minute, close_minute; /* 09:15 = 555, 15:30 = 930 */
    int pre_open_minute;           /* 09:00 = 540: pre-open from here to open */
    bool weekends_closed;
    const int32_t *holidays; /* days since the epoch (IST dates), ascending */
    size_t holiday_count;
} sim_hours;

/* The NSE holidays built in (2025 and 2026), as ascending days since the
 * epoch; sim_nse_holiday_count of them. Any thread. */
const int32_t *sim_market_nse_holidays(void);
extern const size_t sim_nse_holiday_count;

/* Day number (days since 1970-01-01, IST) of `epoch_ms`. */
int32_t sim_market_day(int64_t epoch_ms);

/* Days since the epoch of YYYY-MM-DD; -1 for a malformed or impossible date. */
int32_t sim_market_parse_date(const char *text);

/* Parses "2026-12-01T10:00:00+05:30" (or Z / ±HH:MM / no offset = IST) into
 * ms since the epoch; false when malformed. */
bool sim_market_parse_time(const char *text, int64_t *epoch_ms);

/* True when day `day` is a trading day under `hours`. */
bool sim_market_trading_day(const sim_hours *hours, int32_t day);

/* The market's state at `now_ms`; next_open/next_close as in
 * broker_market_session (now_ms when always open; next_close 0 then). */
broker_market_state sim_market_state(const sim_hours *hours, int64_t now_ms, int64_t *next_open,
                                     int64_t *next_close);

/* Trading days strictly after `from_day` up to and including `to_day`. */
int32_t sim_market_trading_days_between(const sim_hours *hours, int32_t from_day, int32_t to_day);

/* ---- prices ---- */

typedef struct sim_walk {
    double price; /* last traded price */
    int64_t step; /* step number the price is at */
    bool started;
} sim_walk;

typedef struct sim_prices {
    uint64_t seed;
    uint32_t volatility_bps; /* standard deviation of one step, basis points; 0: static */
    uint32_t step_ms;        /* length of one step of the walk */
    uint32_t spread_bps;     /* ask − bid, basis points of the price */
} sim_prices;

typedef struct sim_quote {
    double last, bid, ask;
} sim_quote;

/* The quote of `symbol` at `now_ms`: `walk` (the caller's, zeroed at first)
 * moves forward to now and stays within the band; prices on the tick.
 * `reference` is the instrument's previous close. */
sim_quote sim_market_quote(const sim_prices *prices, const char *symbol, double reference,
                           double tick, double lower, double upper, sim_walk *walk, int64_t now_ms);

/* ---- charges ---- */

/* The broker's brokerage: min(flat, percent of the value), at least `minimum`
 * (all in rupees; percent 0: flat only). */
typedef struct sim_brokerage {
    double flat, percent, minimum;
} sim_brokerage;

/* Charges of one fill of `value` rupees (NSE equity, the published schedule:
 * STT 0.1% both sides for delivery, 0.025% on intraday sells; exchange
 * 0.00297%; SEBI ₹10/crore; stamp duty 0.015% (delivery) / 0.003% (intraday)
 * on buys; GST 18% on brokerage + exchange + SEBI). */
broker_charges sim_market_charges(const sim_brokerage *brokerage, double value, broker_side side,
                                  broker_product product);

/* Adds `more` to `total`, field by field. */
void sim_market_charges_add(broker_charges *total, const broker_charges *more);

#endif
