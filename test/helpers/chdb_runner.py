"""A current ClickHouse (chDB, in-process) for the tests, driven over stdin/stdout.

Usage: python chdb_runner.py DATA_DIR
Reads one JSON request per line, {"id": n, "query": "...", "format": "JSONEachRow"}, runs it in a chDB
session whose data lives in DATA_DIR, and writes one JSON answer per line: {"id": n, "result": "..."}
(the output in that format, as text) or {"id": n, "error": "..."}. Requests run one at a time, in order.
The server time zone is the process's (set TZ to run it in another one).
"""

import json
import sys

from chdb import session


def main() -> None:
    db = session.Session(sys.argv[1])
    print(json.dumps({"id": 0, "result": "ready"}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = db.query(request["query"], request.get("format") or "TabSeparated")
            answer = {"id": request["id"], "result": result.bytes().decode("utf-8")}
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            answer = {"id": request["id"], "error": str(error)}
        print(json.dumps(answer), flush=True)
    db.close()


if __name__ == "__main__":
    main()
