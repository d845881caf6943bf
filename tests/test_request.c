/* Check suite for host/request.c: every input rule of design §2.6, each bad
 * body the issues list, and that no error ever carries a credential value. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

#define SECRET "s3cr3t-Zq9Wv"
#define CREDS "\"credentials\":{\"api_key\":\"" SECRET "\",\"access_token\":\"" SECRET "tok\"}"
#define HEAD "{\"broker\":\"zerodha\"," CREDS ","
#define ONE_TARGET "\"target_portfolio\":[{\"symbol\":\"RELIANCE\",\"target_quantity\":20}]"
#define QTY(q) HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":" q "}]}"
#define SYM(s) HEAD "\"target_portfolio\":[{\"symbol\":" s ",\"target_quantity\":1}]}"
#define QFIELD "target_portfolio[0].target_quantity"
#define SFIELD "target_portfolio[0].symbol"
#define RULE "must be an integer between 0 and 1000000000, got "

typedef struct bad_case {
    const char *name;
    const char *body;
    ptx_status status;
    const char *field;
    const char *message; /* a substring the message must contain */
} bad_case;

static const bad_case bad_cases[] = {
    {"truncated", HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\",", PTX_PARSE, "",
     "unexpected end of input"},
    {"truncated offset", "{\"broker\": ", PTX_PARSE, "", "byte 11"},
    {"garbage", "broker=zerodha", PTX_PARSE, "", "byte 0"},
    {"empty", "", PTX_PARSE, "", "byte 0"},
    {"array body", "[1,2]", PTX_INVALID, "", "must be a JSON object, got array"},
    {"string body", "\"x\"", PTX_INVALID, "", "must be a JSON object, got string"},
    {"broker missing", "{" CREDS "," ONE_TARGET "}", PTX_INVALID, "broker", "broker is required"},
    {"broker number", "{\"broker\":7," CREDS "," ONE_TARGET "}", PTX_INVALID, "broker",
     "broker must be a string, got integer"},
    {"broker empty", "{\"broker\":\"\"," CREDS "," ONE_TARGET "}", PTX_INVALID, "broker",
     "1-63 characters"},
    {"broker bad char", "{\"broker\":\"zero dha\"," CREDS "," ONE_TARGET "}", PTX_INVALID, "broker",
     "1-63 characters"},
    {"broker too long",
     "{\"broker\":\"b123456789012345678901234567890123456789012345678901234567890123\"," CREDS
     "," ONE_TARGET "}",
     PTX_INVALID, "broker", "1-63 characters"},
    {"credentials missing", "{\"broker\":\"zerodha\"," ONE_TARGET "}", PTX_INVALID, "credentials",
     "credentials is required"},
    {"credentials string", "{\"broker\":\"zerodha\",\"credentials\":\"" SECRET "\"," ONE_TARGET "}",
     PTX_INVALID, "credentials", "credentials must be an object of strings, got string"},
    {"credentials null", "{\"broker\":\"zerodha\",\"credentials\":null," ONE_TARGET "}",
     PTX_INVALID, "credentials", "got null"},
    {"credential number",
     "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"" SECRET
     "\",\"access_token\":918273645}," ONE_TARGET "}",
     PTX_INVALID, "credentials.access_token",
     "credentials.access_token must be a string, got "
     "integer"},
    {"credential object",
     "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":{\"v\":\"" SECRET "\"}}," ONE_TARGET "}",
     PTX_INVALID, "credentials.api_key", "must be a string, got object"},
    {"credential twice",
     "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"" SECRET "\",\"api_key\":\"" SECRET
     "2\"}," ONE_TARGET "}",
     PTX_PARSE, "", "duplicate key 'api_key' at $.credentials"},
    {"dry_run twice", HEAD "\"dry_run\":false,\"dry_run\":true," ONE_TARGET "}", PTX_PARSE, "",
     "duplicate key 'dry_run' at $"},
    {"broker twice", "{\"broker\":\"zerodha\",\"broker\":\"fyers\"," CREDS "," ONE_TARGET "}",
     PTX_PARSE, "", "duplicate key 'broker' at $"},
    {"quantity twice in a target",
     HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1},"
          "{\"symbol\":\"INFY\",\"target_quantity\":1,\"target_quantity\":9}]}",
     PTX_PARSE, "", "duplicate key 'target_quantity' at $.target_portfolio[1]"},
    {"symbol twice in a target",
     HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\",\"symbol\":\"INFY\",\"target_quantity\":1}]}",
     PTX_PARSE, "", "duplicate key 'symbol' at $.target_portfolio[0]"},
    {"key twice deep in an ignored field", HEAD ONE_TARGET ",\"meta\":{\"a\":[{\"b\":1,\"b\":2}]}}",
     PTX_PARSE, "", "duplicate key 'b' at $.meta.a[0]"},
    {"order_type unknown", HEAD ONE_TARGET ",\"order_type\":\"stop\"}", PTX_INVALID, "order_type",
     "order_type must be \"market\" or \"limit\""},
    {"order_type number", HEAD ONE_TARGET ",\"order_type\":1}", PTX_INVALID, "order_type",
     "must be \"market\" or \"limit\""},
    {"idempotency key twice",
     HEAD ONE_TARGET ",\"idempotency_key\":\"k1\",\"idempotency_key\":\"k2\"}", PTX_PARSE, "",
     "duplicate key 'idempotency_key' at $"},
    {"credential key not UTF-8",
     "{\"broker\":\"zerodha\",\"credentials\":{\"api\xff\xfe\":5}," ONE_TARGET "}", PTX_INVALID,
     "credentials.api\\xFF\\xFE", "credentials.api\\xFF\\xFE must be a string"},
    {"portfolio missing", HEAD "\"dry_run\":true}", PTX_INVALID, "target_portfolio",
     "target_portfolio is required"},
    {"portfolio object", HEAD "\"target_portfolio\":{\"RELIANCE\":20}}", PTX_INVALID,
     "target_portfolio", "must be an array, got object"},
    {"portfolio empty", HEAD "\"target_portfolio\":[]}", PTX_INVALID, "target_portfolio",
     "must not be empty"},
    {"entry not object", HEAD "\"target_portfolio\":[[\"TCS\",1]]}", PTX_INVALID,
     "target_portfolio[0]", "must be an object"},
    {"symbol missing", HEAD "\"target_portfolio\":[{\"target_quantity\":1}]}", PTX_INVALID, SFIELD,
     "is required"},
    {"symbol number", SYM("500325"), PTX_INVALID, SFIELD, "must be a string, got integer"},
    {"symbol null", SYM("null"), PTX_INVALID, SFIELD, "must be a string, got null"},
    {"symbol blank", SYM("\"   \""), PTX_INVALID, SFIELD, "must not be empty"},
    {"symbol space inside", SYM("\"REL IANCE\""), PTX_INVALID, SFIELD, "only A-Z 0-9 & - _ ."},
    {"symbol dollar", SYM("\"RELIANCE$\""), PTX_INVALID, SFIELD, "got '$' at position 9"},
    {"symbol colon", SYM("\"NSE:RELIANCE\""), PTX_INVALID, SFIELD, "got ':'"},
    {"symbol utf8",
     SYM("\"\xc3\x84"
         "BC\""),
     PTX_INVALID, SFIELD, "byte 0xC3"},
    {"symbol 33 chars", SYM("\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\""), PTX_INVALID, SFIELD,
     "at most 32 characters, got 33"},
    {"quantity missing", HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\"}]}", PTX_INVALID, QFIELD,
     "is required"},
    {"quantity 1e3", QTY("1e3"), PTX_INVALID, QFIELD, QFIELD " " RULE "number 1e3"},
    {"quantity 1.0", QTY("1.0"), PTX_INVALID, QFIELD, RULE "number 1.0"},
    {"quantity 1.5", QTY("1.5"), PTX_INVALID, QFIELD, RULE "number 1.5"},
    {"quantity -1", QTY("-1"), PTX_INVALID, QFIELD, RULE "-1"},
    {"quantity string", QTY("\"10\""), PTX_INVALID, QFIELD, RULE "string"},
    {"quantity null", QTY("null"), PTX_INVALID, QFIELD, RULE "null"},
    {"quantity true", QTY("true"), PTX_INVALID, QFIELD, RULE "boolean"},
    {"quantity array", QTY("[10]"), PTX_INVALID, QFIELD, RULE "array"},
    {"quantity 10^10", QTY("10000000000"), PTX_INVALID, QFIELD, RULE "10000000000"},
    {"quantity 10^9+1", QTY("1000000001"), PTX_INVALID, QFIELD, RULE "1000000001"},
    {"quantity beyond int64", QTY("99999999999999999999"), PTX_INVALID, QFIELD,
     RULE "99999999999999999999"},
    {"second entry quantity",
     HEAD "\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1},"
          "{\"symbol\":\"INFY\",\"target_quantity\":-5}]}",
     PTX_INVALID, "target_portfolio[1].target_quantity", "got -5"},
    {"duplicate symbol",
     HEAD "\"target_portfolio\":[{\"symbol\":\"RELIANCE\",\"target_quantity\":1},"
          "{\"symbol\":\"TCS\",\"target_quantity\":1},"
          "{\"symbol\":\" reliance\",\"target_quantity\":2}]}",
     PTX_INVALID, "target_portfolio[2].symbol",
     "duplicate symbol RELIANCE (already at target_portfolio[0])"},
    {"dry_run string", HEAD ONE_TARGET ",\"dry_run\":\"yes\"}", PTX_INVALID, "dry_run",
     "dry_run must be true or false, got string"},
    {"dry_run number", HEAD ONE_TARGET ",\"dry_run\":1}", PTX_INVALID, "dry_run", "got integer"},
    {"idempotency empty", HEAD ONE_TARGET ",\"idempotency_key\":\"\"}", PTX_INVALID,
     "idempotency_key", "1-128 printable ASCII"},
    {"idempotency number", HEAD ONE_TARGET ",\"idempotency_key\":5}", PTX_INVALID,
     "idempotency_key", "1-128 printable ASCII"},
    {"idempotency control", HEAD ONE_TARGET ",\"idempotency_key\":\"a\\tb\"}", PTX_INVALID,
     "idempotency_key", "1-128 printable ASCII"},
    {"idempotency 129",
     HEAD ONE_TARGET ",\"idempotency_key\":\""
                     "0123456789012345678901234567890123456789012345678901234567890123"
                     "45678901234567890123456789012345678901234567890123456789012345678\"}",
     PTX_INVALID, "idempotency_key", "1-128 printable ASCII"},
};

