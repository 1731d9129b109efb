"""OpenAPI conformance: schemathesis, with api.video's published OpenAPI document, against vidmock.

Environment:
  VIDMOCK_URL              base URL of a running vidmock (required)
  VIDMOCK_APIVIDEO_KEY     api.video API key known to the mock (default: vidmock-api-key)
  VIDMOCK_COMPAT_RESULTS   where to write the JSON results (optional)
  VIDMOCK_OPENAPI          the OpenAPI document (default: the project's
                           fixtures/apivideo/openapi.yaml)
  VIDMOCK_SCHEMATHESIS_DIR where the generated configuration, dictionaries, the run's log and its
                           NDJSON report go (default: a temporary directory)
  VIDMOCK_COMPAT_TARGET    `vidmock` (default) or `vendor`; the fuzzer is never pointed at a real
                           vendor, so `vendor` skips the run and says so

Only the operations vidmock implements are tested (schemathesis_hooks.OPERATIONS), every phase of
schemathesis (examples, coverage, fuzzing, stateful) with a fixed seed, one worker and a bounded
number of examples. Four checks judge every answer: no 5xx, a documented status code, a
documented Content-Type, and a body that matches the documented schema. The requests
authenticate with HTTP Basic (the API key as user name, as the document's `apiKey` scheme says);
the upload token, the upload-token path parameters, the API key and the refresh tokens are drawn
from dictionaries of real values made for the run (half of the time, so unknown values are tried
too).

Where the document is wrong about the real API (../shared/specs/apivideo.md §12 and the sections
it points to), schemathesis_hooks.py forgives exactly that deviation, for that operation and that
check (its EXCLUSIONS, each explained in FIDELITY.md, "OpenAPI conformance"). Anything else is an
unexplained failure and fails the run.

Results: per operation, one entry per check (ok when schemathesis reported no failure) and one
saying that it answered a documented 2xx at least once; entries about the run itself (operation
`(run)`): it ended without errors, methods the document does not list got no 5xx, every exclusion
is explained in FIDELITY.md, no other check failed. Which exclusions were used is kept per entry.
"""

import base64
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schemathesis_hooks as hooks  # noqa: E402 - beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BASE_URL = os.environ.get("VIDMOCK_URL", "").rstrip("/")
API_KEY = os.environ.get("VIDMOCK_APIVIDEO_KEY") or "vidmock-api-key"
RESULTS_PATH = os.environ.get("VIDMOCK_COMPAT_RESULTS", "")
OPENAPI = os.environ.get("VIDMOCK_OPENAPI") or os.path.join(ROOT, "fixtures", "apivideo",
                                                            "openapi.yaml")
TARGET = os.environ.get("VIDMOCK_COMPAT_TARGET", "vidmock")
TOOL = "schemathesis"
TOOL_VERSION = importlib.metadata.version(TOOL)

SEED = 20241113
MAX_EXAMPLES = 100
RUN_TIMEOUT = 240

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance"]
NAME_OF = {wrapper: check for check, wrapper in hooks.WRAPPED.items()}
NAME_OF["not_a_server_error"] = "not_a_server_error"


# ---------------------------------------------------------------- reporting

results = []


def record(operation, scenario, check, ok, error=None, excluded=None):
    ok = bool(ok)
    entry = {"operation": operation, "scenario": scenario, "check": check, "ok": ok,
             "error": None if ok else str(error if error is not None else "check failed")}
    if excluded:
        entry["excluded"] = excluded
    results.append(entry)
    line = "{} schemathesis {} [{}] {}".format("PASS" if ok else "FAIL", operation, scenario, check)
    print(line if ok else "{}: {}".format(line, error), flush=True)


def write_results(skipped=None):
    failed = sum(1 for r in results if not r["ok"])
    if RESULTS_PATH:
        os.makedirs(os.path.dirname(os.path.abspath(RESULTS_PATH)), exist_ok=True)
        with open(RESULTS_PATH, "w", encoding="utf-8") as out:
            payload = {"client": TOOL, "version": TOOL_VERSION, "language": "openapi",
                       "passed": len(results) - failed, "failed": failed, "operations": results}
            if skipped:
                payload["skipped"] = skipped
            json.dump(payload, out, indent=2)
            out.write("\n")
    print("schemathesis {}: {} checks, {} failing".format(TOOL_VERSION, len(results), failed))
    return failed


# ---------------------------------------------------------------- setup against the mock

def call(method, path, body=None, auth=True):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE_URL + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode((API_KEY + ":").encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as err:
        raise RuntimeError("{} {} answered {}: {}".format(method, path, err.code, err.read()[:300])) from err
    return json.loads(text) if text else None


VTT = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nschemathesis\n"
CAPTION_AND_CHAPTER_OPERATIONS = [op for op in hooks.OPERATIONS if op.startswith(("GET_videos-videoId-c",
                                                                                   "POST_videos-videoId-c",
                                                                                   "PATCH_videos-videoId-c",
                                                                                   "DELETE_videos-videoId-c"))]


def upload_vtt(path):
    """POSTs a WebVTT file as multipart/form-data `file`."""
    boundary = "vidmock-schemathesis"
    body = ("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"en.vtt\"\r\n"
            "Content-Type: text/vtt\r\n\r\n{vtt}\r\n--{b}--\r\n").format(b=boundary, vtt=VTT).encode()
    request = urllib.request.Request(BASE_URL + path, data=body, method="POST")
    request.add_header("Content-Type", "multipart/form-data; boundary=" + boundary)
    request.add_header("Authorization", "Basic " + base64.b64encode((API_KEY + ":").encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def dictionary(directory, name, values):
    """A libFuzzer-style dictionary file, as schemathesis reads them."""
    path = os.path.join(directory, name + ".dict")
    with open(path, "w", encoding="utf-8") as out:
        for value in values:
            out.write(json.dumps(value) + "\n")
    return path


def configuration(directory):
    """Resets the mock, makes the run's real values and writes schemathesis.toml for them."""
    call("POST", "/__vidmock/reset", auth=False)
    tokens = [call("POST", "/upload-tokens", {})["token"] for _ in range(6)]
    refresh = [call("POST", "/auth/api-key", {"apiKey": API_KEY}, auth=False)["refresh_token"]
               for _ in range(12)]
    # Videos with an English caption and chapters file, so the caption and chapter operations
    # meet real ones.
    videos = [call("POST", "/videos", {"title": "schemathesis {}".format(n)})["videoId"] for n in range(4)]
    for video in videos:
        for kind in ("captions", "chapters"):
            upload_vtt("/videos/{}/{}/en".format(video, kind))
    dicts = {
        "video_id": dictionary(directory, "video_id", videos),
        "language": dictionary(directory, "language", ["en", "fr", "en-US"]),
        "upload_token": dictionary(directory, "upload_token", tokens[:2]),
        "path_token": dictionary(directory, "path_token", tokens[2:]),
        "api_key": dictionary(directory, "api_key", [API_KEY]),
        "refresh_token": dictionary(directory, "refresh_token", refresh),
    }
    lines = [
        "# Written by tests/compat/schemathesis_apivideo.py for one run.",
        "seed = {}".format(SEED),
        "workers = 1",
        "hooks = {}".format(json.dumps(os.path.join(HERE, "schemathesis_hooks.py"))),
        "[checks]",
        "enabled = false",
        "not_a_server_error.enabled = true",
    ]
    lines += ["{}.enabled = true".format(wrapper) for wrapper in hooks.WRAPPED.values()]
    lines += [
        "[generation]",
        "max-examples = {}".format(MAX_EXAMPLES),
        'database = "none"',
        "[dictionaries]",
    ]
    lines += ["{} = {{ from-file = {} }}".format(name, json.dumps(path)) for name, path in dicts.items()]
    for op_id, key, name in [
        ("POST_upload", "query.token", "upload_token"),
        ("GET_upload-tokens-uploadToken", "path.uploadToken", "path_token"),
        ("DELETE_upload-tokens-uploadToken", "path.uploadToken", "path_token"),
        ("POST_auth-api-key", "body.apiKey", "api_key"),
        ("POST_auth-refresh", "body.refreshToken", "refresh_token"),
    ]:
        lines += ["[[operations]]", 'include-operation-id = "{}"'.format(op_id),
                  'parameters = {{ "{}" = {{ dictionary = "{}", probability = 0.5 }} }}'.format(key, name)]
    # Real videos and languages most of the time, so that reads and deletes meet real files.
    for op_id in CAPTION_AND_CHAPTER_OPERATIONS:
        lines += ["[[operations]]", 'include-operation-id = "{}"'.format(op_id),
                  'parameters = { "path.videoId" = { dictionary = "video_id", probability = 0.9 }, '
                  '"path.language" = { dictionary = "language", probability = 0.9 } }']
    path = os.path.join(directory, "schemathesis.toml")
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- the run and its report

def answer_of(interaction):
    response = (interaction or {}).get("response") or {}
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    content = (response.get("content") or {}).get("$base64")
    return {"status": response.get("status_code"), "content_type": (headers.get("content-type") or [None])[0],
            "raw": base64.b64decode(content)[:300] if content else b""}


def read_report(report):
    """Reads schemathesis's NDJSON events: per operation and check, the failures it reported."""
    seen = {"failures": {(op, check): [] for op in hooks.OPERATIONS for check in CHECKS},
            "cases": {op: 0 for op in hooks.OPERATIONS}, "successes": {op: 0 for op in hooks.OPERATIONS},
            "other_methods": [], "other_failures": [], "errors": [], "finished": False}
    with open(report, encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            if "EngineFinished" in event:
                seen["finished"] = True
            for kind in ("NonFatalError", "FatalError"):
                if kind in event:
                    seen["errors"].append(json.dumps(event[kind])[:500])
            scenario = event.get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            for case_id, checks in (recorder.get("checks") or {}).items():
                case = recorder["cases"][case_id]["value"]
                op_id = hooks.BY_LABEL.get("{} {}".format(case["method"], case["path"]))
                answer = answer_of(recorder.get("interactions", {}).get(case_id))
                failing = [c for c in checks if c["status"] != "success"]
                if op_id is None:
                    # A method the document does not list on a tested path: only a 5xx is wrong.
                    seen["other_methods"].append(answer["status"])
                    if any(c["name"] == "not_a_server_error" for c in failing):
                        seen["other_failures"].append("{} {}: {}".format(case["method"], case["path"],
                                                                          answer["status"]))
                    continue
                seen["cases"][op_id] += 1
                if answer["status"] is not None and 200 <= answer["status"] < 300:
                    seen["successes"][op_id] += 1
                for check in failing:
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    name = NAME_OF.get(check["name"], check["name"])
                    seen["failures"].setdefault((op_id, name), []).append("{}: {} (answer {} {}: {!r})".format(
                        failure.get("code"), (failure.get("message") or "").split("\n")[0],
                        answer["status"], answer["content_type"], answer["raw"]))
    return seen


def main():
    if not BASE_URL:
        print("VIDMOCK_URL is not set", file=sys.stderr)
        return 2
    if TARGET != "vidmock":
        print("schemathesis: skipped against a real vendor (the fuzzer only runs against vidmock)")
        write_results(skipped="the fuzzer only runs against vidmock")
        return 0
    directory = os.environ.get("VIDMOCK_SCHEMATHESIS_DIR") or tempfile.mkdtemp(prefix="vidmock-schemathesis-")
    os.makedirs(directory, exist_ok=True)

    with open(os.path.join(ROOT, "FIDELITY.md"), encoding="utf-8") as f:
        fidelity = f.read()
    missing = [key for key in [e.key for e in hooks.EXCLUSIONS] + list(hooks.NEVER_2XX.values())
               if "`{}`".format(key) not in fidelity]
    record("(run)", "exclusions", "every exclusion is explained in FIDELITY.md", not missing,
           "not in FIDELITY.md: {}".format(", ".join(missing)))
    if not os.path.exists(OPENAPI):
        record("(run)", "run", "the OpenAPI document is there", False, OPENAPI)
        return 1 if write_results() else 0
    try:
        config = configuration(directory)
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        record("(run)", "run", "the run's tokens could be made", False, err)
        return 1 if write_results() else 0

    report = os.path.join(directory, "report.ndjson")
    log = os.path.join(directory, "schemathesis.log")
    forgiven_log = os.path.join(directory, "forgiven.ndjson")
    for stale in (report, forgiven_log):
        if os.path.exists(stale):
            os.remove(stale)
    command = [os.path.join(os.path.dirname(sys.executable), "st"), "--config-file", config, "run", OPENAPI,
               "--url", BASE_URL, "--auth", API_KEY + ":", "--no-color",
               "--report", "ndjson", "--report-ndjson-path", report]
    for op_id in hooks.OPERATIONS:
        command += ["--include-operation-id", op_id]
    print("schemathesis {}: {} operations, {} examples each, seed {}; log in {}".format(
        TOOL_VERSION, len(hooks.OPERATIONS), MAX_EXAMPLES, SEED, log), flush=True)
    env = dict(os.environ, VIDMOCK_SCHEMATHESIS_FORGIVEN=forgiven_log, PYTHONDONTWRITEBYTECODE="1")
    with open(log, "w", encoding="utf-8") as out:
        try:
            subprocess.run(command, cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            record("(run)", "run", "the run ends within {} s".format(RUN_TIMEOUT), False, "timed out")
            return 1 if write_results() else 0
    if not os.path.exists(report):
        with open(log, encoding="utf-8") as f:
            tail = f.read()[-2000:]
        record("(run)", "run", "schemathesis wrote its report", False, tail)
        return 1 if write_results() else 0

    seen = read_report(report)
    forgiven = {}
    if os.path.exists(forgiven_log):
        with open(forgiven_log, encoding="utf-8") as f:
            for line in f:
                item = json.loads(line)
                forgiven.setdefault((item["operation"], item["check"]), set()).add(item["exclusion"])

    record("(run)", "run", "schemathesis ran to the end without errors", seen["finished"] and not seen["errors"],
           "; ".join(seen["errors"]) or "no EngineFinished event in {}".format(report))
    record("(run)", "other methods", "methods the document does not list on these paths are refused without a 5xx",
           seen["other_methods"] and not seen["other_failures"],
           "; ".join(seen["other_failures"]) or "no such case was generated")
    for op_id, (label, name) in hooks.OPERATIONS.items():
        if op_id in hooks.NEVER_2XX:
            record(name, op_id, "{} was tested and, as FIDELITY.md `{}` says, never answered 2xx".format(
                label, hooks.NEVER_2XX[op_id]), seen["cases"][op_id] > 0 and seen["successes"][op_id] == 0,
                "{} cases, {} answered 2xx".format(seen["cases"][op_id], seen["successes"][op_id]))
        else:
            record(name, op_id, "{} was tested and answered a documented 2xx at least once".format(label),
                   seen["cases"][op_id] > 0 and seen["successes"][op_id] > 0,
                   "{} cases, {} answered 2xx".format(seen["cases"][op_id], seen["successes"][op_id]))
        for check in CHECKS:
            found = seen["failures"][(op_id, check)]
            record(name, op_id, check, not found,
                   "{} unexplained failure(s), first: {}".format(len(found), found[0]) if found else None,
                   excluded=sorted(forgiven.get((op_id, check), ())) or None)
    unknown = [key for key in seen["failures"] if key[1] not in CHECKS and seen["failures"][key]]
    record("(run)", "run", "no check outside the four failed", not unknown, repr(unknown))
    failed = write_results()
    if failed:
        print("schemathesis: see {} for the failures as schemathesis reports them".format(log))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
