"""Crash test: the real TUI in a pty, typing, SIGKILLed at random moments; after each kill the document is
reopened as the next editor would (journal recovery included) and checked.

    python tests/crash/crash_test.py --trials 50 [--seed N] [--workdir DIR]

Reports trials, lost characters (typed more than GRACE_SECONDS before the kill, yet in neither the store
nor the recovered journal), lost revisions (a revision recorded before a kill missing after it),
corruptions (SQLite integrity_check, a tree that differs from the parse of its own Markdown). Exit 0
when all three are zero.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRACE_SECONDS = 1.0  # the journal's promise: typed text is durable within about a second
START = "# Crash test\n\nA paragraph to keep.\n"
END_KEY = "\x05"  # ctrl+e: the end of the line in the editor
LAUNCH = """
import sys
from app.tui.app import ScribaApp
ScribaApp(sys.argv[1], db_path=sys.argv[2], load_engine=False, watch=False).run()
"""


class TuiProcess:
    """The real scriba TUI (no model) on `path`, in a pty of its own; its output is drained."""

    def __init__(self, path: Path, db: Path) -> None:
        master, slave = pty.openpty()
        # a wide terminal: the edited line does not wrap (ctrl+e goes to the end of the visual line)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(path), str(db)], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.master = master
        self.db = db
        self.output = bytearray()  # the screen's last bytes, to tell why it stopped
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output = (self.output + data)[-20000:]

    def ready(self, timeout: float = 60.0) -> bool:
        """The document is open with its store attached (the instance's presence file is there)."""
        deadline = time.monotonic() + timeout
        folder = Path(f"{self.db}.journal")
        while time.monotonic() < deadline:
            if any(p.name.endswith(f".{self.proc.pid}.alive") for p in folder.glob("*.alive")):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:  # it is gone already (wait() tells how)
            pass

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


@dataclass
class Report:
    trials: int = 0
    typed: int = 0
    lost_characters: int = 0
    lost_revisions: int = 0
    corruptions: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"trials: {self.trials}", f"characters typed: {self.typed}",
                f"lost characters: {self.lost_characters}", f"lost revisions: {self.lost_revisions}",
                f"corruptions: {self.corruptions}", *self.notes]


def revision_ids(db: Path) -> set[int]:
    con = sqlite3.connect(db)
    try:
        return {row[0] for row in con.execute("SELECT id FROM revisions")}
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def reopen(path: Path, db: Path) -> str:
    """Open the document as the next editor does (journals of dead instances replayed, recorded) and
    return the heading's text; check the tree against the parse of its own Markdown."""
    # imported here: run by hand, the checkout is put on sys.path first (main)
    from app.session import Session
    from engine.document import Document

    session = Session.open(path, db, recover=True)
    try:
        md = session.doc.to_markdown()
        reparsed = Document.from_markdown(md)
        same = [(n.kind, n.text) for n in reparsed.walk()] == [(n.kind, n.text) for n in session.doc.walk()]
        heading = next(n.text for n in session.doc.walk() if str(n.kind) == "heading")
        return heading if same and reparsed.to_markdown() == md else "\0corrupt"
    finally:
        session.close()


def _kept_in_order(old: str, new: str) -> int:
    """How many characters of `old` are still in `new`, in order."""
    found, at = 0, 0
    for ch in old:
        at = new.find(ch, at)
        if at < 0:
            break
        found, at = found + 1, at + 1
    return found


def trial(path: Path, db: Path, rng: random.Random, number: int, report: Report) -> None:
    before_ids = revision_ids(db)
    before = reopen(path, db)
    app = TuiProcess(path, db)
    if not app.ready():
        app.signal(signal.SIGKILL)
        code = app.wait()
        tail = app.output[-3000:].decode("utf-8", "replace")
        report.notes.append(f"trial {number}: the TUI did not start (exit {code}): {tail}")
        return
    app.send("\r")  # the outline's first node (the heading): edit it
    time.sleep(0.3)
    app.send(END_KEY)
    time.sleep(0.2)
    kill_at = time.monotonic() + rng.uniform(0.3, 7.0)
    typed: list[tuple[float, str]] = []
    word = 0
    while time.monotonic() < kill_at:
        chunk = f" t{number}w{word}"
        word += 1
        for ch in chunk:
            app.send(ch)
            typed.append((time.monotonic(), ch))
            time.sleep(rng.uniform(0.01, 0.12))
        if rng.random() < 0.15:
            time.sleep(rng.uniform(1.5, 3.0))  # a pause: the idle timer records a revision
    if app.proc.poll() is not None:
        tail = app.output[-3000:].decode("utf-8", "replace")
        report.notes.append(f"trial {number}: the TUI stopped by itself (exit {app.proc.returncode}): {tail}")
    app.signal(signal.SIGKILL)
    killed = time.monotonic()
    app.wait()
    report.trials += 1
    due = "".join(ch for at, ch in typed if at <= killed - GRACE_SECONDS)
    report.typed += len(typed)
    after = reopen(path, db)
    if after == "\0corrupt":
        report.corruptions += 1
        report.notes.append(f"trial {number}: the tree differs from the parse of its Markdown")
    else:
        # the typed text went in as one run at the cursor (a long heading wraps: ctrl+e is the end of its
        # visual line, not always of the text), and the text before must still be all there
        kept = len(due)
        while kept and due[:kept] not in after:
            kept -= 1
        lost = (len(due) - kept) + (len(before) - _kept_in_order(before, after))
        if lost:
            report.lost_characters += lost
            report.notes.append(f"trial {number}: lost {lost} characters")
    if integrity(db) != "ok":
        report.corruptions += 1
        report.notes.append(f"trial {number}: integrity_check failed")
    missing = before_ids - revision_ids(db)
    report.lost_revisions += len(missing)


def run(trials: int, seed: int, workdir: Path) -> Report:
    path, db = workdir / "crash.md", workdir / "crash.db"
    path.write_text(START)
    reopen(path, db)  # imported: the store exists before the first kill
    rng = random.Random(seed)
    report = Report()
    for number in range(trials):
        trial(path, db, rng, number, report)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        report = run(args.trials, args.seed, args.workdir or Path(tmp))
    for line in report.lines():
        print(line)
    print(f"seconds: {time.monotonic() - started:.0f}")
    ok = report.trials == args.trials and not (report.lost_characters or report.lost_revisions
                                                 or report.corruptions)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
