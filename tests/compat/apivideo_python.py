"""Compatibility checks: the official api.video Python client against vidmock.

Environment:
  VIDMOCK_URL              base URL of a running vidmock (required)
  VIDMOCK_APIVIDEO_KEY     api.video API key known to the mock (default: vidmock-api-key)
  VIDMOCK_COMPAT_RESULTS   where to write the JSON results (optional)
  VIDMOCK_COMPAT_TARGET    `vidmock` (default) or `vendor`. Against a real api.video project,
                           which must be empty at the start (the run refuses otherwise), a
                           scenario starts by deleting the project's upload tokens and videos
                           (what the run made) instead of POST /__vidmock/reset; the mock's clock
                           is read as the local clock; the steps that need the mock's admin API
                           (clock moves, faults, state) are skipped and said so (SKIP lines)

The client is used exactly as published: ``AuthenticatedApiClient`` calls
POST /auth/api-key itself and sends ``Authorization: Bearer <access_token>`` on
every request; ``refresh_token()`` drives POST /auth/refresh. The upload
scenarios use a second client (``Configuration(chunk_size=5 MiB)``) pointed at a
recording proxy in this script, which forwards every request to vidmock and
keeps what the client put on the wire: Content-Range, Authorization scheme and
the multipart parts (field name, filename, size, sha256, text fields such as
videoId).
"""

import base64
import datetime
import hashlib
import http.client
import http.server
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import apivideo
from apivideo.api.captions_api import CaptionsApi
from apivideo.api.chapters_api import ChaptersApi
from apivideo.api.player_themes_api import PlayerThemesApi
from apivideo.api.tags_api import TagsApi
from apivideo.api.upload_tokens_api import UploadTokensApi
from apivideo.api.watermarks_api import WatermarksApi
from apivideo.api.videos_api import VideosApi
from apivideo.api.webhooks_api import WebhooksApi
from apivideo.configuration import Configuration
from apivideo.exceptions import ApiException, ApiValueError
from apivideo.model.captions_update_payload import CaptionsUpdatePayload
from apivideo.model.metadata import Metadata
from apivideo.model.player_theme_creation_payload import PlayerThemeCreationPayload
from apivideo.model.player_theme_update_payload import PlayerThemeUpdatePayload
from apivideo.model.token_creation_payload import TokenCreationPayload
from apivideo.model.video_creation_payload import VideoCreationPayload
from apivideo.model.video_thumbnail_pick_payload import VideoThumbnailPickPayload
from apivideo.model.video_update_payload import VideoUpdatePayload
from apivideo.model.video_watermark import VideoWatermark
from apivideo.model.webhooks_creation_payload import WebhooksCreationPayload

CLIENT_DIST = "api.video"
CLIENT_VERSION = importlib.metadata.version(CLIENT_DIST)

BASE_URL = os.environ.get("VIDMOCK_URL", "").rstrip("/")
API_KEY = os.environ.get("VIDMOCK_APIVIDEO_KEY") or "vidmock-api-key"
RESULTS_PATH = os.environ.get("VIDMOCK_COMPAT_RESULTS", "")
TARGET = os.environ.get("VIDMOCK_COMPAT_TARGET", "vidmock")
VENDOR = TARGET == "vendor"

NOT_FOUND_TITLE = "The requested resource could not be found."
INVALID_ATTRIBUTE_TITLE = "An attribute is invalid."
TOKEN_RE = re.compile(r"^to[0-9A-Za-z]{21,22}$")

# ---------------------------------------------------------------- reporting

results = []
skipped = []


class MockOnly(Exception):
    """A step only the mock can take (its admin API); skipped against a real vendor."""


def skip(operation, scenario, check, reason):
    skipped.append({"operation": operation, "scenario": scenario, "check": check, "reason": reason})
    print("SKIP python {} [{}] {}: {}".format(operation, scenario, check, reason), flush=True)


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
        except MockOnly as err:
            skip(operation, name, "the rest of the scenario", "needs vidmock's admin API ({})".format(err))
        except Exception as err:  # noqa: BLE001
            record(operation, name, "scenario completed without an unexpected error", False, error_text(err))
        return body

    return run


# ---------------------------------------------------------------- admin API (plain HTTP)

