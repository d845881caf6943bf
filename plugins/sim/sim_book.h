/* The simulated exchange's books: accounts, their holdings, their orders and
 * their placement rate. Not thread-safe: sim.c holds the instance lock. */
#ifndef PTEXEC_SIM_BOOK_H
#define PTEXEC_SIM_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptexec/broker_plugin.h>

#include "sim_config.h"
#include "sim_map.h"
#include "sim_market.h"

/* `quantity` is what the account holds: settled + t1 + bought_today -
 * sold_today. The split is kept only under settlement = t1 (book->settle_t1);
 * otherwise everything is settled at once. */
typedef struct sim_holding {
    char symbol[BROKER_SYMBOL_MAX];
    int64_t quantity;
    int64_t reserved; /* quantity of SELL orders still open */
    int64_t t1;       /* bought on the last trading day, settles next */
    int64_t bought_today, sold_today;
    int32_t day; /* the trading day the split above is of (IST day number) */
} sim_holding;

typedef struct sim_order {
    char client_order_id[BROKER_CLIENT_ORDER_ID_MAX];
    uint32_t sequence; /* the order id's number */
    uint32_t account;
    uint32_t holding; /* index of the symbol in the account's holdings */
    uint8_t side;     /* broker_side */
    uint8_t state;    /* broker_order_state reported now: OPEN until settled */
    uint8_t outcome;  /* terminal broker_order_state decided at placement */
    int64_t quantity;
    int64_t filled; /* quantity filled in the decided outcome (timed: so far) */
    /* The market (sim_market.h). An untimed order fills at once at `average`
     * on its first read, as decided at placement; a timed one fills in
     * slices from start_ms on (sim.c) and expires at end_ms (0: never). */
    uint8_t timed;
    uint8_t product;    /* broker_product */
    uint8_t order_type; /* broker_order_type */
    uint8_t validity;   /* broker_validity */
    double limit_price;
    double average; /* average fill price (untimed: decided at placement) */
    double filled_value;
    double blocked; /* cash blocked for what is still open (BUY) */
    int64_t start_ms, end_ms;
    int64_t fill_cap; /* timed: the most it fills before the rest expires
                         (partial_fill_rate); 0: all of it */
} sim_order;

typedef struct sim_account {
    char id[BROKER_ACCOUNT_ID_MAX];
    sim_holding *holdings; /* in the order symbols first appeared */
    size_t holding_count, holding_capacity;
    sim_map holding_index; /* symbol → holdings index */
    sim_map client_index;  /* client order id → latest order with it */
    uint32_t *pending;     /* orders that may still be OPEN */
    size_t pending_count, pending_capacity;
    int64_t *recent; /* ring of the last placement times (rate limit) */
    uint32_t recent_next, recent_count;
    uint32_t *history; /* ring of the kept terminal orders, oldest at history_head */
    size_t history_head, history_count, history_capacity;
    bool funded;           /* cash set from initial_cash */
    double cash;           /* rupees; meaningful with sim_book.cash_limited */
    double blocked;        /* blocked by open BUY orders */
    double opening_cash;   /* initial_cash */
    int64_t windows[4][2]; /* rate windows (sim.c): start ms, count */
} sim_account;

/* One entry of the sequence number → order slot index. */
typedef struct sim_sequence_slot {
    uint32_t sequence_plus_one; /* 0 marks an empty entry */
    uint32_t slot;
} sim_sequence_slot;

typedef struct sim_book {
    sim_account **accounts;
    size_t account_count, account_capacity;
    sim_map account_index; /* account id → accounts index */
    sim_order **chunks;    /* order slots in fixed-size chunks; dropped orders' slots are reused */
    size_t chunk_capacity;
    uint32_t slot_count;  /* slots handed out so far */
    uint32_t *free_slots; /* slots of dropped orders; capacity always >= slot_count */
    size_t free_count, free_capacity;
    sim_sequence_slot *by_sequence; /* open addressing, a power of two in size */
    size_t sequence_capacity, sequence_count;
    uint32_t order_count;    /* sequence number of the next order (dropped ones count) */
    uint32_t order_history;  /* terminal orders kept per account; 0 = every order */
    uint32_t rate_limit;     /* placements per rolling second per account; 0 = none */
    bool dirty;              /* changed since the last sim_book_clean (persistence) */
    sim_brokerage brokerage; /* charges applied to cash when an order ends */
    bool settle_t1;          /* keep today's trades apart until they settle */
    int32_t today;           /* the exchange's trading day (set on every call) */
    const sim_hours *hours;  /* which days trade, to count settlement days */
} sim_book;

/* Brings the holding's split to book->today: each trading day in between
 * moves T1 to settled and today's net buys to T1. */
