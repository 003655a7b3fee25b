"""The widgets' pure JavaScript helpers pass their own ``node --test`` suite (tests/js/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import need

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_the_front_end_helpers_pass_their_node_tests() -> None:
    node = need("node")
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, "tests/js holds the helpers' tests"
    out = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout
