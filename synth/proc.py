"""Child processes the one way the project allows: argument lists, own process group, group kill.

Everything that runs a host program (git, pip, debootstrap, tar, pytest in the local backend)
goes through :func:`run`, so a timeout never leaves grandchildren behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessError(RuntimeError):
    """A child process failed; the message carries the command and the tail of its output."""


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    # CPU seconds of the children this process reaped meanwhile: the child and what it waited
    # for. Exact for one child at a time; a thread running another child at once adds its share.
    cpu_s: float = 0.0


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    stdout_path: Path | None = None,
    stdin_path: Path | None = None,
    preexec: Callable[[], None] | None = None,
) -> Completed:
    """Run ``args`` in a new session (its own process group); on timeout kill the whole group."""
    import resource
    import time

    argv = [os.fspath(a) for a in args]
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out_handle = open(stdout_path, "wb") if stdout_path else None
    in_handle = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=in_handle,
            env=dict(env) if env is not None else None,
            stdout=out_handle if out_handle else subprocess.PIPE,
            stderr=subprocess.STDOUT if out_handle else subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, err = proc.communicate()
        # Whatever the child left running in its group (daemons, sleepers) goes with it.
        _kill_group(proc.pid)
    finally:
        if out_handle:
            out_handle.close()
        if stdin_path:
            in_handle.close()
    done = Completed(
        args=tuple(argv),
        returncode=proc.returncode,
        stdout=(out or b"").decode("utf-8", "replace"),
        stderr=(err or b"").decode("utf-8", "replace"),
        timed_out=timed_out,
        duration_s=time.monotonic() - start,
        cpu_s=_cpu_since(before),
    )
    if check and (timed_out or proc.returncode != 0):
        what = "timed out" if timed_out else f"exited with {proc.returncode}"
        tail = (done.stderr or done.stdout)[-2000:]
        raise ProcessError(f"`{' '.join(argv[:6])}` {what}:\n{tail}")
    return done


def _cpu_since(before) -> float:
    import resource

    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(0.0, (now.ru_utime + now.ru_stime) - (before.ru_utime + before.ru_stime))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