void sim_book_roll(const sim_book *book, sim_holding *holding);

/* The holding's settled quantity (after sim_book_roll). */
int64_t sim_holding_settled(const sim_holding *holding);

/* Prepares an empty book whose accounts may place `rate_limit` orders per
 * second (0 = unlimited). Cannot fail. */
void sim_book_init(sim_book *book, uint32_t rate_limit);

/* Keeps at most `order_history` terminal orders per account from now on (0:
 * every order, the default); older terminal orders are dropped as newer ones
 * settle. Open orders are never dropped. */
void sim_book_set_history(sim_book *book, uint32_t order_history);

/* Releases every account and order (the history limit stays). */
void sim_book_free(sim_book *book);

/* Returns the index of the account `id`, creating it with `initial` holdings
 * when new, or SIM_MAP_NONE when memory runs out. O(1) expected. */
uint32_t sim_book_account(sim_book *book, const char *id, const sim_position *initial,
                          size_t initial_count);

/* The account at `index` (a value sim_book_account returned). */
sim_account *sim_book_account_at(const sim_book *book, uint32_t index);

/* The order with sequence number `sequence`, or NULL when there is none or it
 * was dropped. The pointer is valid until the next sim_book_record. */
sim_order *sim_book_order(const sim_book *book, uint32_t sequence);

/* The symbol an order is for. */
const char *sim_book_order_symbol(const sim_book *book, const sim_order *order);

/* Sequence number of the latest order of `account` placed with
 * `client_order_id`, or SIM_MAP_NONE. */
uint32_t sim_book_find_client(const sim_account *account, const char *client_order_id);

/* Quantity of `symbol` the account may sell now: held minus open SELLs. */
int64_t sim_book_available(const sim_account *account, const char *symbol);

/* Counts a placement at monotonic time `now_ms`; returns false (and counts
 * nothing) when the account already placed rate_limit orders in the last
 * second. */
bool sim_book_admit(sim_book *book, sim_account *account, int64_t now_ms);

/*
 * Records an OPEN order of account `account_index` whose terminal `outcome`
 * (FILLED, PARTIALLY_FILLED or REJECTED) with `filled` quantity was decided
 * already; reserves the quantity of a SELL. Returns its sequence number, or
 * SIM_MAP_NONE when memory runs out (nothing recorded).
 */
uint32_t sim_book_record(sim_book *book, uint32_t account_index,
                         const broker_order_request *request, broker_order_state outcome,
                         int64_t filled);

/* Moves an OPEN order to its decided outcome and applies the filled quantity
 * to the holdings. No-op for a terminal order. May drop the account's oldest
 * terminal orders (never `order` itself). */
void sim_book_settle(sim_book *book, sim_order *order);

/* Settles every order of `account` that is still OPEN (timed ones are left
 * to sim_book_fill and sim_book_close). */
void sim_book_settle_pending(sim_book *book, sim_account *account);

/* A timed order fills `quantity` more at `price`: holdings move at once. */
void sim_book_fill(sim_book *book, sim_order *order, int64_t quantity, double price);

/* Ends a timed order in `state` (FILLED, CANCELLED — with or without fills —
 * or REJECTED): releases what it reserved and blocked, charges the cash. */
void sim_book_close(sim_book *book, sim_order *order, broker_order_state state);

/* The charges of what `order` filled so far. */
broker_charges sim_book_charges(const sim_book *book, const sim_order *order);

/* The orders of `account` that may still be OPEN, and their count. */
const uint32_t *sim_book_pending(const sim_account *account, size_t *count);

/* Cancels an OPEN order (nothing filled). Returns false if it is terminal.
 * May drop the account's oldest terminal orders, as sim_book_settle. */
bool sim_book_cancel(sim_book *book, sim_order *order);

/* Restoring a saved book (sim_state.c): sets the quantity and T+1 split of
 * `symbol` in account `account_index` from *saved (adding the symbol in
 * order; its reserve comes from the open orders), sets the account's money,
 * and appends an order with its saved fields as the next sequence number (an
 * OPEN one is pending again, an OPEN SELL reserves what is left of it, an
 * OPEN BUY blocks its cash). 0, or -1 when memory runs out or the order names
 * an unknown account or holding. */
int sim_book_restore_holding(sim_book *book, uint32_t account_index, const char *symbol,
                             const sim_holding *saved);
int sim_book_restore_cash(sim_book *book, uint32_t account_index, bool funded, double cash,
                          double opening);
int sim_book_restore_order(sim_book *book, const sim_order *saved);

/* Restoring: the next order gets sequence number `sequence` (orders before it
 * were dropped). 0, or -1 when `sequence` is below the next one already. */
int sim_book_restore_next(sim_book *book, uint32_t sequence);

#endif
