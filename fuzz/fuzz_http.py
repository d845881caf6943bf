#!/usr/bin/env python3
"""Fuzzes the HTTP server with raw requests over loopback (make fuzz).

Starts BUILD/ptexec serve (journal off, the simulated brokers) and, for
--seconds, sends requests mutated from the seeds below: request lines,
headers (Content-Length, Transfer-Encoding, Host, Content-Type, Expect),
chunked framing and JSON bodies, with bytes flipped, inserted, cut and
repeated. Every exchange is bounded by a timeout. It fails when the server
dies or reports a sanitizer error, answers something that is not an HTTP/1.1
status line, answers 500, sends an error body that is not valid UTF-8 JSON,
takes longer than the bound, or stops answering GET /health. Prints
"Done N runs in S s" like libFuzzer; exit status 0 when nothing failed.
Usage: fuzz/fuzz_http.py --build build [--seconds 30] [--seed 1]"""
import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from http_raw import exchange  # noqa: E402

BODY = (b'{"broker":"zerodha","credentials":{"api_key":"fz","access_token":"t"},'
        b'"target_portfolio":[{"symbol":"RELIANCE","target_quantity":11},{"symbol":"TCS","target_quantity":4}]}')


def chunked(body):
    return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


SEEDS = [
    b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /executions?limit=5&status=completed HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /executions/ex-01J0000000000000000000000 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"HEAD /openapi.json HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    b"GET /docs/../../etc/passwd HTTP/1.0\r\n\r\n",
    b"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"POST /execute HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nIdempotency-Key: k1\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY),
    b"POST /holdings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n"
    b'{"broker":"fyers","credentials":{"api_key":"a","api_key":"b"}}',
    b"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked(BODY),
    b"POST /plan HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
]
TOKENS = [b"\r\n", b":", b" ", b",", b"chunked", b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n",
          b"\x00", b"\xff", b"\xc3\x28", b"%00", b"%FF", b"{", b"}", b'"', b"\\u0000", b"9" * 20, b"-1",
          b"Host: x\r\n", b"\r\n\r\n", b"0\r\n\r\n", b"HTTP/1.0", b"HTTP/2.0", b"a" * 300]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        at = rng.randint(0, len(data))
        if op == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[at:at] = rng.choice(TOKENS)
        elif op == 2 and data:
            del data[at:at + rng.randint(1, 16)]
        elif op == 3 and data:
            piece = data[at:at + rng.randint(1, 32)]
            data[at:at] = piece * rng.randint(1, 4)
        elif op == 4:
            data = data[:at]
        else:
            data += rng.choice(SEEDS)  # pipelining
    return bytes(data)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(build, work):
    ini = os.path.join(work, "fuzz.ini")
    with open(ini, "w") as f:
        f.write("[host]\nplugin_dir = %s/plugins\njournal = %s/fuzz.db\nlog_level = warn\n"
                "header_timeout_s = 1\nconnection_timeout_s = 1\nbody_limit = 65536\n" % (build, work))
        for b in ("zerodha", "fyers"):
            f.write("[broker.%s]\nplugin = %s.so\nmode = simulated\nrate_limit_per_second = 0\n"
                    "poll_interval_ms = 1\n" % (b, b))
    port = free_port()
    log = open(os.path.join(work, "server.log"), "w")
    proc = subprocess.Popen([os.path.join(build, "ptexec"), "-c", ini, "serve", "--listen", "127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if exchange(port, SEEDS[0], timeout=1).status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("fuzz_http: the server did not start: " + open(log.name).read()[-2000:])


def judge(r, took, bound):
    """Why the exchange is wrong, or None."""
    if took > bound:
        return "took %.1f s (bound %d s)" % (took, bound)
    if r.status == 0:
        return "neither answered nor closed the connection: " + r.error if r.error.startswith("timeout") else None
    if r.status == 500:
        return "answered 500"
    if r.status >= 400 and r.body and not r.headers.get("content-type", "").startswith("application/json"):
        try:  # libmicrohttpd's own answer to a request it cannot parse (HTML)
            r.body.decode("utf-8")
            return None
        except ValueError:
            return "error body is not UTF-8"
    if r.status >= 400 and r.body:
        try:
            doc = json.loads(r.body.decode("utf-8"))
            if not isinstance(doc.get("error", {}).get("code"), str):
                return "error body without a code"
        except (ValueError, AttributeError) as e:
            return "error body is not UTF-8 JSON: %r" % e
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="ptexec-fuzz-http-")
    proc, port = start(build, work)
    failures, runs, start_time = [], [0], time.time()
    lock = threading.Lock()

    def client(seed):
        local = random.Random(seed)
        while time.time() - start_time < args.seconds and len(failures) < 5 and proc.poll() is None:
            data = mutate(local, local.choice(SEEDS))
            t = time.time()
            try:
                why = judge(exchange(port, data, timeout=8, wait_close=0), time.time() - t, 10)
            except OSError as e:
                why = None if proc.poll() is None else "server died: %r" % e
            with lock:
                runs[0] += 1
                if why:
                    failures.append("%s for %r" % (why, data[:300]))

    try:
        threads = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if proc.poll() is not None:
            failures.append("the server exited with %s" % proc.returncode)
        health = exchange(port, SEEDS[0], timeout=5) if proc.poll() is None else None
        if health is None or health.status != 200:
            failures.append("GET /health no longer answers 200")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                failures.append("the server did not stop on SIGTERM")
    log = open(os.path.join(work, "server.log"), errors="replace").read()
    if re.search(r"Sanitizer|runtime error:", log):
        failures.append("sanitizer report:\n" + log[-3000:])
    elapsed = time.time() - start_time
    for f in failures:
        print("FAIL fuzz_http (seed %d): %s" % (args.seed, f))
    print("Done %d runs in %d s (fuzz_http, seed %d, %d failures)" % (runs[0], elapsed, args.seed, len(failures)))
    subprocess.run(["rm", "-rf", work])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
