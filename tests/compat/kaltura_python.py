"""Compatibility checks: the official Kaltura Python client (KalturaApiClient) against vidmock.

Environment:
  VIDMOCK_URL               base URL of a running vidmock (required)
  VIDMOCK_KALTURA_PARTNER   ID:ADMIN_SECRET[:USER_SECRET] of a partner known to the mock
                            (default: 101:vidmock-admin-secret:vidmock-user-secret)
  VIDMOCK_COMPAT_RESULTS    where to write the JSON results (optional)

The client is used exactly as published. It only speaks XML (format=2), sends JSON bodies
whose values are all strings, and mints KSs offline with generateSession (v1) and
generateSessionV2 (v2, needs pycryptodome).
"""

import importlib.metadata
import json
import os
import sys
import traceback
import urllib.request

from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.Base import KalturaParams
from KalturaClient.exceptions import KalturaException
from KalturaClient.Plugins.Core import KalturaSessionType

CLIENT_DIST = "KalturaApiClient"
CLIENT_VERSION = importlib.metadata.version(CLIENT_DIST)

BASE_URL = os.environ.get("VIDMOCK_URL", "").rstrip("/")
PARTNER = (os.environ.get("VIDMOCK_KALTURA_PARTNER")
           or "101:vidmock-admin-secret:vidmock-user-secret").split(":", 2)
PARTNER_ID = int(PARTNER[0])
ADMIN_SECRET = PARTNER[1]
USER_SECRET = PARTNER[2] if len(PARTNER) > 2 else ""
RESULTS_PATH = os.environ.get("VIDMOCK_COMPAT_RESULTS", "")

results = []


def record(operation, scenario, check, ok, error=None):
    ok = bool(ok)
    results.append({
        "operation": operation,
        "scenario": scenario,
        "check": check,
        "ok": ok,
        "error": None if ok else str(error if error is not None else "check failed"),
    })
    line = "{} python {} [{}] {}".format("PASS" if ok else "FAIL", operation, scenario, check)
    print(line if ok else "{}: {}".format(line, error), flush=True)


