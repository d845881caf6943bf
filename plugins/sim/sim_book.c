#include "sim_book.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_CHUNK_SHIFT 12
#define SIM_CHUNK_SIZE (1u << SIM_CHUNK_SHIFT)

static const char *sim_account_key(const void *context, uint32_t value)
{
    const sim_book *book = context;
    return book->accounts[value]->id;
}

static const char *sim_holding_key(const void *context, uint32_t value)
{
    const sim_account *account = context;
    return account->holdings[value].symbol;
}

static const char *sim_client_key(const void *context, uint32_t value)
{
    return sim_book_order(context, value)->client_order_id;
}

void sim_book_init(sim_book *book, uint32_t rate_limit)
{
    memset(book, 0, sizeof *book);
    sim_map_init(&book->account_index, sim_account_key, book);
    book->rate_limit = rate_limit;
}

void sim_book_set_history(sim_book *book, uint32_t order_history)
{
    book->order_history = order_history;
}

static void sim_account_free(sim_account *account)
{
    if (account == NULL)
        return;
    free(account->history);
    free(account->holdings);
    sim_map_free(&account->holding_index);
    sim_map_free(&account->client_index);
    free(account->pending);
    free(account->recent);
    free(account);
}

void sim_book_free(sim_book *book)
{
    for (size_t i = 0; i < book->account_count; i++)
        sim_account_free(book->accounts[i]);
    free(book->accounts);
    sim_map_free(&book->account_index);
    for (size_t i = 0; i < book->chunk_capacity && book->chunks[i]; i++)
        free(book->chunks[i]);
    free(book->chunks);
    free(book->free_slots);
    free(book->by_sequence);
    uint32_t order_history = book->order_history;
    sim_book_init(book, book->rate_limit);
    book->order_history = order_history;
}

/* ---- sequence number → slot ---------------------------------------------- */

static size_t sim_sequence_home(uint32_t sequence, size_t mask)
{
    return (size_t)(uint32_t)(sequence * 2654435761u) & mask; /* Knuth's multiplicative hash */
}

/* Index of the entry of `sequence`, or of the empty entry where it would go. */
static size_t sim_sequence_probe(const sim_book *book, uint32_t sequence)
{
    size_t mask = book->sequence_capacity - 1;
    size_t index = sim_sequence_home(sequence, mask);
    while (book->by_sequence[index].sequence_plus_one != 0 &&
           book->by_sequence[index].sequence_plus_one != sequence + 1)
        index = (index + 1) & mask;
    return index;
}

static uint32_t sim_sequence_find(const sim_book *book, uint32_t sequence)
{
    if (book->sequence_count == 0)
        return SIM_MAP_NONE;
    const sim_sequence_slot *entry = &book->by_sequence[sim_sequence_probe(book, sequence)];
    return entry->sequence_plus_one != 0 ? entry->slot : SIM_MAP_NONE;
}

static int sim_sequence_grow(sim_book *book)
{
    size_t capacity = book->sequence_capacity ? book->sequence_capacity * 2 : 64;
    sim_sequence_slot *entries = calloc(capacity, sizeof *entries);
    if (entries == NULL)
        return -1;
    for (size_t i = 0; i < book->sequence_capacity; i++) {
        sim_sequence_slot entry = book->by_sequence[i];
        if (entry.sequence_plus_one == 0)
            continue;
        size_t index = sim_sequence_home(entry.sequence_plus_one - 1, capacity - 1);
        while (entries[index].sequence_plus_one != 0)
            index = (index + 1) & (capacity - 1);
        entries[index] = entry;
    }
    free(book->by_sequence);
    book->by_sequence = entries;
    book->sequence_capacity = capacity;
    return 0;
}

/* Stores a new `sequence` → `slot`; 0, or -1 when memory runs out. */
static int sim_sequence_put(sim_book *book, uint32_t sequence, uint32_t slot)
{
    if ((book->sequence_count + 1) * 10 > book->sequence_capacity * 7 &&
        sim_sequence_grow(book) != 0)
        return -1;
    sim_sequence_slot *entry = &book->by_sequence[sim_sequence_probe(book, sequence)];
    if (entry->sequence_plus_one == 0)
        book->sequence_count++;
    entry->sequence_plus_one = sequence + 1;
    entry->slot = slot;
    return 0;
}

