#!/usr/bin/env python3
"""Reads `operator-sdk bundle validate --output json-alpha1` on stdin; fails on any error or
warning. The one exception is the fixed notice that the `operatorhub` validator itself is
deprecated (in favour of the OperatorHub.io one), which says nothing about the bundle."""
import json
import sys

DEPRECATION_NOTICE = "is deprecated"


def main() -> int:
    text = sys.stdin.read()
    start = text.find("{")
    if start < 0:
        print(text, file=sys.stderr)
        print("bundle validate: no JSON report", file=sys.stderr)
        return 1
    report, _ = json.JSONDecoder().raw_decode(text[start:])
    problems = []
    for out in report.get("outputs") or []:
        message = out.get("message", "")
        if out.get("type") == "warning" and "operatorhub" in message.lower() and DEPRECATION_NOTICE in message:
            print(f"bundle validate: ignored notice: {message}")
            continue
        problems.append(f"{out.get('type')}: {message}")
    for p in problems:
        print(f"bundle validate: {p}", file=sys.stderr)
    if problems or not report.get("passed"):
        print("bundle validate: FAILED", file=sys.stderr)
        return 1
    print("bundle validate: passed (suite=operatorframework), no errors, no warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
