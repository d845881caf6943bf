/*
 * JSON reading over cJSON, and a streaming writer.
 *
 * cJSON stores every number as a double, which loses two things the input
 * rules need: whether a number was written as an integer (1000) or not (1e3,
 * 1000.0), and the exact value of integers beyond 2^53. So json_parse first
 * scans the text itself (checking number grammar, nesting depth and control
 * characters, and noting where each number starts), lets cJSON build the tree,
 * then walks the tree in document order and annotates each number node from
 * its literal. A json_value is a cJSON node; for numbers, `valueint` holds our
 * number kind and `valuestring` the literal when the double cannot stand in
 * for it.
 *
 * Memory: cJSON allocates every node and string separately. Through
 * cJSON_InitHooks, the nodes of one json_parse come from an arena instead (a
 * few large blocks), and json_free releases the blocks, not the nodes one by
 * one. Every allocation carries a 16-byte header naming its arena (NULL for
 * the heap), so the free hook and json_free know what they hold.
 */
#include "json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 512        /* well below cJSON's own limit of 1000 */
#define JSON_EXACT_DIGITS 15      /* integer literals this long are exact as doubles */
#define JSON_MAX_NUMBER_LENGTH 63 /* cJSON reads at most 63 characters of a number */

#define JSON_ARENA_BLOCK 16384 /* first block; later ones double, up to 1 MiB */

enum number_kind { NUMBER_INTEGER = 0, NUMBER_FLOAT = 1, NUMBER_BIG_INTEGER = 2 };

typedef struct json_block {
    struct json_block *next;
    size_t used, size;
    max_align_t data[]; /* `size` bytes */
} json_block;

typedef struct json_arena {
    json_block *blocks; /* newest first */
    size_t next_size;
} json_arena;

/* In front of every allocation made through the cJSON hooks. */
typedef union json_header {
    json_arena *arena; /* NULL: plain heap memory */
    max_align_t align;
} json_header;

/* The arena of the json_parse running on this thread, or NULL. */
static _Thread_local json_arena *json_active_arena;
static pthread_once_t json_hooks_once = PTHREAD_ONCE_INIT;

static size_t json_round(size_t size)
{
    return (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
}

/* `size` bytes (a multiple of max_align_t) from the arena; NULL when out of memory. */
static void *arena_take(json_arena *arena, size_t size)
{
    json_block *block = arena->blocks;
    if (block == NULL || block->size - block->used < size) {
        size_t capacity = arena->next_size > size ? arena->next_size : size;
        block = malloc(sizeof *block + capacity);
        if (block == NULL)
            return NULL;
        block->next = arena->blocks;
        block->used = 0;
        block->size = capacity;
        arena->blocks = block;
        if (arena->next_size < 1024 * 1024)
            arena->next_size *= 2;
    }
    void *memory = (unsigned char *)block->data + block->used;
    block->used += size;
    return memory;
}

static void arena_free(json_arena *arena)
{
    if (arena == NULL)
        return;
    for (json_block *block = arena->blocks, *next; block != NULL; block = next) {
        next = block->next;
        free(block);
    }
    free(arena);
}

static void *json_hook_malloc(size_t size)
{
    if (size > SIZE_MAX - 2 * sizeof(json_header))
        return NULL;
    size_t total = sizeof(json_header) + json_round(size);
    json_arena *arena = json_active_arena;
    json_header *header = arena ? arena_take(arena, total) : malloc(total);
    if (header == NULL)
        return NULL;
    header->arena = arena;
    return header + 1;
}

static json_header *json_header_of(const void *memory)
{
    return (json_header *)memory - 1;
}

static void json_hook_free(void *memory)
{
    if (memory != NULL && json_header_of(memory)->arena == NULL)
        free(json_header_of(memory));
}

static void json_install_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = json_hook_malloc, .free_fn = json_hook_free};
    cJSON_InitHooks(&hooks);
}

typedef struct number_offsets {
    size_t *items;
    size_t count;
    size_t capacity;
} number_offsets;

