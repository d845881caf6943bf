#include "sim_format.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim_map.h"

static const char sim_base36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

bool sim_symbol_valid(const char *symbol)
{
    size_t length = strlen(symbol);
    if (length == 0 || length > BROKER_SYMBOL_MAX - 1)
        return false;
    for (const char *p = symbol; *p; p++)
        if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("&-_.", *p)))
            return false;
    return true;
}

void sim_symbol_normalize(char *symbol)
{
    for (char *p = symbol; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

/* Luhn check digit over the ISIN's characters, letters expanded to 10..35. */
static char sim_isin_check_digit(const char *body)
{
    char digits[2 * SIM_ISIN_LENGTH + 1];
    size_t count = 0;
    for (const char *p = body; *p; p++) {
        int value = isdigit((unsigned char)*p) ? *p - '0' : *p - 'A' + 10;
        if (value >= 10)
            digits[count++] = (char)('0' + value / 10);
        digits[count++] = (char)('0' + value % 10);
    }
    int sum = 0;
    for (size_t i = 0; i < count; i++) {
        int digit = digits[count - 1 - i] - '0';
        if (i % 2 == 0) {
            digit *= 2;
            if (digit > 9)
                digit -= 9;
        }
        sum += digit;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

void sim_fake_isin(const char *symbol, char *out)
{
    uint64_t hash = sim_hash(symbol);
    char issuer[5];
    for (int i = 0; i < 4; i++) {
        issuer[i] = sim_base36[hash % 36];
        hash /= 36;
    }
    issuer[4] = '\0';
    snprintf(out, SIM_ISIN_LENGTH, "INE%s0101", issuer);
    out[SIM_ISIN_LENGTH - 1] = sim_isin_check_digit(out);
    out[SIM_ISIN_LENGTH] = '\0';
}

void sim_instrument(const sim_profile *profile, const char *symbol, char *out)
{
    char isin[SIM_ISIN_LENGTH + 1];
    if (profile->instrument_isin)
        sim_fake_isin(symbol, isin);
    snprintf(out, SIM_INSTRUMENT_MAX, "%s%s%s",
             profile->instrument_prefix ? profile->instrument_prefix : "",
             profile->instrument_isin ? isin : symbol,
             profile->instrument_suffix ? profile->instrument_suffix : "");
}

double sim_price(const char *symbol)
{
    uint64_t paise = 5000 + sim_hash(symbol) % (500000 - 5000 + 1);
    return (double)paise / 100.0;
}

/* A bijective 64-bit mix (splitmix64's finalizer): random-looking letters. */
static uint64_t sim_mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void sim_base36_fixed(uint64_t value, char *out, size_t width)
{
    for (size_t i = width; i > 0; i--) {
        out[i - 1] = sim_base36[value % 36];
        value /= 36;
    }
}

void sim_order_id(const sim_profile *profile, uint32_t sequence, char *out)
{
    const char *prefix = profile->order_id_prefix ? profile->order_id_prefix : "";
    uint64_t number = (uint64_t)sequence + 1;
    size_t prefix_length = strlen(prefix);
    if (profile->order_id_alphanumeric) {
        char tail[17];
        sim_base36_fixed(sim_mix(number), tail, 8);
        sim_base36_fixed(number, tail + 8, 8);
        tail[16] = '\0';
        snprintf(out, BROKER_ORDER_ID_MAX, "%s%s", prefix, tail);
        return;
    }
    size_t width =
        profile->order_id_length > prefix_length ? profile->order_id_length - prefix_length : 9;
    if (prefix_length + width + 10 >= BROKER_ORDER_ID_MAX) { /* never for the in-tree profiles */
        snprintf(out, BROKER_ORDER_ID_MAX, "%s%0*" PRIu64, prefix, (int)width, number);
        return;
    }
    /* prefix + the number zero-padded to `width` digits (more if it needs them) */
    char digits[20];
    size_t count = 0;
    do {
        digits[count++] = (char)('0' + number % 10);
        number /= 10;
    } while (number != 0);
    memcpy(out, prefix, prefix_length);
    size_t at = prefix_length;
    for (size_t pad = count; pad < width; pad++)
        out[at++] = '0';
    while (count > 0)
        out[at++] = digits[--count];
    out[at] = '\0';
}

bool sim_parse_order_id(const sim_profile *profile, const char *order_id, uint32_t *sequence)
{
    const char *prefix = profile->order_id_prefix ? profile->order_id_prefix : "";
    size_t prefix_length = strlen(prefix);
    if (strncmp(order_id, prefix, prefix_length) != 0 || strlen(order_id) >= BROKER_ORDER_ID_MAX)
        return false;
    uint64_t number = 0;
    const char *digits = order_id + prefix_length;
    if (profile->order_id_alphanumeric)
        digits += strlen(digits) > 8 ? strlen(digits) - 8 : 0;
    for (const char *p = digits; *p; p++) {
        const char *at = strchr(sim_base36, *p);
        int base = profile->order_id_alphanumeric ? 36 : 10;
        if (at == NULL || at - sim_base36 >= base || number > UINT32_MAX)
            return false;
        number = number * (uint64_t)base + (uint64_t)(at - sim_base36);
    }
    if (number == 0 || number > UINT32_MAX)
        return false;
    char expected[BROKER_ORDER_ID_MAX];
    sim_order_id(profile, (uint32_t)(number - 1), expected);
    if (strcmp(expected, order_id) != 0)
        return false;
    *sequence = (uint32_t)(number - 1);
    return true;
}

bool sim_tag_valid(const sim_profile *profile, const char *tag)
{
    const broker_capabilities *caps = &profile->plugin->capabilities;
    size_t length = strlen(tag);
    if (length < caps->tag_min_length || (caps->tag_max_length && length > caps->tag_max_length))
        return false;
    bool alnum_only = (caps->flags & BROKER_CAP_TAG_ALNUM_ONLY) != 0;
    int hyphens = 0;
    for (const char *p = tag; *p; p++) {
        if (isalnum((unsigned char)*p))
            continue;
        if (alnum_only)
            return false;
        if (profile->tag_max_hyphens < 0 && isgraph((unsigned char)*p))
            continue;
        if (*p != '-' || ++hyphens > profile->tag_max_hyphens)
            return false;
    }
    return true;
}