/* True when `home` lies cyclically in (hole, index]. */
static bool sim_sequence_stays(size_t hole, size_t index, size_t home)
{
    if (hole <= index)
        return hole < home && home <= index;
    return hole < home || home <= index;
}

/* Removes `sequence` (backward-shift deletion); a no-op when absent. */
static void sim_sequence_remove(sim_book *book, uint32_t sequence)
{
    if (book->sequence_count == 0)
        return;
    size_t mask = book->sequence_capacity - 1;
    size_t hole = sim_sequence_probe(book, sequence);
    if (book->by_sequence[hole].sequence_plus_one == 0)
        return;
    for (size_t index = (hole + 1) & mask; book->by_sequence[index].sequence_plus_one != 0;
         index = (index + 1) & mask) {
        size_t home = sim_sequence_home(book->by_sequence[index].sequence_plus_one - 1, mask);
        if (sim_sequence_stays(hole, index, home))
            continue;
        book->by_sequence[hole] = book->by_sequence[index];
        hole = index;
    }
    book->by_sequence[hole].sequence_plus_one = 0;
    book->sequence_count--;
}

/* Grows an array of `*capacity` elements of `size` bytes to hold one more. */
static int sim_reserve(void **items, size_t *capacity, size_t count, size_t size)
{
    if (count < *capacity)
        return 0;
    size_t grown = *capacity ? *capacity * 2 : 8;
    void *moved = realloc(*items, grown * size);
    if (moved == NULL)
        return -1;
    *items = moved;
    *capacity = grown;
    return 0;
}

/* Index of `symbol` in the account's holdings, added with quantity 0 if new;
 * SIM_MAP_NONE when memory runs out. */
static uint32_t sim_holding_slot(sim_account *account, const char *symbol)
{
    uint32_t index = sim_map_find(&account->holding_index, symbol);
    if (index != SIM_MAP_NONE)
        return index;
    if (account->holding_count >= SIM_MAP_NONE - 1 ||
        sim_reserve((void **)&account->holdings, &account->holding_capacity, account->holding_count,
                    sizeof *account->holdings) != 0)
        return SIM_MAP_NONE;
    index = (uint32_t)account->holding_count;
    sim_holding *holding = &account->holdings[index];
    memset(holding, 0, sizeof *holding);
    snprintf(holding->symbol, sizeof holding->symbol, "%s", symbol);
    if (sim_map_put(&account->holding_index, holding->symbol, index) != 0)
        return SIM_MAP_NONE;
    account->holding_count++;
    return index;
}

static sim_account *sim_account_new(const sim_book *book, const char *id,
                                    const sim_position *initial, size_t initial_count)
{
    sim_account *account = calloc(1, sizeof *account);
    if (account == NULL)
        return NULL;
    snprintf(account->id, sizeof account->id, "%s", id);
    sim_map_init(&account->holding_index, sim_holding_key, account);
    sim_map_init(&account->client_index, sim_client_key, book);
    if (book->rate_limit > 0) {
        account->recent = calloc(book->rate_limit, sizeof *account->recent);
        if (account->recent == NULL)
            goto fail;
    }
    for (size_t i = 0; i < initial_count; i++) {
        uint32_t slot = sim_holding_slot(account, initial[i].symbol);
        if (slot == SIM_MAP_NONE)
            goto fail;
        account->holdings[slot].quantity = initial[i].quantity;
    }
    return account;
fail:
    sim_account_free(account);
    return NULL;
}

uint32_t sim_book_account(sim_book *book, const char *id, const sim_position *initial,
                          size_t initial_count)
{
    uint32_t index = sim_map_find(&book->account_index, id);
    if (index != SIM_MAP_NONE)
        return index;
    if (sim_reserve((void **)&book->accounts, &book->account_capacity, book->account_count,
                    sizeof *book->accounts) != 0)
        return SIM_MAP_NONE;
    sim_account *account = sim_account_new(book, id, initial, initial_count);
    if (account == NULL)
        return SIM_MAP_NONE;
    index = (uint32_t)book->account_count;
    book->accounts[index] = account;
    book->dirty = true;
    if (sim_map_put(&book->account_index, account->id, index) != 0) {
        sim_account_free(account);
        return SIM_MAP_NONE;
    }
    book->account_count++;
    return index;
}

