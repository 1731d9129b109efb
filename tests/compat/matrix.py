"""Writes the compatibility matrix (Markdown) from the compat suite's results files.

    python3 tests/compat/matrix.py target/compat/results > target/compat/matrix.md

One row per official client that ran: its version as installed, the operations its checks
exercised, and how many checks passed. Clients that cannot run on the project's machines are
listed with the reason, so the matrix says what is not covered as plainly as what is.
"""

import glob
import json
import os
import sys

NOT_RUN = [
    ("api.video Go client (`github.com/apivideo/api.video-go-client`)", "go",
     "not run: the project's machines have no Go toolchain"),
    ("Kaltura PHP5 client (`format=3`, PHP serialize)", "php",
     "not run: `format=3` is not implemented; vidmock answers it like any unknown format"),
]


def main(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        operations = sorted({o["operation"] for o in result.get("operations", [])})
        checks = result.get("operations", [])
        passed = sum(1 for o in checks if o.get("ok"))
        verdict = "pass" if checks and passed == len(checks) else "FAIL"
        rows.append("| `{}` | {} | {} | {} | {}/{} | {} |".format(
            result["client"], result["version"], result.get("language", ""),
            ", ".join("`{}`".format(o) for o in operations), passed, len(checks), verdict))
    print("| client | version | language | operations exercised | checks passed | result |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    for client, language, reason in NOT_RUN:
        print("| {} | — | {} | — | — | {} |".format(client, language, reason))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/compat/results")
