"""Raw HTTP/1.1 over python sockets for the shell tests (tests/http_limits_test.sh,
fuzz/fuzz_http.py): every read has a timeout, so a server that hangs makes a
check fail instead of the suite hang. check() prints the PASS/FAIL lines that
tests/lib.sh's tally counts."""
import json
import socket
import time


def check(ok, name, why=""):
    """Prints one check's PASS or FAIL line."""
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(why)[:400]), flush=True)


class Response:
    """One parsed response: status (0 when none came), headers (lower-case
    names), body bytes, json (None unless the body is JSON), closed (the
    server closed the connection after it), error (why reading stopped)."""

    def __init__(self):
        self.status, self.headers, self.body = 0, {}, b""
        self.json, self.closed, self.error = None, False, ""

    def describe(self):
        return "status %d closed %s %s %r" % (self.status, self.closed, self.error, self.body[:200])


def read_response(sock, timeout, buffered=b""):
    """Reads one response from `sock`; returns (Response, bytes left over)."""
    r = Response()
    data = buffered
    deadline = time.time() + timeout
    try:
        while b"\r\n\r\n" not in data:
            sock.settimeout(max(0.01, deadline - time.time()))
            chunk = sock.recv(65536)
            if not chunk:
                r.closed, r.error = True, "closed before a response"
                return r, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        r.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            r.headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
        length = int(r.headers.get("content-length", "0"))
        while len(rest) < length:
            sock.settimeout(max(0.01, deadline - time.time()))
            chunk = sock.recv(65536)
            if not chunk:
                r.closed, r.error = True, "closed inside the body"
                break
            rest += chunk
        r.body, rest = rest[:length], rest[length:]
    except socket.timeout:
        r.error = "timeout after %.1f s" % timeout
        return r, b""
    except (OSError, ValueError, IndexError) as e:
        r.error, r.closed = repr(e), True
        return r, b""
    try:
        r.json = json.loads(r.body.decode("utf-8"))
    except ValueError:
        pass
    return r, rest


def exchange(port, raw, timeout=5, host="127.0.0.1", wait_close=1.0):
    """Sends `raw` on a new connection and reads one response; then waits (at
    most `wait_close` s) to see whether the server closes the connection."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(raw)
    except OSError:
        pass
    r, _ = read_response(sock, timeout)
    if not r.closed and r.status and wait_close > 0:
        try:
            sock.settimeout(wait_close)
            r.closed = sock.recv(65536) == b""
        except socket.timeout:
            pass
        except OSError:
            r.closed = True
    sock.close()
    return r


class Client:
    """A kept-alive connection: get() and post() send one request each."""

    def __init__(self, port, timeout=5, host_header="localhost"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout, self.host_header, self.left = timeout, host_header, b""

    def request(self, method, path, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.host_header]
        if body or method == "POST":
            lines += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        r, self.left = read_response(self.sock, self.timeout, self.left)
        return r

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        return self.request("POST", path, body)