sim_account *sim_book_account_at(const sim_book *book, uint32_t index)
{
    return index < book->account_count ? book->accounts[index] : NULL;
}

static sim_order *sim_book_slot(const sim_book *book, uint32_t slot)
{
    return &book->chunks[slot >> SIM_CHUNK_SHIFT][slot & (SIM_CHUNK_SIZE - 1)];
}

sim_order *sim_book_order(const sim_book *book, uint32_t sequence)
{
    if (sequence >= book->order_count)
        return NULL;
    uint32_t slot = sim_sequence_find(book, sequence);
    return slot == SIM_MAP_NONE ? NULL : sim_book_slot(book, slot);
}

const char *sim_book_order_symbol(const sim_book *book, const sim_order *order)
{
    return book->accounts[order->account]->holdings[order->holding].symbol;
}

uint32_t sim_book_find_client(const sim_account *account, const char *client_order_id)
{
    return sim_map_find(&account->client_index, client_order_id);
}

int64_t sim_book_available(const sim_account *account, const char *symbol)
{
    uint32_t index = sim_map_find(&account->holding_index, symbol);
    if (index == SIM_MAP_NONE)
        return 0;
    return account->holdings[index].quantity - account->holdings[index].reserved;
}

bool sim_book_admit(sim_book *book, sim_account *account, int64_t now_ms)
{
    uint32_t limit = book->rate_limit;
    if (limit == 0)
        return true;
    /* recent_next is the oldest entry once the ring is full. */
    if (account->recent_count == limit && account->recent[account->recent_next] > now_ms - 1000)
        return false;
    account->recent[account->recent_next] = now_ms;
    account->recent_next = (account->recent_next + 1) % limit;
    if (account->recent_count < limit)
        account->recent_count++;
    return true;
}

/* A fresh slot (never used before); SIM_MAP_NONE when memory runs out. */
static uint32_t sim_book_new_slot(sim_book *book)
{
    if (book->slot_count == SIM_MAP_NONE - 1)
        return SIM_MAP_NONE;
    size_t chunk = book->slot_count >> SIM_CHUNK_SHIFT;
    if (chunk >= book->chunk_capacity) {
        size_t capacity = book->chunk_capacity ? book->chunk_capacity * 2 : 16;
        sim_order **chunks = realloc(book->chunks, capacity * sizeof *chunks);
        if (chunks == NULL)
            return SIM_MAP_NONE;
        memset(chunks + book->chunk_capacity, 0,
               (capacity - book->chunk_capacity) * sizeof *chunks);
        book->chunks = chunks;
        book->chunk_capacity = capacity;
    }
    if (book->chunks[chunk] == NULL) {
        book->chunks[chunk] = malloc(SIM_CHUNK_SIZE * sizeof(sim_order));
        if (book->chunks[chunk] == NULL)
            return SIM_MAP_NONE;
    }
    /* Room to give every slot back, so that dropping an order cannot fail. */
    if (sim_reserve((void **)&book->free_slots, &book->free_capacity, book->slot_count,
                    sizeof *book->free_slots) != 0)
        return SIM_MAP_NONE;
    return book->slot_count++;
}

/* Binds the next sequence number to a slot (a dropped order's, else a new
 * one); returns the order, or NULL when memory runs out (nothing changed). */
static sim_order *sim_book_next_order(sim_book *book)
{
    if (book->order_count == SIM_MAP_NONE - 1)
        return NULL;
    bool reused = book->free_count > 0;
    uint32_t slot = reused ? book->free_slots[book->free_count - 1] : sim_book_new_slot(book);
    if (slot == SIM_MAP_NONE)
        return NULL;
    if (reused)
        book->free_count--;
    if (sim_sequence_put(book, book->order_count, slot) != 0) {
        book->free_slots[book->free_count++] = slot;
        return NULL;
    }
    sim_order *order = sim_book_slot(book, slot);
    memset(order, 0, sizeof *order);
    order->sequence = book->order_count;
    return order;
}

