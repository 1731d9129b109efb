"""Compatibility checks: the official Kaltura Python client (KalturaApiClient) against vidmock.

Environment:
  VIDMOCK_URL               base URL of a running vidmock (required)
  VIDMOCK_KALTURA_PARTNER   ID:ADMIN_SECRET[:USER_SECRET] of a partner known to the mock
                            (default: 101:vidmock-admin-secret:vidmock-user-secret)
  VIDMOCK_COMPAT_RESULTS    where to write the JSON results (optional)

The client is used exactly as published. It only speaks XML (format=2), sends JSON bodies
whose values are all strings, and mints KSs offline with generateSession (v1) and
generateSessionV2 (v2, needs pycryptodome). Uploads send the `json` field and a `fileData`
part; the test files are written to a temporary directory.

The `kaltura_uploader` command line (PyPI kaltura-uploader) runs through
kaltura_uploader_cli.py, which only points its hard-coded Kaltura URLs at the mock.
"""

import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tempfile
import traceback
import urllib.request

from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.Base import KalturaParams
from KalturaClient.exceptions import KalturaException
from KalturaClient.Plugins.Core import (
    KalturaEntryStatus,
    KalturaMediaEntry,
    KalturaMediaType,
    KalturaSessionType,
    KalturaUploadToken,
    KalturaUploadTokenStatus,
)

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


def state():
    with urllib.request.urlopen(BASE_URL + "/__vidmock/state", timeout=10) as response:
        return json.load(response)


def token_state(token_id):
    """The token as GET /__vidmock/state shows it (status, size, sha256, chunks)."""
    for partner in state()["kaltura"]["partners"]:
        for token in partner.get("uploadTokens", []):
            if token["id"] == token_id:
                return token
    return None


