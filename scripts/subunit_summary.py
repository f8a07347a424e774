"""Summarise a subunit v2 stream: counts, failures and skips with reasons (Markdown)."""

from __future__ import annotations

import sys
from collections import Counter

import subunit
import testtools


class Collector(testtools.StreamResult):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, str] = {}
        self.reason: dict[str, str] = {}

    def status(self, test_id=None, test_status=None, file_name=None, file_bytes=None, **kw):  # type: ignore[no-untyped-def,override]
        if test_id is None:
            return
        if test_status in ("success", "fail", "skip", "xfail", "uxsuccess"):
            self.statuses[test_id] = test_status
        if file_name == "reason" and file_bytes:
            self.reason[test_id] = bytes(file_bytes).decode(errors="replace")


def main(path: str) -> None:
    collector = Collector()
    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        stream.run(collector)
    tests = {t: s for t, s in collector.statuses.items() if not t.startswith("setUpClass")}
    counts = Counter(tests.values())
    print(f"passed: {counts['success']}, failed: {counts['fail']}, skipped: {counts['skip']}\n")
    for label, key in (("Failed", "fail"), ("Skipped", "skip")):
        names = sorted(t for t, s in collector.statuses.items() if s == key)
        if names:
            print(f"## {label} ({len(names)})\n")
            for t in names:
                reason = collector.reason.get(t, "").strip().splitlines()
                print(f"- `{t}`" + (f" — {reason[0][:200]}" if reason else ""))
            print()


if __name__ == "__main__":
    main(sys.argv[1])
