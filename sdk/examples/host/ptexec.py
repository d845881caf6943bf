"""ptexec in-process from Python: the host library (libptexec.so.1) through
ctypes, with the standard library only.

    from ptexec import Host, PtexecError
    with Host("brokers.ini") as host:            # a path, or the ini text itself
        result = host.execute({"broker": "zerodha",
                               "credentials": {"api_key": "demo", "access_token": "demo"},
                               "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 20}]})
        print(result["status"], result["summary"])

Requests and results are the JSON documents of the HTTP API (POST /execute),
as dicts. A refused request raises PtexecError with the stable error `code`
("invalid_request", "broker_auth_failed", …), `message`, `field` and
`http_status`; nothing was placed. One Host may be used from several threads
at once (the library releases the GIL during every call); executions for
different broker accounts then run in parallel.

The library is found through $PTEXEC_LIBRARY (a path), else as
"libptexec.so.1" on the dynamic linker's path (LD_LIBRARY_PATH, ldconfig).
"""

import ctypes
import json
import os

__all__ = ["Host", "PtexecError"]

_ERROR_CODE_MAX = 32
_ERROR_FIELD_MAX = 128
_ERROR_MESSAGE_MAX = 512
_EXECUTION_ID_MAX = 40
_EXECUTION_STATUS_MAX = 16
_FORMAT_JSON = 0
_OPEN_RECORDS_ONLY = 0x1


class PtexecError(Exception):
    """A request ptexec refused: `code` is the stable snake_case error code."""

    def __init__(self, code, message, field=None, http_status=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.field = field or None
        self.http_status = http_status


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("http_status", ctypes.c_uint),
                ("code", ctypes.c_char * _ERROR_CODE_MAX),
                ("field", ctypes.c_char * _ERROR_FIELD_MAX),
                ("message", ctypes.c_char * _ERROR_MESSAGE_MAX)]

    def exception(self):
        return PtexecError(self.code.decode(), self.message.decode(errors="replace"),
                           self.field.decode(), self.http_status)


class _Result(ctypes.Structure):
    _fields_ = [("body", ctypes.c_void_p), ("length", ctypes.c_size_t),
                ("http_status", ctypes.c_uint),
                ("execution_id", ctypes.c_char * _EXECUTION_ID_MAX),
                ("status", ctypes.c_char * _EXECUTION_STATUS_MAX),
                ("replayed", ctypes.c_int)]


class _ExecuteOptions(ctypes.Structure):
    _fields_ = [("idempotency_key", ctypes.c_char_p), ("dry_run", ctypes.c_int),
                ("format", ctypes.c_int), ("progress", ctypes.c_void_p),
                ("progress_context", ctypes.c_void_p)]


class _HistoryQuery(ctypes.Structure):
    _fields_ = [("limit", ctypes.c_size_t), ("broker", ctypes.c_char_p),
                ("status", ctypes.c_char_p)]


def _load():
    lib = ctypes.CDLL(os.environ.get("PTEXEC_LIBRARY") or "libptexec.so.1")
    p = ctypes.POINTER
    host = ctypes.c_void_p
    sig = {
        "ptexec_open_file": ([ctypes.c_char_p, ctypes.c_uint, p(host), p(_Error)], ctypes.c_int),
        "ptexec_open_text": ([ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_uint,
                              p(host), p(_Error)], ctypes.c_int),
        "ptexec_close": ([host], None),
        "ptexec_free": ([ctypes.c_void_p], None),
        "ptexec_execute": ([host, ctypes.c_char_p, ctypes.c_size_t, p(_ExecuteOptions),
                            p(_Result), p(_Error)], ctypes.c_int),
        "ptexec_holdings": ([host, ctypes.c_char_p, ctypes.c_size_t, p(_Result), p(_Error)],
                            ctypes.c_int),
        "ptexec_history": ([host, p(_HistoryQuery), ctypes.c_int, p(ctypes.c_void_p),
                            p(ctypes.c_size_t), p(_Error)], ctypes.c_int),
        "ptexec_history_get": ([host, ctypes.c_char_p, p(ctypes.c_void_p), p(ctypes.c_size_t),
                                p(_Error)], ctypes.c_int),
        "ptexec_brokers": ([host, ctypes.c_int, p(ctypes.c_void_p), p(ctypes.c_size_t),
                            p(_Error)], ctypes.c_int),
        "ptexec_version": ([], ctypes.c_char_p),
    }
    for name, (argtypes, restype) in sig.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


