"""Runs inside the synth-harbor image (Python 3.13, harbor 0.26.0): load every task folder under
ROOT with harbor's own code and print one JSON line per folder with what harbor read.

    python load_tasks.py ROOT

Three of harbor's checks, each reported on its own, because they disagree on purpose:
``Task(dir)`` is what a trial constructs (it raises on a broken folder), ``Task.is_valid_dir`` is
what dataset discovery uses to skip folders silently, and ``harbor.lint.lint_task`` is what
``harbor lint`` reports (the rules selected as the CLI selects them: defaults, then the task's own
``[metadata.harbor.lint]``). The host never imports harbor; it only reads these lines.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def main(root: Path) -> int:
    from importlib.metadata import version

    harbor = version("harbor")
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        print(json.dumps({"schema_version": SCHEMA_VERSION, "harbor": harbor,
                          **read_task(task_dir)}), flush=True)
    return 0


def read_task(task_dir: Path) -> dict[str, Any]:
    from harbor.models.task.task import Task

    out: dict[str, Any] = {"dir": task_dir.name, "loaded": False, "error": None,
                           "deprecations": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        try:
            task = Task(task_dir)
        except Exception as exc:  # any failure is harbor's verdict on the folder: report it
            out["error"] = f"{type(exc).__name__}: {exc}"
        else:
            out.update(loaded=True, **describe(task))
    out["deprecations"] = sorted({str(w.message) for w in caught
                                  if issubclass(w.category, DeprecationWarning)})
    out["is_valid_dir"] = Task.is_valid_dir(task_dir)
    out["lint"] = lint(task_dir)
    return out


def describe(task: Any) -> dict[str, Any]:
    config, paths = task.config, task.paths
    env = config.environment

    def rel(path: Path | None) -> str | None:
        return None if path is None else path.relative_to(paths.task_dir).as_posix()

    return {
        "name": task.name,
        "instruction_chars": len(task.instruction),
        "config_schema_version": config.schema_version,
        "package": None if config.task is None else config.task.model_dump(mode="json"),
        "metadata": config.metadata,
        "source": config.source,
        "agent": {"timeout_sec": config.agent.timeout_sec, "user": config.agent.user},
        "verifier": {
            "timeout_sec": config.verifier.timeout_sec,
            "user": config.verifier.user,
            "environment_mode": (config.verifier.environment_mode.value
                                 if config.verifier.environment_mode else None),
            "env": config.verifier.env,
        },
        "environment": {
            "build_timeout_sec": env.build_timeout_sec,
            "docker_image": env.docker_image,
            "os": env.os.value,
            "cpus": env.cpus,
            "memory_mb": env.memory_mb,
            "storage_mb": env.storage_mb,
            "gpus": env.gpus,
            "network_mode": env.network_mode.value,
            "workdir": env.workdir,
            "env": env.env,
        },
        "has_dockerfile": (paths.environment_dir / "Dockerfile").is_file(),
        "solve_script": rel(paths.discovered_solve_path_for(env.os)),
        "test_script": rel(paths.discovered_test_path_for(env.os)),
    }


def lint(task_dir: Path) -> list[dict[str, Any]]:
    """Every rule's findings; ``default`` marks those `harbor lint TASK_DIR` itself reports."""
    from harbor.cli.lint import _selected_rules
    from harbor.lint import lint_task
    from harbor.lint.models import LintConfig

    try:
        selected = _selected_rules(task_dir.resolve(), LintConfig())
    except Exception as exc:  # a bad [metadata.harbor.lint] table: the CLI stops there too
        return [{"rule": "lint-config", "default": True, "path": "task.toml",
                 "line": None, "message": f"{type(exc).__name__}: {exc}"}]
    root = task_dir.resolve()
    return [
        {
            "rule": str(f.rule),
            "default": f.rule in selected,
            "path": (Path(f.path).relative_to(root).as_posix()
                     if Path(f.path).is_relative_to(root) else f.path),
            "line": f.line,
            "message": f.message,
        }
        for f in lint_task(root)
    ]


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
