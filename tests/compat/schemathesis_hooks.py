"""schemathesis hooks for api.video's OpenAPI document: the document's known errors, forgiven narrowly.

Loaded by schemathesis (`hooks = "…/schemathesis_hooks.py"` in the configuration that
schemathesis_apivideo.py writes) and imported by that script. It registers three checks that
wrap schemathesis's own `status_code_conformance`, `content_type_conformance` and
`response_schema_conformance`: a failure of the wrapped check is forgiven only when an entry of
EXCLUSIONS names that operation and that check and the answer is exactly the deviation it
describes. A body forgiven a schema deviation is validated again with the deviation set right,
so it cannot hide another one. Because forgiven answers are not failures, schemathesis keeps
generating cases for the operation instead of stopping at its first known deviation.

Every forgiven failure is appended, one JSON object a line, to the file named by
VIDMOCK_SCHEMATHESIS_FORGIVEN (when set). Each exclusion's key names its row in FIDELITY.md
("OpenAPI conformance"); the references (§) are to ../shared/specs/apivideo.md.
"""

import json
import os
import threading

import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# operationId -> (label as schemathesis names it, the operation name the compat suite uses)
OPERATIONS = {
    "POST_auth-api-key": ("POST /auth/api-key", "authenticate"),
    "POST_auth-refresh": ("POST /auth/refresh", "refreshToken"),
    "POST_upload-tokens": ("POST /upload-tokens", "createToken"),
    "GET_upload-tokens": ("GET /upload-tokens", "listTokens"),
    "GET_upload-tokens-uploadToken": ("GET /upload-tokens/{uploadToken}", "getToken"),
    "DELETE_upload-tokens-uploadToken": ("DELETE /upload-tokens/{uploadToken}", "deleteToken"),
    "POST_upload": ("POST /upload", "uploadWithUploadToken"),
    "POST_videos-videoId-source": ("POST /videos/{videoId}/source", "uploadVideo"),
    "POST-video": ("POST /videos", "createVideo"),
    "GET-video": ("GET /videos/{videoId}", "getVideo"),
    "PATCH-video": ("PATCH /videos/{videoId}", "updateVideo"),
    "DELETE-video": ("DELETE /videos/{videoId}", "deleteVideo"),
    "LIST-videos": ("GET /videos", "listVideos"),
    "GET-video-status": ("GET /videos/{videoId}/status", "getVideoStatus"),
    "POST_videos-videoId-thumbnail": ("POST /videos/{videoId}/thumbnail", "uploadThumbnail"),
    "PATCH_videos-videoId-thumbnail": ("PATCH /videos/{videoId}/thumbnail", "pickThumbnail"),
    "GET_videos-videoId-captions": ("GET /videos/{videoId}/captions", "listCaptions"),
    "GET_videos-videoId-captions-language": ("GET /videos/{videoId}/captions/{language}", "getCaption"),
    "POST_videos-videoId-captions-language": ("POST /videos/{videoId}/captions/{language}", "uploadCaption"),
    "PATCH_videos-videoId-captions-language": ("PATCH /videos/{videoId}/captions/{language}", "updateCaption"),
    "DELETE_videos-videoId-captions-language": ("DELETE /videos/{videoId}/captions/{language}", "deleteCaption"),
    "GET_videos-videoId-chapters": ("GET /videos/{videoId}/chapters", "listChapters"),
    "GET_videos-videoId-chapters-language": ("GET /videos/{videoId}/chapters/{language}", "getChapter"),
    "POST_videos-videoId-chapters-language": ("POST /videos/{videoId}/chapters/{language}", "uploadChapter"),
    "DELETE_videos-videoId-chapters-language": ("DELETE /videos/{videoId}/chapters/{language}", "deleteChapter"),
    "POST_watermark": ("POST /watermarks", "uploadWatermark"),
    "LIST-watermarks": ("GET /watermarks", "listWatermarks"),
    "DELETE_watermark": ("DELETE /watermarks/{watermarkId}", "deleteWatermark"),
    "GET_players": ("GET /players", "listPlayers"),
    "POST_players": ("POST /players", "createPlayer"),
    "GET_players-playerId": ("GET /players/{playerId}", "getPlayer"),
    "PATCH_players-playerId": ("PATCH /players/{playerId}", "updatePlayer"),
    "DELETE_players-playerId": ("DELETE /players/{playerId}", "deletePlayer"),
    "POST_players-playerId-logo": ("POST /players/{playerId}/logo", "uploadLogo"),
    "DELETE_players-playerId-logo": ("DELETE /players/{playerId}/logo", "deleteLogo"),
    "LIST-tags": ("GET /tags", "listTags"),
    "LIST-discarded-videos": ("GET /discarded/videos", "listDiscardedVideos"),
    "GET-discarded-video": ("GET /discarded/videos/{videoId}", "getDiscardedVideo"),
    "PATCH-discarded-video": ("PATCH /discarded/videos/{videoId}", "updateDiscardedVideo"),
    "POST-webhooks": ("POST /webhooks", "createWebhook"),
    "LIST-webhooks": ("GET /webhooks", "listWebhooks"),
    "GET-Webhook": ("GET /webhooks/{webhookId}", "getWebhook"),
    "DELETE-webhook": ("DELETE /webhooks/{webhookId}", "deleteWebhook"),
}
BY_LABEL = {label: op_id for op_id, (label, _) in OPERATIONS.items()}
# Operations that can answer no 2xx, with why: checked the other way round (never a 2xx). Each
# key names its row in FIDELITY.md.
NEVER_2XX = {
    "GET-discarded-video": "discarded-without-video-restore",
    "PATCH-discarded-video": "discarded-without-video-restore",
    "POST_videos-videoId-captions-language": "generated-file-is-not-webvtt",
    "POST_videos-videoId-chapters-language": "generated-file-is-not-webvtt",
}
AUTHENTICATED = [op for op in OPERATIONS if not op.startswith("POST_auth")]
RETURNS_VIDEO = ["POST_upload", "POST_videos-videoId-source", "POST-video", "GET-video", "PATCH-video",
                 "LIST-videos", "POST_videos-videoId-thumbnail", "PATCH_videos-videoId-thumbnail"]