static const cJSON *node(const json_value *value)
{
    return (const cJSON *)value;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_number_char(char c)
{
    return is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

static bool offsets_push(number_offsets *offsets, size_t offset)
{
    if (offsets->count == offsets->capacity) {
        size_t capacity = offsets->capacity ? offsets->capacity * 2 : 64;
        size_t *items = realloc(offsets->items, capacity * sizeof *items);
        if (items == NULL)
            return false;
        offsets->items = items;
        offsets->capacity = capacity;
    }
    offsets->items[offsets->count++] = offset;
    return true;
}

static size_t skip_digits(const char *text, size_t at)
{
    while (is_digit(text[at]))
        at++;
    return at;
}

/* Checks the JSON number grammar at text[start]; returns the end offset, or 0
 * when the token is not a valid number. `text` is NUL-terminated. */
static size_t scan_number(const char *text, size_t start)
{
    size_t at = start;
    if (text[at] == '-')
        at++;
    if (text[at] == '0')
        at++;
    else if (is_digit(text[at]))
        at = skip_digits(text, at);
    else
        return 0;
    if (text[at] == '.') {
        if (!is_digit(text[at + 1]))
            return 0;
        at = skip_digits(text, at + 1);
    }
    if (text[at] == 'e' || text[at] == 'E') {
        at++;
        if (text[at] == '+' || text[at] == '-')
            at++;
        if (!is_digit(text[at]))
            return 0;
        at = skip_digits(text, at);
    }
    return is_number_char(text[at]) ? 0 : at;
}

static bool fail_at(char *why, size_t why_size, size_t offset, const char *reason)
{
    snprintf(why, why_size, "malformed JSON at byte %zu: %s", offset, reason);
    return false;
}

/* Inside a string at text[*at] (just past the opening quote): advances *at to
 * the closing quote. Refuses raw control characters and the \u0000 escape,
 * which would silently truncate the C string. */
static bool prescan_string(const char *text, size_t length, size_t *at, char *why, size_t why_size)
{
    size_t i = *at;
    for (; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"') {
            *at = i;
            return true;
        }
        if (c < 0x20)
            return fail_at(why, why_size, i, "control character in string");
        if (c == '\\') {
            if (i + 5 < length && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0)
                return fail_at(why, why_size, i, "\\u0000 in string");
            i++;
        }
    }
    return fail_at(why, why_size, length, "unterminated string");
}

/* The checks cJSON leaves out, and the start offset of every number token. */
static bool prescan(const char *text, size_t length, number_offsets *offsets, unsigned *open,
                    char *why, size_t why_size)
{
    unsigned depth = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '"') {
            i++;
            if (!prescan_string(text, length, &i, why, why_size))
                return false;
        } else if ((unsigned char)c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return fail_at(why, why_size, i, "control character");
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return fail_at(why, why_size, i, "nested deeper than 512 levels");
        } else if (c == ']' || c == '}') {
            if (depth > 0)
                depth--;
        } else if (c == '-' || is_digit(c)) {
            size_t end = scan_number(text, i);
            if (end == 0)
                return fail_at(why, why_size, i, "invalid number");
            if (end - i > JSON_MAX_NUMBER_LENGTH)
                return fail_at(why, why_size, i, "number longer than 63 characters");
            if (!offsets_push(offsets, i))
                return fail_at(why, why_size, i, "out of memory");
            i = end - 1;
        }
    }
    *open = depth;
    return true;
}

static bool annotate_number(cJSON *item, const char *literal)
{
    size_t length = 0, digits = 0;
    bool fraction = false;
    while (is_number_char(literal[length])) {
        if (literal[length] == '.' || literal[length] == 'e' || literal[length] == 'E')
            fraction = true;
        if (is_digit(literal[length]))
            digits++;
        length++;
    }
    item->valueint = fraction ? NUMBER_FLOAT : NUMBER_INTEGER;
    if (!fraction && digits > JSON_EXACT_DIGITS)
        item->valueint = NUMBER_BIG_INTEGER;
    if (item->valueint == NUMBER_INTEGER)
        return true;
    item->valuestring = json_hook_malloc(length + 1); /* freed with the document */
    if (item->valuestring == NULL)
        return false;
    memcpy(item->valuestring, literal, length);
    item->valuestring[length] = '\0';
    return true;
}

