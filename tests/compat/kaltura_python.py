"""Compatibility checks: the official Kaltura Python client (KalturaApiClient) against vidmock.

Environment:
  VIDMOCK_URL               base URL of a running vidmock (required)
  VIDMOCK_KALTURA_PARTNER   ID:ADMIN_SECRET[:USER_SECRET] of a partner known to the mock
                            (default: 101:vidmock-admin-secret:vidmock-user-secret)
  VIDMOCK_COMPAT_RESULTS    where to write the JSON results (optional)
  VIDMOCK_COMPAT_TARGET     `vidmock` (default) or `vendor`: against a real Kaltura, the steps that
                            need the mock's admin API (reset, clock, faults, state, journal) are
                            skipped and said so (SKIP lines), everything else runs as here

The client is used exactly as published. It only speaks XML (format=2), sends JSON bodies
whose values are all strings, and mints KSs offline with generateSession (v1) and
generateSessionV2 (v2, needs pycryptodome). Uploads send the `json` field and a `fileData`
part; the test files are written to a temporary directory.

The `kaltura_uploader` command line (PyPI kaltura-uploader) runs through
kaltura_uploader_cli.py, which only points its hard-coded Kaltura URLs at the mock.
"""

import hashlib
import http.server
import importlib.metadata
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.Base import KalturaParams
from KalturaClient.exceptions import KalturaException
from KalturaClient.Plugins.EventNotification import (
    KalturaEventFieldCondition,
    KalturaEventNotificationEventObjectType,
    KalturaEventNotificationEventType,
    KalturaEventNotificationTemplateFilter,
    KalturaEventNotificationTemplateListResponse,
    KalturaEventNotificationTemplateStatus,
)
from KalturaClient.Plugins.HttpNotification import (
    KalturaHttpNotificationMethod,
    KalturaHttpNotificationObjectData,
    KalturaHttpNotificationTemplate,
    KalturaSecureHashingAlgo,
)
from KalturaClient.Plugins.Core import (
    KalturaAppToken,
    KalturaAppTokenHashType,
    KalturaAssetFilter,
    KalturaEvalBooleanField,
    KalturaEntryStatus,
    KalturaFlavorAssetStatus,
    KalturaKeyValue,
    KalturaMediaEntry,
    KalturaMediaType,
    KalturaResponseType,
    KalturaSessionType,
    KalturaUploadToken,
    KalturaUploadTokenListResponse,
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
TARGET = os.environ.get("VIDMOCK_COMPAT_TARGET", "vidmock")
VENDOR = TARGET == "vendor"
# Checks of other clients this script drives are tagged with theirs, for the matrix.
UPLOADER = {"client": "kaltura-uploader", "version": importlib.metadata.version("kaltura-uploader"),
            "language": "python (command line)"}
PHP_FORMAT = {"client": "Kaltura PHP5 client (`format=3`, PHP serialize)", "version": "—", "language": "php",
              "unsupported": True}

results = []
skipped = []


class MockOnly(Exception):
    """A step only the mock can take (its admin API); skipped against a real vendor."""


def record(operation, scenario, check, ok, error=None, client=None):
    ok = bool(ok)
    entry = {
        "operation": operation,
        "scenario": scenario,
        "check": check,
        "ok": ok,
        "error": None if ok else str(error if error is not None else "check failed"),
    }
    if client is not None:
        entry.update(client)
    results.append(entry)
    line = "{} python {} [{}] {}".format("PASS" if ok else "FAIL", operation, scenario, check)
    print(line if ok else "{}: {}".format(line, error), flush=True)


def skip(operation, scenario, check, reason):
    skipped.append({"operation": operation, "scenario": scenario, "check": check, "reason": reason})
    print("SKIP python {} [{}] {}: {}".format(operation, scenario, check, reason), flush=True)


def admin(method, path, body=None):
    if VENDOR:
        raise MockOnly("{} {}".format(method, path))
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
        error_model_check(check, operation, err)
        return
    check(operation, label, False, "no error, got {!r}".format(value))


def scenario(operation, name, body, client=None):
    def check(op, label, ok, detail=None):
        record(op, name, label, ok, detail, client)
    check.skip = lambda op, label, reason: skip(op, name, label, reason)
    try:
        if not VENDOR:
            admin("POST", "/__vidmock/reset")
        body(check)
    except MockOnly as err:
        skip(operation, name, "the rest of the scenario", "needs vidmock's admin API ({})".format(err))
    except Exception as err:  # noqa: BLE001 - a scenario must report, not crash the suite
        record(operation, name, "scenario completed without an unexpected error", False,
               "".join(traceback.format_exception_only(type(err), err)).strip())


def is_ks(value):
    return isinstance(value, str) and value.startswith("djJ8")


def state():
    if VENDOR:
        raise MockOnly("GET /__vidmock/state")
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


# Properties a client class declares that may be legitimately unset in an answer, by class:
# property -> a condition on the parsed object (None: whenever). Each is explained in FIDELITY.md
# ("Kaltura client-model check") as `Class.property`.
MAY_BE_UNSET = {
    "KalturaUploadToken": {
        "fileName": lambda t: status_of(t) == KalturaUploadTokenStatus.PENDING,
        "fileSize": None,
        "uploadedFileSize": lambda t: status_of(t) == KalturaUploadTokenStatus.PENDING,
        "uploadUrl": None,
        "attachedObjectType": None,
        "attachedObjectId": None,
    },
    "KalturaMediaEntry": {name: None for name in (
        # unset on the server too for an entry made this way
        "adminTags", "partnerData", "referenceId", "searchText", "creditUserName", "creditUrl", "groupId",
        "startDate", "endDate", "replacingEntryId", "replacedEntryId", "redirectEntryId", "parentEntryId",
        "templateEntryId", "application", "applicationVersion", "multiLingual_name",
        "multiLingual_description", "multiLingual_tags", "defaultLanguage", "responseLanguage",
        "lastPlayedAt", "streams", "mediaDate", "searchProviderType", "searchProviderId", "sourceVersion",
        "conversionQuality", "isTrimDisabled",
        # set by the server, not by vidmock (no media analysis, transcoding or partner profiles)
        "conversionProfileId", "accessControlId", "width", "height", "duration", "msDuration",
        "durationType", "sourceType", "dataUrl", "downloadUrl", "thumbnailUrl")},
}


def declared_properties(cls):
    """The properties the client's class declares: the keys of PROPERTY_LOADERS along its MRO."""
    names = []
    for klass in reversed(cls.__mro__):
        for name in vars(klass).get("PROPERTY_LOADERS", {}):
            if name not in names:
                names.append(name)
    return names


def unset_properties(obj):
    allowed = MAY_BE_UNSET.get(type(obj).__name__, {})
    unset = []
    for name in declared_properties(type(obj)):
        if getattr(obj, name, NotImplemented) in (NotImplemented, None):
            condition = allowed.get(name, False)
            if condition is False or (condition is not None and not condition(obj)):
                unset.append(name)
    return unset


def allow_list_explained(check):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "FIDELITY.md"),
              encoding="utf-8") as f:
        fidelity = f.read()
    missing = ["{}.{}".format(cls, name) for cls, names in MAY_BE_UNSET.items() for name in names
               if "`{}.{}`".format(cls, name) not in fidelity]
    check("uploadToken.add", "model: every property allowed to be unset is explained in FIDELITY.md", not missing,
          "not in FIDELITY.md: " + ", ".join(missing))


