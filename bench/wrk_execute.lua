-- wrk script for POST /execute (bench/http_bench.sh). Argument: the mode.
--   notrade  20-symbol portfolio equal to what a new account holds: no legs
--   trade    20-symbol portfolio that trades 20 legs on a new account
--   mixed    trade bodies mixed with bad ones (400, 415, 422), for the soak
-- Each wrk thread cycles through its own 64 accounts (api_key), so requests
-- rarely wait for each other's account lock; in trade mode the portfolio
-- flips between two targets every round, so every request trades 20 legs.
-- done() prints the count of 5xx and other codes.
local threads = {}
local mode = "trade"
local counter = 0
local prefix = ""

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

function init(args)
    mode = args[1] or "trade"
    prefix = string.format("w%d-%d", id, math.random(1, 1000000000))
    s2xx, s4xx, s5xx, sother = 0, 0, 0, 0
end

local function portfolio(trade)
    local parts = {}
    local held = {RELIANCE = 10, TCS = 5, INFY = 8}
    local symbols = {"RELIANCE", "TCS", "INFY"}
    for i = 1, 17 do symbols[#symbols + 1] = "SYM" .. i end
    for _, symbol in ipairs(symbols) do
        local quantity = held[symbol] or 0
        if trade then quantity = held[symbol] and quantity - 1 or 3 end
        parts[#parts + 1] = string.format('{"symbol":"%s","target_quantity":%d}', symbol, quantity)
    end
    return "[" .. table.concat(parts, ",") .. "]"
end

local trade_targets = portfolio(true)
local notrade_targets = portfolio(false)
local json = {["Content-Type"] = "application/json"}

function request()
    counter = counter + 1
    local key = prefix .. "-" .. (counter % 64)
    local targets = notrade_targets
    if mode ~= "notrade" and math.floor(counter / 64) % 2 == 0 then targets = trade_targets end
    local body = string.format(
        '{"broker":"zerodha","credentials":{"api_key":"%s","access_token":"t"},"target_portfolio":%s}',
        key, targets)
    if mode == "mixed" then
        local pick = counter % 5
        if pick == 1 then
            body = '{"broker":"zerodha","credentials":'
        elseif pick == 2 then
            body = string.gsub(body, '"target_quantity":3', '"target_quantity":"3"', 1)
        elseif pick == 3 then
            return wrk.format("POST", "/execute", {["Content-Type"] = "text/plain"}, body)
        end
    end
    return wrk.format("POST", "/execute", json, body)
end

function response(status, headers, body)
    if status >= 500 then s5xx = s5xx + 1
    elseif status >= 400 then s4xx = s4xx + 1
    elseif status >= 200 and status < 300 then s2xx = s2xx + 1
    else sother = sother + 1 end
end

function done(summary, latency, requests)
    local t = {s2xx = 0, s4xx = 0, s5xx = 0, sother = 0}
    for _, thread in ipairs(threads) do
        for k in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
    end
    io.write(string.format("codes: 2xx=%d 4xx=%d 5xx=%d other=%d\n", t.s2xx, t.s4xx, t.s5xx, t.sother))
    io.write(string.format("latency: p50=%.2fms p99=%.2fms\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
    io.write(string.format("errors: connect=%d read=%d write=%d timeout=%d status=%d\n",
        summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.timeout, summary.errors.status))
end