/* Visits the number nodes in document order, pairing each with the next
 * recorded literal. Recursion depth is bounded by JSON_MAX_DEPTH. */
static bool annotate(cJSON *item, const char *text, const number_offsets *offsets, size_t *next)
{
    for (; item != NULL; item = item->next) {
        if ((item->type & 0xFF) == cJSON_Number) {
            if (*next >= offsets->count)
                return false;
            if (!annotate_number(item, text + offsets->items[(*next)++]))
                return false;
        }
        if (item->child != NULL && !annotate(item->child, text, offsets, next))
            return false;
    }
    return true;
}

static size_t skip_whitespace(const char *text, size_t at, size_t length)
{
    while (at < length &&
           (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r'))
        at++;
    return at;
}

/* cJSON reports running out of input as an error at the last byte; the
 * containers still open at the end tell the two apart. */
static void parse_failure(const char *copy, size_t length, size_t offset, unsigned open, char *why,
                          size_t why_size)
{
    bool at_end = offset >= length;
    if (!at_end && offset + 1 == length)
        at_end = open > 0 || skip_whitespace(copy, offset, length) == length;
    if (at_end)
        fail_at(why, why_size, length, "unexpected end of input");
    else
        fail_at(why, why_size, offset, "unexpected character");
}

static cJSON *parse_tree(const char *copy, size_t length, unsigned open, char *why, size_t why_size)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, length, &end, 0);
    size_t offset = end ? (size_t)(end - copy) : 0;
    if (root == NULL) {
        parse_failure(copy, length, offset, open, why, why_size);
        return NULL;
    }
    offset = skip_whitespace(copy, offset, length);
    if (offset < length) {
        cJSON_Delete(root);
        fail_at(why, why_size, offset, "unexpected text after the document");
        return NULL;
    }
    return root;
}

/* Length of the valid UTF-8 sequence at `text` (1–4), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *text)
{
    unsigned char c = text[0];
    size_t length = c < 0x80             ? 1
                    : (c & 0xE0) == 0xC0 ? 2
                    : (c & 0xF0) == 0xE0 ? 3
                    : (c & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (length == 0 || (length == 2 && c < 0xC2) || (length == 4 && c > 0xF4))
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xC0) != 0x80)
            return 0;
    if (length == 3 && ((c == 0xE0 && text[1] < 0xA0) || (c == 0xED && text[1] > 0x9F)))
        return 0; /* overlong, or a surrogate */
    if (length == 4 && ((c == 0xF0 && text[1] < 0x90) || (c == 0xF4 && text[1] > 0x8F)))
        return 0;
    return length;
}

