/* Broker-specific names in the simulated exchange: symbols, instruments,
 * prices, order ids and tags. Pure functions of their inputs. */
#ifndef PTEXEC_SIM_FORMAT_H
#define PTEXEC_SIM_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

#define SIM_ISIN_LENGTH 12
#define SIM_INSTRUMENT_MAX 64

/* True when `symbol` is a canonical symbol: 1..32 of A-Z 0-9 & - _ . */
bool sim_symbol_valid(const char *symbol);

/* Upper-cases `symbol` in place. */
void sim_symbol_normalize(char *symbol);

/* Writes a deterministic, well-formed fake ISIN ("INE" + issuer + "0101" +
 * Luhn check digit) for `symbol` into `out` (SIM_ISIN_LENGTH + 1 bytes). */
void sim_fake_isin(const char *symbol, char *out);

/* Writes the broker's instrument name of `symbol` (e.g. "NSE:RELIANCE-EQ")
 * into `out` (SIM_INSTRUMENT_MAX bytes). */
void sim_instrument(const sim_profile *profile, const char *symbol, char *out);

/* Deterministic last price of `symbol`: 50.00 … 5000.00, two decimals. */
double sim_price(const char *symbol);

/* Writes the broker order id of order number `sequence` into `out`
 * (BROKER_ORDER_ID_MAX bytes). */
void sim_order_id(const sim_profile *profile, uint32_t sequence, char *out);

/* Recovers the order number from a broker order id that sim_order_id wrote.
 * Returns false for any other text. */
bool sim_parse_order_id(const sim_profile *profile, const char *order_id, uint32_t *sequence);

/* True when `tag` (a client order id) meets the broker's tag rules. */
bool sim_tag_valid(const sim_profile *profile, const char *tag);

#endif
