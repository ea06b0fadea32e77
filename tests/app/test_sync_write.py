"""`app.sync.atomic_write` on real files: symlinks written through, modes kept, read-only files refused,
new files made with the umask's mode, and temp files of killed earlier writes cleaned up."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from app.sync import atomic_write, content_hash


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_text_and_returns_its_hash(tmp_path):
    path = tmp_path / "notes.md"
    assert atomic_write(path, "# T\r\n\r\nBody.\n") == content_hash("# T\r\n\r\nBody.\n")
    assert path.read_bytes() == b"# T\r\n\r\nBody.\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]  # no temp file left


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "real" / "notes.md"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "notes.md"
    link.symlink_to(target)
    atomic_write(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.md"]


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("old\n")
    path.chmod(0o640)
    atomic_write(path, "new\n")
    assert _mode(path) == 0o640 and path.read_text() == "new\n"


def test_a_read_only_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("keep me\n")
    path.chmod(0o444)
    try:
        with pytest.raises(PermissionError) as info:
            atomic_write(path, "replaced\n")
        assert info.value.strerror == "the file is read-only (scriba will not replace it)"
        assert info.value.filename == str(path)
        assert path.read_text() == "keep me\n" and _mode(path) == 0o444
        assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "new.md", "text\n")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new.md") == 0o666 & ~umask


def test_stale_temp_files_of_crashed_writes_are_removed(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("old\n")
    stale = tmp_path / ".notes.md.k3x_9qaz.tmp"  # what a write killed before its rename leaves
    fresh = tmp_path / ".notes.md.abcd1234.tmp"  # maybe a write still running in another process
    other = tmp_path / ".other.md.k3x_9qaz.tmp"  # another file's
    mine = tmp_path / ".notes.md.backup.tmp"  # not our pattern
    for p in (stale, fresh, other, mine):
        p.write_text("partial")
    an_hour_ago = time.time() - 3600
    for p in (stale, other, mine):
        os.utime(p, (an_hour_ago, an_hour_ago))
    atomic_write(path, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, fresh.name, other.name, mine.name])