/* Takes back the order just bound by sim_book_next_order (a later step failed). */
static void sim_book_unbind(sim_book *book, sim_order *order)
{
    uint32_t slot = sim_sequence_find(book, order->sequence);
    sim_sequence_remove(book, order->sequence);
    if (slot != SIM_MAP_NONE)
        book->free_slots[book->free_count++] = slot;
}

/* Forgets order `sequence` of `account`: its client order id (when it still
 * names this order), its sequence number, and its slot. */
static void sim_book_drop(sim_book *book, sim_account *account, uint32_t sequence)
{
    uint32_t slot = sim_sequence_find(book, sequence);
    if (slot == SIM_MAP_NONE)
        return;
    const sim_order *order = sim_book_slot(book, slot);
    if (order->client_order_id[0] != '\0' &&
        sim_map_find(&account->client_index, order->client_order_id) == sequence)
        sim_map_remove(&account->client_index, order->client_order_id);
    sim_sequence_remove(book, sequence);
    book->free_slots[book->free_count++] = slot;
    book->dirty = true;
}

/* Grows the account's history ring (up to the limit), oldest entry first. */
static int sim_history_grow(const sim_book *book, sim_account *account)
{
    size_t capacity = account->history_capacity ? account->history_capacity * 2 : 16;
    if (capacity > book->order_history)
        capacity = book->order_history;
    uint32_t *history = malloc(capacity * sizeof *history);
    if (history == NULL)
        return -1;
    for (size_t i = 0; i < account->history_count; i++)
        history[i] = account->history[(account->history_head + i) % account->history_capacity];
    free(account->history);
    account->history = history;
    account->history_capacity = capacity;
    account->history_head = 0;
    return 0;
}

/* Notes that `order` became terminal; drops the account's oldest terminal
 * order once order_history of them are kept. Without memory for the ring the
 * order is simply kept. */
static void sim_history_push(sim_book *book, const sim_order *order)
{
    if (book->order_history == 0)
        return;
    sim_account *account = book->accounts[order->account];
    while (account->history_count >= book->order_history) {
        sim_book_drop(book, account, account->history[account->history_head]);
        account->history_head = (account->history_head + 1) % account->history_capacity;
        account->history_count--;
    }
    if (account->history_count == account->history_capacity && sim_history_grow(book, account) != 0)
        return;
    size_t tail = (account->history_head + account->history_count) % account->history_capacity;
    account->history[tail] = order->sequence;
    account->history_count++;
}

/* Makes room for one more pending order: drops settled ones, and grows the
 * list when more than half of it is still open. */
static int sim_pending_reserve(sim_book *book, sim_account *account)
{
    if (account->pending_count < account->pending_capacity)
        return 0;
    size_t kept = 0;
    for (size_t i = 0; i < account->pending_count; i++) {
        uint32_t sequence = account->pending[i];
        const sim_order *order = sim_book_order(book, sequence);
        if (order != NULL && order->state == BROKER_ORDER_OPEN)
            account->pending[kept++] = sequence;
    }
    account->pending_count = kept;
    if (account->pending_capacity > 0 && kept * 2 <= account->pending_capacity)
        return 0;
    size_t capacity = account->pending_capacity ? account->pending_capacity * 2 : 8;
    uint32_t *pending = realloc(account->pending, capacity * sizeof *pending);
    if (pending == NULL)
        return -1;
    account->pending = pending;
    account->pending_capacity = capacity;
    return 0;
}

uint32_t sim_book_record(sim_book *book, uint32_t account_index,
                         const broker_order_request *request, broker_order_state outcome,
                         int64_t filled)
{
    sim_account *account = book->accounts[account_index];
    uint32_t holding = sim_holding_slot(account, request->symbol);
    if (holding == SIM_MAP_NONE || sim_pending_reserve(book, account) != 0)
        return SIM_MAP_NONE;
    sim_order *order = sim_book_next_order(book);
    if (order == NULL)
        return SIM_MAP_NONE;
    uint32_t sequence = book->order_count;
    size_t tag_length = strnlen(request->client_order_id, sizeof order->client_order_id - 1);
    memcpy(order->client_order_id, request->client_order_id, tag_length);
    order->client_order_id[tag_length] = '\0';
    order->account = account_index;
    order->holding = holding;
    order->quantity = request->quantity;
    order->filled = filled;
    order->side = (uint8_t)request->side;
    order->state = BROKER_ORDER_OPEN;
    order->outcome = (uint8_t)outcome;
    book->order_count++;
    if (order->client_order_id[0] != '\0' &&
        sim_map_put(&account->client_index, order->client_order_id, sequence) != 0) {
        book->order_count--;
        sim_book_unbind(book, order);
        return SIM_MAP_NONE;
    }
    if (order->side == BROKER_SIDE_SELL)
        account->holdings[holding].reserved += order->quantity;
    account->pending[account->pending_count++] = sequence;
    book->dirty = true;
    return sequence;
}