_lib = None


def _library():
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _take_text(pointer, length):
    """Copies library text into a Python str and frees it."""
    try:
        return ctypes.string_at(pointer, length).decode()
    finally:
        _library().ptexec_free(pointer)


class Host:
    """An in-process ptexec host from brokers.ini: a path, or the ini text
    itself (any string with a newline). `directory` resolves relative paths
    of text; `records_only` opens the journal alone, for history."""

    def __init__(self, config, records_only=False, directory=None):
        lib = _library()
        flags = _OPEN_RECORDS_ONLY if records_only else 0
        handle = ctypes.c_void_p()
        error = _Error()
        if "\n" in config:
            text = config.encode()
            status = lib.ptexec_open_text(text, len(text), directory and directory.encode(),
                                          flags, ctypes.byref(handle), ctypes.byref(error))
        else:
            status = lib.ptexec_open_file(os.fsencode(config), flags, ctypes.byref(handle),
                                          ctypes.byref(error))
        if status != 0:
            raise error.exception()
        self._handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Frees the host; no call may be running. Closing twice is fine."""
        if self._handle is not None and self._handle.value:
            _library().ptexec_close(self._handle)
        self._handle = None

    def _live(self):
        if self._handle is None:
            raise ValueError("the ptexec host is closed")
        return self._handle

    def _call_result(self, function, *args):
        result = _Result()
        error = _Error()
        status = function(self._live(), *args, ctypes.byref(result), ctypes.byref(error))
        text = _take_text(result.body, result.length) if result.body else None
        if status != 0:
            raise error.exception()
        return json.loads(text)

    def execute(self, request, idempotency_key=None, dry_run=False):
        """Runs one execution of `request` (the POST /execute body as a
        dict) and returns the response dict, even when legs failed."""
        body = json.dumps(request).encode()
        options = _ExecuteOptions(idempotency_key.encode() if idempotency_key else None,
                                  1 if dry_run else 0, _FORMAT_JSON, None, None)
        return self._call_result(_library().ptexec_execute, body, len(body),
                                 ctypes.byref(options))

    def plan(self, request):
        """The same as a dry run: the plan, every leg PLANNED, nothing placed."""
        return self.execute(request, dry_run=True)

    def holdings(self, broker, credentials):
        """The account's holdings as {symbol: quantity}."""
        body = json.dumps({"broker": broker, "credentials": credentials}).encode()
        answer = self._call_result(_library().ptexec_holdings, body, len(body))
        return {h["symbol"]: h["quantity"] for h in answer["holdings"]}

    def _call_text(self, function, *args):
        text = ctypes.c_void_p()
        length = ctypes.c_size_t()
        error = _Error()
        status = function(self._live(), *args, ctypes.byref(text), ctypes.byref(length),
                          ctypes.byref(error))
        if status != 0:
            raise error.exception()
        return json.loads(_take_text(text, length.value))

    def history(self, limit=50, broker=None, status=None):
        """Journaled executions, newest first (GET /executions)."""
        query = _HistoryQuery(limit, broker and broker.encode(), status and status.encode())
        return self._call_text(_library().ptexec_history, ctypes.byref(query),
                               _FORMAT_JSON)["executions"]

    def show(self, execution_id):
        """One journaled execution with its stored response and leg timeline."""
        return self._call_text(_library().ptexec_history_get, execution_id.encode())

    def brokers(self):
        """The loaded broker plugins (GET /brokers)."""
        return self._call_text(_library().ptexec_brokers, _FORMAT_JSON)["brokers"]


def version():
    """The library's version string."""
    return _library().ptexec_version().decode()
