/* Holdings map: a dense array of entries plus an open-addressing index of
 * 32-bit slots (linear probing). Entries are never removed, so the index
 * needs no tombstones, and growth rehashes from the stored hashes without
 * touching the symbols again. */
#include "holdings.h"

#include <stdlib.h>
#include <string.h>

#define HOLDINGS_MIN_SLOTS 16u

typedef struct holdings_entry {
    uint64_t hash;
    int64_t quantity;
    char symbol[BROKER_SYMBOL_MAX];
} holdings_entry;

struct holdings {
    holdings_entry *entries; /* dense, insertion order */
    size_t count;
    size_t entry_capacity;
    uint32_t *slots;  /* 0 = empty, else entry index + 1 */
    size_t slot_mask; /* slot count - 1; slot count is a power of two */
};

/* FNV-1a over the bytes, then a 64-bit finaliser so that linear probing sees
 * well-spread low bits. */
static uint64_t holdings_hash(const char *symbol, size_t *length)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; symbol[i] != '\0'; i++) {
        hash ^= (unsigned char)symbol[i];
        hash *= 0x100000001b3ull;
    }
    *length = i;
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdull;
    hash ^= hash >> 33;
    return hash;
}

static size_t holdings_slots_for(size_t expected)
{
    size_t slots = HOLDINGS_MIN_SLOTS;
    while (slots < expected + expected / 2 + 1)
        slots <<= 1;
    return slots;
}

holdings *holdings_create(size_t expected)
{
    holdings *map = calloc(1, sizeof *map);
    if (map == NULL)
        return NULL;
    size_t slot_count = holdings_slots_for(expected);
    map->slots = calloc(slot_count, sizeof *map->slots);
    map->entry_capacity = expected > 8 ? expected : 8;
    map->entries = malloc(map->entry_capacity * sizeof *map->entries);
    if (map->slots == NULL || map->entries == NULL) {
        holdings_free(map);
        return NULL;
    }
    map->slot_mask = slot_count - 1;
    return map;
}

void holdings_free(holdings *map)
{
    if (map == NULL)
        return;
    free(map->entries);
    free(map->slots);
    free(map);
}

/* Returns the slot that holds `symbol`, or the empty slot where it belongs. */
static size_t holdings_probe(const holdings *map, const char *symbol, uint64_t hash)
{
    size_t slot = (size_t)hash & map->slot_mask;
    for (;;) {
        uint32_t ref = map->slots[slot];
        if (ref == 0)
            return slot;
        const holdings_entry *entry = &map->entries[ref - 1];
        if (entry->hash == hash && strcmp(entry->symbol, symbol) == 0)
            return slot;
        slot = (slot + 1) & map->slot_mask;
    }
}

static bool holdings_grow_index(holdings *map)
{
    size_t slot_count = (map->slot_mask + 1) * 2;
    uint32_t *slots = calloc(slot_count, sizeof *slots);
    if (slots == NULL)
        return false;
    size_t mask = slot_count - 1;
    for (size_t i = 0; i < map->count; i++) {
        size_t slot = (size_t)map->entries[i].hash & mask;
        while (slots[slot] != 0)
            slot = (slot + 1) & mask;
        slots[slot] = (uint32_t)(i + 1);
    }
    free(map->slots);
    map->slots = slots;
    map->slot_mask = mask;
    return true;
}

static bool holdings_grow_entries(holdings *map)
{
    size_t capacity = map->entry_capacity * 2;
    holdings_entry *entries = realloc(map->entries, capacity * sizeof *entries);
    if (entries == NULL)
        return false;
    map->entries = entries;
    map->entry_capacity = capacity;
    return true;
}

/* Returns the entry of `symbol`, inserting it with quantity 0 when absent;
 * NULL on OOM or when the symbol is empty or too long. */
static holdings_entry *holdings_upsert(holdings *map, const char *symbol)
{
    size_t length;
    uint64_t hash = holdings_hash(symbol, &length);
    if (length == 0 || length >= BROKER_SYMBOL_MAX)
        return NULL;
    size_t slot = holdings_probe(map, symbol, hash);
    if (map->slots[slot] != 0)
        return &map->entries[map->slots[slot] - 1];
    if (map->count >= UINT32_MAX - 1)
        return NULL;
    if ((map->count + 1) * 3 > (map->slot_mask + 1) * 2) { /* load factor 2/3 */
        if (!holdings_grow_index(map))
            return NULL;
        slot = holdings_probe(map, symbol, hash);
    }
    if (map->count == map->entry_capacity && !holdings_grow_entries(map))
        return NULL;
    holdings_entry *entry = &map->entries[map->count];
    entry->hash = hash;
    entry->quantity = 0;
    memcpy(entry->symbol, symbol, length + 1);
    map->slots[slot] = (uint32_t)(++map->count);
    return entry;
}

static const holdings_entry *holdings_lookup(const holdings *map, const char *symbol)
{
    size_t length;
    uint64_t hash = holdings_hash(symbol, &length);
    if (length == 0 || length >= BROKER_SYMBOL_MAX)
        return NULL;
    uint32_t ref = map->slots[holdings_probe(map, symbol, hash)];
    return ref == 0 ? NULL : &map->entries[ref - 1];
}

bool holdings_set(holdings *map, const char *symbol, int64_t quantity)
{
    holdings_entry *entry = holdings_upsert(map, symbol);
    if (entry == NULL)
        return false;
    entry->quantity = quantity;
    return true;
}

bool holdings_add(holdings *map, const char *symbol, int64_t delta)
{
    holdings_entry *entry = holdings_upsert(map, symbol);
    if (entry == NULL)
        return false;
    entry->quantity += delta;
    return true;
}

int64_t holdings_get(const holdings *map, const char *symbol)
{
    const holdings_entry *entry = holdings_lookup(map, symbol);
    return entry ? entry->quantity : 0;
}

bool holdings_contains(const holdings *map, const char *symbol)
{
    return holdings_lookup(map, symbol) != NULL;
}

size_t holdings_count(const holdings *map)
{
    return map->count;
}

void holdings_each(const holdings *map,
                   int (*visit)(void *context, const char *symbol, int64_t quantity), void *context)
{
    for (size_t i = 0; i < map->count; i++)
        if (visit(context, map->entries[i].symbol, map->entries[i].quantity) != 0)
            return;
}

int holdings_collect(void *context, const char *symbol, int64_t quantity)
{
    return holdings_add(context, symbol, quantity) ? 0 : 1;
}