START_TEST(test_bad_body)
{
    const bad_case *c = &bad_cases[_i];
    exec_request request;
    ptx_error error;
    ptx_status status = request_parse_execute(c->body, strlen(c->body), NULL, &request, &error);
    ck_assert_msg(status == c->status, "%s: status %d, want %d (%s)", c->name, status, c->status,
                  error.message);
    ck_assert_int_eq(error.status, c->status);
    ck_assert_msg(strcmp(error.field, c->field) == 0, "%s: field '%s', want '%s'", c->name,
                  error.field, c->field);
    ck_assert_msg(strstr(error.message, c->message) != NULL, "%s: message '%s' lacks '%s'", c->name,
                  error.message, c->message);
    ck_assert_msg(strstr(error.message, SECRET) == NULL && strstr(error.field, SECRET) == NULL,
                  "%s: secret leaked: %s", c->name, error.message);
    ck_assert_msg(strstr(error.message, "918273645") == NULL, "%s: credential number leaked",
                  c->name);
    ck_assert_ptr_null(request.credentials);
    ck_assert_ptr_null(request.targets);
    ck_assert_uint_eq(request.target_count, 0);
}
END_TEST

START_TEST(test_seed_example_normalised)
{
    const char *body =
        "{\"broker\": \"zerodha\",\n"
        " \"credentials\": {\"api_key\": \"demo\", \"access_token\": \"demo-token\"},\n"
        " \"target_portfolio\": [{\"symbol\": \" reliance \", \"target_quantity\": 20},\n"
        "                      {\"symbol\": \"tcs\", \"target_quantity\": 0},\n"
        "                      {\"symbol\": \"m&m\", \"target_quantity\": 1000000000}],\n"
        " \"dry_run\": true, \"idempotency_key\": \"optional-client-key\",\n"
        " \"comment\": {\"unknown\": [1.5, \"fields are ignored\"]}, \"priority\": 1e3}";
    exec_request request;
    ptx_error error;
    ck_assert_int_eq(request_parse_execute(body, strlen(body), NULL, &request, &error), PTX_OK);
    ck_assert_str_eq(request.broker, "zerodha");
    ck_assert_uint_eq(request.credential_count, 2);
    ck_assert_str_eq(request.credentials[0].key, "api_key");
    ck_assert_str_eq(request.credentials[0].value, "demo");
    ck_assert_str_eq(request.credentials[1].key, "access_token");
    ck_assert_str_eq(request.credentials[1].value, "demo-token");
    ck_assert_uint_eq(request.target_count, 3);
    ck_assert_str_eq(request.targets[0].symbol, "RELIANCE");
    ck_assert_int_eq(request.targets[0].target_quantity, 20);
    ck_assert_str_eq(request.targets[1].symbol, "TCS");
    ck_assert_int_eq(request.targets[1].target_quantity, 0);
    ck_assert_str_eq(request.targets[2].symbol, "M&M");
    ck_assert_int_eq(request.targets[2].target_quantity, 1000000000);
    ck_assert(request.dry_run);
    ck_assert_str_eq(request.idempotency_key, "optional-client-key");
    ck_assert_int_eq(error.status, PTX_OK);
    request_free(&request);
    ck_assert_ptr_null(request.credentials);
    ck_assert_uint_eq(request.target_count, 0);
}
END_TEST

