"""Compatibility checks: the official api.video Python client against vidmock.

Environment:
  VIDMOCK_URL              base URL of a running vidmock (required)
  VIDMOCK_APIVIDEO_KEY     api.video API key known to the mock (default: vidmock-api-key)
  VIDMOCK_COMPAT_RESULTS   where to write the JSON results (optional)

The client is used exactly as published: ``AuthenticatedApiClient`` calls
POST /auth/api-key itself and sends ``Authorization: Bearer <access_token>`` on
every request; ``refresh_token()`` drives POST /auth/refresh.
"""

import datetime
import importlib.metadata
import json
import os
import re
import sys
import time
import traceback
import urllib.error
import urllib.request

import apivideo
from apivideo.api.upload_tokens_api import UploadTokensApi
from apivideo.exceptions import ApiException, ApiValueError
from apivideo.model.token_creation_payload import TokenCreationPayload

CLIENT_DIST = "api.video"
CLIENT_VERSION = importlib.metadata.version(CLIENT_DIST)

BASE_URL = os.environ.get("VIDMOCK_URL", "").rstrip("/")
API_KEY = os.environ.get("VIDMOCK_APIVIDEO_KEY") or "vidmock-api-key"
RESULTS_PATH = os.environ.get("VIDMOCK_COMPAT_RESULTS", "")

NOT_FOUND_TITLE = "The requested resource could not be found."
INVALID_ATTRIBUTE_TITLE = "An attribute is invalid."
TOKEN_RE = re.compile(r"^to[0-9A-Za-z]{21,22}$")

# ---------------------------------------------------------------- reporting

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


def describe(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    try:
        return json.dumps(value, default=describe)
    except (TypeError, ValueError):
        return repr(value)


def error_text(err):
    if isinstance(err, ApiException):
        return "{}(status={}, reason={!r}, content-type={!r}, body={!r})".format(
            type(err).__name__, err.status, err.reason, header(err.headers, "Content-Type"), err.body)
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def header(headers, name):
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def problem_of(err):
    try:
        body = err.body.decode() if isinstance(err.body, bytes) else err.body
        return json.loads(body)
    except (TypeError, ValueError, AttributeError):
        return None


class Scenario:
    """Collects the checks of one scenario."""

    def __init__(self, name):
        self.name = name

    def check(self, operation, label, ok, detail=None):
        record(operation, self.name, label, ok, detail)
        return bool(ok)

    def eq(self, operation, label, actual, expected):
        return self.check(operation, label, actual == expected,
                          "expected {}, got {}".format(describe(expected), describe(actual)))

    def api_error(self, operation, label, status, fn, title=None):
        """Runs fn, expecting the client's ApiException with `status` and a problem+json body."""
        try:
            value = fn()
        except ApiException as err:
            problems = []
            if err.status != status:
                problems.append("status {} != {}".format(err.status, status))
            problem = problem_of(err)
            if not isinstance(problem, dict):
                problems.append("body is not a JSON problem")
                problem = {}
            elif problem.get("status") != status:
                problems.append("problem status {!r} != {}".format(problem.get("status"), status))
            ctype = header(err.headers, "Content-Type")
            if ctype != "application/problem+json":
                problems.append("Content-Type {!r} != 'application/problem+json'".format(ctype))
            got_title = problem.get("title")
            if not isinstance(got_title, str) or not got_title:
                problems.append("problem title missing")
            elif title is not None and got_title != title:
                problems.append("title {!r} != {!r}".format(got_title, title))
            self.check(operation, label, not problems, "{} ({})".format("; ".join(problems), error_text(err)))
            return err
        except Exception as err:  # noqa: BLE001 - any other exception is a failed check
            self.check(operation, label, False, "expected ApiException {}, got {}".format(status, error_text(err)))
            return None
        self.check(operation, label, False,
                   "expected ApiException {}, call returned {}".format(status, describe(value)))
        return None


def scenario(operation, name, client=None, reset=True):
    """Decorator that runs the decorated body at once, as one scenario.

    Resets the mock first and has the client authenticate again, so every
    scenario starts its Bearer flow from scratch, and records an unexpected
    exception as a failed check.
    """

    def run(body):
        sc = Scenario(name)
        try:
            if reset:
                admin("POST", "/__vidmock/reset", expected=204)
                if client is not None:
                    client.connect()
            body(sc)
        except Exception as err:  # noqa: BLE001
            record(operation, name, "scenario completed without an unexpected error", False, error_text(err))
        return body

    return run


# ---------------------------------------------------------------- admin API (plain HTTP)

def admin(method, path, body=None, expected=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE_URL + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if expected is not None and status != expected:
        raise RuntimeError("{} {} answered {} (expected {}): {}".format(method, path, status, expected, text))
    return json.loads(text) if text else None


def advance_clock(seconds):
    return admin("POST", "/__vidmock/clock/advance", {"seconds": seconds}, expected=200)


def mock_now():
    now = admin("GET", "/__vidmock/clock", expected=200)["now"]
    return datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))