def model_check(check, operation, obj, cls):
    """Checks that an answer parsed into the client's own class (exactly `cls`, chosen by the
    answer's objectType) with every property that class declares set, but those MAY_BE_UNSET."""
    problems = []
    if type(obj) is not cls:
        problems.append("parsed into {} instead of {}".format(type(obj).__name__, cls.__name__))
    else:
        unset = unset_properties(obj)
        if unset:
            problems.append("unset: " + ", ".join(unset))
        if isinstance(obj, KalturaUploadTokenListResponse):
            for item in obj.objects or []:
                if type(item) is not KalturaUploadToken:
                    problems.append("an item parsed into {}".format(type(item).__name__))
                elif unset_properties(item):
                    problems.append("item {}: unset {}".format(item.id, ", ".join(unset_properties(item))))
    check(operation, "model: {} parsed into the client's class, every declared property set".format(cls.__name__),
          not problems, "; ".join(problems))


def error_model_check(check, operation, err):
    """A KalturaAPIException reaches the client as its KalturaException with code and message."""
    check(operation, "model: the error parsed into KalturaException with its code and message",
          isinstance(err, KalturaException) and bool(err.code) and bool(err.message), repr(err))


def server_check(check, operation, label, compute):
    """A check on the mock's own state: `compute()` gives (ok, detail); skipped against a vendor."""
    try:
        ok, detail = compute()
    except MockOnly as err:
        check.skip(operation, label, "needs vidmock's admin API ({})".format(err))
        return
    check(operation, label, ok, detail)


