#include "sim_market.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_map.h"

#define SIM_STT_DELIVERY 0.001
#define SIM_STT_INTRADAY_SELL 0.00025
#define SIM_EXCHANGE_FEE 0.0000297
#define SIM_SEBI_FEE 0.000001
#define SIM_STAMP_DELIVERY 0.00015
#define SIM_STAMP_INTRADAY 0.00003
#define SIM_GST 0.18
#define SIM_WALK_CATCH_UP 256 /* more steps than this are taken as one */

/* ---- instruments ---- */

static const sim_instrument_facts sim_instruments[] = {
#define X(symbol, exchange, price, lot, tick, freeze, band, tradable)                              \
    {#symbol, BROKER_EXCHANGE_##exchange, price, lot, tick, freeze, band, tradable},
#include "sim_instruments.def"
#undef X
};

#define SIM_INSTRUMENT_COUNT (sizeof sim_instruments / sizeof sim_instruments[0])

/* The table's symbols sorted, for bsearch; built once (the table is const). */
static const sim_instrument_facts *sim_sorted[SIM_INSTRUMENT_COUNT];

static int sim_compare_facts(const void *a, const void *b)
{
    const sim_instrument_facts *const *x = a, *const *y = b;
    return strcmp((*x)->symbol, (*y)->symbol);
}

static void sim_sort_once(void)
{
    for (size_t i = 0; i < SIM_INSTRUMENT_COUNT; i++)
        sim_sorted[i] = &sim_instruments[i];
    qsort(sim_sorted, SIM_INSTRUMENT_COUNT, sizeof sim_sorted[0], sim_compare_facts);
}

static pthread_once_t sim_sort_guard = PTHREAD_ONCE_INIT;

static int sim_compare_key(const void *key, const void *element)
{
    const sim_instrument_facts *const *facts = element;
    return strcmp(key, (*facts)->symbol);
}

const sim_instrument_facts *sim_market_instrument(const char *symbol)
{
    pthread_once(&sim_sort_guard, sim_sort_once);
    const sim_instrument_facts *const *found =
        bsearch(symbol, sim_sorted, SIM_INSTRUMENT_COUNT, sizeof sim_sorted[0], sim_compare_key);
    return found ? *found : NULL;
}

size_t sim_market_instrument_count(void)
{
    return SIM_INSTRUMENT_COUNT;
}

const sim_instrument_facts *sim_market_instrument_at(size_t index)
{
    return index < SIM_INSTRUMENT_COUNT ? &sim_instruments[index] : NULL;
}

double sim_market_round(double price, double tick)
{
    return round(price / tick) * tick;
}

bool sim_market_on_tick(double price, double tick)
{
    double ticks = price / tick;
    return fabs(ticks - round(ticks)) < 1e-6;
}

void sim_market_band(const sim_instrument_facts *facts, double *lower, double *upper)
{
    *lower = *upper = 0.0;
    if (facts->band_percent <= 0.0)
        return;
    double width = facts->reference_price * facts->band_percent / 100.0;
    *lower = ceil((facts->reference_price - width) / facts->tick_size - 1e-9) * facts->tick_size;
    *upper = floor((facts->reference_price + width) / facts->tick_size + 1e-9) * facts->tick_size;
}

/* ---- calendar ---- */

/* Days since the epoch of a civil date (Howard Hinnant's algorithm). */
static int32_t sim_days_from_civil(int year, int month, int day)
{
    year -= month <= 2;
    int era = (year >= 0 ? year : year - 399) / 400;
    int year_of_era = year - era * 400;
    int day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* NSE trading holidays (weekdays only), as published; turned into day
 * numbers at first use. */
static const int sim_nse_holiday_dates[][3] = {
    /* 2025 */
    {2025, 2, 26},
    {2025, 3, 14},
    {2025, 3, 31},
    {2025, 4, 10},
    {2025, 4, 14},
    {2025, 4, 18},
    {2025, 5, 1},
    {2025, 8, 15},
    {2025, 8, 27},
    {2025, 10, 2},
    {2025, 10, 21},
    {2025, 10, 22},
    {2025, 11, 5},
    {2025, 12, 25},
    /* 2026 (15 January, municipal elections in Maharashtra, was declared
     * after the calendar) */
    {2026, 1, 15},
    {2026, 1, 26},
    {2026, 3, 3},
    {2026, 3, 26},
    {2026, 3, 31},
    {2026, 4, 3},
    {2026, 4, 14},
    {2026, 5, 1},
    {2026, 5, 28},
    {2026, 6, 26},
    {2026, 9, 14},
    {2026, 10, 2},
    {2026, 10, 20},
    {2026, 11, 10},
    {2026, 11, 24},
    {2026, 12, 25}};

#define SIM_NSE_HOLIDAYS (sizeof sim_nse_holiday_dates / sizeof sim_nse_holiday_dates[0])

static int32_t sim_nse_holiday_days[SIM_NSE_HOLIDAYS];
const size_t sim_nse_holiday_count = SIM_NSE_HOLIDAYS;
static pthread_once_t sim_holiday_guard = PTHREAD_ONCE_INIT;

static void sim_holidays_once(void)
{
    for (size_t i = 0; i < SIM_NSE_HOLIDAYS; i++)
        sim_nse_holiday_days[i] = sim_days_from_civil(
            sim_nse_holiday_dates[i][0], sim_nse_holiday_dates[i][1], sim_nse_holiday_dates[i][2]);
}

const int32_t *sim_market_nse_holidays(void)
{
    pthread_once(&sim_holiday_guard, sim_holidays_once);
    return sim_nse_holiday_days;
}

int32_t sim_market_day(int64_t epoch_ms)
{
    int64_t local = epoch_ms + SIM_IST_OFFSET_MS;
    int64_t day = local / SIM_DAY_MS;
    if (local < 0 && local % SIM_DAY_MS != 0)
        day--;
    return (int32_t)day;
}

int32_t sim_market_parse_date(const char *text)
{
    int year = 0, month = 0, day = 0, used = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10 || month < 1 ||
        month > 12 || day < 1 || day > 31)
        return -1;
    int32_t days = sim_days_from_civil(year, month, day);
    int32_t next_month =
        month == 12 ? sim_days_from_civil(year + 1, 1, 1) : sim_days_from_civil(year, month + 1, 1);
    return days < next_month ? days : -1;
}

bool sim_market_parse_time(const char *text, int64_t *epoch_ms)
{
    int hour = 0, minute = 0, second = 0, used = 0;
    int32_t day = sim_market_parse_date(text);
    if (day < 0 || (text[10] != 'T' && text[10] != ' ') ||
        sscanf(text + 11, "%2d:%2d:%2d%n", &hour, &minute, &second, &used) != 3 || used != 8 ||
        hour > 23 || minute > 59 || second > 59)
        return false;
    const char *zone = text + 19;
    int64_t offset_ms = SIM_IST_OFFSET_MS;
    int zone_hours = 0, zone_minutes = 0, zone_used = 0;
    if (strcmp(zone, "Z") == 0)
        offset_ms = 0;
    else if ((zone[0] == '+' || zone[0] == '-') &&
             sscanf(zone + 1, "%2d:%2d%n", &zone_hours, &zone_minutes, &zone_used) == 2 &&
             zone_used == 5 && zone[6] == '\0')
        offset_ms = (zone[0] == '-' ? -1 : 1) * ((int64_t)zone_hours * 60 + zone_minutes) * 60000;
    else if (*zone != '\0')
        return false;
    *epoch_ms = (int64_t)day * SIM_DAY_MS + ((int64_t)hour * 3600 + minute * 60 + second) * 1000 -
                offset_ms;
    return true;
}

static bool sim_is_holiday(const sim_hours *hours, int32_t day)
{
    size_t low = 0, high = hours->holiday_count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (hours->holidays[middle] == day)
            return true;
        if (hours->holidays[middle] < day)
            low = middle + 1;
        else
            high = middle;
    }
    return false;
}

