/* JSON reading (a thin wrapper over cJSON, the only file that includes it)
 * and a streaming JSON writer. */
#ifndef PTEXEC_JSON_H
#define PTEXEC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_INTEGER, /* a number written without fraction or exponent */
    JSON_FLOAT,   /* any other number: 1.5, 1.0, 1e3 */
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;

/*
 * Parses `length` bytes of JSON text. Returns the document (release with
 * json_free) or NULL, with a reason written to `why` (of `why_size` bytes):
 * the byte offset of a syntax error, or "duplicate key 'K' at $.path" for an
 * object that gives a key twice, at any depth. Any thread.
 */
json_value *json_parse(const char *text, size_t length, char *why, size_t why_size);

/* Copies `text` into `out` (`out_size` bytes, truncated at a character)
 * with every byte that is not part of valid UTF-8 written as \xNN, so that
 * echoing it keeps a document valid UTF-8. */
void json_safe_text(const char *text, char *out, size_t out_size);

/* Frees a document returned by json_parse; NULL is fine. */
void json_free(json_value *document);

/* The type of `value`. */
json_type json_type_of(const json_value *value);

/* Returns "null", "boolean", "integer", "number", "string", "array" or "object". */
const char *json_type_name(json_type type);

/* Member `key` of an object, or NULL when absent or when `value` is not an
 * object. If the key repeats, the first one. */
const json_value *json_get(const json_value *value, const char *key);

/* First element of an array or first member of an object, then the next
 * sibling; NULL at the end. Iterate this way: arrays are linked lists. */
const json_value *json_first(const json_value *value);
const json_value *json_next(const json_value *value);

/* Key of an object member during iteration, else NULL. */
const char *json_key(const json_value *member);

/* Number of elements or members. O(n). */
size_t json_size(const json_value *value);

/* The string of a JSON_STRING value, else NULL. Lives as long as the document. */
const char *json_string(const json_value *value);

/* Stores the value of a JSON_INTEGER that fits in int64_t; false otherwise. */
bool json_integer(const json_value *value, int64_t *out);

/* Writes the number of a JSON_INTEGER or JSON_FLOAT as the document wrote it
 * (e.g. "1e3", "1.0", "99999999999999999999"; plain integers of up to 15
 * digits in canonical form) into `out` (`out_size` bytes); "" for other
 * types. For error messages. */
void json_number_text(const json_value *value, char *out, size_t out_size);

/* The value of a JSON_BOOL (false for other types). */
bool json_bool(const json_value *value);

/*
 * Streaming writer into a growing heap buffer. Commas are inserted
 * automatically. After an allocation failure every call is a no-op and
 * json_writer_finish returns NULL.
 */
typedef struct json_writer {
    char *buffer;
    size_t length;
    size_t capacity;
    unsigned depth;
    bool need_comma[64];
    bool failed;
} json_writer;

void json_writer_init(json_writer *writer);
void json_object_begin(json_writer *writer);
void json_object_end(json_writer *writer);
void json_array_begin(json_writer *writer);
void json_array_end(json_writer *writer);
/* Writes an object key; the next value call writes its value. */
void json_key_write(json_writer *writer, const char *key);
void json_write_string(json_writer *writer, const char *text);       /* NULL writes null */
void json_write_text_or_null(json_writer *writer, const char *text); /* NULL or "" writes null */
void json_write_int(json_writer *writer, int64_t number);
void json_write_double(json_writer *writer, double number); /* non-finite writes null */
void json_write_bool(json_writer *writer, bool value);
void json_write_null(json_writer *writer);
/* Writes pre-rendered JSON text as one value. */
void json_write_raw(json_writer *writer, const char *json);

/* Returns the NUL-terminated text (caller frees) and its length, or NULL on
 * allocation failure; the writer is reset either way. */
char *json_writer_finish(json_writer *writer, size_t *length);

/* Frees the buffer of an unfinished writer. */
void json_writer_discard(json_writer *writer);

/* Empties the writer for reuse, keeping its buffer (dropped after an
 * allocation failure, which the writer forgets). */
void json_writer_clear(json_writer *writer);

#endif