def admin(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE_URL + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def client():
    config = KalturaConfiguration()
    config.serviceUrl = BASE_URL
    return KalturaClient(config)


def expect_error(check, operation, label, code, call, message_part=None):
    try:
        value = call()
    except KalturaException as err:
        ok = err.code == code and (message_part is None or message_part in err.message)
        check(operation, label, ok, "got {} {!r}".format(err.code, err.message))
        return
    check(operation, label, False, "no error, got {!r}".format(value))


def scenario(operation, name, body):
    def check(op, label, ok, detail=None):
        record(op, name, label, ok, detail)
    try:
        admin("POST", "/__vidmock/reset")
        body(check)
    except Exception as err:  # noqa: BLE001 - a scenario must report, not crash the suite
        record(operation, name, "scenario completed without an unexpected error", False,
               "".join(traceback.format_exception_only(type(err), err)).strip())


def is_ks(value):
    return isinstance(value, str) and value.startswith("djJ8")


def start_session(check):
    c = client()
    ks = c.session.start(ADMIN_SECRET, "alice@example.com", KalturaSessionType.ADMIN, PARTNER_ID)
    check("session.start", "an admin secret starts an ADMIN session (v2 KS)", is_ks(ks), repr(ks))
    if USER_SECRET:
        user_ks = c.session.start(USER_SECRET, "bob", KalturaSessionType.USER, PARTNER_ID)
        check("session.start", "the user secret starts a USER session", is_ks(user_ks), repr(user_ks))
        expect_error(check, "session.start", "the user secret cannot start an ADMIN session",
                     "START_SESSION_ERROR",
                     lambda: c.session.start(USER_SECRET, "bob", KalturaSessionType.ADMIN, PARTNER_ID))
    expect_error(check, "session.start", "a wrong secret is START_SESSION_ERROR", "START_SESSION_ERROR",
                 lambda: c.session.start("wrong", "", KalturaSessionType.USER, PARTNER_ID))
    c.setKs(ks)
    c.session.end()
    check("session.end", "ending the session succeeds", True)
    expect_error(check, "session.end", "the ended KS is refused as LOGOUT", "INVALID_KS",
                 lambda: c.session.end(), "LOGOUT")


def expired_session(check):
    c = client()
    ks = c.session.start(ADMIN_SECRET, "", KalturaSessionType.ADMIN, PARTNER_ID, 60)
    c.setKs(ks)
    admin("POST", "/__vidmock/clock/advance", {"seconds": 61})
    expect_error(check, "session.end", "a KS past its expiry on the mock clock is INVALID_KS EXPIRED",
                 "INVALID_KS", lambda: c.session.end(), "EXPIRED")


def offline_sessions(check):
    for name, generate in (("v1", KalturaClient.generateSession), ("v2", KalturaClient.generateSessionV2)):
        c = client()
        ks = generate(ADMIN_SECRET, "carol", KalturaSessionType.ADMIN, PARTNER_ID)
        c.setKs(ks.decode() if isinstance(ks, bytes) else ks)
        try:
            c.session.end()
            check("session.end", "a KS minted offline ({}) is accepted".format(name), True)
        except KalturaException as err:
            check("session.end", "a KS minted offline ({}) is accepted".format(name), False,
                  "{} {}".format(err.code, err.message))


def unknown_action(check):
    c = client()
    c.queueServiceActionCall("session", "nosuchaction", None, KalturaParams())
    expect_error(check, "session.nosuchaction", "an unknown action is ACTION_DOES_NOT_EXISTS",
                 "ACTION_DOES_NOT_EXISTS", c.doQueue)


def multirequest(check):
    c = client()
    c.startMultiRequest()
    c.session.start(ADMIN_SECRET, "dave", KalturaSessionType.ADMIN, PARTNER_ID)
    c.setKs(c.getMultiRequestResult())
    c.session.end()
    c.queueServiceActionCall("session", "nosuchaction", None, KalturaParams())
    answers = c.doMultiRequest()
    check("multirequest", "three answers come back", len(answers) == 3, repr(answers))
    if len(answers) == 3:
        check("multirequest", "the first is a KS", is_ks(answers[0]), repr(answers[0]))
        check("multirequest", "the second used it through {1:result} and succeeded",
              not isinstance(answers[1], Exception), repr(answers[1]))
        check("multirequest", "the third is an error object of its own",
              isinstance(answers[2], KalturaException) and answers[2].code == "ACTION_DOES_NOT_EXISTS",
              repr(answers[2]))
        c.setKs(answers[0])
        expect_error(check, "session.end", "the KS ended inside the multirequest is refused", "INVALID_KS",
                     lambda: c.session.end(), "LOGOUT")


def main():
    if not BASE_URL:
        print("VIDMOCK_URL is not set", file=sys.stderr)
        return 2
    scenario("session.start", "start and end sessions", start_session)
    scenario("session.end", "expired KS", expired_session)
    scenario("session.end", "KS minted offline", offline_sessions)
    scenario("session.nosuchaction", "unknown action", unknown_action)
    scenario("multirequest", "multirequest", multirequest)
    failed = sum(1 for r in results if not r["ok"])
    if RESULTS_PATH:
        os.makedirs(os.path.dirname(RESULTS_PATH) or ".", exist_ok=True)
        with open(RESULTS_PATH, "w", encoding="utf-8") as f:
            json.dump({
                "client": CLIENT_DIST,
                "version": CLIENT_VERSION,
                "language": "python",
                "passed": len(results) - failed,
                "failed": failed,
                "operations": results,
            }, f, indent=2)
            f.write("\n")
    print("python {}@{}: {} checks, {} failing".format(CLIENT_DIST, CLIENT_VERSION, len(results), failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
