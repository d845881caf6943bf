#include "preflight.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "legs.h"
#include "retry.h"

/* "2026-12-02T03:45:00Z" for a time in ms since the epoch. */
static void format_time(int64_t ms, char *out, size_t size)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    if (ms <= 0 || gmtime_r(&seconds, &utc) == NULL)
        snprintf(out, size, "an unknown time");
    else
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

ptx_status preflight_session(session *s, exec_result *result, ptx_error *error)
{
    exec_preflight *verdict = &result->preflight;
    if (!s->features->get_market_session)
        return PTX_OK;
    broker_market_session market;
    memset(&market, 0, sizeof market);
    market.size = sizeof market;
    session_request ask = {.op = SESSION_MARKET, .market = &market};
    if (session_call(s, &ask) != BROKER_OK)
        return PTX_OK; /* the orders themselves will tell */
    int64_t now = market.now_ms > 0 ? market.now_ms : retry_wall_ms();
    verdict->checked = true;
    verdict->market = market.state;
    verdict->next_open_ms = market.next_open_ms;
    verdict->token_expires_ms = market.token_expires_ms;
    verdict->token_valid = market.token_expires_ms == 0 || market.token_expires_ms > now;
    legs_copy_text(verdict->reason, sizeof verdict->reason, market.reason);
    char when[32];
    if (!verdict->token_valid) {
        format_time(market.token_expires_ms, when, sizeof when);
        return ptx_fail(error, PTX_AUTH, "credentials",
                        "broker '%s': the access token expired at %s; log in again for a new one",
                        result->broker, when);
    }
    if (market.state == BROKER_MARKET_OPEN || market.amo_accepted)
        return PTX_OK;
    format_time(market.next_open_ms, when, sizeof when);
    return ptx_fail(error, PTX_MARKET_CLOSED, NULL,
                    "broker '%s': the market is %s%s%s; it opens next at %s; nothing was placed",
                    result->broker,
                    market.state == BROKER_MARKET_PRE_OPEN ? "in pre-open" : "closed",
                    market.reason[0] ? ": " : "", market.reason, when);
}

/* The broker's verdict on one leg's instrument; true when it may trade. */
static bool preflight_leg(session *s, instruments *cache, exec_leg *leg)
{
    broker_instrument instrument;
    if (!instruments_get(cache, s, leg->symbol, &instrument))
        return true; /* not a verdict: the order will tell */
    if (instrument.listed && instrument.tradable)
        return true;
    leg->status = LEG_REJECTED;
    const char *why = instrument.reason[0] ? instrument.reason
                      : instrument.listed  ? "not tradable now"
                                           : "unknown instrument";
    legs_reason(leg, "not placed: %s %s: %s", leg->symbol,
                instrument.listed ? "is not tradable" : "is not listed at the broker", why);
    return false;
}

void preflight_instruments(session *s, instruments *cache, exec_result *result)
{
    if (!s->features->get_instrument)
        return;
    for (size_t i = 0; i < result->leg_count; i++)
        preflight_leg(s, cache, &result->legs[i]);
}
