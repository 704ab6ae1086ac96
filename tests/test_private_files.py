"""Files the tool writes are private (0600 or narrower), atomic, and never written through
a symbolic link left at their path or at a predictable temporary name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from triage.files import write_private
from triage.sources.recording import bundled_incident, load_incident, write_incident
from triage.ui.screens.checklist import write_report


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    for umask in (0o022, 0o077, 0o000):
        path = tmp_path / f"{umask:o}.md"
        old = os.umask(umask)
        try:
            write_private(path, "x")
        finally:
            os.umask(old)
        assert mode(path) == 0o600


def test_an_existing_file_is_narrowed_never_widened(tmp_path: Path) -> None:
    wide, narrow = tmp_path / "wide.md", tmp_path / "narrow.md"
    wide.write_text("old")
    wide.chmod(0o644)
    narrow.write_text("old")
    narrow.chmod(0o400)
    write_private(wide, "new")
    write_private(narrow, "new")
    assert (mode(wide), wide.read_text()) == (0o600, "new")
    assert (mode(narrow), narrow.read_text()) == (0o400, "new")


def test_a_symbolic_link_at_the_path_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    # The old implementation wrote through a predictable NAME.md.tmp: plant that too.
    (tmp_path / "report.md.tmp").symlink_to(victim)
    write_report(tmp_path, "report.md", "# report\n")
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "# report\n"
    assert mode(link) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "report.md.tmp", "victim"]


def test_recordings_are_written_0600(tmp_path: Path) -> None:
    path = tmp_path / "incident.yaml"
    old = os.umask(0o022)
    try:
        write_incident(load_incident(bundled_incident("demo")), path)
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["incident.yaml"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    from triage.files import write_private_stream

    path = tmp_path / "r.md"
    path.write_text("old")

    def boom(stream: object) -> None:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_private_stream(path, boom)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]
