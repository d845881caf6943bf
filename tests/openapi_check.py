"""OpenAPI checks shared by the shell tests (tests/http_test.sh,
tests/http_journal_test.sh): each prints PASS, FAIL or SKIP lines, which
tests/lib.sh's tally counts. Both validators are optional Debian packages
(python3-openapi-spec-validator, python3-openapi-schema-validator); without
one its checks are one SKIP line."""
import json
import os


def result(ok, name, why=""):
    """Prints one check's PASS or FAIL line."""
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))


def document_valid(doc, hint=""):
    """The document passes openapi-spec-validator (or one SKIP openapi_spec)."""
    try:
        from openapi_spec_validator import validate
    except ImportError:
        print("SKIP openapi_spec: openapi-spec-validator is not installed" + hint)
        return
    try:
        validate(doc)
        result(True, "the document passes openapi-spec-validator")
    except Exception as e:
        result(False, "the document passes openapi-spec-validator", str(e)[:300])


def responses_match(doc, work, checks, missing_ok=False):
    """Each (NAME, SCHEMA) of checks: the response body WORK/NAME.body matches
    the document's components/schemas/SCHEMA (or one SKIP openapi_schema for
    them all). A body that is not there fails, or is passed over if missing_ok."""
    try:
        from openapi_schema_validator import OAS30Validator
    except ImportError:
        print("SKIP openapi_schema: openapi-schema-validator is not installed, live responses not checked")
        return
    for name, schema in checks:
        path = os.path.join(work, name + ".body")
        label = "live response '%s' matches schema %s" % (name, schema)
        if not os.path.exists(path):
            if not missing_ok:
                result(False, label, "no response " + path)
            continue
        body = json.load(open(path))
        root = {"$ref": "#/components/schemas/" + schema, "components": doc["components"]}
        try:
            OAS30Validator(root).validate(body)
            result(True, label)
        except Exception as e:
            result(False, label, str(e)[:300])