/* The holding (symbol) an order is for. */
static sim_holding *sim_order_holding(sim_book *book, const sim_order *order)
{
    return &book->accounts[order->account]->holdings[order->holding];
}

broker_charges sim_book_charges(const sim_book *book, const sim_order *order)
{
    if (order->filled_value <= 0.0) {
        broker_charges none;
        memset(&none, 0, sizeof none);
        return none;
    }
    return sim_market_charges(&book->brokerage, order->filled_value, (broker_side)order->side,
                              (broker_product)order->product);
}

/* An order ended: its cash block goes, what it filled is paid or received. */
static void sim_book_pay(sim_book *book, sim_order *order)
{
    sim_account *account = book->accounts[order->account];
    double charges = sim_book_charges(book, order).total;
    account->blocked -= order->blocked;
    order->blocked = 0.0;
    if (order->side == BROKER_SIDE_SELL)
        account->cash += order->filled_value - charges;
    else
        account->cash -= (order->timed ? 0.0 : order->filled_value) + charges;
}

void sim_book_roll(const sim_book *book, sim_holding *holding)
{
    if (!book->settle_t1 || holding->day == book->today)
        return;
    int32_t steps = holding->day == 0 || book->hours == NULL
                        ? 2
                        : sim_market_trading_days_between(book->hours, holding->day, book->today);
    /* Settled is derived (quantity - t1 - today's net), so a step that sets
     * the new T1 settles the old one; net sells came out of what was held. */
    for (int32_t i = 0; i < steps && i < 2; i++) {
        int64_t net_today = holding->bought_today - holding->sold_today;
        holding->t1 = net_today > 0 ? net_today : 0;
        holding->bought_today = holding->sold_today = 0;
    }
    holding->day = book->today;
}

int64_t sim_holding_settled(const sim_holding *holding)
{
    return holding->quantity - holding->t1 - holding->bought_today + holding->sold_today;
}

/* Moves the holding by a fill of `quantity` (negative: sold). */
static void sim_holding_trade(sim_book *book, sim_holding *holding, int64_t quantity)
{
    sim_book_roll(book, holding);
    holding->quantity += quantity;
    if (!book->settle_t1)
        return;
    if (quantity > 0)
        holding->bought_today += quantity;
    else
        holding->sold_today -= quantity;
}

void sim_book_settle(sim_book *book, sim_order *order)
{
    if (order->state != BROKER_ORDER_OPEN || order->timed)
        return;
    sim_holding *holding = sim_order_holding(book, order);
    order->state = order->outcome;
    book->dirty = true;
    if (order->side == BROKER_SIDE_SELL) {
        holding->reserved -= order->quantity;
        sim_holding_trade(book, holding, -order->filled);
    } else {
        sim_holding_trade(book, holding, order->filled);
    }
    order->filled_value = (double)order->filled * order->average;
    sim_book_pay(book, order);
    sim_history_push(book, order);
}

void sim_book_settle_pending(sim_book *book, sim_account *account)
{
    size_t kept = 0;
    for (size_t i = 0; i < account->pending_count; i++) {
        sim_order *order = sim_book_order(book, account->pending[i]);
        if (order == NULL) /* settled earlier, then dropped */
            continue;
        sim_book_settle(book, order);
        if (order->state == BROKER_ORDER_OPEN)
            account->pending[kept++] = account->pending[i];
    }
    account->pending_count = kept;
}