START_TEST(test_optional_fields_default)
{
    const char *body = HEAD ONE_TARGET ",\"dry_run\":null,\"idempotency_key\":null}";
    exec_request request;
    ptx_error error;
    ck_assert_int_eq(request_parse_execute(body, strlen(body), NULL, &request, &error), PTX_OK);
    ck_assert(!request.dry_run);
    ck_assert_str_eq(request.idempotency_key, "");
    request_free(&request);
    /* Not NUL-terminated: only `length` bytes count. */
    char buffer[256];
    const char *minimal = HEAD ONE_TARGET "}";
    size_t length = strlen(minimal);
    memcpy(buffer, minimal, length);
    memset(buffer + length, '}', sizeof buffer - length);
    ck_assert_int_eq(request_parse_execute(buffer, length, NULL, &request, &error), PTX_OK);
    ck_assert_uint_eq(request.target_count, 1);
    request_free(&request);
}
END_TEST

/* A body with `count` distinct symbols S0, S1, …. */
static char *portfolio_body(size_t count)
{
    size_t capacity = 256 + count * 48;
    char *body = malloc(capacity);
    size_t length = (size_t)snprintf(body, capacity, HEAD "\"target_portfolio\":[");
    for (size_t i = 0; i < count; i++)
        length += (size_t)snprintf(body + length, capacity - length,
                                   "%s{\"symbol\":\"S%zu\",\"target_quantity\":%zu}", i ? "," : "",
                                   i, i % 7);
    snprintf(body + length, capacity - length, "]}");
    return body;
}