# The wrapped checks, by the name of the check they wrap.
WRAPPED = {
    "status_code_conformance": "apivideo_status_code_conformance",
    "content_type_conformance": "apivideo_content_type_conformance",
    "response_schema_conformance": "apivideo_response_schema_conformance",
}


def body_of(response):
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def problem_type(response):
    body = body_of(response)
    kind = body.get("type") if isinstance(body, dict) else None
    return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else None


def content_type(response):
    return (response.headers.get("content-type") or [None])[0]


def null_language(body):
    """Sets every Video's `language: null` right (to a tag); True if one was null."""
    videos = body.get("data") if isinstance(body, dict) and "data" in body else [body]
    found = False
    for video in videos if isinstance(videos, list) else []:
        if isinstance(video, dict) and "language" in video and video["language"] is None:
            video["language"] = "und"
            found = True
    return found


def relative_links(body):
    """Makes relative pagination link URIs absolute; True if one was relative."""
    found = False
    pagination = body.get("pagination") if isinstance(body, dict) else None
    links = pagination.get("links") if isinstance(pagination, dict) else None
    for link in links if isinstance(links, list) else []:
        uri = link.get("uri") if isinstance(link, dict) else None
        if isinstance(uri, str) and uri.startswith("/"):
            link["uri"] = "https://ws.api.video" + uri
            found = True
    return found


class Exclusion:
    """One known deviation of the document from the real API: for `operations` and `check`, a
    failure whose answer `matches` (status and content-type checks), or that `repair` sets right
    (the schema check), is forgiven."""

    def __init__(self, key, operations, check, matches=None, repair=None):
        self.key, self.operations, self.check = key, operations, check
        self.matches, self.repair = matches, repair


