#!/usr/bin/env python3
"""Drives the vidmock binary from another language through its admin API (Python 3.11,
standard library only).

    python3 examples/admin_api.py                       # starts `vidmock` (VIDMOCK_BIN or PATH)
    python3 examples/admin_api.py http://127.0.0.1:8484 # uses a server already running

With a running server, VIDMOCK_APIVIDEO_KEY names its api.video key (the first, if it lists
several; default `vidmock-api-key`) and VIDMOCK_ADMIN_TOKEN its admin token, if it has one.

What a test suite in any language does: reset the mock, script a fault (the first createToken
answers 503), call api.video as the code under test would (and retry), move the mock's clock
so the token expires, then check the journal, the fault's counts and the state. Exits 0 when
every check holds.
"""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request


class Mock:
    """A vidmock server: its base URL, api.video key and admin token."""

    def __init__(self, base, api_key, admin_token=None):
        self.base = base.rstrip("/")
        self.api_key = api_key
        self.admin_token = admin_token

    def request(self, method, path, body=None, headers=None):
        """One HTTP call; returns (status, the body as JSON, as text when it is not JSON, or
        None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        if not text:
            return status, None
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode(errors="replace")

    def admin(self, method, path, body=None):
        headers = {}
        if self.admin_token:
            headers["Authorization"] = "Bearer " + self.admin_token
        return self.request(method, "/__vidmock" + path, body, headers)

    def apivideo(self, method, path, body=None):
        basic = base64.b64encode((self.api_key + ":").encode()).decode()
        return self.request(method, path, body, {"Authorization": "Basic " + basic})


def start_binary():
    """Starts `vidmock --port 0`; returns the process and the Mock its first lines describe."""
    binary = os.environ.get("VIDMOCK_BIN", "vidmock")
    env = {k: v for k, v in os.environ.items() if k != "VIDMOCK_APIVIDEO_KEY"}
    process = subprocess.Popen(
        [binary, "--port", "0", "--apivideo-key", "python-example"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    first = process.stdout.readline().strip()
    prefix = "vidmock listening on "
    if not first.startswith(prefix):
        process.kill()
        sys.exit(f"unexpected first line from {binary}: {first!r}")
    return process, Mock(first[len(prefix):], "python-example")


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok:", what)


def run(mock):
    # Arrange: a clean mock, and a fault for the first createToken.
    status, health = mock.admin("GET", "/health")
    check(status == 200 and health["status"] == "ok", "the mock is healthy")
    status, _ = mock.admin("POST", "/reset")
    check(status == 204, "reset answers 204")
    status, created = mock.admin("POST", "/faults", {
        "name": "token service busy",
        "match": {"operation": "createToken"},
        "action": {"type": "status", "status": 503, "body": "busy"},
        "times": 1,
    })
    check(status == 201 and isinstance(created["id"], int), "the fault is added")

    # Act: the code under test creates an upload token, retrying once on a 5xx.
    for _ in range(2):
        status, token = mock.apivideo("POST", "/upload-tokens", {"ttl": 60})
        if status < 500:
            break
    status_after_retry = status
    _, clock = mock.admin("POST", "/clock/advance", {"seconds": 61})

    # Assert: the retry got a token; the journal shows the fault then the success; the fault
    # was applied once; the token expired on the mock's clock.
    check(status_after_retry == 200 and token["token"].startswith("to"),
          f"the retry gets a token ({status_after_retry})")
    check(clock["offsetSeconds"] == 61, "the clock moved 61 seconds")
    _, journal = mock.admin("GET", "/requests")
    creates = [r for r in journal if (r["method"], r["path"]) == ("POST", "/upload-tokens")]
    statuses = [r["status"] for r in creates]
    check(statuses == [503, 200], f"the journal shows 503 then 200 ({statuses})")
    check(creates[0]["fault"] is not None and creates[1]["fault"] is None,
          "the journal names the fault on the first call only")
    _, faults = mock.admin("GET", "/faults")
    rule = next(f for f in faults if f["id"] == created["id"])
    check(rule["applied"] == 1, f"the fault was applied once ({rule['applied']})")
    status, _ = mock.apivideo("GET", "/upload-tokens/" + token["token"])
    check(status == 404, "the expired token is gone")
    status, _ = mock.admin("DELETE", "/faults")
    check(status == 204, "faults are removed")


def main():
    process = None
    if len(sys.argv) > 1:
        # VIDMOCK_APIVIDEO_KEY may list several keys; the first is the default project's.
        key = os.environ.get("VIDMOCK_APIVIDEO_KEY") or "vidmock-api-key"
        mock = Mock(sys.argv[1], key.split(",")[0], os.environ.get("VIDMOCK_ADMIN_TOKEN"))
    else:
        process, mock = start_binary()
    try:
        run(mock)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    print("admin API example: all checks passed")


if __name__ == "__main__":
    main()