bool sim_market_trading_day(const sim_hours *hours, int32_t day)
{
    if (hours->always)
        return true;
    int weekday = (int)((day % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday: 0 = Sunday */
    if (hours->weekends_closed && (weekday == 0 || weekday == 6))
        return false;
    return !sim_is_holiday(hours, day);
}

/* ms since the epoch of minute `minute` of IST day `day`. */
static int64_t sim_at(int32_t day, int minute)
{
    return (int64_t)day * SIM_DAY_MS + (int64_t)minute * 60000 - SIM_IST_OFFSET_MS;
}

broker_market_state sim_market_state(const sim_hours *hours, int64_t now_ms, int64_t *next_open,
                                     int64_t *next_close)
{
    *next_open = now_ms;
    *next_close = 0;
    if (hours->always)
        return BROKER_MARKET_OPEN;
    int32_t today = sim_market_day(now_ms);
    int minute = (int)((now_ms - sim_at(today, 0)) / 60000);
    bool trading = sim_market_trading_day(hours, today);
    if (trading && minute >= hours->open_minute && minute < hours->close_minute) {
        *next_close = sim_at(today, hours->close_minute);
        return BROKER_MARKET_OPEN;
    }
    int32_t day = trading && minute < hours->open_minute ? today : today + 1;
    for (int guard = 0; guard < 400 && !sim_market_trading_day(hours, day); guard++)
        day++;
    *next_open = sim_at(day, hours->open_minute);
    *next_close = sim_at(day, hours->close_minute);
    if (trading && minute >= hours->pre_open_minute && minute < hours->open_minute)
        return BROKER_MARKET_PRE_OPEN;
    return BROKER_MARKET_CLOSED;
}

int32_t sim_market_trading_days_between(const sim_hours *hours, int32_t from_day, int32_t to_day)
{
    int32_t count = 0;
    for (int32_t day = from_day + 1; day <= to_day && count < 3; day++)
        count += sim_market_trading_day(hours, day);
    return count; /* callers only need 0, 1 or "2 or more" */
}

/* ---- prices ---- */

static uint64_t sim_mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A standard normal draw, a pure function of (seed, symbol, step). */
static double sim_normal(uint64_t seed, uint64_t symbol, int64_t step)
{
    uint64_t a = sim_mix64(seed ^ sim_mix64(symbol + (uint64_t)step * 0x9e3779b97f4a7c15ull));
    uint64_t b = sim_mix64(a + 0x632be59bd9b4e019ull);
    double u = ((double)(a >> 11) + 0.5) * 0x1.0p-53, v = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double sim_clamp(double price, double lower, double upper)
{
    if (upper > 0.0 && price > upper)
        return upper;
    if (lower > 0.0 && price < lower)
        return lower;
    return price;
}

/* Moves `walk` to step `target`. */
static void sim_walk_to(const sim_prices *prices, uint64_t symbol, double lower, double upper,
                        sim_walk *walk, int64_t target)
{
    double sigma = prices->volatility_bps / 10000.0;
    if (target - walk->step > SIM_WALK_CATCH_UP) {
        double z = sim_normal(prices->seed, symbol, -target);
        walk->price *= exp(sigma * sqrt((double)(target - walk->step)) * z);
        walk->step = target;
    }
    for (; walk->step < target; walk->step++)
        walk->price =
            sim_clamp(walk->price * exp(sigma * sim_normal(prices->seed, symbol, walk->step + 1)),
                      lower, upper);
    walk->price = sim_clamp(walk->price, lower, upper);
}

sim_quote sim_market_quote(const sim_prices *prices, const char *symbol, double reference,
                           double tick, double lower, double upper, sim_walk *walk, int64_t now_ms)
{
    int64_t step = prices->step_ms > 0 ? now_ms / prices->step_ms : 0;
    if (!walk->started) {
        walk->started = true;
        walk->price = reference;
        walk->step = step;
    }
    if (prices->volatility_bps > 0 && step > walk->step)
        sim_walk_to(prices, sim_hash(symbol), lower, upper, walk, step);
    sim_quote quote;
    quote.last = sim_market_round(walk->price, tick);
    double half = quote.last * prices->spread_bps / 20000.0;
    quote.bid = sim_clamp(floor((quote.last - half) / tick + 1e-9) * tick, lower, upper);
    quote.ask = sim_clamp(ceil((quote.last + half) / tick - 1e-9) * tick, lower, upper);
    return quote;
}

/* ---- charges ---- */

static double sim_paise(double rupees)
{
    return round(rupees * 100.0) / 100.0;
}

broker_charges sim_market_charges(const sim_brokerage *brokerage, double value, broker_side side,
                                  broker_product product)
{
    broker_charges charges;
    memset(&charges, 0, sizeof charges);
    bool delivery = product == BROKER_PRODUCT_DELIVERY;
    double fee = brokerage->flat;
    if (brokerage->percent > 0.0 && value * brokerage->percent / 100.0 < fee)
        fee = value * brokerage->percent / 100.0;
    if (fee < brokerage->minimum)
        fee = brokerage->minimum;
    charges.brokerage = sim_paise(fee);
    charges.stt = sim_paise(delivery                   ? value * SIM_STT_DELIVERY
                            : side == BROKER_SIDE_SELL ? value * SIM_STT_INTRADAY_SELL
                                                       : 0.0);
    charges.exchange_fee = sim_paise(value * SIM_EXCHANGE_FEE);
    charges.sebi_fee = sim_paise(value * SIM_SEBI_FEE);
    charges.stamp_duty =
        side == BROKER_SIDE_BUY
            ? sim_paise(value * (delivery ? SIM_STAMP_DELIVERY : SIM_STAMP_INTRADAY))
            : 0.0;
    charges.gst =
        sim_paise(SIM_GST * (charges.brokerage + charges.exchange_fee + charges.sebi_fee));
    charges.total = charges.brokerage + charges.stt + charges.exchange_fee + charges.sebi_fee +
                    charges.stamp_duty + charges.gst;
    return charges;
}

void sim_market_charges_add(broker_charges *total, const broker_charges *more)
{
    total->brokerage += more->brokerage;
    total->stt += more->stt;
    total->exchange_fee += more->exchange_fee;
    total->sebi_fee += more->sebi_fee;
    total->stamp_duty += more->stamp_duty;
    total->gst += more->gst;
    total->total += more->total;
}
