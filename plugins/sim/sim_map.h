/* A string-keyed hash map of small integer values, used by the simulated
 * exchange for accounts, holdings and client order ids. Keys are not copied:
 * the map stores a 32-bit hash and the value, and asks the caller for the key
 * of a value when it must compare strings. */
#ifndef PTEXEC_SIM_MAP_H
#define PTEXEC_SIM_MAP_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAP_NONE UINT32_MAX

/* Returns the key under which `value` was stored. */
typedef const char *(*sim_map_key_fn)(const void *context, uint32_t value);

typedef struct sim_map_slot {
    uint32_t hash;
    uint32_t value_plus_one; /* 0 marks an empty slot */
} sim_map_slot;

/* A zeroed sim_map is an empty map. */
typedef struct sim_map {
    sim_map_slot *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
    sim_map_key_fn key_of;
    const void *context;
} sim_map;

/* 64-bit FNV-1a hash of a NUL-terminated string. Pure. */
uint64_t sim_hash(const char *text);

/* Prepares an empty map whose keys are found with key_of(context, value). */
void sim_map_init(sim_map *map, sim_map_key_fn key_of, const void *context);

/* Returns the value stored under `key`, or SIM_MAP_NONE. O(1) expected. */
uint32_t sim_map_find(const sim_map *map, const char *key);

/*
 * Stores `value` under `key`, replacing the value of an equal key. `value`
 * must be below SIM_MAP_NONE and key_of must return `key` for it from now on.
 * Returns 0, or -1 when memory runs out (the map is then unchanged).
 */
int sim_map_put(sim_map *map, const char *key, uint32_t value);

/* Removes `key` and its value; a no-op when absent. key_of must still answer
 * for every value stored, including the one removed. Never allocates. */
void sim_map_remove(sim_map *map, const char *key);

/* Releases the map's memory; it is empty (and still initialized) afterwards. */
void sim_map_free(sim_map *map);

#endif