START_TEST(test_symbol_limit)
{
    exec_request request;
    ptx_error error;
    char *body = portfolio_body(10001);
    ck_assert_int_eq(request_parse_execute(body, strlen(body), NULL, &request, &error),
                     PTX_INVALID);
    ck_assert_str_eq(error.field, "target_portfolio");
    ck_assert_msg(strstr(error.message, "at most 10000 entries") != NULL, "%s", error.message);
    free(body);

    body = portfolio_body(10000);
    ck_assert_int_eq(request_parse_execute(body, strlen(body), NULL, &request, &error), PTX_OK);
    ck_assert_uint_eq(request.target_count, 10000);
    ck_assert_str_eq(request.targets[9999].symbol, "S9999");
    ck_assert_int_eq(request.targets[9999].target_quantity, 9999 % 7);
    request_free(&request);

    request_limits limits = {.max_symbols = 3};
    ck_assert_int_eq(request_parse_execute(body, strlen(body), &limits, &request, &error),
                     PTX_INVALID);
    ck_assert_msg(strstr(error.message, "at most 3 entries") != NULL, "%s", error.message);
    free(body);
}
END_TEST

START_TEST(test_large_portfolio_raised_limit)
{
    exec_request request;
    ptx_error error;
    char *body = portfolio_body(200000);
    request_limits limits = {.max_symbols = 200000};
    ck_assert_int_eq(request_parse_execute(body, strlen(body), &limits, &request, &error), PTX_OK);
    ck_assert_uint_eq(request.target_count, 200000);
    request_free(&request);
    free(body);
}
END_TEST