void json_safe_text(const char *text, char *out, size_t out_size)
{
    size_t used = 0;
    const unsigned char *at = (const unsigned char *)text;
    while (*at != '\0' && out_size > 0) {
        size_t length = utf8_sequence(at);
        if (length > 0 && used + length < out_size) {
            memcpy(out + used, at, length);
            used += length;
            at += length;
        } else if (length == 0 && used + 4 < out_size) {
            snprintf(out + used, out_size - used, "\\x%02X", *at);
            used += 4;
            at++;
        } else {
            break;
        }
    }
    if (out_size > 0)
        out[used < out_size ? used : out_size - 1] = '\0';
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key of `object` given twice, or NULL: pairwise for small
 * objects, sorted otherwise (a body may hold 100,000 keys). *failed on OOM. */
static const char *duplicate_member(const cJSON *object, bool *failed)
{
    size_t count = 0;
    for (const cJSON *m = object->child; m != NULL; m = m->next)
        count++;
    if (count <= 16) {
        for (const cJSON *m = object->child; m != NULL; m = m->next)
            for (const cJSON *n = m->next; n != NULL; n = n->next)
                if (strcmp(m->string, n->string) == 0)
                    return m->string;
        return NULL;
    }
    const char **keys = malloc(count * sizeof *keys);
    if (keys == NULL) {
        *failed = true;
        return NULL;
    }
    size_t i = 0;
    for (const cJSON *m = object->child; m != NULL; m = m->next)
        keys[i++] = m->string;
    qsort(keys, count, sizeof *keys, compare_keys);
    const char *found = NULL;
    for (i = 1; i < count && found == NULL; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            found = keys[i];
    free(keys);
    return found;
}

/* Appends ".key" or "[index]" to the JSONPath in `path` at `used` (the
 * caller cuts it back). */
static void path_push(char *path, size_t size, size_t used, const cJSON *parent, size_t index,
                      const cJSON *child)
{
    char safe[64];
    if ((parent->type & 0xFF) == cJSON_Object) {
        json_safe_text(child->string, safe, sizeof safe);
        snprintf(path + used, size - used, ".%s", safe);
    } else {
        snprintf(path + used, size - used, "[%zu]", index);
    }
}

/* Refuses an object that gives one key twice, at any depth: readers that
 * keep the first and readers that keep the last would see two different
 * requests. Depth is bounded by JSON_MAX_DEPTH (prescan). */
static bool refuse_duplicates(const cJSON *item, char *path, size_t path_size, char *why,
                              size_t why_size)
{
    int type = item->type & 0xFF;
    if (type != cJSON_Object && type != cJSON_Array)
        return true;
    bool failed = false;
    const char *key = type == cJSON_Object ? duplicate_member(item, &failed) : NULL;
    if (failed || key != NULL) {
        char safe[96];
        json_safe_text(key ? key : "", safe, sizeof safe);
        if (failed)
            snprintf(why, why_size, "out of memory checking keys");
        else
            snprintf(why, why_size, "malformed JSON: duplicate key '%s' at %s", safe, path);
        return false;
    }
    size_t used = strlen(path), index = 0;
    for (const cJSON *child = item->child; child != NULL; child = child->next, index++) {
        path_push(path, path_size, used, item, index, child);
        bool ok = refuse_duplicates(child, path, path_size, why, why_size);
        path[used] = '\0';
        if (!ok)
            return false;
    }
    return true;
}

json_value *json_parse(const char *text, size_t length, char *why, size_t why_size)
{
    pthread_once(&json_hooks_once, json_install_hooks);
    number_offsets offsets = {0};
    cJSON *root = NULL;
    char *copy = malloc(length + 1);
    json_arena *arena = calloc(1, sizeof *arena);
    if (copy == NULL || arena == NULL) {
        free(copy);
        free(arena);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    arena->next_size = JSON_ARENA_BLOCK;
    json_active_arena = arena;
    if (length > 0)
        memcpy(copy, text, length);
    copy[length] = '\0';
    unsigned open = 0;
    if (!prescan(copy, length, &offsets, &open, why, why_size))
        goto cleanup;
    root = parse_tree(copy, length, open, why, why_size);
    if (root == NULL)
        goto cleanup;
    size_t next = 0;
    char path[256] = "$";
    if (!annotate(root, copy, &offsets, &next) || next != offsets.count) {
        root = NULL;
        snprintf(why, why_size, "malformed JSON: cannot read its numbers (or out of memory)");
    } else if (!refuse_duplicates(root, path, sizeof path, why, why_size)) {
        root = NULL;
    }
cleanup:
    json_active_arena = NULL;
    if (root == NULL)
        arena_free(arena); /* whatever a failed parse left in it */
    free(offsets.items);
    free(copy);
    return (json_value *)root;
}

void json_free(json_value *document)
{
    if (document == NULL)
        return;
    json_arena *arena = json_header_of(document)->arena;
    if (arena != NULL)
        arena_free(arena);
    else
        cJSON_Delete((cJSON *)document);
}

json_type json_type_of(const json_value *value)
{
    const cJSON *item = node(value);
    if (item == NULL)
        return JSON_NULL;
    switch (item->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
        return JSON_BOOL;
    case cJSON_Number:
        return item->valueint == NUMBER_FLOAT ? JSON_FLOAT : JSON_INTEGER;
    case cJSON_String:
        return JSON_STRING;
    case cJSON_Array:
        return JSON_ARRAY;
    case cJSON_Object:
        return JSON_OBJECT;
    default:
        return JSON_NULL;
    }
}

const char *json_type_name(json_type type)
{
    switch (type) {
    case JSON_NULL:
        return "null";
    case JSON_BOOL:
        return "boolean";
    case JSON_INTEGER:
        return "integer";
    case JSON_FLOAT:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    }
    return "unknown";
}

const json_value *json_get(const json_value *value, const char *key)
{
    if (json_type_of(value) != JSON_OBJECT || key == NULL)
        return NULL;
    for (const cJSON *member = node(value)->child; member != NULL; member = member->next)
        if (member->string != NULL && strcmp(member->string, key) == 0)
            return (const json_value *)member;
    return NULL;
}

const json_value *json_first(const json_value *value)
{
    json_type type = json_type_of(value);
    if (type != JSON_ARRAY && type != JSON_OBJECT)
        return NULL;
    return (const json_value *)node(value)->child;
}

const json_value *json_next(const json_value *value)
{
    return value ? (const json_value *)node(value)->next : NULL;
}

const char *json_key(const json_value *member)
{
    return member ? node(member)->string : NULL;
}

size_t json_size(const json_value *value)
{
    size_t count = 0;
    for (const json_value *item = json_first(value); item != NULL; item = json_next(item))
        count++;
    return count;
}

const char *json_string(const json_value *value)
{
    return json_type_of(value) == JSON_STRING ? node(value)->valuestring : NULL;
}

bool json_integer(const json_value *value, int64_t *out)
{
    if (json_type_of(value) != JSON_INTEGER)
        return false;
    const cJSON *item = node(value);
    if (item->valueint == NUMBER_INTEGER) {
        *out = (int64_t)item->valuedouble;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long long number = strtoll(item->valuestring, &end, 10);
    if (errno == ERANGE || end == item->valuestring || *end != '\0')
        return false;
    *out = number;
    return true;
}

void json_number_text(const json_value *value, char *out, size_t out_size)
{
    json_type type = json_type_of(value);
    const cJSON *item = node(value);
    if (type != JSON_INTEGER && type != JSON_FLOAT)
        snprintf(out, out_size, "%s", "");
    else if (item->valuestring != NULL)
        snprintf(out, out_size, "%s", item->valuestring);
    else
        snprintf(out, out_size, "%" PRId64, (int64_t)item->valuedouble);
}

bool json_bool(const json_value *value)
{
    return value != NULL && (node(value)->type & 0xFF) == cJSON_True;
}

/* --- writer --- */

void json_writer_init(json_writer *writer)
{
    memset(writer, 0, sizeof *writer);
}

static bool writer_reserve(json_writer *writer, size_t extra)
{
    if (writer->failed)
        return false;
    if (writer->length + extra + 1 <= writer->capacity)
        return true;
    size_t capacity = writer->capacity ? writer->capacity : 256;
    while (capacity < writer->length + extra + 1) {
        if (capacity > SIZE_MAX / 2) {
            writer->failed = true;
            return false;
        }
        capacity *= 2;
    }
    char *buffer = realloc(writer->buffer, capacity);
    if (buffer == NULL) {
        writer->failed = true;
        return false;
    }
    writer->buffer = buffer;
    writer->capacity = capacity;
    return true;
}

static void writer_append(json_writer *writer, const char *text, size_t length)
{
    if (!writer_reserve(writer, length))
        return;
    memcpy(writer->buffer + writer->length, text, length);
    writer->length += length;
    writer->buffer[writer->length] = '\0';
}

static void writer_char(json_writer *writer, char c)
{
    if (writer->length + 2 <= writer->capacity && !writer->failed) {
        writer->buffer[writer->length++] = c;
        writer->buffer[writer->length] = '\0';
        return;
    }
    writer_append(writer, &c, 1);
}

/* Writes the separator a value needs at the current level. */
static void value_begin(json_writer *writer)
{
    if (writer->need_comma[writer->depth])
        writer_char(writer, ',');
}

static void value_end(json_writer *writer)
{
    writer->need_comma[writer->depth] = true;
}

static void container_begin(json_writer *writer, char open)
{
    value_begin(writer);
    if (writer->depth + 1 >= sizeof writer->need_comma / sizeof writer->need_comma[0]) {
        writer->failed = true;
        return;
    }
    writer_char(writer, open);
    writer->depth++;
    writer->need_comma[writer->depth] = false;
}

static void container_end(json_writer *writer, char close)
{
    if (writer->depth == 0) {
        writer->failed = true;
        return;
    }
    writer->depth--;
    writer_char(writer, close);
    value_end(writer);
}

void json_object_begin(json_writer *writer)
{
    container_begin(writer, '{');
}

void json_object_end(json_writer *writer)
{
    container_end(writer, '}');
}

void json_array_begin(json_writer *writer)
{
    container_begin(writer, '[');
}

void json_array_end(json_writer *writer)
{
    container_end(writer, ']');
}

/* Length of `text` when no character of it needs escaping, else SIZE_MAX. */
static size_t plain_length(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    for (; *p != '\0'; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\')
            return SIZE_MAX;
    return (size_t)(p - (const unsigned char *)text);
}

static void write_escaped(json_writer *writer, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t plain = plain_length(text);
    if (plain != SIZE_MAX) { /* the usual case: one reservation, one copy */
        if (!writer_reserve(writer, plain + 2))
            return;
        char *at = writer->buffer + writer->length;
        at[0] = '"';
        memcpy(at + 1, text, plain);
        at[plain + 1] = '"';
        at[plain + 2] = '\0';
        writer->length += plain + 2;
        return;
    }
    writer_char(writer, '"');
    const char *run = text;
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        writer_append(writer, run, (size_t)(p - run));
        run = p + 1;
        char escape[7] = {'\\', (char)c, 0};
        size_t length = 2;
        if (c == '\n')
            escape[1] = 'n';
        else if (c == '\r')
            escape[1] = 'r';
        else if (c == '\t')
            escape[1] = 't';
        else if (c == '\b')
            escape[1] = 'b';
        else if (c == '\f')
            escape[1] = 'f';
        else if (c < 0x20) {
            memcpy(escape + 1, "u00", 3);
            escape[4] = hex[c >> 4];
            escape[5] = hex[c & 0xF];
            length = 6;
        }
        writer_append(writer, escape, length);
    }
    writer_append(writer, run, strlen(run));
    writer_char(writer, '"');
}

void json_key_write(json_writer *writer, const char *key)
{
    value_begin(writer);
    write_escaped(writer, key ? key : "");
    writer_char(writer, ':');
    writer->need_comma[writer->depth] = false;
}

void json_write_string(json_writer *writer, const char *text)
{
    if (text == NULL) {
        json_write_null(writer);
        return;
    }
    value_begin(writer);
    write_escaped(writer, text);
    value_end(writer);
}

static void write_plain(json_writer *writer, const char *text)
{
    value_begin(writer);
    writer_append(writer, text, strlen(text));
    value_end(writer);
}

/* Writes the decimal digits of `number` ending just before `end`; returns
 * where they start. */
static char *format_digits(uint64_t number, char *end)
{
    do {
        *--end = (char)('0' + number % 10);
        number /= 10;
    } while (number != 0);
    return end;
}

/* Formats `number` into `text` (at least 24 bytes); returns its length. */
static size_t format_int(int64_t number, char *text)
{
    char digits[24];
    char *end = digits + sizeof digits;
    uint64_t magnitude = number < 0 ? 0 - (uint64_t)number : (uint64_t)number;
    char *start = format_digits(magnitude, end);
    if (number < 0)
        *--start = '-';
    size_t length = (size_t)(end - start);
    memcpy(text, start, length);
    text[length] = '\0';
    return length;
}

void json_write_text_or_null(json_writer *writer, const char *text)
{
    if (text == NULL || text[0] == '\0')
        json_write_null(writer);
    else
        json_write_string(writer, text);
}

void json_write_int(json_writer *writer, int64_t number)
{
    char text[24];
    size_t length = format_int(number, text);
    value_begin(writer);
    writer_append(writer, text, length);
    value_end(writer);
}

/* Writes `number` as a plain decimal with at most 6 fraction digits when
 * that text is exactly what %.15g would print (true), else leaves `text`
 * alone (false). Prices such as 2500.5 take this path. */
static bool format_short_decimal(double number, char text[32])
{
    static const double scales[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double magnitude = fabs(number);
    if (!(magnitude >= 1e-4 && magnitude < 1e15))
        return false; /* %g switches to exponents out there; 0 and -0 too */
    for (int places = 0; places <= 6; places++) {
        double scaled = magnitude * scales[places];
        if (scaled >= 1e15) /* 15 significant digits at most, all exact */
            return false;
        uint64_t whole = (uint64_t)scaled;
        if ((double)whole != scaled || (double)whole / scales[places] != magnitude)
            continue;
        while (places > 0 && whole % 10 == 0) { /* the same decimal, shorter */
            whole /= 10;
            places--;
        }
        /* whole / 10^places has at most 15 significant digits and reads back
         * as `number`, so %.15g prints these same digits. */
        char digits[32];
        char *end = digits + sizeof digits;
        char *start = format_digits(whole, end);
        while (end - start <= places)
            *--start = '0';
        size_t integer = (size_t)(end - start) - (size_t)places;
        size_t at = 0;
        if (number < 0)
            text[at++] = '-';
        memcpy(text + at, start, integer);
        at += integer;
        if (places > 0) {
            text[at++] = '.';
            memcpy(text + at, start + integer, (size_t)places);
            at += (size_t)places;
        }
        text[at] = '\0';
        return true;
    }
    return false;
}

/* The shortest of %.15g, %.16g and %.17g that reads back as `number`. */
static void format_double(double number, char text[32])
{
    if (format_short_decimal(number, text))
        return;
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, 32, "%.*g", precision, number);
        if (strtod(text, NULL) == number)
            return;
    }
}

void json_write_double(json_writer *writer, double number)
{
    if (!isfinite(number)) {
        json_write_null(writer);
        return;
    }
    char text[32];
    format_double(number, text);
    write_plain(writer, text);
}

void json_write_bool(json_writer *writer, bool value)
{
    write_plain(writer, value ? "true" : "false");
}

void json_write_null(json_writer *writer)
{
    write_plain(writer, "null");
}

void json_write_raw(json_writer *writer, const char *json)
{
    write_plain(writer, json ? json : "null");
}

char *json_writer_finish(json_writer *writer, size_t *length)
{
    if (!writer->failed && writer->buffer == NULL)
        writer_reserve(writer, 0);
    char *text = writer->failed ? NULL : writer->buffer;
    if (text != NULL) {
        text[writer->length] = '\0';
        if (length)
            *length = writer->length;
    } else {
        free(writer->buffer);
        if (length)
            *length = 0;
    }
    json_writer_init(writer);
    return text;
}

void json_writer_discard(json_writer *writer)
{
    free(writer->buffer);
    json_writer_init(writer);
}

void json_writer_clear(json_writer *writer)
{
    char *buffer = writer->buffer;
    size_t capacity = writer->capacity;
    bool failed = writer->failed;
    json_writer_init(writer);
    if (!failed) {
        writer->buffer = buffer;
        writer->capacity = capacity;
    } else {
        free(buffer);
    }
}
