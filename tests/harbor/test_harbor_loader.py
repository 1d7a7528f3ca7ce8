"""Harbor's own loader, linter and runner accept a minimal hand-made Harbor task folder, and
reject a broken one: the yardstick for `synth export --format harbor`.

The first run builds the synth-harbor image (about 100 MB of wheels from PyPI, Debian packages
from the apt mirror, a debootstrapped trixie base if missing); later runs reuse it by tag.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.network, pytest.mark.usefixtures("docker_engine")]

TASK_TOML = """\
schema_version = "1.4"

[metadata]
difficulty = "easy"
category = "synth"

[verifier]
timeout_sec = 120.0

[agent]
timeout_sec = 120.0

[environment]
build_timeout_sec = 300.0
cpus = 1
memory_mb = 1024
"""
SOLVE = "#!/bin/bash\nset -e\ntouch /app/solved\n"
# The reward is 1 exactly when the file solve.sh creates exists.
TEST = """\
#!/bin/bash
if [ -f /app/solved ]; then echo 1 > /logs/verifier/reward.txt
else echo 0 > /logs/verifier/reward.txt; fi
"""


def write_task(task_dir: Path, base_image: str) -> Path:
    """The smallest task folder harbor runs: FROM a local image (no registry is reachable)."""
    for sub in ("environment", "solution", "tests"):
        (task_dir / sub).mkdir(parents=True)
    (task_dir / "instruction.md").write_text("Create the file /app/solved.\n")
    (task_dir / "task.toml").write_text(TASK_TOML)
    (task_dir / "environment" / "Dockerfile").write_text(f"FROM {base_image}\nWORKDIR /app\n")
    for path, text in ((task_dir / "solution" / "solve.sh", SOLVE),
                       (task_dir / "tests" / "test.sh", TEST)):
        path.write_text(text)
        path.chmod(0o755)
    return task_dir


@pytest.fixture(scope="module")
def harbor(cache_dir: Path):
    from tests.harbor import harbor_image

    harbor_image.ensure_image(cache_dir)
    return harbor_image


@pytest.fixture
def base_image(harbor) -> str:
    from synth.envs.base_image import base_image_tag, suite_for

    return base_image_tag(suite_for(harbor.PYTHON))  # built by ensure_image


def test_harbor_loads_a_minimal_task_and_rejects_one_without_instruction(
    harbor, base_image: str, tmp_path: Path
) -> None:
    good = write_task(tmp_path / "good", base_image)
    broken = tmp_path / "no-instruction"
    shutil.copytree(good, broken)
    (broken / "instruction.md").unlink()

    by_dir = {r["dir"]: r for r in harbor.load_tasks(tmp_path)}

    ok = by_dir["good"]
    assert ok["harbor"] == harbor.HARBOR_VERSION
    assert ok["loaded"] and ok["is_valid_dir"] and ok["error"] is None, ok
    assert ok["name"] == "good"  # no [task] table: harbor names the task after its folder
    assert ok["instruction_chars"] == len("Create the file /app/solved.\n")
    assert ok["metadata"] == {"difficulty": "easy", "category": "synth"}
    assert (ok["agent"]["timeout_sec"], ok["verifier"]["timeout_sec"]) == (120.0, 120.0)
    assert ok["environment"]["cpus"] == 1 and ok["environment"]["memory_mb"] == 1024
    assert (ok["solve_script"], ok["test_script"]) == ("solution/solve.sh", "tests/test.sh")
    # What `harbor lint` itself reports on it: only that the verifier shares the agent's
    # container, which a task that grades the agent's working tree needs.
    assert [f["rule"] for f in ok["lint"] if f["default"]] == ["shared-verifier"]

    bad = by_dir["no-instruction"]
    assert not bad["loaded"] and not bad["is_valid_dir"]
    assert "missing instruction.md" in bad["error"]
    assert any(f["rule"] == "invalid-task-files" and f["path"] == "instruction.md"
               for f in bad["lint"])


def test_harbor_rejects_a_malformed_task_toml(harbor, base_image: str, tmp_path: Path) -> None:
    task = write_task(tmp_path / "bad-toml", base_image)
    (task / "task.toml").write_text('[task]\nname = "no-org"\n[environment]\nmemroy_mb = 5\n')

    (record,) = harbor.load_tasks(tmp_path)

    assert not record["loaded"] and "org/name" in record["error"]
    rules = {f["rule"] for f in record["lint"]}
    assert {"invalid-task-config", "unknown-config-field"} <= rules


def test_harbor_runner_scores_oracle_one_and_nop_zero(
    harbor, base_image: str, tmp_path: Path
) -> None:
    task = write_task(tmp_path / "tasks" / "solve-me", base_image)

    assert harbor.run_agent(task, "oracle", work=tmp_path / "work") == 1.0
    assert harbor.run_agent(task, "nop", work=tmp_path / "work") == 0.0