EXCLUSIONS = [
    # §12: the document lists 401 nowhere; §2.3, §2.4, §5.5, §8.3 give the real 401s.
    Exclusion("undocumented-401", AUTHENTICATED, "status_code_conformance",
              matches=lambda r: r.status_code == 401 and (problem_type(r) or "").startswith("authentication-")),
    # §1.3: errors are application/problem+json; the document declares application/json.
    Exclusion("problem-json", list(OPERATIONS), "content_type_conformance",
              matches=lambda r: 400 <= r.status_code < 500 and content_type(r) == "application/problem+json"),
    # §3.2: an invalid list parameter is 400; the document lists only 200 and 429 for this list.
    Exclusion("list-tokens-invalid-query-400", ["GET_upload-tokens"], "status_code_conformance",
              matches=lambda r: r.status_code == 400 and problem_type(r) == "request-invalid-query-parameter"),
    # As for the token list: an invalid list parameter is 400; these lists document no 400.
    Exclusion("list-invalid-query-400", ["GET_videos-videoId-captions", "GET_videos-videoId-chapters", "LIST-tags",
                                         "LIST-webhooks"],
              "status_code_conformance",
              matches=lambda r: r.status_code == 400 and problem_type(r) == "request-invalid-query-parameter"),
    # §5.3: a videoId unknown to /upload is 404, as on /videos/{videoId}/source; undocumented.
    Exclusion("upload-unknown-video-404", ["POST_upload"], "status_code_conformance",
              matches=lambda r: r.status_code == 404 and problem_type(r) == "resource-not-found"
              and (body_of(r) or {}).get("name") == "videoId"),
    # §8.2: a pick payload without a valid `timecode` is refused as every other payload is; the
    # document lists no 400 for this call.
    Exclusion("pick-thumbnail-invalid-400", ["PATCH_videos-videoId-thumbnail"], "status_code_conformance",
              matches=lambda r: r.status_code == 400
              and problem_type(r) in ("attribute-required", "invalid-attribute", "invalid-payload")),
    # §5.4, §14 q12: a video whose language was never set or detected has `language: null`.
    Exclusion("language-null", RETURNS_VIDEO, "response_schema_conformance", repair=null_language),
    # A payload attribute of the wrong type or length is 400 `invalid-attribute`; the document
    # lists no 400 for creating or updating a player theme.
    Exclusion("player-invalid-attribute-400", ["POST_players", "PATCH_players-playerId"], "status_code_conformance",
              matches=lambda r: r.status_code == 400 and problem_type(r) in ("invalid-attribute", "invalid-payload")),
    # A webhook id that does not exist is 404, as DELETE documents for the same resource.
    Exclusion("webhook-unknown-404", ["GET-Webhook"], "status_code_conformance",
              matches=lambda r: r.status_code == 404 and problem_type(r) == "resource-not-found"),
    # §3.2: upload-token pagination links are relative; the document says `format: uri`.
    Exclusion("relative-token-links", ["GET_upload-tokens"], "response_schema_conformance",
              repair=relative_links),
]

_LOG_LOCK = threading.Lock()


def forgiven(operation, check, keys):
    path = os.environ.get("VIDMOCK_SCHEMATHESIS_FORGIVEN")
    if not path:
        return
    with _LOG_LOCK, open(path, "a", encoding="utf-8") as out:
        for key in keys:
            out.write(json.dumps({"operation": operation, "check": check, "exclusion": key}) + "\n")


def applicable(check, case):
    operation = BY_LABEL.get(case.operation.label)
    return operation, [e for e in EXCLUSIONS if e.check == check and operation in e.operations]


def forgive_by_match(check, wrapped, ctx, response, case):
    try:
        return wrapped(ctx, response, case)
    except Failure:
        operation, candidates = applicable(check, case)
        keys = [e.key for e in candidates if e.matches(response)]
        if not keys:
            raise
        forgiven(operation, check, keys)
        return None


# Where a generated webhook that is a valid URL would send its events: a closed loopback port,
# so that the run never POSTs to a host on the internet (the document's example is one).
LOOPBACK_SUBSCRIBER = "http://127.0.0.1:9/hooks"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Points every webhook the run creates at LOOPBACK_SUBSCRIBER, keeping its other fields."""
    if BY_LABEL.get(case.operation.label) == "POST-webhooks" and isinstance(case.body, dict) \
            and isinstance(case.body.get("url"), str) and case.body["url"].startswith(("http://", "https://")):
        case.body["url"] = LOOPBACK_SUBSCRIBER


@schemathesis.check
def apivideo_status_code_conformance(ctx, response, case):
    """`status_code_conformance`, less the document's known errors (EXCLUSIONS)."""
    return forgive_by_match("status_code_conformance", status_code_conformance, ctx, response, case)


@schemathesis.check
def apivideo_content_type_conformance(ctx, response, case):
    """`content_type_conformance`, less the document's known errors (EXCLUSIONS)."""
    return forgive_by_match("content_type_conformance", content_type_conformance, ctx, response, case)


@schemathesis.check
def apivideo_response_schema_conformance(ctx, response, case):
    """`response_schema_conformance`, less the document's known errors (EXCLUSIONS); a repaired
    body is validated again, so only the forgiven deviation is forgiven."""
    check = "response_schema_conformance"
    try:
        return response_schema_conformance(ctx, response, case)
    except Failure:
        operation, candidates = applicable(check, case)
        body = body_of(response)
        if body is None or not candidates:
            raise
        keys = [e.key for e in candidates if e.repair(body)]
        if not keys:
            raise
        repaired = Response(status_code=response.status_code, headers=response.headers,
                            content=json.dumps(body).encode(), request=response.request,
                            elapsed=response.elapsed, verify=response.verify, message=response.message,
                            http_version=response.http_version, encoding=response.encoding)
        result = response_schema_conformance(ctx, repaired, case)
        forgiven(operation, check, keys)
        return result