START_TEST(test_holdings_request)
{
    const char *body = "{\"broker\":\"fyers\",\"credentials\":{\"client_id\":\"" SECRET "\"},"
                       "\"target_portfolio\":\"ignored here\"}";
    exec_request request;
    ptx_error error;
    ck_assert_int_eq(request_parse_holdings(body, strlen(body), &request, &error), PTX_OK);
    ck_assert_str_eq(request.broker, "fyers");
    ck_assert_uint_eq(request.credential_count, 1);
    ck_assert_str_eq(request.credentials[0].value, SECRET);
    ck_assert_uint_eq(request.target_count, 0);
    request_free(&request);

    const char *missing = "{\"broker\":\"fyers\"}";
    ck_assert_int_eq(request_parse_holdings(missing, strlen(missing), &request, &error),
                     PTX_INVALID);
    ck_assert_str_eq(error.field, "credentials");
    const char *broken = "{\"broker\":\"fyers\",";
    ck_assert_int_eq(request_parse_holdings(broken, strlen(broken), &request, &error), PTX_PARSE);
}
END_TEST

START_TEST(test_normalize_symbol)
{
    static const struct {
        const char *raw;
        const char *symbol; /* NULL when refused */
    } cases[] = {
        {"RELIANCE", "RELIANCE"},
        {" reliance", "RELIANCE"},
        {"\tm&m \n", "M&M"},
        {"bajaj-auto", "BAJAJ-AUTO"},
        {"nifty_50.ns", "NIFTY_50.NS"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", NULL},
        {"", NULL},
        {"  ", NULL},
        {"A B", NULL},
        {"NSE:TCS", NULL},
        {"TCS/EQ", NULL},
        {"T\xc3\xa9", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char symbol[BROKER_SYMBOL_MAX], why[160] = "";
        bool ok = request_normalize_symbol(cases[i].raw, symbol, why, sizeof why);
        ck_assert_msg(ok == (cases[i].symbol != NULL), "'%s': %s", cases[i].raw, why);
        if (ok)
            ck_assert_str_eq(symbol, cases[i].symbol);
        else
            ck_assert_msg(strstr(why, "symbol") != NULL, "'%s': why '%s'", cases[i].raw, why);
    }
}
END_TEST

static Suite *request_suite(void)
{
    Suite *suite = suite_create("request");
    TCase *tc = tcase_create("request");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bad_body, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_seed_example_normalised);
    tcase_add_test(tc, test_optional_fields_default);
    tcase_add_test(tc, test_symbol_limit);
    tcase_add_test(tc, test_large_portfolio_raised_limit);
    tcase_add_test(tc, test_holdings_request);
    tcase_add_test(tc, test_normalize_symbol);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(request_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