void sim_book_fill(sim_book *book, sim_order *order, int64_t quantity, double price)
{
    sim_holding *holding = sim_order_holding(book, order);
    sim_account *account = book->accounts[order->account];
    if (quantity <= 0)
        return;
    double value = (double)quantity * price;
    if (order->side == BROKER_SIDE_SELL) {
        holding->reserved -= quantity;
        sim_holding_trade(book, holding, -quantity);
    } else {
        sim_holding_trade(book, holding, quantity);
        double release =
            order->blocked * (double)quantity / (double)(order->quantity - order->filled);
        order->blocked -= release;
        account->blocked -= release;
        account->cash -= value;
    }
    order->filled += quantity;
    order->filled_value += value;
    order->average = order->filled_value / (double)order->filled;
    book->dirty = true;
}

void sim_book_close(sim_book *book, sim_order *order, broker_order_state state)
{
    if (order->state != BROKER_ORDER_OPEN)
        return;
    if (order->side == BROKER_SIDE_SELL)
        sim_order_holding(book, order)->reserved -= order->quantity - order->filled;
    order->state = (uint8_t)state;
    order->outcome = (uint8_t)state;
    sim_book_pay(book, order);
    book->dirty = true;
    sim_history_push(book, order);
}

const uint32_t *sim_book_pending(const sim_account *account, size_t *count)
{
    *count = account->pending_count;
    return account->pending;
}

bool sim_book_cancel(sim_book *book, sim_order *order)
{
    if (order->state != BROKER_ORDER_OPEN)
        return false;
    if (order->timed) {
        sim_book_close(book, order, BROKER_ORDER_CANCELLED);
        return true;
    }
    sim_book_pay(book, order);
    if (order->side == BROKER_SIDE_SELL)
        sim_order_holding(book, order)->reserved -= order->quantity;
    order->state = BROKER_ORDER_CANCELLED;
    order->outcome = BROKER_ORDER_CANCELLED;
    order->filled = 0;
    book->dirty = true;
    sim_history_push(book, order);
    return true;
}

int sim_book_restore_holding(sim_book *book, uint32_t account_index, const char *symbol,
                             const sim_holding *saved)
{
    sim_account *account = sim_book_account_at(book, account_index);
    uint32_t slot = account ? sim_holding_slot(account, symbol) : SIM_MAP_NONE;
    if (slot == SIM_MAP_NONE)
        return -1;
    sim_holding *holding = &account->holdings[slot];
    holding->quantity = saved->quantity;
    holding->t1 = saved->t1;
    holding->bought_today = saved->bought_today;
    holding->sold_today = saved->sold_today;
    holding->day = saved->day;
    return 0;
}

int sim_book_restore_cash(sim_book *book, uint32_t account_index, bool funded, double cash,
                          double opening)
{
    sim_account *account = sim_book_account_at(book, account_index);
    if (account == NULL)
        return -1;
    account->funded = funded;
    account->cash = cash;
    account->opening_cash = opening;
    return 0;
}

int sim_book_restore_order(sim_book *book, const sim_order *saved)
{
    sim_account *account = sim_book_account_at(book, saved->account);
    if (account == NULL || saved->holding >= account->holding_count)
        return -1;
    if (sim_pending_reserve(book, account) != 0)
        return -1;
    sim_order *order = sim_book_next_order(book);
    if (order == NULL)
        return -1;
    uint32_t sequence = book->order_count;
    *order = *saved;
    order->sequence = sequence;
    book->order_count++;
    if (order->client_order_id[0] != '\0' &&
        sim_map_put(&account->client_index, order->client_order_id, sequence) != 0) {
        book->order_count--;
        sim_book_unbind(book, order);
        return -1;
    }
    if (order->state == BROKER_ORDER_OPEN) {
        if (order->side == BROKER_SIDE_SELL) /* a timed one has released what filled */
            account->holdings[order->holding].reserved +=
                order->timed ? order->quantity - order->filled : order->quantity;
        account->blocked += order->blocked; /* cash an open BUY holds (version 2) */
        account->pending[account->pending_count++] = sequence;
    } else {
        sim_history_push(book, order);
    }
    return 0;
}

int sim_book_restore_next(sim_book *book, uint32_t sequence)
{
    if (sequence < book->order_count || sequence >= SIM_MAP_NONE - 1)
        return -1;
    book->order_count = sequence;
    return 0;
}
