/*
 * The state file, one record per line, fields separated by one space; text
 * fields are percent-encoded (anything outside [A-Za-z0-9_.-]) and "~" is the
 * empty string:
 *
 *   ptexec-sim-state 2
 *   A ACCOUNT_ID                       an account (indices count from 0)
 *   C FUNDED CASH OPENING              its money (version 2)
 *   H SYMBOL QUANTITY T1 BOUGHT SOLD DAY
 *                                      a holding of the last account, in order,
 *                                      with its T+1 split (version 2)
 *   O ACCOUNT HOLDING CLIENT_ORDER_ID QUANTITY FILLED SIDE STATE OUTCOME
 *     TIMED PRODUCT ORDER_TYPE VALIDITY LIMIT AVERAGE FILLED_VALUE BLOCKED START END CAP
 *                                      an order, in sequence-number order; the
 *                                      market's fields are version 2, so an order
 *                                      filling over time goes on doing so
 *   N SEQUENCE                         the next order's sequence number, where
 *                                      orders were dropped (order_history)
 * Money is written with %.17g (read back exactly). Version 1 files (no C
 * records, no fields past OUTCOME and QUANTITY) still load.
 */
#include "sim_state.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIM_STATE_MAGIC "ptexec-sim-state 2"
#define SIM_STATE_MAGIC_V1 "ptexec-sim-state 1"
#define SIM_STATE_FIELD_MAX 256

static void sim_state_encode(FILE *file, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    if (*text == '\0') {
        fputc('~', file);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == '-') {
            fputc(*p, file);
        } else {
            fputc('%', file);
            fputc(hex[*p >> 4], file);
            fputc(hex[*p & 15], file);
        }
    }
}

static int sim_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes `text` into `out` (`size` bytes); false when malformed or long. */
static bool sim_state_decode(const char *text, char *out, size_t size)
{
    size_t n = 0;
    if (strcmp(text, "~") == 0) {
        out[0] = '\0';
        return true;
    }
    for (const char *p = text; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int high = sim_hex_value(p[1]), low = high >= 0 ? sim_hex_value(p[2]) : -1;
            if (low < 0)
                return false;
            c = high * 16 + low;
            p += 2;
        }
        if (n + 1 >= size || c == 0)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return n > 0;
}

static void sim_state_write(FILE *file, const sim_book *book)
{
    fprintf(file, "%s\n", SIM_STATE_MAGIC);
    for (size_t a = 0; a < book->account_count; a++) {
        const sim_account *account = book->accounts[a];
        fputs("A ", file);
        sim_state_encode(file, account->id);
        fputc('\n', file);
        fprintf(file, "C %d %.17g %.17g\n", account->funded ? 1 : 0, account->cash,
                account->opening_cash);
        for (size_t h = 0; h < account->holding_count; h++) {
            const sim_holding *holding = &account->holdings[h];
            fputs("H ", file);
            sim_state_encode(file, holding->symbol);
            fprintf(file, " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId32 "\n",
                    holding->quantity, holding->t1, holding->bought_today, holding->sold_today,
                    holding->day);
        }
    }
    bool gap = false;
    for (uint32_t s = 0; s < book->order_count; s++) {
        const sim_order *order = sim_book_order(book, s);
        if (order == NULL) { /* dropped (order_history) */
            gap = true;
            continue;
        }
        if (gap)
            fprintf(file, "N %" PRIu32 "\n", s);
        gap = false;
        fprintf(file, "O %" PRIu32 " %" PRIu32 " ", order->account, order->holding);
        sim_state_encode(file, order->client_order_id);
        fprintf(file,
                " %" PRId64 " %" PRId64 " %u %u %u %u %u %u %u %.17g %.17g %.17g %.17g %" PRId64
                " %" PRId64 " %" PRId64 "\n",
                order->quantity, order->filled, order->side, order->state, order->outcome,
                order->timed, order->product, order->order_type, order->validity,
                order->limit_price, order->average, order->filled_value, order->blocked,
                order->start_ms, order->end_ms, order->fill_cap);
    }
    if (gap)
        fprintf(file, "N %" PRIu32 "\n", book->order_count);
}

