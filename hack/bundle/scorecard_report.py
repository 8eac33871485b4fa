#!/usr/bin/env python3
"""Reads one scorecard-test run (a scorecard.operatorframework.io/v1alpha3 TestStatus as JSON) on
stdin and exits non-zero unless every result passed; prints errors and suggestions either way."""
import json
import sys


def main() -> int:
    name = sys.argv[1]
    text = sys.stdin.read()
    start = text.find("{")
    try:
        status, _ = json.JSONDecoder().raw_decode(text[start:]) if start >= 0 else (None, 0)
    except json.JSONDecodeError:
        status = None
    if not status or not status.get("results"):
        print(f"scorecard {name}: no result\n{text}", file=sys.stderr)
        return 1
    ok = True
    for result in status["results"]:
        state = result.get("state")
        print(f"scorecard {result.get('name', name)}: {state}")
        for e in result.get("errors") or []:
            print(f"  error: {e}")
        for s in result.get("suggestions") or []:
            print(f"  suggestion: {s}")
        ok = ok and state == "pass"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
