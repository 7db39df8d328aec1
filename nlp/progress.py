"""Where training progress goes: the training code calls one `Reporter` and never prints.

`ConsoleReporter` draws tqdm bars and writes one line per event on stderr (what
`feedback train` shows); `SilentReporter` drops everything (services, tests). A caller
with other needs (a log, a dashboard) passes its own object with the same two methods.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Protocol, TextIO

Advance = Callable[[int], object]


class Reporter(Protocol):
    def progress(self, total: int, desc: str) -> contextlib.AbstractContextManager[Advance]:
        """A unit of work of `total` examples; the block advances it by calling `advance(n)`."""
        ...

    def line(self, message: str) -> None:
        """One line about the run (an epoch's losses, a summary)."""
        ...


class ConsoleReporter:
    """tqdm bars and lines on a terminal stream (default: stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    @contextlib.contextmanager
    def progress(self, total: int, desc: str) -> Iterator[Advance]:
        from tqdm import tqdm

        with tqdm(
            total=total,
            desc=desc,
            unit="ex",
            leave=False,
            mininterval=1.0,
            file=self.stream,
            dynamic_ncols=True,
        ) as bar:
            yield bar.update

    def line(self, message: str) -> None:
        print(message, file=self.stream, flush=True)


class SilentReporter:
    """Reports nothing."""

    @contextlib.contextmanager
    def progress(self, total: int, desc: str) -> Iterator[Advance]:
        yield lambda n: None

    def line(self, message: str) -> None:
        pass


def as_reporter(progress: bool | Reporter) -> Reporter:
    """`True`: a `ConsoleReporter`; `False`: a `SilentReporter`; a reporter: itself."""
    if progress is True:
        return ConsoleReporter()
    if progress is False:
        return SilentReporter()
    return progress
