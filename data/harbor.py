"""One task as a Harbor task folder: the layout TRL, SkyRL, NeMo Gym, `verifiers`' HarborEnv and
Harbor's own runner load. Pure: records and file contents in, ``{relative path: bytes}`` out.

```
instruction.md            the problem statement
task.toml                 timeouts and resources the task was verified with; [metadata]: its
                          provenance, cost and difficulty (data.task_metrics)
environment/Dockerfile    FROM the task's environment image: the bug applied, the repository's
environment/bug.patch     history replaced by one commit holding the buggy state (no fix in it)
tests/test.sh             Harbor's verifier entry: runs grade.py, which restores the original
tests/grade.py            tests, runs exactly FAIL_TO_PASS + PASS_TO_PASS with the factory's
tests/runner.py           runner and report plugin, and writes /logs/verifier/reward.txt (1/0),
tests/synth_report.py     reward.json and verdicts.json
tests/task.json           the run: test lists, pytest command, paths, limits
tests/originals.tar.gz    the original test files, conftest.py files and pytest configuration
solution/solve.sh         the oracle: applies solution/fix.patch (the bug reversed)
solution/fix.patch
```

Every byte is a function of the store: TOML keys in a fixed order, the tarball with fixed
owners, times and order, so exporting twice writes the same files.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from synth.data.task_repo import TaskCommit
from synth.records import HARNESS_VERSION, Environment, Snapshot, Task

GRADER = "harbor_grade.py"  # in envs/templates; tests/grade.py in the folder
GRADER_NAME = "grade.py"
ORG = "synth"
AGENT_TIMEOUT_S = 1800.0  # the agent's time is the consumer's to choose; a generous default
VERIFIER_GRACE_S = 120.0  # restoring the tests and copying the tree, beside the run's own limit
BUILD_TIMEOUT_S = 600.0


def package_name(task: Task) -> str:
    """Harbor's ``org/name`` (letters, digits, ``._-``): the instance id, made to fit."""
    return f"{ORG}/" + re.sub(r"[^A-Za-z0-9._-]", "-", task.instance_id).lstrip(".-")


def instruction(task: Task) -> str:
    return (
        f"{task.problem_statement.rstrip()}\n\n"
        "---\n\n"
        f"The repository is checked out at `/testbed`. Change its code so that the behaviour "
        "described above is fixed. Do not change the tests: they are restored before grading, "
        "and the grade is whether the project's own tests pass.\n"
    )