def status_of(token):
    status = token.status
    return status.getValue() if hasattr(status, "getValue") else status


def advance_clock(seconds):
    """Moves the mock's clock forward; against a real vendor, waits that long instead."""
    if VENDOR:
        time.sleep(seconds)
        return
    admin("POST", "/__vidmock/clock/advance", {"seconds": seconds})


def wait_ready(c, entry_id, rounds=40):
    """The entry once READY (or any final status), moving the clock 5 s between reads."""
    entry = c.media.get(entry_id)
    for _ in range(rounds):
        if entry.status.getValue() in (KalturaEntryStatus.READY, KalturaEntryStatus.ERROR_CONVERTING):
            break
        advance_clock(5)
        entry = c.media.get(entry_id)
    return entry


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
        model_check(check, "uploadToken.add", token, KalturaUploadToken)
        with open(path, "rb") as f:
            done = c.uploadToken.upload(token.id, f)
        model_check(check, "uploadToken.upload", done, KalturaUploadToken)
        check("uploadToken.upload", "a single-shot upload answers FULL_UPLOAD",
              status_of(done) == KalturaUploadTokenStatus.FULL_UPLOAD, repr(status_of(done)))
        check("uploadToken.upload", "uploadedFileSize is the file's size",
              done.uploadedFileSize == len(data), repr(done.uploadedFileSize))
        check("uploadToken.upload", "the file name is the part's, without its directory",
              done.fileName == "py-single.mp4", repr(done.fileName))
        got = c.uploadToken.get(token.id)
        check("uploadToken.get", "get answers the completed token",
              status_of(got) == KalturaUploadTokenStatus.FULL_UPLOAD and got.id == token.id, repr(got.id))
        model_check(check, "uploadToken.get", got, KalturaUploadToken)
        listed = c.uploadToken.list()
        check("uploadToken.list", "the list holds the token", token.id in [t.id for t in listed.objects or []],
              repr([t.id for t in listed.objects or []]))
        model_check(check, "uploadToken.list", listed, KalturaUploadTokenListResponse)
        server_check(check, "uploadToken.upload", "server: the sha256 is the file's", lambda: (
            lambda server: (server and server["sha256"] == hashlib.sha256(data).hexdigest()
                            and server["size"] == len(data), repr(server)))(token_state(token.id)))
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
        server_check(check, "uploadToken.upload", "server: the chunks reassemble to the file's sha256", lambda: (
            lambda server: (server and server["sha256"] == hashlib.sha256(data).hexdigest()
                            and server["chunks"] == len(statuses), repr(server)))(token_state(token.id)))
        entry = KalturaMediaEntry()
        entry.name = "py-chunked"
        entry.mediaType = KalturaMediaType.VIDEO
        created = c.media.addFromUploadedFile(entry, token.id)
        model_check(check, "media.addFromUploadedFile", created, KalturaMediaEntry)
        check("media.addFromUploadedFile", "the new entry is converting (IMPORT or PRECONVERT)",
              created.status.getValue() in (KalturaEntryStatus.IMPORT, KalturaEntryStatus.PRECONVERT),
              repr(created.status))
        ready = wait_ready(c, created.id)
        check("media.get", "the entry is READY once the clock has moved",
              ready.status.getValue() == KalturaEntryStatus.READY, repr(ready.status))
        flavor_filter = KalturaAssetFilter()
        flavor_filter.entryIdEqual = created.id
        flavors = c.flavorAsset.list(flavor_filter).objects or []
        check("flavorAsset.list", "a READY source flavor and READY converted flavors",
              len(flavors) >= 2 and sum(1 for f in flavors if f.isOriginal) == 1
              and all(f.status.getValue() == KalturaFlavorAssetStatus.READY for f in flavors),
              repr([(f.flavorParamsId, f.status) for f in flavors]))
        with urllib.request.urlopen(ready.dataUrl, timeout=30) as response:
            served = response.read()
        check("media.get", "dataUrl serves the uploaded file (sha256)",
              hashlib.sha256(served).hexdigest() == hashlib.sha256(data).hexdigest(), len(served))
        closed = c.uploadToken.get(token.id)
        check("media.addFromUploadedFile", "the token it consumed is CLOSED",
              status_of(closed) == KalturaUploadTokenStatus.CLOSED, repr(status_of(closed)))
        fetched = c.media.get(created.id)
        model_check(check, "media.get", fetched, KalturaMediaEntry)
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
        check("uploadToken.upload", "the command line exits 0", run.returncode == 0,
              "exit {}: {}".format(run.returncode, (run.stderr or run.stdout)[-2000:]))
        try:
            # The entry converts on the mock's clock: let it finish before reading it.
            advance_clock(60)
            partner = state()["kaltura"]["partners"][0]
        except MockOnly as err:
            check.skip("uploadToken.upload", "server: the token, its chunks, its sha256 and the entry",
                       "needs vidmock's admin API ({})".format(err))
            return
        tokens = partner.get("uploadTokens", [])
        entries = partner.get("entries", [])
        token = tokens[0] if len(tokens) == 1 else None
        check("uploadToken.upload", "server: one token, uploaded in four 2 MiB chunks",
              token is not None and token["chunks"] == 4 and token["receivedBytes"] == size, repr(tokens))
        check("uploadToken.upload", "server: the token's sha256 is the file's",
              token is not None and token["sha256"] == hashlib.sha256(data).hexdigest() and token["size"] == size,
              repr(token))
        check("media.addFromUploadedFile", "server: the token was consumed by the entry it created (CLOSED)",
              token is not None and token["statusName"] == "CLOSED", repr(token))
        check("media.addFromUploadedFile", "server: one READY entry with the file's sha256",
              len(entries) == 1 and entries[0]["status"] == "2"
              and entries[0]["sha256"] == hashlib.sha256(data).hexdigest()
              and entries[0]["uploadTokenId"] == (token or {}).get("id"), repr(entries))
        check("media.addFromUploadedFile", "the command line reports the entry id",
              bool(entries) and entries[0]["id"] in (run.stdout + run.stderr), (run.stdout + run.stderr)[-2000:])
        with urllib.request.urlopen(BASE_URL + "/__vidmock/requests", timeout=10) as response:
            journal = json.load(response)
        called = []
        for request in journal:
            name = journal_operation(request.get("operation"))
            if request.get("vendor") == "kaltura" and name and name not in called:
                called.append(name)
        for name in sorted(called):
            check(name, "journal: the command line called {}".format(name), True)
    return body


def app_token_session(check):
    c = admin_client()
    token = c.appToken.add(KalturaAppToken(hashType=KalturaAppTokenHashType.SHA256))
    check("appToken.add", "the new app token has an id and a token", bool(token.id) and bool(token.token),
          repr(token.id))
    anonymous = client()
    widget = anonymous.session.startWidgetSession("_{}".format(PARTNER_ID))
    check("session.startWidgetSession", "the widget session answers a KS", is_ks(widget.ks), repr(widget.ks))
    digest = hashlib.sha256((widget.ks + token.token).encode()).hexdigest()
    anonymous.setKs(widget.ks)
    started = anonymous.appToken.startSession(token.id, digest)
    check("appToken.startSession", "the app token starts a session", is_ks(started.ks), repr(started.ks))
    anonymous.setKs(started.ks)
    listed = anonymous.media.list()
    check("appToken.startSession", "its KS is accepted by media.list", listed.totalCount is not None,
          repr(listed.totalCount))


class NotificationReceiver:
    """A subscriber on a loopback port: records each request and answers 200."""

    def __init__(self):
        got = self.got = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the standard library's name
                length = int(self.headers.get("Content-Length") or 0)
                got.put((dict(self.headers), self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:{}/kaltura-hooks".format(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, seconds=5):
        try:
            return self.got.get(timeout=seconds)
        except queue.Empty:
            return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


ENTRY_READY_CODE = ("$scope->getObject() instanceof entry && in_array(entryPeer::STATUS, "
                    "$scope->getEvent()->getModifiedColumns()) && "
                    "$scope->getObject()->getStatus() == entryStatus::READY")


def notification_templates(directory):
    def body(check):
        c = admin_client()
        receiver = NotificationReceiver()
        try:
            template = KalturaHttpNotificationTemplate(
                name="Entry Ready", systemName="COMPAT_ENTRY_READY", automaticDispatchEnabled=True,
                eventType=KalturaEventNotificationEventType.OBJECT_CHANGED,
                eventObjectType=KalturaEventNotificationEventObjectType.ENTRY,
                eventConditions=[KalturaEventFieldCondition(
                    description="entry ready", field=KalturaEvalBooleanField(code=ENTRY_READY_CODE))],
                url=receiver.url, method=KalturaHttpNotificationMethod.POST,
                data=KalturaHttpNotificationObjectData(apiObjectType="KalturaMediaEntry",
                                                       format=KalturaResponseType.RESPONSE_TYPE_JSON),
                secureHashingAlgo=KalturaSecureHashingAlgo.SHA_256,
                customHeaders=[KalturaKeyValue(key="X-Receiver-Token", value="compat-token")])
            added = c.eventNotification.eventNotificationTemplate.add(template)
            check("eventNotificationTemplate.add", "the template comes back as a KalturaHttpNotificationTemplate, ACTIVE",
                  type(added) is KalturaHttpNotificationTemplate and isinstance(added.id, int)
                  and status_of(added) == KalturaEventNotificationTemplateStatus.ACTIVE,
                  "{} {!r}".format(type(added).__name__, vars(added)))
            check("eventNotificationTemplate.add", "its condition, URL and data read back",
                  added.url == receiver.url and len(added.eventConditions or []) == 1
                  and added.eventConditions[0].field.code == ENTRY_READY_CODE
                  and added.data.apiObjectType == "KalturaMediaEntry"
                  and [(h.key, h.value) for h in added.customHeaders or []]
                  == [("X-Receiver-Token", "compat-token")],
                  repr(vars(added)))
            got = c.eventNotification.eventNotificationTemplate.get(added.id)
            check("eventNotificationTemplate.get", "get answers the template",
                  got.id == added.id and got.systemName == "COMPAT_ENTRY_READY", repr(vars(got)))
            listed = c.eventNotification.eventNotificationTemplate.list(KalturaEventNotificationTemplateFilter(idEqual=added.id))
            check("eventNotificationTemplate.list", "the list holds the template",
                  type(listed) is KalturaEventNotificationTemplateListResponse and listed.totalCount == 1
                  and [t.id for t in listed.objects or []] == [added.id], repr(vars(listed)))
            renamed = c.eventNotification.eventNotificationTemplate.update(
                added.id, KalturaHttpNotificationTemplate(description="renamed by the client"))
            check("eventNotificationTemplate.update", "update changes what it is given and keeps the rest",
                  renamed.description == "renamed by the client" and renamed.url == receiver.url,
                  repr(vars(renamed)))
            disabled = c.eventNotification.eventNotificationTemplate.updateStatus(
                added.id, KalturaEventNotificationTemplateStatus.DISABLED)
            check("eventNotificationTemplate.updateStatus", "updateStatus disables the template",
                  status_of(disabled) == KalturaEventNotificationTemplateStatus.DISABLED, repr(vars(disabled)))
            enabled = c.eventNotification.eventNotificationTemplate.updateStatus(
                added.id, KalturaEventNotificationTemplateStatus.ACTIVE)
            check("eventNotificationTemplate.updateStatus", "and makes it ACTIVE again",
                  status_of(enabled) == KalturaEventNotificationTemplateStatus.ACTIVE, repr(vars(enabled)))

            if VENDOR:
                check.skip("eventNotificationTemplate.add", "a notification reaches a local receiver",
                           "a real vendor cannot reach a loopback receiver")
            else:
                data = pattern_bytes("notify", 64 * 1024)
                path = test_file(directory, "notify.mp4", data)
                token = c.uploadToken.add(KalturaUploadToken())
                with open(path, "rb") as f:
                    c.uploadToken.upload(token.id, f)
                entry = c.media.addFromUploadedFile(
                    KalturaMediaEntry(name="notify", mediaType=KalturaMediaType.VIDEO), token.id)
                ready = wait_ready(c, entry.id)
                note = receiver.next()
                check("eventNotificationTemplate.add", "the entry becoming READY is POSTed to the template's URL",
                      note is not None, "status {!r}".format(status_of(ready)))
                if note is not None:
                    headers, raw = note
                    headers = {k.lower(): v for k, v in headers.items()}
                    signed = hashlib.sha256(ADMIN_SECRET.encode() + raw).hexdigest()
                    check("eventNotificationTemplate.add",
                          "the notification is signed: X-KALTURA-SIGNATURE = sha256(admin secret . body)",
                          headers.get("x-kaltura-signature") == signed
                          and headers.get("x-kaltura-hash-algo") == "sha256", repr(headers))
                    check("eventNotificationTemplate.add", "the template's custom header comes with it",
                          headers.get("x-receiver-token") == "compat-token", repr(headers))
                    payload = json.loads(raw)
                    check("eventNotificationTemplate.add", "the body is the KalturaHttpNotification of the entry",
                          payload.get("objectType") == "KalturaHttpNotification"
                          and payload["object"]["id"] == entry.id and payload["object"]["status"] == "2"
                          and payload.get("templateId") == added.id, repr(payload)[:300])

            c.eventNotification.eventNotificationTemplate.delete(added.id)
            check("eventNotificationTemplate.delete", "delete succeeds", True)
            expect_error(check, "eventNotificationTemplate.get", "a deleted template is not found",
                         "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND",
                         lambda: c.eventNotification.eventNotificationTemplate.get(added.id))
        finally:
            receiver.close()
    return body


# The journal names Kaltura operations in lower case, as requests spell them.
CAMEL = {"uploadtoken": "uploadToken", "baseentry": "baseEntry", "addfromuploadedfile": "addFromUploadedFile",
         "addcontent": "addContent"}


def journal_operation(name):
    if not name or "." not in name:
        return None
    return ".".join(CAMEL.get(part, part) for part in name.split(".", 1))


def unsupported_format(check):
    """The PHP client's format (3, PHP serialize) is not implemented: what vidmock answers it."""
    url = BASE_URL + "/api_v3/service/session/action/start?format=3&partnerId={}&secret={}".format(
        PARTNER_ID, ADMIN_SECRET)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10) as response:
        status, header, body = response.status, response.headers.get("X-Kaltura"), response.read()
    check("format=3", "answered 200 with an empty body and `X-Kaltura: error- UNKNOWN_RESPONSE_FORMAT`",
          (status, header, body) == (200, "error- UNKNOWN_RESPONSE_FORMAT", b""), repr((status, header, body)))


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
        error_model_check(check, "multirequest", answers[2])
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
    scenario("uploadToken.add", "client-model allow-list", allow_list_explained)
    scenario("session.start", "start and end sessions", start_session)
    scenario("session.end", "expired KS", expired_session)
    scenario("session.end", "KS minted offline", offline_sessions)
    scenario("session.nosuchaction", "unknown action", unknown_action)
    scenario("multirequest", "multirequest", multirequest)
    scenario("uploadToken.add", "a scripted fault", scripted_error)
    scenario("appToken.startSession", "app-token session", app_token_session)
    with tempfile.TemporaryDirectory(prefix="vidmock-compat-kaltura-py-") as directory:
        scenario("uploadToken.upload", "single-shot upload", single_shot_upload(directory))
        scenario("uploadToken.upload", "chunked resumable upload", chunked_upload(directory))
        scenario("uploadToken.upload", "kaltura-uploader command line, 7 MiB in 2 MiB chunks",
                 uploader_cli(directory), client=UPLOADER)
        scenario("eventNotificationTemplate.add", "HTTP notification templates and a signed notification",
                 notification_templates(directory))
    if VENDOR:
        skip("format=3", "PHP format", "what vidmock answers format=3", "a property of vidmock, not of the vendor")
    else:
        scenario("format=3", "PHP format", unsupported_format, client=PHP_FORMAT)
    failed = sum(1 for r in results if not r["ok"])
    if RESULTS_PATH:
        os.makedirs(os.path.dirname(RESULTS_PATH) or ".", exist_ok=True)
        with open(RESULTS_PATH, "w", encoding="utf-8") as f:
            json.dump({
                "client": CLIENT_DIST,
                "version": CLIENT_VERSION,
                "language": "python",
                "target": TARGET,
                "passed": len(results) - failed,
                "failed": failed,
                "operations": results,
                "skipped": skipped,
            }, f, indent=2)
            f.write("\n")
    print("python {}@{}: {} checks, {} failing".format(CLIENT_DIST, CLIENT_VERSION, len(results), failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
