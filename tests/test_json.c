/* Check suite for host/json.c: parsing rules cJSON does not enforce on its
 * own (integer vs. float, exact int64, depth, control characters) and the
 * writer's output. */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static json_value *parse_text(const char *text, char *why, size_t why_size)
{
    return json_parse(text, strlen(text), why, why_size);
}

/* Parses "[LITERAL]" and returns the type of its one element. */
static json_type element_type(const char *literal, json_value **document)
{
    char text[128], why[160];
    snprintf(text, sizeof text, "[%s]", literal);
    *document = parse_text(text, why, sizeof why);
    ck_assert_msg(*document != NULL, "%s refused: %s", text, why);
    return json_type_of(json_first(*document));
}

START_TEST(test_float_detection)
{
    static const struct {
        const char *literal;
        json_type type;
    } cases[] = {
        {"1000", JSON_INTEGER}, {"0", JSON_INTEGER},  {"-7", JSON_INTEGER},  {"-0", JSON_INTEGER},
        {"1.5", JSON_FLOAT},    {"1.0", JSON_FLOAT},  {"1e3", JSON_FLOAT},   {"1E3", JSON_FLOAT},
        {"2e-3", JSON_FLOAT},   {"-0.5", JSON_FLOAT}, {"10E+2", JSON_FLOAT}, {"0.0", JSON_FLOAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_value *document = NULL;
        json_type type = element_type(cases[i].literal, &document);
        ck_assert_msg(type == cases[i].type, "%s: got %s", cases[i].literal, json_type_name(type));
        int64_t value = 0;
        ck_assert_int_eq(json_integer(json_first(document), &value), cases[i].type == JSON_INTEGER);
        json_free(document);
    }
}
END_TEST

START_TEST(test_number_text_keeps_literal)
{
    static const char *const literals[] = {"1e3", "1.0", "2950.50", "-7", "99999999999999999999"};
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        json_value *document = NULL;
        element_type(literals[i], &document);
        char text[72];
        json_number_text(json_first(document), text, sizeof text);
        ck_assert_str_eq(text, literals[i]);
        json_free(document);
    }
}
END_TEST

START_TEST(test_integers_exact_or_refused)
{
    static const struct {
        const char *literal;
        bool fits;
        int64_t value;
    } cases[] = {
        {"1000000000", true, 1000000000},
        {"9007199254740993", true, 9007199254740993LL}, /* 2^53 + 1: not a double */
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"99999999999999999999", false, 0},
        {"10000000000", true, 10000000000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_value *document = NULL;
        ck_assert_int_eq(element_type(cases[i].literal, &document), JSON_INTEGER);
        int64_t value = 0;
        bool fits = json_integer(json_first(document), &value);
        ck_assert_msg(fits == cases[i].fits, "%s", cases[i].literal);
        if (fits)
            ck_assert_msg(value == cases[i].value, "%s read as %" PRId64, cases[i].literal, value);
        json_free(document);
    }
}
END_TEST

START_TEST(test_malformed_names_offset)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"{\"broker\": \"zerodha\", \"target_portfolio\": [", "byte 43"},
        {"{\"a\":", "byte 5: unexpected end of input"},
        {"[1,", "byte 3: unexpected end of input"},
        {"[1}", "byte 2: unexpected character"},
        {"", "byte 0"},
        {"   ", "byte 3"},
        {"[1] x", "byte 4"},
        {"[01]", "byte 1"},
        {"[1.]", "byte 1"},
        {"[.5]", "byte 1"},
        {"[+1]", "byte 1"},
        {"[-]", "byte 1"},
        {"[1e]", "byte 1"},
        {"[1.2.3]", "byte 1"},
        {"[NaN]", "byte 1"},
        {"{\"a\" 1}", "byte 5"},
        {"[\"a\x01\"]", "control character"},
        {"[\"a\\u0000b\"]", "\\u0000"},
        {"[\"abc", "unterminated string"},
        {"[1]\x0c", "control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[160] = "";
        json_value *document = parse_text(cases[i].text, why, sizeof why);
        ck_assert_msg(document == NULL, "accepted: %s", cases[i].text);
        ck_assert_msg(strstr(why, cases[i].expect) != NULL, "'%s': why '%s' lacks '%s'",
                      cases[i].text, why, cases[i].expect);
        ck_assert_msg(strstr(why, "malformed JSON") != NULL, "%s", why);
    }
}
END_TEST

