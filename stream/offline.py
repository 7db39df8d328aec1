"""`feedback enrich`: the worker's processing over a JSONL file, for backfills and evaluation.

Nothing the user already has is put at risk. `check_paths` runs before the model loads and
refuses an output that is the input (compared by inode, so symlinks and hard links count),
inputs that cannot be read and outputs that cannot be written. Outputs are written to a
temporary file beside the target, which replaces the target only once the whole input has
been processed; an error or Ctrl-C leaves the previous file as it was.

`-` reads stdin (input) or writes stdout (output). Line numbers are 1-based and count blank
lines, so `line N` on stderr and `source.offset` in a dead letter name the same line.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from tqdm import tqdm

from stream.contracts import Source
from stream.processing import Enricher, Limits, Message, process_batch
from stream.settings import UserError

STDIO = Path("-")
STDIN_NAME = "<stdin>"  # the dead letters' `source.topic` for lines read from stdin


@dataclass
class Summary:
    """What an offline run did."""

    enriched: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.enriched + sum(self.rejected.values())


def check_paths(input_path: Path, output: Path, dead_letters: Path | None = None) -> None:
    """Raise `UserError` unless the input can be read and the outputs written without loss."""
    _check_readable(input_path)
    outputs = {"--output": output}
    if dead_letters is not None:
        outputs["--dead-letters"] = dead_letters
    for flag, path in outputs.items():
        _check_writable(path, flag)

    source = _identity(input_path, sys.stdin)
    for flag, path in outputs.items():
        if source is not None and _identity(path, sys.stdout) == source:
            raise UserError(
                f"{flag} {_shown(path, 'stdout')} is the input {_shown(input_path, 'stdin')}: "
                "choose another path (writing it would destroy the input)"
            )
    written = _identity(output, sys.stdout)
    if (
        dead_letters is not None
        and written is not None
        and written == _identity(dead_letters, sys.stdout)
    ):
        raise UserError(
            f"--dead-letters {_shown(dead_letters, 'stdout')} is the same file as --output "
            f"{_shown(output, 'stdout')}: choose two different paths"
        )


def enrich_file(
    input_path: Path,
    output: Path,
    enricher: Enricher,
    limits: Limits,
    *,
    batch_size: int = 256,
    dead_letters: Path | None = None,
    progress: bool = True,
    report: TextIO = sys.stderr,
) -> Summary:
    """Enrich every line of `input_path` into `output`; bad lines are reported and skipped.

    Each bad line is reported as `line N: <reason>: <detail>` and, with `dead_letters`,
    written there as a dead-letter record whose `source.offset` is the same N.
    """
    check_paths(input_path, output, dead_letters)
    summary = Summary()
    started = time.perf_counter()
    name = STDIN_NAME if input_path == STDIO else str(input_path)
    with (
        _read(input_path) as lines,
        _replaced_at_end(output) as out,
        _replaced_at_end(dead_letters) as dlq,
        tqdm(
            total=_count_lines(input_path), unit="line", disable=not progress, desc="enrich"
        ) as bar,
    ):
        for batch, lines_read in _batches(lines, name, batch_size):
            for message, outcome in zip(batch, process_batch(batch, enricher, limits), strict=True):
                if outcome.dead:
                    summary.rejected[str(outcome.reason)] += 1
                    detail = outcome.record["detail"] if outcome.record else ""
                    tqdm.write(
                        f"line {message.source.offset}: {outcome.reason}: {detail}", file=report
                    )
                    if dlq:
                        dlq.write(outcome.value + b"\n")
                else:
                    summary.enriched += 1
                    out.write(outcome.value + b"\n")
            bar.update(lines_read)
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(lines: Iterable[bytes], name: str, size: int) -> Iterator[tuple[list[Message], int]]:
    """Batches of messages, each with the number of lines (blank ones included) it covers."""
    batch: list[Message] = []
    lines_read = 0
    for number, line in enumerate(lines, start=1):
        lines_read += 1
        value = line.rstrip(b"\r\n")
        if not value.strip():
            continue  # blank lines are not records, but they keep their line number
        batch.append(Message(key=None, value=value, source=Source(name, 0, number)))
        if len(batch) >= size:
            yield batch, lines_read
            batch, lines_read = [], 0
    if batch or lines_read:
        yield batch, lines_read


# --- Checks -------------------------------------------------------------------------------


def _check_readable(path: Path) -> None:
    if path == STDIO:
        return
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"input file {path} does not exist: check the path") from None
    except OSError as exc:
        raise UserError(f"cannot read input file {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"input {path} is a folder: give a JSONL file (or - for stdin)")
    if not os.access(path, os.R_OK):
        raise UserError(f"cannot read input file {path}: permission denied")


def _check_writable(path: Path, flag: str) -> None:
    if path == STDIO:
        return
    target = _target(path)
    if target.is_dir():
        raise UserError(f"{flag} {path} is a folder: give a file name, e.g. {path / 'out.jsonl'}")
    if target.exists() and not target.is_file():  # a device or a FIFO, written in place
        if not os.access(target, os.W_OK):
            raise UserError(f"cannot write {flag} {path}: permission denied")
        return
    folder = target.parent
    if not folder.is_dir():
        raise UserError(
            f"{flag} {path}: folder {folder} does not exist: create it (mkdir -p {folder}) "
            "or choose another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {flag} {path}: folder {folder} is not writable")


def _identity(path: Path, stdio: TextIO) -> Hashable | None:
    """What `path` names, equal for two names of one file; None for one that cannot clash.

    A regular file is its inode (symlinks followed, hard links alike); a path that does not
    exist yet is its resolved name; `-` is `stdio`'s file when that is a regular file (a shell
    redirection), else the stream itself. Devices and FIFOs never clash.
    """
    if path == STDIO:
        try:
            info = os.fstat(stdio.fileno())
        except (OSError, ValueError, AttributeError):  # a stream without a file descriptor
            return stdio
        return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else stdio
    try:
        info = path.stat()
    except OSError:
        return os.path.realpath(path)
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _shown(path: Path, stream: str) -> str:
    return f"- ({stream})" if path == STDIO else str(path)


# --- Reading and writing ------------------------------------------------------------------


def _read(path: Path) -> contextlib.AbstractContextManager[BinaryIO]:
    if path == STDIO:
        return contextlib.nullcontext(sys.stdin.buffer)
    return path.open("rb")


def _count_lines(path: Path) -> int | None:
    """Lines in a regular file (a last line without a newline counts); None for a stream."""
    if path == STDIO or not path.is_file():
        return None
    count, last = 0, b"\n"
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _target(path: Path) -> Path:
    """The file that writing `path` must change: a symlink's target, not the link."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def _replaced_at_end(path: Path | None) -> Iterator[BinaryIO | None]:
    """A file for `path` whose content replaces `path` only when the block completes."""
    if path is None:
        yield None
        return
    if path == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = _target(path)
    if target.exists() and not target.is_file():  # a device or a FIFO: nothing to replace
        with target.open("wb") as out:
            yield out
        return
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _mode_for(target))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _mode_for(target: Path) -> int:
    """The permissions the written file gets: the replaced file's, else what umask allows."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