def task_toml(task: Task, env: Environment, snapshot: Snapshot, metrics: Mapping[str, Any],
              *, timeout_s: float, memory_mb: int, cpus: float) -> str:
    tables: dict[str, dict[str, Any]] = {
        "task": {
            "name": package_name(task),
            "description": f"{task.repo}: a {task.strategy.value} bug ({task.operator}) whose "
                           f"{len(task.FAIL_TO_PASS)} failing test(s) the fix makes pass",
            "keywords": [task.repo, task.strategy.value, task.operator],
        },
        "metadata": {
            "instance_id": task.instance_id,
            "repo": task.repo,
            "repo_source": snapshot.repo.source,
            "clean_commit": task.base_commit,
            "env_id": task.env_id,
            "environment_image": env.image_name,
            "strategy": task.strategy.value,
            "operator": task.operator,
            "seed": task.seed,
            "harness_version": task.harness_version,
            "exported_by": f"synth {HARNESS_VERSION}",
            "created_at": task.created_at.isoformat(),
            "fail_to_pass": list(task.FAIL_TO_PASS),
            "pass_to_pass_count": len(task.PASS_TO_PASS),
            **{k: v for k, v in metrics.items()
               if k not in ("instance_id", "repo", "env_id", "strategy", "operator",
                            "created_at")},
        },
        "verifier": {"timeout_sec": float(timeout_s + VERIFIER_GRACE_S)},
        "agent": {"timeout_sec": AGENT_TIMEOUT_S},
        "environment": {
            "build_timeout_sec": BUILD_TIMEOUT_S,
            "cpus": cpus,
            "memory_mb": memory_mb,
            "network_mode": "no-network",
            "workdir": "/testbed",
        },
    }
    lines = ['schema_version = "1.4"', ""]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]
        lines.append("")
        if name == "metadata":
            # The verifier grades the agent's own working tree, so it must share the agent's
            # container: `harbor lint`'s shared-verifier rule does not apply.
            lines += ["[metadata.harbor.lint]", 'ignore = ["shared-verifier"]', ""]
    return "\n".join(lines)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    """A TOML value: strings and lists as JSON writes them (valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML has no {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def verifier_sh() -> str:
    return (
        "#!/bin/bash\n"
        "# Harbor's verifier: reward 1 when every FAIL_TO_PASS and PASS_TO_PASS test passes.\n"
        "mkdir -p /logs/verifier\n"
        "echo 0 > /logs/verifier/reward.txt  # what stays if anything below dies\n"
        f"exec /usr/bin/python3 /tests/{GRADER_NAME}\n"
    )


def solve_sh() -> str:
    return (
        "#!/bin/bash\n"
        "# The reference fix: the bug reversed.\n"
        "set -euo pipefail\n"
        "cd /testbed\n"
        "git apply --whitespace=nowarn /solution/fix.patch\n"
    )


def environment_dockerfile(task_dockerfile: str, source_root: str) -> str:
    """The per-task image (data.export.task_files) made an agent's home: the working copy on
    the import path, /testbed the working directory."""
    path = "/testbed" if source_root == "." else f"/testbed/{source_root}"
    return task_dockerfile + f"ENV PYTHONPATH={path}\n"


def originals_tar(root: Path, files: Iterable[str]) -> bytes:
    """A gzip'd tar of ``files`` (repo-relative) under ``root``: sorted, owner 0, time 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(set(files)):
            path = root / rel
            if path.is_symlink() or not path.is_file():
                continue
            info = tarfile.TarInfo(rel)
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def task_folder(task: Task, env: Environment, snapshot: Snapshot, commit: TaskCommit, *,
                task_dockerfile: str, job: dict[str, Any], programs: Mapping[str, str],
                originals: bytes, metrics: Mapping[str, Any], timeout_s: float,
                memory_mb: int, cpus: float, uid: int) -> dict[str, bytes]:
    """Every file of one Harbor task folder. ``job``: the factory's runner job for
    FAIL_TO_PASS + PASS_TO_PASS (its nonce and report path are made fresh at grading);
    ``programs``: runner.py, synth_report.py and the grader, by name."""
    run = {"instance_id": task.instance_id, "FAIL_TO_PASS": list(task.FAIL_TO_PASS),
           "PASS_TO_PASS": list(task.PASS_TO_PASS), "timeout_s": timeout_s, "uid": uid,
           "job": job}
    files = {
        "instruction.md": instruction(task),
        "task.toml": task_toml(task, env, snapshot, metrics, timeout_s=timeout_s,
                               memory_mb=memory_mb, cpus=cpus),
        "environment/Dockerfile": environment_dockerfile(task_dockerfile,
                                                         env.spec.source_root),
        "environment/bug.patch": task.patch,
        "tests/test.sh": verifier_sh(),
        f"tests/{GRADER_NAME}": programs[GRADER],
        "tests/runner.py": programs["runner.py"],
        "tests/synth_report.py": programs["synth_report.py"],
        "tests/task.json": json.dumps(run, indent=1, sort_keys=True) + "\n",
        "solution/solve.sh": solve_sh(),
        "solution/fix.patch": commit.fix_patch,
    }
    out = {path: text.encode("utf-8") for path, text in files.items()}
    out["tests/originals.tar.gz"] = originals
    return out


EXECUTABLE = ("tests/test.sh", "solution/solve.sh")