START_TEST(test_length_bounds_input)
{
    const char *text = "[1,2]garbage that is not part of the document";
    char why[160];
    json_value *document = json_parse(text, 5, why, sizeof why);
    ck_assert_ptr_nonnull(document);
    ck_assert_uint_eq(json_size(document), 2);
    json_free(document);
}
END_TEST

/* A key given twice means two different documents to two readers: refused
 * at any depth, naming the key and where; distinct keys pass. */
START_TEST(test_duplicate_keys_refused)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"{\"a\": 1, \"a\": 2}", "duplicate key 'a' at $"},
        {"{\"x\": [{\"k\": 1}, {\"k\": 1, \"k\": 1}]}", "duplicate key 'k' at $.x[1]"},
        {"{\"c\": {\"d\": {\"e\": 0, \"e\": 0}}}", "duplicate key 'e' at $.c.d"},
        {"{\"\\u00e9\": 1, \"\xc3\xa9\": 2}", "duplicate key '\xc3\xa9' at $"},
    };
    char why[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ptr_null(parse_text(cases[i].text, why, sizeof why));
        ck_assert_msg(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].text, why);
    }
    /* many keys: the sorted check, one duplicate at the far end */
    size_t count = 5000, used = 0, size = count * 16 + 32;
    char *big = malloc(size);
    used += (size_t)snprintf(big + used, size - used, "{");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(big + used, size - used, "\"k%zu\":%zu,", i, i);
    snprintf(big + used, size - used, "\"k17\":0}");
    ck_assert_ptr_null(parse_text(big, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "duplicate key 'k17' at $"));
    big[used - 1] = '}';
    big[used] = '\0';
    json_value *fine = parse_text(big, why, sizeof why);
    ck_assert_msg(fine != NULL, "%s", why);
    json_free(fine);
    free(big);
}
END_TEST

START_TEST(test_accessors)
{
    const char *text = "{\"a\": 1, \"b\": [true, false, null], \"s\": \"x\\\"y\"}";
    char why[160];
    json_value *document = parse_text(text, why, sizeof why);
    ck_assert_ptr_nonnull(document);
    int64_t value = 0;
    ck_assert(json_integer(json_get(document, "a"), &value));
    ck_assert_int_eq(value, 1);
    const json_value *array = json_get(document, "b");
    ck_assert_int_eq(json_type_of(array), JSON_ARRAY);
    ck_assert_uint_eq(json_size(array), 3);
    ck_assert(json_bool(json_first(array)));
    ck_assert(!json_bool(json_next(json_first(array))));
    ck_assert_int_eq(json_type_of(json_next(json_next(json_first(array)))), JSON_NULL);
    ck_assert_str_eq(json_string(json_get(document, "s")), "x\"y");
    ck_assert_ptr_null(json_get(array, "a"));
    ck_assert_ptr_null(json_get(document, "missing"));
    ck_assert_str_eq(json_key(json_first(document)), "a");
    ck_assert_uint_eq(json_size(document), 3);
    ck_assert_ptr_null(json_string(json_get(document, "a")));
    json_free(document);
}
END_TEST