def admin(method, path, body=None, expected=None):
    if VENDOR:
        if (method, path) == ("POST", "/__vidmock/reset"):
            return vendor_reset()
        if (method, path) == ("GET", "/__vidmock/clock"):
            return {"now": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        raise MockOnly("{} {}".format(method, path))
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


def vendor_call(method, path):
    """A plain request to the vendor with the API key (Basic); the JSON answer or None."""
    req = urllib.request.Request(BASE_URL + path, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode((API_KEY + ":").encode()).decode())
    req.add_header("Accept", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else None


def vendor_items():
    """The project's upload tokens and videos (first 100 of each)."""
    tokens = vendor_call("GET", "/upload-tokens?pageSize=100")["data"]
    videos = vendor_call("GET", "/videos?pageSize=100")["data"]
    return [t["token"] for t in tokens], [v["videoId"] for v in videos]


def vendor_reset():
    """The parity run's reset: deletes every upload token and video of the project, which held
    none when the run started, so only what the run made."""
    tokens, videos = vendor_items()
    for token in tokens:
        vendor_call("DELETE", "/upload-tokens/" + token)
    for video in videos:
        vendor_call("DELETE", "/videos/" + video)
    return None


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

def new_client(api_key=API_KEY, host=None, chunk_size=None):
    kwargs = {} if chunk_size is None else {"configuration": Configuration(chunk_size=chunk_size)}
    client = apivideo.AuthenticatedApiClient(api_key, **kwargs)
    client.configuration.host = host or BASE_URL
    return client


def is_utc_datetime(value):
    return isinstance(value, datetime.datetime) and value.utcoffset() == datetime.timedelta(0)


def create_spaced(api, ttls):
    """Creates tokens with the given ttls, 10 s apart on the mock clock, so createdAt differs."""
    tokens = []
    for i, ttl in enumerate(ttls):
        if i:
            # A real vendor's clock cannot be moved: wait past its one-second precision instead.
            time.sleep(1.1) if VENDOR else advance_clock(10)
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


# ---------------------------------------------------------------- uploads: test files, wire recorder, mock state

MIB = 1024 * 1024
CHUNK_SIZE = 5 * MIB  # the client's chunk_size in the upload scenarios (its minimum)
SMALL_SIZE = 300001  # one request: below the chunk size
BIG_SIZE = 12 * MIB  # three chunks: 5 MiB, 5 MiB, 2 MiB
VIDEO_ID_RE = re.compile(r"^vi[0-9A-Za-z]{22}$")


def sha256hex(data):
    return hashlib.sha256(data).hexdigest()


def pattern_bytes(label, size):
    """`size` deterministic pseudo-random bytes: sha256("label:0") || sha256("label:1") || ..."""
    blocks = (hashlib.sha256("{}:{}".format(label, i).encode()).digest() for i in range(-(-size // 32)))
    return b"".join(blocks)[:size]


class TestFile:
    def __init__(self, directory, name, data):
        self.name = name
        self.path = os.path.join(directory, name)
        self.size = len(data)
        self.sha256 = sha256hex(data)
        with open(self.path, "wb") as out:
            out.write(data)


def parse_multipart(content_type, body):
    """Splits a multipart/form-data body into [{name, filename?, size, sha256, value?}]; None if not multipart."""
    m = re.match(r'(?i)^multipart/form-data\s*;.*\bboundary=(?:"([^"]+)"|([^;\s]+))', content_type or "")
    if not m:
        return None
    delimiter = ("--" + (m.group(1) or m.group(2))).encode()
    parts = []
    at = body.find(delimiter)
    while at != -1:
        start = at + len(delimiter)
        if body[start:start + 2] == b"--":
            break
        nxt = body.find(delimiter, start)
        if nxt == -1:
            break
        raw = body[start + 2:nxt - 2]  # drop the CRLF after the delimiter and before the next
        split = raw.find(b"\r\n\r\n")
        head, content = raw[:split].decode("latin-1"), raw[split + 4:]
        disposition = re.search(r"(?im)^content-disposition:(.*)$", head)
        disposition = disposition.group(1) if disposition else ""
        name = re.search(r'(?i)\bname="([^"]*)"', disposition)
        filename = re.search(r'(?i)\bfilename="([^"]*)"', disposition)
        part = {"name": name.group(1) if name else None, "size": len(content), "sha256": sha256hex(content)}
        if filename is None:
            part["value"] = content.decode("utf-8", "replace")
        else:
            part["filename"] = filename.group(1)
        parts.append(part)
        at = nxt
    return parts


class WireRecorder:
    """A recording proxy between a client and vidmock.

    It forwards each request as received (the body is buffered and re-sent with Content-Length)
    and keeps, per request, the method, path, query, headers, multipart parts, response status
    and JSON response body.
    """

    def __init__(self, target):
        self.target = urlsplit(target)
        self.requests = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                recorder.forward(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:{}".format(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self.lock:
            self.requests = []

    def uploads(self):
        """The recorded uploads (POST /upload and POST /videos/{id}/source), summarised."""
        with self.lock:
            requests = list(self.requests)
        out = []
        for r in requests:
            if r["method"] != "POST" or not (r["path"] == "/upload" or re.match(r"^/videos/[^/]+/source$", r["path"])):
                continue
            parts = r["parts"] or []
            files = [p for p in parts if "filename" in p]
            fields = {p["name"]: p["value"] for p in parts if "filename" not in p}
            first = files[0] if files else {}
            out.append({
                "path": r["path"],
                "token": r["query"].get("token", [None])[0],
                "content_range": r["headers"].get("content-range"),
                "auth_scheme": (r["headers"].get("authorization") or "").split(" ")[0] or None,
                "file_parts": len(files),
                "field": first.get("name"),
                "filename": first.get("filename"),
                "size": first.get("size"),
                "sha256": first.get("sha256"),
                "video_id": fields.get("videoId"),
                "status": r["status"],
                "response": r["response"],
            })
        return out

    def forward(self, handler):
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += handler.rfile.read(size)
                handler.rfile.readline()
        else:
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        entry = {
            "method": handler.command,
            "path": url.path,
            "query": parse_qs(url.query),
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "parts": parse_multipart(handler.headers.get("Content-Type"), body),
            "status": None,
            "response": None,
        }
        with self.lock:
            self.requests.append(entry)
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in ("host", "connection", "transfer-encoding", "content-length")}
        if body:
            headers["Content-Length"] = str(len(body))
        try:
            connection = http.client.HTTPSConnection if self.target.scheme == "https" else http.client.HTTPConnection
            conn = connection(self.target.hostname, self.target.port, timeout=60)
            conn.request(handler.command, handler.path, body=body if body else None, headers=headers)
            resp = conn.getresponse()
            status, answer_headers, answer = resp.status, resp.getheaders(), resp.read()
            conn.close()
        except OSError as err:
            status, answer_headers, answer = 502, [("Content-Type", "text/plain")], str(err).encode()
        entry["status"] = status
        try:
            entry["response"] = json.loads(answer) if answer else None
        except ValueError:
            entry["response"] = answer.decode("utf-8", "replace")
        handler.send_response_only(status)
        for key, value in answer_headers:
            if key.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length"):
                handler.send_header(key, value)
        if status not in (204, 304):
            handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)
        handler.wfile.flush()


def mock_videos():
    """The api.video videos vidmock holds for the project of API_KEY (GET /__vidmock/state)."""
    state = admin("GET", "/__vidmock/state", expected=200) or {}
    projects = (state.get("apivideo") or {}).get("projects") or []
    project = next((p for p in projects if p.get("apiKey") == API_KEY), projects[0] if projects else {})
    return project.get("videos") or []


def check_video_model(sc, op, label, video, video_id=None, title=None):
    """Checks a Video as the client's typed model returns it."""
    problems = []
    get = video.get if hasattr(video, "get") else (lambda *_: None)
    if not VIDEO_ID_RE.match(get("video_id") or ""):
        problems.append("video_id {!r}".format(get("video_id")))
    if video_id is not None and get("video_id") != video_id:
        problems.append("video_id {!r} != {!r}".format(get("video_id"), video_id))
    if title is not None and get("title") != title:
        problems.append("title {!r} != {!r}".format(get("title"), title))
    for field in ("created_at", "published_at", "updated_at"):
        if not is_utc_datetime(get(field)):
            problems.append("{} is not a UTC datetime: {!r}".format(field, get(field)))
    for field in ("tags", "metadata"):
        if not isinstance(get(field), list):
            problems.append("{} is not a list".format(field))
    source = get("source")
    if source is None or source.get("uri") != "/videos/{}/source".format(get("video_id")):
        problems.append("source.uri {!r}".format(source and source.get("uri")))
    assets = get("assets")
    for field in ("iframe", "player", "hls", "thumbnail", "mp4"):
        if assets is None or not isinstance(assets.get(field), str) or not assets.get(field):
            problems.append("assets.{} missing".format(field))
    for field in ("public", "panoramic", "mp4_support", "discarded"):
        if not isinstance(get(field), bool):
            problems.append("{} is not a bool".format(field))
    return sc.check(op, label + ": a full Video (typed model)", not problems,
                    "{} in {}".format("; ".join(problems), describe(video)))


def attempt(sc, op, label, fn):
    """Runs fn expecting success; records the check. Returns (ok, value)."""
    try:
        value = fn()
    except Exception as err:  # noqa: BLE001
        sc.check(op, label, False, error_text(err))
        return False, None
    sc.check(op, label, True)
    return True, value


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
                 is_utc_datetime(data.created_at)
                 and abs((data.created_at - before).total_seconds()) <= (300 if VENDOR else 5),
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

    @scenario("createWebhook", "webhooks: create, get, list with a filter, delete", client)
    def _(sc):
        hooks = WebhooksApi(client)
        created = hooks.create(WebhooksCreationPayload(
            events=["video.encoding.quality.completed"], url="https://example.com/vidmock-compat/hooks"))
        sc.check("createWebhook", "a webhook_id, the url and a signature_secret",
                 created.webhook_id.startswith("webhook_") and created.url == "https://example.com/vidmock-compat/hooks"
                 and bool(created.get("signature_secret")) and created.created_at is not None, describe(created))
        sc.eq("createWebhook", "events", list(created.events), ["video.encoding.quality.completed"])
        other = hooks.create(WebhooksCreationPayload(
            events=["live-stream.broadcast.started"], url="https://example.com/vidmock-compat/live"))
        try:
            got = hooks.get(created.webhook_id)
            sc.eq("getWebhook", "get reads back the created webhook",
                  (got.webhook_id, got.url, got.get("signature_secret"), got.created_at),
                  (created.webhook_id, created.url, created.get("signature_secret"), created.created_at))
            filtered = hooks.list(events="video.encoding.quality.completed")
            sc.eq("listWebhooks", "the events filter keeps the subscribed webhook",
                  [w.webhook_id for w in filtered.data], [created.webhook_id])
            paged = hooks.list(page_size=1, current_page=2)
            sc.eq("listWebhooks", "page 2 of size 1 holds the second webhook",
                  [w.webhook_id for w in paged.data], [other.webhook_id])
            sc.eq("listWebhooks", "itemsTotal", paged.pagination.items_total, 2)
        finally:
            hooks.delete(created.webhook_id)
            hooks.delete(other.webhook_id)
        sc.check("deleteWebhook", "delete() succeeds (204 without a body)", True)
        sc.api_error("getWebhook", "get after delete gives 404", 404, lambda: hooks.get(created.webhook_id))

    @scenario("authenticate", "access token expiry", client)
    def _(sc):
        advance_clock(3601)
        sc.api_error("authenticate", "an access token is rejected with 401 after 3601 s", 401, api.list)
        client.refresh_token()
        listing = api.list()
        sc.check("refreshToken", "refresh_token() after expiry restores access", isinstance(listing.data, list),
                 describe(listing))


    @scenario("createToken", "a scripted problem fault reaches the client as its ApiException", client)
    def _(sc):
        admin("POST", "/__vidmock/faults", {
            "name": "scripted 400",
            "match": {"operation": "createToken"},
            "action": {
                "type": "apivideoProblem", "status": 400, "slug": "attribute-required",
                "title": "This attribute is required.", "name": "ttl",
                "problems": [{"slug": "attribute-required", "title": "This attribute is required.", "name": "ttl"}],
            },
            "times": 1,
        }, expected=201)
        err = sc.api_error("createToken", "the scripted 400 raises ApiException", 400,
                           lambda: api.create_token(TokenCreationPayload(ttl=60)),
                           "This attribute is required.")
        problem = problem_of(err) if err is not None else {}
        sc.eq("createToken", "the scripted problems array reaches the client",
              [p.get("name") for p in (problem or {}).get("problems", [])], ["ttl"])
        sc.eq("createToken", "the next call is answered normally (times: 1)",
              api.create_token(TokenCreationPayload(ttl=60)).ttl, 60)


# ---------------------------------------------------------------- upload and video scenarios

def check_one_complete_video(sc, op, video_id, title, file, total_parts=None):
    """Checks that vidmock holds exactly one video, complete, with the bytes of `file`."""
    try:
        videos = mock_videos()
    except MockOnly as err:
        skip(op, sc.name, "server: the video, its parts and sha256", "needs vidmock's admin API ({})".format(err))
        return
    sc.eq(op, "server: exactly one video, the one answered", [v.get("videoId") for v in videos], [video_id])
    v = videos[0] if videos else {}
    sc.eq(op, "server: complete", v.get("complete"), True)
    sc.eq(op, "server: title", v.get("title"), title)
    sc.eq(op, "server: size", v.get("size"), file.size)
    if total_parts is not None:
        sc.eq(op, "server: parts received / total parts", [v.get("receivedParts"), v.get("totalParts")],
              [list(range(1, total_parts + 1)), total_parts])
    sc.eq(op, "server: sha256 = the file's", v.get("sha256"), file.sha256)


def check_statuses(sc, op, label, sent, expected):
    """Checks the status of each recorded upload; a failure shows every request and its answer."""
    got = [s["status"] for s in sent]
    keys = ("path", "content_range", "video_id", "size", "status", "response")
    return sc.check(op, label, got == expected, "expected {}, got {}".format(
        describe(expected), describe([{k: s[k] for k in keys} for s in sent])))


def wire_files(sent):
    return [[s["file_parts"], s["field"], s["filename"]] for s in sent]


def response_keys(sent):
    return [sorted(s["response"]) if isinstance(s["response"], dict) else s["response"] for s in sent]


def received_parts(status):
    ingest = status.get("ingest")
    parts = ingest.get("received_parts") if ingest is not None else None
    if parts is None:
        return None
    return {"parts": list(parts.get("parts") or []), "total": parts.get("total")}


def upload_scenarios(directory, recorder):
    big_bytes = pattern_bytes("vidmock-compat 12mib", BIG_SIZE)
    small = TestFile(directory, "compat-small.bin", pattern_bytes("vidmock-compat small", SMALL_SIZE))
    big = TestFile(directory, "compat-12mib.bin", big_bytes)
    pieces = [TestFile(directory, "compat-12mib.bin.part." + "abc"[i],
                       big_bytes[i * CHUNK_SIZE:min((i + 1) * CHUNK_SIZE, BIG_SIZE)]) for i in range(3)]
    del big_bytes
    # The client reads its chunk size from Configuration(chunk_size=...) (5 MiB is its minimum).
    wired = new_client(host=recorder.url, chunk_size=CHUNK_SIZE)
    videos_api = VideosApi(wired)
    tokens_api = UploadTokensApi(wired)

    @scenario("uploadWithUploadToken", "upload token, small file in one request", wired)
    def _(sc):
        op = "uploadWithUploadToken"
        token = tokens_api.create_token(TokenCreationPayload()).token
        recorder.clear()
        with open(small.path, "rb") as f:
            ok, video = attempt(sc, op, "upload_with_upload_token() returns",
                                lambda: videos_api.upload_with_upload_token(token, f))
        sent = recorder.uploads()
        sc.eq(op, "wire: one request to /upload?token=", [[s["path"], s["token"]] for s in sent], [["/upload", token]])
        sc.eq(op, "wire: Content-Range part 1/1", [s["content_range"] for s in sent], ["part 1/1"])
        sc.eq(op, "wire: no videoId field", [s["video_id"] for s in sent], [None])
        sc.eq(op, "wire: Authorization Bearer sent to /upload as well", [s["auth_scheme"] for s in sent], ["Bearer"])
        sc.eq(op, "wire: one file part, field name 'file', filename = the file name", wire_files(sent),
              [[1, "file", small.name]])
        sc.eq(op, "wire: the part holds the whole file (size, sha256)", [[s["size"], s["sha256"]] for s in sent],
              [[small.size, small.sha256]])
        check_statuses(sc, op, "answered 201", sent, [201])
        if ok:
            check_video_model(sc, op, "returned value", video, title=small.name)
        check_one_complete_video(sc, op, video.get("video_id") if ok else None, small.name, small)

    @scenario("uploadWithUploadToken", "upload token, 12 MiB in 5 MiB chunks (no videoId after chunk 1)", wired)
    def _(sc):
        op = "uploadWithUploadToken"
        token = tokens_api.create_token(TokenCreationPayload()).token
        recorder.clear()
        with open(big.path, "rb") as f:
            ok, video = attempt(sc, op, "upload_with_upload_token() returns",
                                lambda: videos_api.upload_with_upload_token(token, f))
        sent = recorder.uploads()
        sc.eq(op, "wire: three requests to /upload?token=", [[s["path"], s["token"]] for s in sent],
              [["/upload", token]] * 3)
        sc.eq(op, "wire: Content-Range per chunk", [s["content_range"] for s in sent],
              ["part 1/3", "part 2/3", "part 3/3"])
        sc.eq(op, "wire: videoId field per chunk (never sent)", [s["video_id"] for s in sent], [None, None, None])
        sc.eq(op, "wire: one file part per chunk, field name 'file', filename = the file name", wire_files(sent),
              [[1, "file", big.name]] * 3)
        sc.eq(op, "wire: chunk sizes", [s["size"] for s in sent], [p.size for p in pieces])
        sc.eq(op, "wire: the chunks are the file's consecutive slices (sha256)", [s["sha256"] for s in sent],
              [p.sha256 for p in pieces])
        check_statuses(sc, op, "every chunk answered 201", sent, [201, 201, 201])
        answered = [s["response"].get("videoId") if isinstance(s["response"], dict) else None for s in sent]
        sc.check(op, "each chunk answered a different new videoId",
                 len(answered) == 3 and all(VIDEO_ID_RE.match(i or "") for i in answered) and len(set(answered)) == 3,
                 describe(answered))
        sc.eq(op, "each answer is only {videoId} (no chunk completes a video)", response_keys(sent),
              [["videoId"]] * 3)
        if ok:
            sc.eq(op, "the client returns the last answer: videoId of the third video, nothing else",
                  [video.get("video_id"), video.get("title"), video.get("assets")],
                  [answered[2] if len(answered) == 3 else None, None, None])

        videos = mock_videos()
        by_id = {v.get("videoId"): v for v in videos}
        sc.eq(op, "server: three videos, the ones answered", sorted(by_id), sorted(i for i in answered if i))
        sc.eq(op, "server: none complete", [by_id.get(i, {}).get("complete") for i in answered], [False] * 3)
        sc.eq(op, "server: video n holds only part n of 3",
              [[by_id.get(i, {}).get("receivedParts"), by_id.get(i, {}).get("totalParts")] for i in answered],
              [[[1], 3], [[2], 3], [[3], 3]])
        sc.eq(op, "server: bytes received per video", [by_id.get(i, {}).get("receivedBytes") for i in answered],
              [p.size for p in pieces])
        sc.eq(op, "server: every title = the file name", [by_id.get(i, {}).get("title") for i in answered],
              [big.name] * 3)
        sc.check(op, "server: no video has the file's sha256",
                 videos and all(v.get("sha256") != big.sha256 for v in videos),
                 describe([v.get("sha256") for v in videos]))

        if len(answered) == 3 and answered[2]:
            status = videos_api.get_status(answered[2])
            sc.eq("getVideoStatus", "get_status(third video): uploading, received part 3 of 3",
                  [status.ingest.status, received_parts(status)], ["uploading", {"parts": [3], "total": 3}])

    @scenario("uploadWithUploadToken", "upload token progressive session, 12 MiB in 5 MiB parts", wired)
    def _(sc):
        op = "uploadWithUploadToken"
        token = tokens_api.create_token(TokenCreationPayload()).token
        recorder.clear()
        session = videos_api.create_upload_with_upload_token_progressive_session(token)
        with open(pieces[0].path, "rb") as f:
            first = session.uploadPart(f)
        with open(pieces[1].path, "rb") as f:
            second = session.uploadPart(f)
        with open(pieces[2].path, "rb") as f:
            last = session.uploadLastPart(f)
        sent = recorder.uploads()
        sc.eq(op, "wire: three requests to /upload?token=", [[s["path"], s["token"]] for s in sent],
              [["/upload", token]] * 3)
        sc.eq(op, "wire: Content-Range per part", [s["content_range"] for s in sent],
              ["part 1/*", "part 2/*", "part 3/3"])
        sc.eq(op, "wire: videoId field per part (from the first answer)", [s["video_id"] for s in sent],
              [None, first.video_id, first.video_id])
        sc.eq(op, "wire: one file part per request, field name 'file', filename = the part's file name",
              wire_files(sent), [[1, "file", p.name] for p in pieces])
        sc.eq(op, "wire: part sizes and sha256", [[s["size"], s["sha256"]] for s in sent],
              [[p.size, p.sha256] for p in pieces])
        check_statuses(sc, op, "every part answered 201", sent, [201, 201, 201])
        sc.check(op, "part 1 answered a videoId (VideoId model)", VIDEO_ID_RE.match(first.video_id or ""),
                 describe(first))
        sc.eq(op, "parts 1 and 2 answered only {videoId}", response_keys(sent)[:2], [["videoId"], ["videoId"]])
        sc.eq(op, "part 2 answered the same videoId", second.video_id, first.video_id)
        check_video_model(sc, op, "uploadLastPart()", last, video_id=first.video_id, title=pieces[0].name)
        check_one_complete_video(sc, op, first.video_id, pieces[0].name, big, 3)

    @scenario("uploadVideo", "videos.create then videos.upload, small file", wired)
    def _(sc):
        op = "uploadVideo"
        title = "compat source small"
        created = videos_api.create(VideoCreationPayload(title=title))
        check_video_model(sc, "createVideo", "create()", created, title=title)
        recorder.clear()
        with open(small.path, "rb") as f:
            ok, uploaded = attempt(sc, op, "upload() returns", lambda: videos_api.upload(created.video_id, f))
        sent = recorder.uploads()
        sc.eq(op, "wire: one request to /videos/{id}/source", [s["path"] for s in sent],
              ["/videos/{}/source".format(created.video_id)])
        sc.eq(op, "wire: Authorization Bearer", [s["auth_scheme"] for s in sent], ["Bearer"])
        sc.eq(op, "wire: Content-Range part 1/1", [s["content_range"] for s in sent], ["part 1/1"])
        sc.eq(op, "wire: one file part, field name 'file', filename = the file name", wire_files(sent),
              [[1, "file", small.name]])
        sc.eq(op, "wire: the part holds the whole file (size, sha256)", [[s["size"], s["sha256"]] for s in sent],
              [[small.size, small.sha256]])
        check_statuses(sc, op, "answered 201", sent, [201])
        if ok:
            check_video_model(sc, op, "returned value", uploaded, video_id=created.video_id, title=title)
        check_one_complete_video(sc, op, created.video_id, title, small)

    @scenario("uploadVideo", "videos.create then videos.upload, 12 MiB in 5 MiB chunks", wired)
    def _(sc):
        op = "uploadVideo"
        title = "compat source 12 MiB"
        created = videos_api.create(VideoCreationPayload(title=title))
        recorder.clear()
        with open(big.path, "rb") as f:
            ok, uploaded = attempt(sc, op, "upload() returns", lambda: videos_api.upload(created.video_id, f))
        sent = recorder.uploads()
        path = "/videos/{}/source".format(created.video_id)
        sc.eq(op, "wire: three requests to /videos/{id}/source", [s["path"] for s in sent], [path] * 3)
        sc.eq(op, "wire: Authorization Bearer on every chunk", [s["auth_scheme"] for s in sent], ["Bearer"] * 3)
        sc.eq(op, "wire: Content-Range per chunk", [s["content_range"] for s in sent],
              ["part 1/3", "part 2/3", "part 3/3"])
        sc.eq(op, "wire: no videoId field (the id is in the path)", [s["video_id"] for s in sent], [None] * 3)
        sc.eq(op, "wire: one file part per chunk, field name 'file', filename = the file name", wire_files(sent),
              [[1, "file", big.name]] * 3)
        sc.eq(op, "wire: chunk sizes and sha256", [[s["size"], s["sha256"]] for s in sent],
              [[p.size, p.sha256] for p in pieces])
        check_statuses(sc, op, "every chunk answered 201", sent, [201, 201, 201])
        sc.eq(op, "chunks 1 and 2 answered only {videoId} of the video", [s["response"] for s in sent[:2]],
              [{"videoId": created.video_id}] * 2)
        if ok:
            check_video_model(sc, op, "returned value (last answer)", uploaded, video_id=created.video_id, title=title)
        check_one_complete_video(sc, op, created.video_id, title, big, 3)

        status = videos_api.get_status(created.video_id)
        sc.eq("getVideoStatus", "get_status(): ingest status, filesize, received parts",
              [status.ingest.status, status.ingest.get("filesize"), received_parts(status)],
              ["uploaded", big.size, {"parts": [1, 2, 3], "total": 3}])

    @scenario("getVideo", "video round trip: create, get, update, list, status, delete", wired)
    def _(sc):
        def plain(video):
            return [video.get("description"), list(video.get("tags") or []),
                    [m.to_dict() for m in video.get("metadata") or []]]

        created = videos_api.create(VideoCreationPayload(
            title="compat round trip", description="made by the compat suite", tags=["compat"],
            metadata=[Metadata(key="suite", value="python")]))
        vid = created.video_id
        check_video_model(sc, "createVideo", "create()", created, title="compat round trip")
        sc.eq("createVideo", "create(): description, tags, metadata", plain(created),
              ["made by the compat suite", ["compat"], [{"key": "suite", "value": "python"}]])
        with open(small.path, "rb") as f:
            videos_api.upload(vid, f)

        got = videos_api.get(vid)
        check_video_model(sc, "getVideo", "get()", got, video_id=vid, title="compat round trip")
        sc.eq("getVideo", "get(): description, tags, metadata as created", plain(got), plain(created))
        sc.eq("getVideo", "get(): created_at as created", got.get("created_at"), created.get("created_at"))

        updated = videos_api.update(vid, VideoUpdatePayload(title="compat renamed"))
        check_video_model(sc, "updateVideo", "update()", updated, video_id=vid, title="compat renamed")
        sc.eq("updateVideo", "update(): other fields kept", plain(updated), plain(created))
        sc.eq("getVideo", "get() after update shows the new title", videos_api.get(vid).get("title"), "compat renamed")

        listing = videos_api.list()
        data = list(listing.data or [])
        sc.eq("listVideos", "list(): the one video", [v.video_id for v in data], [vid])
        if data:
            check_video_model(sc, "listVideos", "list() item", data[0], video_id=vid, title="compat renamed")
        p = listing.pagination
        sc.eq("listVideos", "list(): pagination current_page, page_size, pages_total, items_total, current_page_items",
              [p.get("current_page"), p.get("page_size"), p.get("pages_total"), p.get("items_total"),
               p.get("current_page_items")], [1, 25, 1, 1, 1])

        status = videos_api.get_status(vid)
        ingest, encoding = status.get("ingest"), status.get("encoding")
        sc.eq("getVideoStatus", "get_status(): ingest status and filesize",
              [ingest and ingest.get("status"), ingest and ingest.get("filesize")], ["uploaded", small.size])
        sc.check("getVideoStatus",
                 "get_status(): typed model (received_bytes, received_parts, playable, qualities, metadata)",
                 ingest is not None and isinstance(ingest.get("received_bytes"), list)
                 and ingest.get("received_parts") is not None
                 and encoding is not None and isinstance(encoding.get("playable"), bool)
                 and isinstance(encoding.get("qualities"), list) and encoding.get("metadata") is not None,
                 describe(status))

        deleted, _ = attempt(sc, "deleteVideo", "delete() returns (204)", lambda: videos_api.delete(vid))
        if deleted:
            sc.api_error("getVideo", "get after delete gives 404", 404, lambda: videos_api.get(vid), NOT_FOUND_TITLE)
            sc.eq("listVideos", "a deleted video is absent from the list", len(videos_api.list().data or []), 0)
            sc.api_error("deleteVideo", "deleting it again gives 404", 404, lambda: videos_api.delete(vid),
                         NOT_FOUND_TITLE)
            sc.eq("deleteVideo", "server: no video left", len(mock_videos()), 0)

    @scenario("getVideoStatus", "lifecycle: ingest, then qualities encoded as the clock moves, with the file's metadata",
              wired)
    def _(sc):
        op = "getVideoStatus"
        fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "media",
                               "sample-640x360-audio.mp4")
        created = videos_api.create(VideoCreationPayload(title="compat lifecycle"))
        vid = created.video_id
        with open(fixture, "rb") as f:
            videos_api.upload(vid, f)
        before = videos_api.get_status(vid)
        sc.check(op, "get_status() right after the upload: uploaded or ingesting, not playable",
                 before.ingest.status in ("uploaded", "ingesting") and before.encoding.playable is False,
                 describe(before))

        advance_clock(3)
        playable = videos_api.get_status(vid)
        sc.eq(op, "get_status() 3 s later: ingested and playable",
              [playable.ingest.status, playable.encoding.playable], ["ingested", True])
        sc.eq(op, "get_status(): the lowest quality of each type encoded first",
              [[q.get("type"), q.get("status")] for q in playable.encoding.qualities if q.get("quality") == "240p"],
              [["hls", "encoded"], ["mp4", "encoded"]])
        m = playable.encoding.metadata
        sc.eq(op, "get_status(): metadata read from the uploaded file",
              [m.get(k) for k in ("width", "height", "duration", "framerate", "samplerate", "video_codec",
                                  "audio_codec", "aspect_ratio")],
              [640, 360, 1, 30, 48000, "h264", "aac", "16/9"])

        advance_clock(60)
        done = videos_api.get_status(vid)
        sc.eq(op, "get_status() a minute later: every quality encoded",
              ["{} {} {}".format(q.get("type"), q.get("quality"), q.get("status")) for q in done.encoding.qualities],
              ["hls 240p encoded", "hls 360p encoded", "mp4 240p encoded", "mp4 360p encoded"])

        video = videos_api.get(vid)
        request = urllib.request.Request(video.assets.mp4, headers={"Range": "bytes=0-99"})
        with urllib.request.urlopen(request) as answer:
            sc.eq("getVideo", "assets.mp4 answers a range of the uploaded file",
                  [answer.status, len(answer.read())], [206, 100])
        with urllib.request.urlopen(video.assets.thumbnail) as answer:
            jpeg = answer.read()
            sc.eq("getVideo", "assets.thumbnail is a JPEG", [answer.status, list(jpeg[:2])], [200, [0xFF, 0xD8]])

        with tempfile.TemporaryDirectory(prefix="vidmock-thumb-") as directory:
            path = os.path.join(directory, "thumbnail.jpg")
            with open(path, "wb") as out:
                out.write(jpeg)
            with open(path, "rb") as f:
                ok, with_thumbnail = attempt(sc, "uploadThumbnail", "upload_thumbnail() returns",
                                             lambda: videos_api.upload_thumbnail(vid, f))
            if ok:
                check_video_model(sc, "uploadThumbnail", "returned value", with_thumbnail, video_id=vid,
                                  title="compat lifecycle")
        ok, picked = attempt(sc, "pickThumbnail", "pick_thumbnail() returns",
                             lambda: videos_api.pick_thumbnail(vid, VideoThumbnailPickPayload(timecode="00:00:00.50")))
        if ok:
            check_video_model(sc, "pickThumbnail", "returned value", picked, video_id=vid, title="compat lifecycle")


# ---------------------------------------------------------------- the rest of the video API

VTT = b"WEBVTT\n\n1\n00:00:01.000 --> 00:00:10.000\nHello from the compat suite\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d4944415478da636060f80f0000010100005d0d4f470000000049454e44ae426082")


def video_api_scenarios(client, directory):
    videos_api = VideosApi(client)
    captions, chapters = CaptionsApi(client), ChaptersApi(client)
    watermarks, players, tags = WatermarksApi(client), PlayerThemesApi(client), TagsApi(client)
    vtt_path = os.path.join(directory, "en.vtt")
    png_path = os.path.join(directory, "logo.png")
    with open(vtt_path, "wb") as out:
        out.write(VTT)
    with open(png_path, "wb") as out:
        out.write(PNG)

    @scenario("uploadCaption", "captions: upload, get, set default, list, delete", client)
    def _(sc):
        vid = videos_api.create(VideoCreationPayload(title="compat captions")).video_id
        with open(vtt_path, "rb") as f:
            caption = captions.upload(vid, "en", f)
        sc.eq("uploadCaption", "upload(): srclang, uri, default, language_name",
              [caption.get("srclang"), caption.get("uri"), caption.get("default"), caption.get("language_name")],
              ["en", "/videos/{}/captions/en".format(vid), False, "English"])
        sc.eq("getCaption", "get(): srclang", captions.get(vid, "en").get("srclang"), "en")
        updated = captions.update(vid, "en", CaptionsUpdatePayload(default=True))
        sc.eq("updateCaption", "update(default=True) makes it the default", updated.get("default"), True)
        listing = captions.list(vid)
        sc.eq("listCaptions", "list(): the one caption, default",
              [[c.get("srclang"), c.get("default")] for c in listing.data or []], [["en", True]])

        def malformed():
            with open(vtt_path, "rb") as f:
                return captions.upload(vid, "fr_CA", f)
        sc.api_error("uploadCaption", "a language with an underscore is an invalid attribute", 400, malformed,
                     "An attribute is invalid.")
        attempt(sc, "deleteCaption", "delete() returns (204)", lambda: captions.delete(vid, "en"))
        sc.api_error("getCaption", "get after delete gives 404", 404, lambda: captions.get(vid, "en"),
                     NOT_FOUND_TITLE)

    @scenario("uploadChapter", "chapters: upload, get, list, delete", client)
    def _(sc):
        vid = videos_api.create(VideoCreationPayload(title="compat chapters")).video_id
        with open(vtt_path, "rb") as f:
            chapter = chapters.upload(vid, "fr", f)
        sc.eq("uploadChapter", "upload(): language and uri", [chapter.get("language"), chapter.get("uri")],
              ["fr", "/videos/{}/chapters/fr".format(vid)])
        sc.eq("getChapter", "get(): language", chapters.get(vid, "fr").get("language"), "fr")
        sc.eq("listChapters", "list(): the one chapter", [c.get("language") for c in chapters.list(vid).data or []],
              ["fr"])
        attempt(sc, "deleteChapter", "delete() returns (204)", lambda: chapters.delete(vid, "fr"))
        sc.api_error("getChapter", "get after delete gives 404", 404, lambda: chapters.get(vid, "fr"),
                     NOT_FOUND_TITLE)

    @scenario("uploadWatermark", "watermarks: upload, list, use in a video, delete", client)
    def _(sc):
        with open(png_path, "rb") as f:
            watermark = watermarks.upload(f)
        wid = watermark.get("watermark_id") or ""
        sc.check("uploadWatermark", "upload(): a watermark_ id and a date",
                 re.match(r"^watermark_[0-9A-Za-z]+$", wid) and watermark.get("created_at") is not None,
                 describe(watermark))
        listing = watermarks.list(sort_by="createdAt", sort_order="desc")
        sc.eq("listWatermarks", "list(): the one watermark", [w.get("watermark_id") for w in listing.data or []], [wid])
        video = videos_api.create(VideoCreationPayload(
            title="compat watermark", watermark=VideoWatermark(id=wid, top="0px", left="0px", width="100px")))
        sc.eq("createVideo", "create() with a watermark", video.get("title"), "compat watermark")
        sc.api_error("createVideo", "create() with an unknown watermark is refused", 400,
                     lambda: videos_api.create(VideoCreationPayload(
                         title="no", watermark=VideoWatermark(id="watermark_unknown"))), "An attribute is invalid.")
        attempt(sc, "deleteWatermark", "delete() returns (204)", lambda: watermarks.delete(wid))
        sc.api_error("deleteWatermark", "deleting it again gives 404", 404, lambda: watermarks.delete(wid),
                     NOT_FOUND_TITLE)

    @scenario("createPlayer", "player themes: create, get, update, logo, list, delete", client)
    def _(sc):
        theme = players.create(PlayerThemeCreationPayload(name="compat"))
        pid = theme.get("player_id") or ""
        sc.check("createPlayer", "create(): a pl id, the name and the documented defaults",
                 re.match(r"^pl[0-9A-Za-z]+$", pid) and theme.get("name") == "compat"
                 and theme.get("enable_api") is True and theme.get("force_loop") is False, describe(theme))
        sc.eq("getPlayer", "get(): the name", players.get(pid).get("name"), "compat")
        updated = players.update(pid, PlayerThemeUpdatePayload(name="compat 2", hide_title=True))
        sc.eq("updatePlayer", "update(): name, hide_title", [updated.get("name"), updated.get("hide_title")],
              ["compat 2", True])
        with open(png_path, "rb") as f:
            with_logo = players.upload_logo(pid, f, link="https://api.video")
        assets = with_logo.get("assets")
        sc.eq("uploadLogo", "upload_logo(): assets.link", assets and assets.get("link"), "https://api.video")
        attempt(sc, "deleteLogo", "delete_logo() returns (204)", lambda: players.delete_logo(pid))
        listing = players.list(sort_by="name", sort_order="asc")
        sc.eq("listPlayers", "list(): the one theme", [p.get("player_id") for p in listing.data or []], [pid])
        attempt(sc, "deletePlayer", "delete() returns (204)", lambda: players.delete(pid))
        sc.api_error("getPlayer", "get after delete gives 404", 404, lambda: players.get(pid), NOT_FOUND_TITLE)

    @scenario("listTags", "tags and list filters", client)
    def _(sc):
        both = videos_api.create(VideoCreationPayload(
            title="compat tags", tags=["tag1", "tag2"], metadata=[Metadata(key="Author", value="John Doe")])).video_id
        one = videos_api.create(VideoCreationPayload(title="compat tag", tags=["tag1"])).video_id
        sc.eq("listVideos", "list(tags=[tag1]): both videos", len(videos_api.list(tags=["tag1"]).data or []), 2)
        sc.eq("listVideos", "list(tags=[tag1, tag2]): the video with both",
              [v.video_id for v in videos_api.list(tags=["tag1", "tag2"]).data or []], [both])
        sc.eq("listVideos", "list(metadata={Author: John Doe})",
              [v.video_id for v in videos_api.list(metadata={"Author": "John Doe"}).data or []], [both])
        listing = tags.list(sort_by="value", sort_order="asc")
        sc.eq("listTags", "list(): values and counts",
              [[t.get("value"), t.get("video_count")] for t in listing.data or []], [["tag1", 2], ["tag2", 1]])
        sc.eq("listDiscardedVideos", "list_discarded(): empty without Video Restore",
              len(videos_api.list_discarded().data or []), 0)
        sc.api_error("getDiscardedVideo", "get_discarded() of a live video gives 404", 404,
                     lambda: videos_api.get_discarded(one), NOT_FOUND_TITLE)


def main():
    if not BASE_URL:
        print("VIDMOCK_URL is not set", file=sys.stderr)
        return 2
    fatal = False
    if VENDOR:
        try:
            tokens, videos = vendor_items()
        except Exception as err:  # noqa: BLE001
            tokens, videos = None, error_text(err)
        empty = tokens == [] and videos == []
        record("authenticate", "parity", "the vendor's project is empty at the start", empty,
               "refusing to run against a project that holds upload tokens or videos: {!r} {!r}".format(
                   tokens, videos))
        if not empty:
            return write_results(True)
    try:
        client = new_client()
        # Entering the client authenticates (POST /auth/api-key) and starts its refresh thread.
        with client:
            run_all(client)
            with tempfile.TemporaryDirectory(prefix="vidmock-compat-python-api-") as directory:
                video_api_scenarios(client, directory)
        recorder = WireRecorder(BASE_URL)
        recorder.start()
        try:
            with tempfile.TemporaryDirectory(prefix="vidmock-compat-python-") as directory:
                upload_scenarios(directory, recorder)
        finally:
            recorder.close()
    except Exception as err:  # noqa: BLE001
        fatal = True
        record("authenticate", "harness", "suite ran to the end", False, error_text(err))

    return write_results(fatal)


def write_results(fatal):
    failed = sum(1 for r in results if not r["ok"])
    if RESULTS_PATH:
        os.makedirs(os.path.dirname(os.path.abspath(RESULTS_PATH)), exist_ok=True)
        with open(RESULTS_PATH, "w", encoding="utf-8") as out:
            json.dump({
                "client": CLIENT_DIST,
                "version": CLIENT_VERSION,
                "language": "python",
                "target": TARGET,
                "passed": len(results) - failed,
                "failed": failed,
                "operations": results,
                "skipped": skipped,
            }, out, indent=2)
            out.write("\n")
    print("python {}@{}: {} checks, {} failing".format(CLIENT_DIST, CLIENT_VERSION, len(results), failed))
    return 0 if failed == 0 and not fatal else 1


if __name__ == "__main__":
    sys.exit(main())
