"""The demo at 80x24 driven through tmux, key by key, as `scripts/tmux-demo-walk` does it
(the README's keys table). Skipped where tmux is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_demo_walk_at_80x24(tmp_path: Path) -> None:
    triage = Path(sys.executable).with_name("triage")
    env = {**os.environ, "TRIAGE": str(triage), "OUT": str(tmp_path / "walk"), "TMUX": ""}
    done = subprocess.run(
        [str(ROOT / "scripts" / "tmux-demo-walk")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the demo walk passed at 80x24" in done.stdout
