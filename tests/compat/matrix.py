"""Writes the compatibility matrix (Markdown) from the compat suite's results files.

    python3 tests/compat/matrix.py target/compat/results > target/compat/matrix.md

One row per official client (and per tool) that ran: its version as installed, the operations its
checks exercised, and how many checks passed. A results file may carry checks of other clients
than its own (an entry with its own `client`, `version`, `language`): those make rows of their
own, and a client marked `unsupported` is listed as not supported, with what vidmock answers it.
The browser uploader's row comes from the newest browser run (target/browser/runs/*/results.json,
written by tests/browser.rs); on a machine where none has run, the README's row is kept as it is.
Clients that cannot run on the project's machines are listed with the reason, so the matrix says
what is not covered as plainly as what is.
"""

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BROWSER_RUNS = os.path.join(ROOT, "target", "browser", "runs")
BROWSER_PACKAGE = os.path.join(ROOT, "tests", "browser", "package.json")
BROWSER_CLIENT = "@api.video/video-uploader"
README = os.path.join(ROOT, "README.md")

NOT_RUN = [
    ("api.video Go client (`github.com/apivideo/api.video-go-client`)", "go",
     "not run: the project's machines have no Go toolchain"),
]


def row(client, version, language, operations, passed, total, verdict):
    return "| {} | {} | {} | {} | {}/{} | {} |".format(
        client, version, language, ", ".join("`{}`".format(o) for o in operations) or "—", passed, total, verdict)


def client_rows(directory):
    groups = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        for check in result.get("operations", []):
            key = (check.get("client", result["client"]), check.get("version", result["version"]),
                   check.get("language", result.get("language", "")), bool(check.get("unsupported")))
            groups.setdefault(key, []).append(check)
    rows, unsupported = [], []
    for (client, version, language, is_unsupported), checks in groups.items():
        operations = sorted({c["operation"] for c in checks if not c["operation"].startswith("(")})
        passed = sum(1 for c in checks if c.get("ok"))
        ok = passed == len(checks)
        if is_unsupported:
            answer = "; ".join(c["check"] for c in checks)
            verdict = "not supported; vidmock {}".format(answer) if ok else "FAIL: " + answer
            unsupported.append("| {} | {} | {} | {} | {}/{} | {} |".format(
                client, version, language, ", ".join("`{}`".format(o) for o in operations), passed, len(checks),
                verdict))
            continue
        rows.append(row("`{}`".format(client), version, language, operations, passed, len(checks), "pass" if ok else "FAIL"))
    return rows, unsupported


def browser_row():
    """The browser uploader's row from the newest browser run that drove it, else the README's."""
    runs = sorted(glob.glob(os.path.join(BROWSER_RUNS, "*", "results.json")), key=os.path.getmtime, reverse=True)
    for path in runs:
        try:
            with open(path, encoding="utf-8") as f:
                checks = [c for c in json.load(f).get("checks", []) if c.get("case", "").startswith("apivideo:")]
        except (OSError, ValueError):
            continue
        if not checks:
            continue
        with open(BROWSER_PACKAGE, encoding="utf-8") as f:
            version = json.load(f)["dependencies"][BROWSER_CLIENT]
        passed = sum(1 for c in checks if c.get("ok"))
        return row("`{}`".format(BROWSER_CLIENT), version, "browser (headless Chromium, https)",
                   ["uploadWithUploadToken"], passed, len(checks), "pass" if passed == len(checks) else "FAIL")
    try:
        with open(README, encoding="utf-8") as f:
            for line in f:
                if line.startswith("| `{}` |".format(BROWSER_CLIENT)):
                    print("matrix: no browser run here; keeping the README's row for {}".format(BROWSER_CLIENT),
                          file=sys.stderr)
                    return line.rstrip("\n")
    except OSError:
        pass
    return row("`{}`".format(BROWSER_CLIENT), "—", "browser", [], 0, 0, "not run: no browser run yet")


def main(directory):
    rows, unsupported = client_rows(directory)
    print("| client | version | language | operations exercised | checks passed | result |")
    print("|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    print(browser_row())
    for line in unsupported:
        print(line)
    for client, language, reason in NOT_RUN:
        print("| {} | — | {} | — | — | {} |".format(client, language, reason))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/compat/results")
