/* Persistence of the simulated exchange (the `state_file` key): accounts,
 * holdings and the whole order book, so that a restarted ptexec finds the
 * broker as the previous process left it — what recovery tests rely on. */
#ifndef PTEXEC_SIM_STATE_H
#define PTEXEC_SIM_STATE_H

#include <stddef.h>

#include "sim_book.h"

/*
 * Writes `book` to `path` atomically: a temporary file in the same folder,
 * fsync, rename over `path`, fsync of the folder. A reader (or a process
 * killed at any instant) sees the old state or the new one, never a mix.
 * Returns 0, or -1 with the reason in `why` (`why_size` bytes).
 */
int sim_state_save(const sim_book *book, const char *path, char *why, size_t why_size);

/*
 * Loads `path` into the empty `book`. A missing file is an empty book
 * (returns 0). Returns -1 with "line N: reason" in `why` for a malformed
 * file or when memory runs out.
 */
int sim_state_load(sim_book *book, const char *path, char *why, size_t why_size);

#endif