def pattern_bytes(label, size, head=b""):
    """`head`, then deterministic pseudo-random bytes: sha256("label:0") || sha256("label:1") || ..."""
    body = b"".join(hashlib.sha256("{}:{}".format(label, i).encode()).digest() for i in range(-(-size // 32)))
    return (head + body)[:size]


def test_file(directory, name, data):
    path = os.path.join(directory, name)
    with open(path, "wb") as out:
        out.write(data)
    return path


def status_of(token):
    status = token.status
    return status.getValue() if hasattr(status, "getValue") else status


def admin_client():
    c = client()
    c.setKs(c.session.start(ADMIN_SECRET, "uploader@example.com", KalturaSessionType.ADMIN, PARTNER_ID))
    return c


def chunk(data, name):
    """A file-like part with a name, as the client needs to send it as a file."""
    part = io.BytesIO(data)
    part.name = name
    return part


def single_shot_upload(directory):
    def body(check):
        data = pattern_bytes("py-single", 300001)
        path = test_file(directory, "py-single.mp4", data)
        c = admin_client()
        token = c.uploadToken.add(KalturaUploadToken())
        check("uploadToken.add", "a new token is PENDING with a 0_ + 32 hex id",
              status_of(token) == KalturaUploadTokenStatus.PENDING and token.id.startswith("0_")
              and len(token.id) == 34, repr((token.id, status_of(token))))
        with open(path, "rb") as f:
            done = c.uploadToken.upload(token.id, f)
        check("uploadToken.upload", "a single-shot upload answers FULL_UPLOAD",
              status_of(done) == KalturaUploadTokenStatus.FULL_UPLOAD, repr(status_of(done)))
        check("uploadToken.upload", "uploadedFileSize is the file's size",
              done.uploadedFileSize == len(data), repr(done.uploadedFileSize))
        check("uploadToken.upload", "the file name is the part's, without its directory",
              done.fileName == "py-single.mp4", repr(done.fileName))
        got = c.uploadToken.get(token.id)
        check("uploadToken.get", "get answers the completed token",
              status_of(got) == KalturaUploadTokenStatus.FULL_UPLOAD and got.id == token.id, repr(got.id))
        server = token_state(token.id)
        check("uploadToken.upload", "server: the sha256 is the file's",
              server and server["sha256"] == hashlib.sha256(data).hexdigest() and server["size"] == len(data),
              repr(server))
        expect_error(check, "uploadToken.upload", "a second upload is UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD",
                     "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD",
                     lambda: c.uploadToken.upload(token.id, chunk(b"again", "again.bin")))
        c.uploadToken.delete(token.id)
        expect_error(check, "uploadToken.get", "a deleted token is UPLOAD_TOKEN_NOT_FOUND",
                     "UPLOAD_TOKEN_NOT_FOUND", lambda: c.uploadToken.get(token.id))
    return body


def chunked_upload(directory):
    def body(check):
        size, piece = 5 * 1024 * 1024 + 4321, 1024 * 1024
        data = pattern_bytes("py-chunked", size)
        c = admin_client()
        token = c.uploadToken.add(KalturaUploadToken(fileName="py-chunked.mp4", fileSize=size))
        statuses, sizes = [], []
        for offset in range(0, size, piece):
            part = chunk(data[offset:offset + piece], "py-chunked.part")
            final = offset + piece >= size
            answer = c.uploadToken.upload(token.id, part, offset > 0, final, offset)
            statuses.append(status_of(answer))
            sizes.append(answer.uploadedFileSize)
        check("uploadToken.upload", "every chunk but the last answers PARTIAL_UPLOAD, the last FULL_UPLOAD",
              statuses == [KalturaUploadTokenStatus.PARTIAL_UPLOAD] * (len(statuses) - 1)
              + [KalturaUploadTokenStatus.FULL_UPLOAD], repr(statuses))
        check("uploadToken.upload", "uploadedFileSize grows chunk by chunk",
              sizes == [min(size, offset + piece) for offset in range(0, size, piece)], repr(sizes))
        server = token_state(token.id)
        check("uploadToken.upload", "server: the chunks reassemble to the file's sha256",
              server and server["sha256"] == hashlib.sha256(data).hexdigest() and server["chunks"] == len(statuses),
              repr(server))
        entry = KalturaMediaEntry()
        entry.name = "py-chunked"
        entry.mediaType = KalturaMediaType.VIDEO
        created = c.media.addFromUploadedFile(entry, token.id)
        check("media.addFromUploadedFile", "the entry is READY",
              created.status.getValue() == KalturaEntryStatus.READY, repr(created.status))
        closed = c.uploadToken.get(token.id)
        check("media.addFromUploadedFile", "the token it consumed is CLOSED",
              status_of(closed) == KalturaUploadTokenStatus.CLOSED, repr(status_of(closed)))
        fetched = c.media.get(created.id)
        check("media.get", "the entry reads back as a media entry",
              fetched.id == created.id and fetched.mediaType.getValue() == KalturaMediaType.VIDEO,
              repr(fetched.id))
        fresh = c.uploadToken.add(KalturaUploadToken())
        expect_error(check, "uploadToken.upload", "resuming a token without a first part is UPLOAD_TOKEN_CANNOT_RESUME",
                     "UPLOAD_TOKEN_CANNOT_RESUME", lambda: c.uploadToken.upload(fresh.id, chunk(b"x", "x.bin"), True, False, 1))
    return body


def uploader_cli(directory):
    def body(check):
        size = 7 * 1024 * 1024
        # An MP4 `ftyp` box first, so libmagic (and the name) say video/mp4: a media entry.
        data = pattern_bytes("uploader", size, head=b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        path = test_file(directory, "uploader-7mib.mp4", data)
        env = dict(os.environ, KALTURA_PARTNER_ID=str(PARTNER_ID), KALTURA_ADMIN_SECRET=ADMIN_SECRET,
                   VIDMOCK_URL=BASE_URL)
        launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kaltura_uploader_cli.py")
        run = subprocess.run([sys.executable, launcher, path, "--chunk_size", "2048",
                              "--json_log_file", os.path.join(directory, "kaltura_upload.log")],
                             cwd=directory, env=env, capture_output=True, text=True, timeout=120)
        check("kaltura_uploader", "the command line exits 0", run.returncode == 0,
              "exit {}: {}".format(run.returncode, (run.stderr or run.stdout)[-2000:]))
        partner = state()["kaltura"]["partners"][0]
        tokens = partner.get("uploadTokens", [])
        entries = partner.get("entries", [])
        token = tokens[0] if len(tokens) == 1 else None
        check("kaltura_uploader", "server: one token, uploaded in four 2 MiB chunks",
              token is not None and token["chunks"] == 4 and token["receivedBytes"] == size, repr(tokens))
        check("kaltura_uploader", "server: the token's sha256 is the file's",
              token is not None and token["sha256"] == hashlib.sha256(data).hexdigest() and token["size"] == size,
              repr(token))
        check("kaltura_uploader", "server: the token was consumed by the entry it created (CLOSED)",
              token is not None and token["statusName"] == "CLOSED", repr(token))
        check("kaltura_uploader", "server: one READY entry with the file's sha256",
              len(entries) == 1 and entries[0]["status"] == "2"
              and entries[0]["sha256"] == hashlib.sha256(data).hexdigest()
              and entries[0]["uploadTokenId"] == (token or {}).get("id"), repr(entries))
        check("kaltura_uploader", "the command line reports the entry id",
              bool(entries) and entries[0]["id"] in (run.stdout + run.stderr), (run.stdout + run.stderr)[-2000:])
    return body


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


def scripted_error(check):
    admin("POST", "/__vidmock/faults", {
        "name": "scripted kaltura error",
        "match": {"operation": "uploadtoken.add"},
        "action": {"type": "kalturaError", "code": "UPLOAD_TOKEN_NOT_FOUND"},
        "times": 1,
    })
    c = admin_client()
    expect_error(check, "uploadToken.add", "a scripted error raises KalturaException with its code",
                 "UPLOAD_TOKEN_NOT_FOUND", lambda: c.uploadToken.add(KalturaUploadToken()))
    token = c.uploadToken.add(KalturaUploadToken())
    check("uploadToken.add", "the next call is answered normally (times: 1)",
          isinstance(token.id, str) and token.id.startswith("0_"), repr(token.id))


def main():
    if not BASE_URL:
        print("VIDMOCK_URL is not set", file=sys.stderr)
        return 2
    scenario("session.start", "start and end sessions", start_session)
    scenario("session.end", "expired KS", expired_session)
    scenario("session.end", "KS minted offline", offline_sessions)
    scenario("session.nosuchaction", "unknown action", unknown_action)
    scenario("multirequest", "multirequest", multirequest)
    scenario("uploadToken.add", "a scripted fault", scripted_error)
    with tempfile.TemporaryDirectory(prefix="vidmock-compat-kaltura-py-") as directory:
        scenario("uploadToken.upload", "single-shot upload", single_shot_upload(directory))
        scenario("uploadToken.upload", "chunked resumable upload", chunked_upload(directory))
        scenario("kaltura_uploader", "kaltura-uploader command line, 7 MiB in 2 MiB chunks",
                 uploader_cli(directory))
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