/* fsyncs the folder that holds `path`, so the rename itself is durable. */
static void sim_state_sync_folder(const char *path)
{
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", path);
    char *slash = strrchr(folder, '/');
    if (slash == folder)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(folder, sizeof folder, ".");
    int fd = open(folder, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int sim_state_save(const sim_book *book, const char *path, char *why, size_t why_size)
{
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp.%ld", path, (long)getpid());
    /* 0600 whatever the umask: the book names accounts and their holdings */
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *file = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
    if (file == NULL) {
        if (fd >= 0)
            close(fd);
        snprintf(why, why_size, "cannot write %s: %s", temporary, strerror(errno));
        return -1;
    }
    sim_state_write(file, book);
    bool ok = fflush(file) == 0 && fsync(fileno(file)) == 0;
    int saved_errno = errno;
    ok = fclose(file) == 0 && ok;
    if (ok && rename(temporary, path) != 0) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        unlink(temporary);
        snprintf(why, why_size, "cannot save %s: %s", path, strerror(saved_errno));
        return -1;
    }
    sim_state_sync_folder(path);
    return 0;
}

/* Parses one "O" record into *order. */
static bool sim_state_order(char *rest, sim_order *order)
{
    char tag[SIM_STATE_FIELD_MAX];
    unsigned side = 0, state = 0, outcome = 0, timed = 0, product = 0, type = 0, validity = 0;
    memset(order, 0, sizeof *order);
    int fields = sscanf(rest,
                        "%" SCNu32 " %" SCNu32 " %255s %" SCNd64 " %" SCNd64
                        " %u %u %u %u %u %u %u %lf %lf %lf %lf %" SCNd64 " %" SCNd64 " %" SCNd64,
                        &order->account, &order->holding, tag, &order->quantity, &order->filled,
                        &side, &state, &outcome, &timed, &product, &type, &validity,
                        &order->limit_price, &order->average, &order->filled_value, &order->blocked,
                        &order->start_ms, &order->end_ms, &order->fill_cap);
    if (fields != 8 && fields != 19)
        return false;
    if (!sim_state_decode(tag, order->client_order_id, sizeof order->client_order_id) || side < 1 ||
        side > 2 || state > 4 || outcome > 4 || timed > 1 || product > 255 || type > 255 ||
        validity > 255)
        return false;
    order->side = (uint8_t)side;
    order->state = (uint8_t)state;
    order->outcome = (uint8_t)outcome;
    order->timed = (uint8_t)timed;
    order->product = (uint8_t)product;
    order->order_type = (uint8_t)type;
    order->validity = (uint8_t)validity;
    return true;
}

/* Applies one line; `account` is the index of the last "A" record. */
static bool sim_state_line(sim_book *book, char *line, uint32_t *account)
{
    char field[SIM_STATE_FIELD_MAX], text[SIM_STATE_FIELD_MAX];
    int64_t quantity = 0;
    sim_holding split;
    int funded = 0;
    double cash = 0.0, opening = 0.0;
    sim_order order;
    int fields;
    switch (line[0]) {
    case 'A':
        if (sscanf(line + 1, " %255s", field) != 1 ||
            !sim_state_decode(field, text, BROKER_ACCOUNT_ID_MAX))
            return false;
        *account = sim_book_account(book, text, NULL, 0);
        return *account != SIM_MAP_NONE;
    case 'C':
        return *account != SIM_MAP_NONE &&
               sscanf(line + 1, " %d %lf %lf", &funded, &cash, &opening) == 3 &&
               (funded == 0 || funded == 1) &&
               sim_book_restore_cash(book, *account, funded == 1, cash, opening) == 0;
    case 'H':
        memset(&split, 0, sizeof split);
        fields =
            *account == SIM_MAP_NONE
                ? 0
                : sscanf(line + 1,
                         " %255s %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd32, field,
                         &quantity, &split.t1, &split.bought_today, &split.sold_today, &split.day);
        if ((fields != 2 && fields != 6) || !sim_state_decode(field, text, BROKER_SYMBOL_MAX))
            return false;
        split.quantity = quantity;
        return sim_book_restore_holding(book, *account, text, &split) == 0;
    case 'O':
        return sim_state_order(line + 1, &order) && sim_book_restore_order(book, &order) == 0;
    case 'N':
        return sscanf(line + 1, " %" SCNu32, &order.sequence) == 1 &&
               sim_book_restore_next(book, order.sequence) == 0;
    default:
        return false;
    }
}

int sim_state_load(sim_book *book, const char *path, char *why, size_t why_size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int number = 0, result = 0;
    uint32_t account = SIM_MAP_NONE;
    while (result == 0 && fgets(line, sizeof line, file) != NULL) {
        number++;
        line[strcspn(line, "\n")] = '\0';
        bool ok = number == 1
                      ? strcmp(line, SIM_STATE_MAGIC) == 0 || strcmp(line, SIM_STATE_MAGIC_V1) == 0
                      : sim_state_line(book, line, &account);
        if (!ok) {
            snprintf(why, why_size, "%s: line %d: not a valid record", path, number);
            result = -1;
        }
    }
    fclose(file);
    book->dirty = false;
    return result;
}
