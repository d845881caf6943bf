#include "sim_book.h"

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

static void sim_account_free(sim_account *account)
{
    if (account == NULL)
        return;
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
    sim_book_init(book, book->rate_limit);
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

sim_order *sim_book_order(const sim_book *book, uint32_t sequence)
{
    if (sequence >= book->order_count)
        return NULL;
    return &book->chunks[sequence >> SIM_CHUNK_SHIFT][sequence & (SIM_CHUNK_SIZE - 1)];
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

/* A slot for the next order; NULL when memory runs out. */
static sim_order *sim_book_next_slot(sim_book *book)
{
    if (book->order_count == SIM_MAP_NONE - 1)
        return NULL;
    size_t chunk = book->order_count >> SIM_CHUNK_SHIFT;
    if (chunk >= book->chunk_capacity) {
        size_t capacity = book->chunk_capacity ? book->chunk_capacity * 2 : 16;
        sim_order **chunks = realloc(book->chunks, capacity * sizeof *chunks);
        if (chunks == NULL)
            return NULL;
        memset(chunks + book->chunk_capacity, 0,
               (capacity - book->chunk_capacity) * sizeof *chunks);
        book->chunks = chunks;
        book->chunk_capacity = capacity;
    }
    if (book->chunks[chunk] == NULL) {
        book->chunks[chunk] = malloc(SIM_CHUNK_SIZE * sizeof(sim_order));
        if (book->chunks[chunk] == NULL)
            return NULL;
    }
    return &book->chunks[chunk][book->order_count & (SIM_CHUNK_SIZE - 1)];
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
        if (sim_book_order(book, sequence)->state == BROKER_ORDER_OPEN)
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
    sim_order *order = sim_book_next_slot(book);
    if (holding == SIM_MAP_NONE || order == NULL || sim_pending_reserve(book, account) != 0)
        return SIM_MAP_NONE;
    uint32_t sequence = book->order_count;
    memset(order, 0, sizeof *order);
    snprintf(order->client_order_id, sizeof order->client_order_id, "%s", request->client_order_id);
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

void sim_book_settle(sim_book *book, sim_order *order)
{
    if (order->state != BROKER_ORDER_OPEN)
        return;
    sim_holding *holding = sim_order_holding(book, order);
    order->state = order->outcome;
    book->dirty = true;
    if (order->side == BROKER_SIDE_SELL) {
        holding->reserved -= order->quantity;
        holding->quantity -= order->filled;
    } else {
        holding->quantity += order->filled;
    }
}

void sim_book_settle_pending(sim_book *book, sim_account *account)
{
    for (size_t i = 0; i < account->pending_count; i++)
        sim_book_settle(book, sim_book_order(book, account->pending[i]));
    account->pending_count = 0;
}

bool sim_book_cancel(sim_book *book, sim_order *order)
{
    if (order->state != BROKER_ORDER_OPEN)
        return false;
    if (order->side == BROKER_SIDE_SELL)
        sim_order_holding(book, order)->reserved -= order->quantity;
    order->state = BROKER_ORDER_CANCELLED;
    order->outcome = BROKER_ORDER_CANCELLED;
    order->filled = 0;
    book->dirty = true;
    return true;
}

int sim_book_restore_holding(sim_book *book, uint32_t account_index, const char *symbol,
                             int64_t quantity)
{
    sim_account *account = sim_book_account_at(book, account_index);
    uint32_t slot = account ? sim_holding_slot(account, symbol) : SIM_MAP_NONE;
    if (slot == SIM_MAP_NONE)
        return -1;
    account->holdings[slot].quantity = quantity;
    return 0;
}

int sim_book_restore_order(sim_book *book, const sim_order *saved)
{
    sim_account *account = sim_book_account_at(book, saved->account);
    if (account == NULL || saved->holding >= account->holding_count)
        return -1;
    sim_order *order = sim_book_next_slot(book);
    if (order == NULL || sim_pending_reserve(book, account) != 0)
        return -1;
    uint32_t sequence = book->order_count;
    *order = *saved;
    book->order_count++;
    if (order->client_order_id[0] != '\0' &&
        sim_map_put(&account->client_index, order->client_order_id, sequence) != 0) {
        book->order_count--;
        return -1;
    }
    if (order->state == BROKER_ORDER_OPEN) {
        if (order->side == BROKER_SIDE_SELL)
            account->holdings[order->holding].reserved += order->quantity;
        account->pending[account->pending_count++] = sequence;
    }
    return 0;
}
