"""The README's API examples, run against a real server (called by tests/test_demo.py, whose
server answers from the demo's input, data_samples/launches).

The examples are the ``curl -s '<url>'`` lines between ``<!-- api-examples -->`` and
``<!-- /api-examples -->``; the ``# → {...}`` line under each shows (part of) the answer:
every ``"key": value`` pair written there, values other than ``"…"``, must be in the answer.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_PAIR = re.compile(r'"(\w+)": ("[^"]*"|true|false|null|-?\d+(?:\.\d+)?)')


def examples(readme: Path = README) -> list[tuple[str, list[str]]]:
    """``(path and query, ["\\"key\\": value", ...])`` of each example."""
    text = readme.read_text()
    block = text.split("<!-- api-examples -->", 1)[1].split("<!-- /api-examples -->", 1)[0]
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        line = line.strip()
        curl = re.match(r"^curl -s '?http://127\.0\.0\.1:8000(/[^' ]*)'?", line)
        if curl:
            out.append((curl.group(1), []))
        elif line.startswith("# →") and out:
            pairs = [f'"{k}": {v}' for k, v in _PAIR.findall(line) if v != '"…"']
            out[-1][1].extend(pairs)
    return out


def check(base_url: str, readme: Path = README) -> int:
    """Run every example against ``base_url``; return how many ran."""
    found = examples(readme)
    assert len(found) >= 5, found
    for path, pairs in found:
        try:
            with urllib.request.urlopen(base_url + path, timeout=10) as resp:  # noqa: S310 (loopback)
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        assert status == 200, f"README example {path}: {status} {raw[:300]!r}"
        body = json.loads(raw)
        flat = json.dumps(body, ensure_ascii=False)
        for pair in pairs:
            assert pair in flat, f"README example {path}: {pair} not in the answer {flat[:2000]}"
    return len(found)
