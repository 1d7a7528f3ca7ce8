"""The agent's bounded shell (envs/templates/bounded_shell.py), run as the container runs it:
its own interpreter, ``-c`` and the program's text. Output capped, the process group killed at
the deadline, the command's exit code passed on."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from synth.envs.backend import template_dir

PROGRAM = (template_dir() / "bounded_shell.py").read_text(encoding="utf-8")


def shell(command: str, limit_s: float = 10.0, cap: int = 1000) -> dict:
    done = subprocess.run([sys.executable, "-c", PROGRAM, command, str(limit_s), str(cap)],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_commands_output_and_exit_code_come_back() -> None:
    assert shell("echo hello; echo oops >&2; exit 3") == {
        "exit_code": 3, "timed_out": False, "truncated": False, "output": "hello\noops\n"}


def test_output_past_the_cap_is_counted_not_kept() -> None:
    result = shell("head -c 5000 /dev/zero | tr '\\0' x", cap=100)
    assert result["output"] == "x" * 100 and result["truncated"] and result["exit_code"] == 0


def test_the_whole_process_group_dies_at_the_deadline(tmp_path) -> None:
    flag = tmp_path / "survived"
    start = time.monotonic()
    result = shell(f"(sleep 1; touch {flag}) & sleep 30", limit_s=0.3)
    assert result["timed_out"] and result["exit_code"] == 124
    assert time.monotonic() - start < 10
    time.sleep(1.5)
    assert not flag.exists()  # the background child went with the group
