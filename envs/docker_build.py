"""Building an environment's image: the Dockerfile (rendered from envs/templates/Dockerfile.j2),
its build context (locked wheels, the repository, its own wheel, the harness programs) and the
offline build. The image carries the labels the registry and the audit read back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import docker
import docker.errors
from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader, StrictUndefined

from synth.envs.backend import (
    PROGRAMS,
    BackendConfig,
    helper_sources,
    plugin_source,
    project_build,
    template_dir,
)
from synth.envs.docker_registry import environment_labels
from synth.envs.docker_session import KEY_GID, KEY_GROUP, PRISTINE, UID, USER, WORK
from synth.envs.project_build import project_context, project_files
from synth.records import HARNESS_VERSION, BackendKind, EnvSpec, Requirement, Snapshot


class DockerBuildFailed(RuntimeError):
    pass


def render_dockerfile(*, base_image: str, snapshot: Snapshot, spec: EnvSpec, env_id: str,
                      project_wheel: str = "", generated: bool = False) -> str:
    jinja = Jinja(
        loader=FileSystemLoader(template_dir()),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    root = WORK if spec.source_root == "." else f"{WORK}/{spec.source_root}"
    return jinja.get_template("Dockerfile.j2").render(
        base_image=base_image, repo_name=snapshot.repo.name, commit=snapshot.commit,
        harness_version=HARNESS_VERSION, user=USER, uid=UID, key_group=KEY_GROUP,
        key_gid=KEY_GID, pristine=PRISTINE, work=WORK,
        python_path=f"{root}:/opt/synth", env_id=env_id, project_wheel=project_wheel,
        generated=generated,
    )


def existing_image(client: docker.DockerClient, name: str, env_id: str):
    """The image of that name, when it is that environment's build; else None."""
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get("synth.env_id") == env_id else None

def build_image(client: docker.DockerClient, config: BackendConfig, name: str, base: str,
                snapshot: Snapshot, spec: EnvSpec, env_id: str, wheels: Path,
                lock: tuple[Requirement, ...]):
    """Build the environment image ``name``: the locked wheels, the repository, its own
    wheel where it has a build backend, the harness programs, on ``base``; no network."""
    with tempfile.TemporaryDirectory(dir=config.cache_dir, prefix=".ctx-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(wheels, ctx / "wheels")
        shutil.copytree(snapshot.path, ctx / "repo", symlinks=True)
        project = project_build(snapshot, spec, config.cache_dir)
        for rel, data in project_files(project, lock, spec.python).items():
            (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
            (ctx / rel).write_bytes(data)
        for program in PROGRAMS:
            shutil.copy(template_dir() / program, ctx / program)
        shutil.copy(plugin_source(), ctx / "synth_report.py")
        for helper, source in helper_sources().items():
            shutil.copy(source, ctx / helper)
        (ctx / "Dockerfile").write_text(
            render_dockerfile(base_image=base, snapshot=snapshot, spec=spec, env_id=env_id,
                              **project_context(project, lock, spec.python))
        )
        try:
            image, _ = client.images.build(
                path=str(ctx), tag=name, rm=True, forcerm=True, pull=False,
                nocache=config.rebuild, network_mode="none",
                labels=environment_labels(BackendKind.DOCKER, snapshot, spec, base, lock),
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
            raise DockerBuildFailed(f"building {name} failed:\n{log[-3000:]}") from exc
    return image
