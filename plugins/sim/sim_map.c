#include "sim_map.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

uint64_t sim_hash(const char *text)
{
    uint64_t hash = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ull;
    }
    return hash;
}

static uint32_t sim_map_hash32(const char *key)
{
    uint64_t hash = sim_hash(key);
    hash ^= hash >> 33; /* murmur3's finalizer spreads FNV's weak low bits */
    hash *= 0xff51afd7ed558ccdull;
    hash ^= hash >> 33;
    return (uint32_t)hash;
}

void sim_map_init(sim_map *map, sim_map_key_fn key_of, const void *context)
{
    memset(map, 0, sizeof *map);
    map->key_of = key_of;
    map->context = context;
}

/* Index of the slot holding `key`, or of the empty slot where it would go. */
static size_t sim_map_probe(const sim_map *map, const char *key, uint32_t hash)
{
    size_t mask = map->capacity - 1;
    size_t index = hash & mask;
    for (;;) {
        const sim_map_slot *slot = &map->slots[index];
        if (slot->value_plus_one == 0)
            return index;
        if (slot->hash == hash &&
            strcmp(map->key_of(map->context, slot->value_plus_one - 1), key) == 0)
            return index;
        index = (index + 1) & mask;
    }
}

uint32_t sim_map_find(const sim_map *map, const char *key)
{
    if (map->count == 0)
        return SIM_MAP_NONE;
    const sim_map_slot *slot = &map->slots[sim_map_probe(map, key, sim_map_hash32(key))];
    return slot->value_plus_one ? slot->value_plus_one - 1 : SIM_MAP_NONE;
}

static int sim_map_grow(sim_map *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : 16;
    sim_map_slot *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < map->capacity; i++) {
        sim_map_slot slot = map->slots[i];
        if (slot.value_plus_one == 0)
            continue;
        size_t index = slot.hash & (capacity - 1);
        while (slots[index].value_plus_one != 0)
            index = (index + 1) & (capacity - 1);
        slots[index] = slot;
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = capacity;
    return 0;
}

int sim_map_put(sim_map *map, const char *key, uint32_t value)
{
    if ((map->count + 1) * 10 > map->capacity * 7 && sim_map_grow(map) != 0)
        return -1;
    uint32_t hash = sim_map_hash32(key);
    sim_map_slot *slot = &map->slots[sim_map_probe(map, key, hash)];
    if (slot->value_plus_one == 0)
        map->count++;
    slot->hash = hash;
    slot->value_plus_one = value + 1;
    return 0;
}

/* True when `home` lies cyclically in (hole, index]: the entry at `index`
 * cannot move back to `hole` without becoming unreachable. */
static bool sim_map_stays(size_t hole, size_t index, size_t home)
{
    if (hole <= index)
        return hole < home && home <= index;
    return hole < home || home <= index;
}

void sim_map_remove(sim_map *map, const char *key)
{
    if (map->count == 0)
        return;
    size_t mask = map->capacity - 1;
    size_t hole = sim_map_probe(map, key, sim_map_hash32(key));
    if (map->slots[hole].value_plus_one == 0)
        return;
    /* Backward-shift deletion keeps every probe sequence unbroken. */
    for (size_t index = (hole + 1) & mask; map->slots[index].value_plus_one != 0;
         index = (index + 1) & mask) {
        if (sim_map_stays(hole, index, map->slots[index].hash & mask))
            continue;
        map->slots[hole] = map->slots[index];
        hole = index;
    }
    map->slots[hole].value_plus_one = 0;
    map->count--;
}

void sim_map_free(sim_map *map)
{
    free(map->slots);
    map->slots = NULL;
    map->capacity = 0;
    map->count = 0;
}