def raw_request(method, path, token, body):
    """A request outside the client, with the client's own Bearer token."""
    req = urllib.request.Request(BASE_URL + path, data=json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read().decode()


# ---------------------------------------------------------------- helpers

def new_client(api_key=API_KEY):
    client = apivideo.AuthenticatedApiClient(api_key)
    client.configuration.host = BASE_URL
    return client


def is_utc_datetime(value):
    return isinstance(value, datetime.datetime) and value.utcoffset() == datetime.timedelta(0)


def create_spaced(api, ttls):
    """Creates tokens with the given ttls, 10 s apart on the mock clock, so createdAt differs."""
    tokens = []
    for i, ttl in enumerate(ttls):
        if i:
            advance_clock(10)
        payload = TokenCreationPayload() if ttl is None else TokenCreationPayload(ttl=ttl)
        tokens.append(api.create_token(payload))
    return tokens


def ids(listing):
    return [t.token for t in listing.data]


def query_of(uri):
    from urllib.parse import parse_qs, urlsplit
    q = parse_qs(urlsplit(uri).query)
    return q.get("currentPage", [None])[0], q.get("pageSize", [None])[0]


def check_pagination(sc, label, pagination, current_page, page_size, items_total, current_page_items):
    op = "listTokens"
    pages_total = -(-items_total // page_size)
    sc.eq(op, label + ": pagination.currentPage", pagination.current_page, current_page)
    sc.eq(op, label + ": pagination.pageSize", pagination.page_size, page_size)
    sc.eq(op, label + ": pagination.pagesTotal", pagination.pages_total, pages_total)
    sc.eq(op, label + ": pagination.itemsTotal", pagination.items_total, items_total)
    sc.eq(op, label + ": pagination.currentPageItems", pagination.current_page_items, current_page_items)

    rels = ["self", "first"]
    if current_page > 1:
        rels.append("previous")
    if current_page < pages_total:
        rels.append("next")
    rels.append("last")
    links = list(pagination.links or [])
    sc.eq(op, label + ": pagination.links rels in order", [link.rel for link in links], rels)

    expected_page = {"self": current_page, "first": 1, "previous": current_page - 1,
                     "next": current_page + 1, "last": pages_total}
    bad = []
    for link in links:
        if link.rel not in expected_page:
            continue
        if not isinstance(link.uri, str) or not link.uri.startswith("/upload-tokens?"):
            bad.append("{}: uri {!r} is not a relative /upload-tokens? URI".format(link.rel, link.uri))
            continue
        if query_of(link.uri) != (str(expected_page[link.rel]), str(page_size)):
            bad.append("{}: {} (expected currentPage={}&pageSize={})".format(
                link.rel, link.uri, expected_page[link.rel], page_size))
    sc.check(op, label + ": pagination.links URIs", not bad, "; ".join(bad))


# ---------------------------------------------------------------- scenarios

def run_all(client):
    api = UploadTokensApi(client)

    @scenario("authenticate", "bearer flow via AuthenticatedApiClient", client, reset=False)
    def _(sc):
        # `with client:` (in main) already called POST /auth/api-key.
        sc.eq("authenticate", "token_type is Bearer", client.token_type, "Bearer")
        sc.check("authenticate", "an access token was obtained",
                 isinstance(client._access_token, str) and client._access_token, repr(client._access_token))
        remaining = client.next_refresh - time.time()
        sc.check("authenticate", "next refresh scheduled at expires_in - 10 s (3590 s)",
                 3580 <= remaining <= 3591, "next refresh in {:.1f} s".format(remaining))
        listing = api.list()
        sc.check("authenticate", "a request authenticated with Bearer succeeds",
                 isinstance(listing.data, list), describe(listing))

    @scenario("authenticate", "wrong api key", client)
    def _(sc):
        bad = new_client("not-a-known-api-key")
        sc.api_error("authenticate", "a wrong api key on /auth/api-key is rejected with 400", 400,
                     bad.connect, "The user credentials were incorrect.")
        sc.check("authenticate", "the client is left without an access token", not bad._access_token,
                 repr(bad._access_token))

    @scenario("refreshToken", "refresh a bearer token", client)
    def _(sc):
        old_access, old_refresh = client._access_token, client._refresh_token
        client.refresh_token()
        sc.eq("refreshToken", "token_type is Bearer", client.token_type, "Bearer")
        sc.check("refreshToken", "refresh_token() obtained new access and refresh tokens",
                 client._access_token and client._access_token != old_access
                 and client._refresh_token and client._refresh_token != old_refresh,
                 describe({"before": [old_access, old_refresh],
                           "after": [client._access_token, client._refresh_token]}))
        listing = api.list()
        sc.check("refreshToken", "the refreshed access token is accepted", isinstance(listing.data, list),
                 describe(listing))

        stale = new_client()
        stale.connect()
        stale._refresh_token = "def502-not-a-known-refresh-token"
        sc.api_error("refreshToken", "an unknown refresh token is rejected with 400", 400,
                     stale.refresh_token, "The user credentials were incorrect.")

    @scenario("createToken", "create without ttl", client)
    def _(sc):
        before = mock_now()
        data, status, headers = api.create_token(TokenCreationPayload(), _return_http_data_only=False)
        sc.eq("createToken", "answers 200", status, 200)
        sc.eq("createToken", "Content-Type is exactly application/json", header(headers, "Content-Type"),
              "application/json")
        sc.check("createToken", "token id has the to + base62 form", TOKEN_RE.match(data.token or ""),
                 repr(data.token))
        sc.eq("createToken", "ttl is 0", data.ttl, 0)
        sc.check("createToken", "expires_at is None", data.get("expires_at") is None,
                 repr(data.get("expires_at")))
        sc.check("createToken", "created_at is a UTC datetime close to the mock clock",
                 is_utc_datetime(data.created_at) and abs((data.created_at - before).total_seconds()) <= 5,
                 "created_at {!r}, mock clock {}".format(data.created_at, before.isoformat()))

    @scenario("createToken", "create with ttl 3600", client)
    def _(sc):
        data = api.create_token(TokenCreationPayload(ttl=3600))
        sc.check("createToken", "token id has the to + base62 form", TOKEN_RE.match(data.token or ""),
                 repr(data.token))
        sc.eq("createToken", "ttl is 3600", data.ttl, 3600)
        expires = data.get("expires_at")
        sc.check("createToken", "expires_at = created_at + 1 h",
                 is_utc_datetime(data.created_at) and is_utc_datetime(expires)
                 and expires - data.created_at == datetime.timedelta(hours=1),
                 "created_at {!r}, expires_at {!r}".format(data.created_at, expires))

    @scenario("createToken", "invalid ttl", client)
    def _(sc):
        # The client validates ttl >= 0 itself and never sends ttl -1 by default.
        try:
            TokenCreationPayload(ttl=-1)
            sc.check("createToken", "the client rejects ttl -1 client-side (ApiValueError)", False,
                     "TokenCreationPayload(ttl=-1) was accepted")
        except ApiValueError:
            sc.check("createToken", "the client rejects ttl -1 client-side (ApiValueError)", True)

        # Its documented switch turns that validation off, so the server's answer reaches the client.
        config = client.configuration
        config.disabled_client_side_validations = "minimum,maximum"
        try:
            sc.api_error("createToken", "ttl -1 (client validation disabled) gives ApiException 400 and a title",
                         400, lambda: api.create_token(TokenCreationPayload(ttl=-1, _configuration=config)),
                         INVALID_ATTRIBUTE_TITLE)
            sc.api_error("createToken", "ttl 2147483648 (client validation disabled) gives ApiException 400",
                         400, lambda: api.create_token(TokenCreationPayload(ttl=2147483648, _configuration=config)),
                         INVALID_ATTRIBUTE_TITLE)
        finally:
            config.disabled_client_side_validations = ""

        # The same request outside the client, with the client's Bearer token.
        status, ctype, text = raw_request("POST", "/upload-tokens", client._access_token, {"ttl": -1})
        try:
            problem = json.loads(text)
        except ValueError:
            problem = {}
        sc.check("createToken", "raw POST /upload-tokens {\"ttl\":-1} gives 400 problem+json",
                 status == 400 and ctype == "application/problem+json" and problem.get("status") == 400
                 and problem.get("title") == INVALID_ATTRIBUTE_TITLE,
                 "status {}, Content-Type {!r}, body {}".format(status, ctype, text))
        sc.eq("listTokens", "rejected creations left no token behind", api.list().pagination.items_total, 0)

    @scenario("listTokens", "list with sortBy/sortOrder", client)
    def _(sc):
        a, b, c = create_spaced(api, [600, None, 3600])
        sc.eq("listTokens", "sortBy=createdAt sortOrder=asc",
              ids(api.list(sort_by="createdAt", sort_order="asc")), [a.token, b.token, c.token])
        sc.eq("listTokens", "sortBy=createdAt sortOrder=desc",
              ids(api.list(sort_by="createdAt", sort_order="desc")), [c.token, b.token, a.token])
        sc.eq("listTokens", "sortBy=ttl sortOrder=asc (0 first)",
              ids(api.list(sort_by="ttl", sort_order="asc")), [b.token, a.token, c.token])
        sc.eq("listTokens", "sortBy=ttl sortOrder=desc",
              ids(api.list(sort_by="ttl", sort_order="desc")), [c.token, a.token, b.token])

        plain = api.list()
        listed = next((t for t in plain.data if t.token == b.token), None)
        sc.check("listTokens", "listed items carry ttl, created_at and expires_at like the created token",
                 listed is not None and listed.ttl == 0 and listed.get("expires_at") is None
                 and listed.created_at == b.created_at, describe(listed))
        check_pagination(sc, "default page", plain.pagination, 1, 25, 3, 3)

    @scenario("listTokens", "list with pagination", client)
    def _(sc):
        tokens = create_spaced(api, [100, 200, 300])
        for page in (1, 2, 3):
            listing = api.list(sort_by="createdAt", sort_order="asc", page_size=1, current_page=page)
            sc.eq("listTokens", "pageSize=1 currentPage={}: data".format(page), ids(listing),
                  [tokens[page - 1].token])
            check_pagination(sc, "pageSize=1 currentPage={}".format(page), listing.pagination, page, 1, 3, 1)
        listing = api.list(sort_by="createdAt", sort_order="asc", page_size=2, current_page=2)
        sc.eq("listTokens", "pageSize=2 currentPage=2: data", ids(listing), [tokens[2].token])
        check_pagination(sc, "pageSize=2 currentPage=2", listing.pagination, 2, 2, 3, 1)

        sc.api_error("listTokens", "pageSize=0 is rejected with 400", 400, lambda: api.list(page_size=0))
        sc.api_error("listTokens", "pageSize=101 is rejected with 400", 400, lambda: api.list(page_size=101))

    @scenario("getToken", "get a token", client)
    def _(sc):
        created = api.create_token(TokenCreationPayload(ttl=3600))
        got = api.get_token(created.token)
        sc.eq("getToken", "token", got.token, created.token)
        sc.eq("getToken", "ttl", got.ttl, 3600)
        sc.check("getToken", "created_at and expires_at match the created token",
                 got.created_at == created.created_at and got.get("expires_at") == created.get("expires_at")
                 and got.get("expires_at") is not None, describe({"got": got, "created": created}))
        forever = api.create_token(TokenCreationPayload(ttl=0))
        got_forever = api.get_token(forever.token)
        sc.check("getToken", "a ttl 0 token reads back with expires_at None",
                 got_forever.ttl == 0 and got_forever.get("expires_at") is None, describe(got_forever))
        sc.api_error("getToken", "an unknown token gives 404", 404,
                     lambda: api.get_token("to0000000000000000000000"), NOT_FOUND_TITLE)

    @scenario("deleteToken", "delete a token", client)
    def _(sc):
        victim = api.create_token(TokenCreationPayload())
        keeper = api.create_token(TokenCreationPayload(ttl=3600))
        try:
            data, status, headers = api.delete_token(victim.token, _return_http_data_only=False)
        except Exception as err:  # noqa: BLE001
            sc.check("deleteToken", "delete_token() succeeds", False, error_text(err))
            return
        sc.check("deleteToken", "delete_token() succeeds", True)
        sc.eq("deleteToken", "answers 204 without a Content-Type", (status, header(headers, "Content-Type")),
              (204, None))
        sc.api_error("getToken", "get after delete gives 404", 404, lambda: api.get_token(victim.token),
                     NOT_FOUND_TITLE)
        sc.eq("listTokens", "a deleted token is absent from the list", ids(api.list()), [keeper.token])
        sc.api_error("deleteToken", "deleting it again gives 404", 404, lambda: api.delete_token(victim.token),
                     NOT_FOUND_TITLE)

    @scenario("getToken", "token expiry", client)
    def _(sc):
        short_lived = api.create_token(TokenCreationPayload(ttl=60))
        forever = api.create_token(TokenCreationPayload())
        # createdAt has second precision, so stay clear of the boundary before expiry.
        advance_clock(55)
        sc.eq("getToken", "a ttl 60 token is still readable after 55 s", api.get_token(short_lived.token).token,
              short_lived.token)
        advance_clock(6)
        sc.api_error("getToken", "a ttl 60 token gives 404 after 61 s", 404,
                     lambda: api.get_token(short_lived.token), NOT_FOUND_TITLE)
        listing = api.list()
        sc.eq("listTokens", "an expired token is absent from the list", ids(listing), [forever.token])
        sc.eq("listTokens", "itemsTotal counts only active tokens", listing.pagination.items_total, 1)

    @scenario("authenticate", "access token expiry", client)
    def _(sc):
        advance_clock(3601)
        sc.api_error("authenticate", "an access token is rejected with 401 after 3601 s", 401, api.list)
        client.refresh_token()
        listing = api.list()
        sc.check("refreshToken", "refresh_token() after expiry restores access", isinstance(listing.data, list),
                 describe(listing))


def main():
    if not BASE_URL:
        print("VIDMOCK_URL is not set", file=sys.stderr)
        return 2
    fatal = False
    try:
        client = new_client()
        # Entering the client authenticates (POST /auth/api-key) and starts its refresh thread.
        with client:
            run_all(client)
    except Exception as err:  # noqa: BLE001
        fatal = True
        record("authenticate", "harness", "suite ran to the end", False, error_text(err))

    failed = sum(1 for r in results if not r["ok"])
    if RESULTS_PATH:
        os.makedirs(os.path.dirname(os.path.abspath(RESULTS_PATH)), exist_ok=True)
        with open(RESULTS_PATH, "w", encoding="utf-8") as out:
            json.dump({
                "client": CLIENT_DIST,
                "version": CLIENT_VERSION,
                "language": "python",
                "passed": len(results) - failed,
                "failed": failed,
                "operations": results,
            }, out, indent=2)
            out.write("\n")
    print("python {}@{}: {} checks, {} failing".format(CLIENT_DIST, CLIENT_VERSION, len(results), failed))
    return 0 if failed == 0 and not fatal else 1


if __name__ == "__main__":
    sys.exit(main())
