"""The benchmark's worker processes: starting them, watching them join, stopping them."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.net import free_port
from stream import kafka, worker_process
from stream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORKER = worker_process.WORKER_COMMAND
BASELINE = (WORKER[0], "-m", "devtools.bench.baseline")


@dataclass
class WorkerProcess:
    """A worker subprocess (restartable, on a new web port) and its log file."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0

    def start(self) -> WorkerProcess:
        env = {**self.env, "WEB_PORT": str(free_port())}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> str | None:
        """Why the worker is gone (exit code, error lines, end of its log), or None if alive."""
        assert self.proc is not None
        if self.proc.poll() is None:
            return None
        lines = self.log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if " ERROR " in line or "Error" in line][:10]
        return "\n".join(
            [f"worker {self.proc.pid} exited with {self.proc.returncode} (log {self.log})",
             *errors, "...", *lines[-10:]]
        )  # fmt: skip

    def check(self) -> None:
        """Raise if the worker has exited."""
        reason = self.exited()
        if reason:
            raise RuntimeError(reason)


def stop_workers(workers: list[WorkerProcess], timeout_s: float = 30) -> None:
    """SIGTERM all, wait, then SIGKILL what is left."""
    worker_process.stop([w.proc for w in workers if w.proc is not None], timeout_s)


async def wait_for_group(
    settings: Settings,
    workers: list[WorkerProcess],
    log: Callable[[str], None],
    timeout_s: float = 180,
) -> None:
    """Wait until the consumer group is stable with all workers (each has loaded the model).

    A worker that exits while starting is started again, twice at most: on a shared
    machine its web port can be taken between our check and its bind.
    """
    async with kafka.admin(settings) as admin:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for worker in workers:
                reason = worker.exited()
                if reason and worker.restarts < 2:
                    log(f"  ! {reason}\n  ! starting it again")
                    worker.restarts += 1
                    worker.start()
                elif reason:
                    raise RuntimeError(reason)
            with contextlib.suppress(Exception):  # the coordinator may not know the group yet
                (response,) = await admin.describe_consumer_groups([settings.app_id])
                _, _, state, _, _, group_members, *_ = response.groups[0]
                if state == "Stable" and len(group_members) == len(workers):
                    return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"group {settings.app_id} did not reach {len(workers)} members")