START_TEST(test_deep_nesting_refused)
{
    size_t depth = 100000;
    char *text = malloc(depth * 2 + 1);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[depth * 2] = '\0';
    char why[160];
    json_value *document = json_parse(text, depth * 2, why, sizeof why);
    ck_assert_ptr_null(document);
    ck_assert_msg(strstr(why, "nested deeper") != NULL, "%s", why);
    /* 500 levels are fine. */
    memset(text, '[', 500);
    memset(text + 500, ']', 500);
    document = json_parse(text, 1000, why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    json_free(document);
    free(text);
}
END_TEST

START_TEST(test_million_element_array)
{
    size_t count = 1000000;
    json_writer writer;
    json_writer_init(&writer);
    json_array_begin(&writer);
    for (size_t i = 0; i < count; i++)
        json_write_int(&writer, (int64_t)i);
    json_array_end(&writer);
    size_t length = 0;
    char *text = json_writer_finish(&writer, &length);
    ck_assert_ptr_nonnull(text);
    char why[160];
    json_value *document = json_parse(text, length, why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    ck_assert_uint_eq(json_size(document), count);
    int64_t sum = 0, value = 0;
    size_t seen = 0;
    for (const json_value *item = json_first(document); item; item = json_next(item), seen++) {
        ck_assert(json_integer(item, &value));
        ck_assert_int_eq(value, (int64_t)seen);
        sum += value;
    }
    ck_assert_int_eq(sum, (int64_t)count * (int64_t)(count - 1) / 2);
    json_free(document);
    free(text);
}
END_TEST

static char *write_one_string(const char *value)
{
    json_writer writer;
    json_writer_init(&writer);
    json_write_string(&writer, value);
    return json_writer_finish(&writer, NULL);
}

START_TEST(test_escaping_round_trip)
{
    const char *original = "q\"b\\s/ \x01\x1f\n\r\t\b\f end \xe2\x82\xb9 \xc3\xa9";
    char *text = write_one_string(original);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "\"q\\\"b\\\\s/ \\u0001\\u001f\\n\\r\\t\\b\\f end \xe2\x82\xb9 "
                           "\xc3\xa9\"");
    char why[160];
    json_value *document = parse_text(text, why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    ck_assert_str_eq(json_string(document), original);
    json_free(document);
    free(text);
}
END_TEST

START_TEST(test_writer_document)
{
    json_writer writer;
    json_writer_init(&writer);
    json_object_begin(&writer);
    json_key_write(&writer, "a");
    json_write_int(&writer, -3);
    json_key_write(&writer, "list");
    json_array_begin(&writer);
    json_write_double(&writer, 2950.5);
    json_write_double(&writer, 0.1);
    json_write_double(&writer, 1.0 / 3.0);
    json_write_double(&writer, 0.0 / 0.0);
    json_write_bool(&writer, true);
    json_write_null(&writer);
    json_write_string(&writer, NULL);
    json_object_begin(&writer);
    json_object_end(&writer);
    json_array_begin(&writer);
    json_array_end(&writer);
    json_write_raw(&writer, "{\"x\":1}");
    json_array_end(&writer);
    json_key_write(&writer, "big");
    json_write_int(&writer, INT64_MIN);
    json_object_end(&writer);
    size_t length = 0;
    char *text = json_writer_finish(&writer, &length);
    ck_assert_str_eq(text, "{\"a\":-3,\"list\":[2950.5,0.1,0.3333333333333333,null,true,null,"
                           "null,{},[],{\"x\":1}],\"big\":-9223372036854775808}");
    ck_assert_uint_eq(length, strlen(text));
    char why[160];
    json_value *document = json_parse(text, length, why, sizeof why);
    ck_assert_msg(document != NULL, "%s", why);
    json_free(document);
    free(text);
}
END_TEST

START_TEST(test_writer_depth_limit)
{
    json_writer writer;
    json_writer_init(&writer);
    for (int i = 0; i < 63; i++)
        json_array_begin(&writer);
    for (int i = 0; i < 63; i++)
        json_array_end(&writer);
    char *text = json_writer_finish(&writer, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), 126);
    free(text);

    json_writer_init(&writer);
    for (int i = 0; i < 100; i++)
        json_array_begin(&writer);
    json_write_int(&writer, 1);
    ck_assert_ptr_null(json_writer_finish(&writer, NULL));
    ck_assert_ptr_null(writer.buffer);
}
END_TEST

START_TEST(test_writer_empty_and_discard)
{
    json_writer writer;
    json_writer_init(&writer);
    char *text = json_writer_finish(&writer, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "");
    free(text);
    json_writer_init(&writer);
    json_write_string(&writer, "something");
    json_writer_discard(&writer);
    ck_assert_ptr_null(writer.buffer);
    ck_assert_uint_eq(writer.length, 0);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *suite = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_float_detection);
    tcase_add_test(tc, test_number_text_keeps_literal);
    tcase_add_test(tc, test_integers_exact_or_refused);
    tcase_add_test(tc, test_malformed_names_offset);
    tcase_add_test(tc, test_length_bounds_input);
    tcase_add_test(tc, test_accessors);
    tcase_add_test(tc, test_duplicate_keys_refused);
    tcase_add_test(tc, test_deep_nesting_refused);
    tcase_add_test(tc, test_million_element_array);
    tcase_add_test(tc, test_escaping_round_trip);
    tcase_add_test(tc, test_writer_document);
    tcase_add_test(tc, test_writer_depth_limit);
    tcase_add_test(tc, test_writer_empty_and_discard);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(json_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
