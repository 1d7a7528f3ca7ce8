"""`synth export --format harbor` of a real sample corpus, put through Harbor's quality gate the
way Harbor runs a trial (envs.harbor_check): every task's oracle scores 1 and its no-op 0; an
agent that rewrites the tests or plants a conftest.py scores 0; exporting twice writes the same
bytes; task.toml carries the accounting."""

from __future__ import annotations

import io
import tarfile
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.envs.docker_backend import ping
from synth.envs.harbor_check import build, check_folder, trial

pytestmark = [
    pytest.mark.usefixtures("ray_session"),
    pytest.mark.skipif(not ping()[0], reason="Harbor's environments are Docker images: no engine"),
]
runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(docker_corpus: Path) -> Path:
    """The session's Docker corpus itself: an export only reads the store."""
    return docker_corpus


def _export(corpus: Path, cache_dir: Path, out: Path) -> Path:
    result = runner.invoke(app, ["export", "--format", "harbor", "--out", str(out), "--db",
                                 str(corpus), "--cache-dir", str(cache_dir)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def exported(corpus: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(corpus, cache_dir, tmp_path_factory.mktemp("harbor-out") / "tasks-a")


def _tasks(export: Path) -> list[Path]:
    return sorted((export / "tasks").iterdir())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_exporting_twice_writes_the_same_bytes(corpus: Path, cache_dir: Path, exported: Path,
                                               tmp_path: Path) -> None:
    again = _export(corpus, cache_dir, tmp_path / "tasks-b")
    first, second = _files(exported), _files(again)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_every_task_folder_has_harbors_layout_and_its_accounting(exported: Path) -> None:
    for task in _tasks(exported):
        for rel in ("instruction.md", "environment/Dockerfile", "tests/test.sh",
                    "solution/solve.sh"):
            assert (task / rel).is_file(), rel
        config = tomllib.loads((task / "task.toml").read_text())
        meta = config["metadata"]
        assert meta["instance_id"] == task.name and config["task"]["name"].startswith("synth/")
        assert meta["cpu_s"] > 0 and meta["own_cpu_s"] > 0 and meta["runs"] >= 5
        assert meta["f2p_tests"] == len(meta["fail_to_pass"]) and meta["steady"] is True
        assert config["environment"]["network_mode"] == "no-network"
        assert config["verifier"]["timeout_sec"] > 0


def test_every_exported_task_scores_1_with_its_oracle_and_0_with_no_op(exported: Path) -> None:
    checks = [check_folder(task) for task in _tasks(exported)]
    assert len(checks) >= 2
    assert [(c.task, c.oracle.reward, c.nop.reward) for c in checks if not c.ok] == []


@pytest.fixture(scope="module")
def harbor(cache_dir: Path):
    """Harbor's own code (PyPI ``harbor``, Python 3.13) in its image: tests/harbor."""
    from tests.harbor import harbor_image

    harbor_image.ensure_image(cache_dir)
    return harbor_image


def test_harbors_own_loader_and_linter_accept_every_exported_task(harbor, exported: Path) -> None:
    records = harbor.load_tasks(exported / "tasks")
    assert sorted(r["dir"] for r in records) == [t.name for t in _tasks(exported)]
    for record in records:
        assert record["loaded"] and record["is_valid_dir"] and record["error"] is None, record
        assert record["name"] == f"synth/{record['dir']}"
        assert (record["solve_script"], record["test_script"]) == \
            ("solution/solve.sh", "tests/test.sh")
        assert record["metadata"]["instance_id"] == record["dir"]
        assert record["environment"]["network_mode"] == "no-network"
        assert [f for f in record["lint"] if f["default"]] == [], record["lint"]


def test_harbors_own_runner_scores_the_oracle_1_and_no_op_0(harbor, exported: Path,
                                                            tmp_path: Path) -> None:
    """harbor's local docker environment cannot enforce ``no-network`` without images from a
    registry (harbor/environments/base.py), so the trial runs on a copy that leaves the network
    setting at harbor's default; the task's own container needs none."""
    for task in _tasks(exported)[:2]:
        copy = tmp_path / "tasks" / task.name
        for rel, data in _files(task).items():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_bytes(data)
            (copy / rel).chmod((task / rel).stat().st_mode)
        toml = copy / "task.toml"
        toml.write_text(toml.read_text().replace('network_mode = "no-network"\n', ""))
        assert harbor.run_agent(copy, "oracle", work=tmp_path / "work") == 1.0
        assert harbor.run_agent(copy, "nop", work=tmp_path / "work") == 0.0


def _first_failing_test(task: Path) -> tuple[str, str]:
    meta = tomllib.loads((task / "task.toml").read_text())["metadata"]
    path, _, name = meta["fail_to_pass"][0].partition("::")
    return path, name.split("[")[0]


def test_an_agent_that_rewrites_the_failing_test_scores_0(exported: Path, tmp_path: Path) -> None:
    """The verifier restores the original tests. Without the originals (an empty tarball: the
    unprotected verifier) the same agent scores 1, so the check can fail."""
    import docker

    task = _tasks(exported)[0]
    path, name = _first_failing_test(task)
    # Every test of the module becomes `pass`: the failing ones too.
    script = (f"python3 - <<'EOF'\nimport re\np = {path!r}\nsrc = open(p).read()\n"
              "src = re.sub(r'(def test_\\w+\\(.*?\\):\\n)', r'\\1    return\\n', src)\n"
              "open(p, 'w').write(src)\nEOF\n")
    unprotected = tmp_path / task.name
    for rel, data in _files(task).items():
        (unprotected / rel).parent.mkdir(parents=True, exist_ok=True)
        (unprotected / rel).write_bytes(data)
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz"):
        pass
    (unprotected / "tests" / "originals.tar.gz").write_bytes(empty.getvalue())
    client = docker.from_env(timeout=600)
    try:
        tag = build(client, task)
        attack = trial(client, task, tag, "rewrite-tests", script)
        unguarded = trial(client, unprotected, tag, "rewrite-tests", script)
        client.images.remove(tag, force=True)
    finally:
        client.close()
    assert unguarded.reward == 1, unguarded.log  # the attack is real
    assert attack.reward == 0, attack.log


def test_an_agent_that_plants_a_conftest_scores_0(exported: Path) -> None:
    import docker

    task = _tasks(exported)[0]
    plant = ("cat > conftest.py <<'EOF'\nimport pytest\n\n\n"
             "@pytest.hookimpl(hookwrapper=True)\n"
             "def pytest_runtest_makereport(item, call):\n"
             "    outcome = yield\n"
             "    report = outcome.get_result()\n"
             "    report.outcome = 'passed'\nEOF\n"
             "cp conftest.py tests/conftest_extra.py; mkdir -p tests/sub\n"
             "cp conftest.py tests/sub/conftest.py\n")
    client = docker.from_env(timeout=600)
    try:
        tag = build(client, task)
        planted = trial(client, task, tag, "conftest", plant)
        client.images.remove(tag, force=True)
    finally:
        client.close()
    assert planted.reward == 0, planted.log
