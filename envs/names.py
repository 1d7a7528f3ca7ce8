"""Every Docker image name the factory gives, derived in one place (SWE-bench's TestSpec keeps
its image keys the same way): the environment of a repo@commit, its from-scratch rebuild for
the audit, its registry copy, an exported task's image and a Harbor task folder's check image.

Pure string rules, no Docker: the backends, the exports and the audit import them, and a name
read back (``repo_of``) is parsed by the same rule that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENV_REPOSITORY = "synth-env"
TASK_REPOSITORY = "synth-task"
HARBOR_REPOSITORY = "synth-harbor-task"
REBUILD_SUFFIX = "-rebuild"  # an audit's rebuild: never the image the tasks were verified in
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
TAG_MAX = 128  # Docker's limit on a tag


@dataclass(frozen=True)
class ImageNames:
    """The names of one repo@commit's images."""

    repo: str
    commit: str

    @property
    def env(self) -> str:
        """The environment image every task of this repo@commit runs in."""
        return f"{ENV_REPOSITORY}/{self.repo}:{self.commit[:12]}"

    @property
    def rebuild(self) -> str:
        return self.env + REBUILD_SUFFIX

    def remote(self, registry: str, key: str) -> str:
        """The registry copy (``--registry HOST[:PORT]/PREFIX``), tagged by the environment key
        so that a node finds it before resolving any wheel."""
        return f"{registry}/{self.repo}:{key[:16]}"

    def task(self, instance_id: str) -> str:
        """An exported task's image (SWE-bench's per-instance image)."""
        return f"{TASK_REPOSITORY}/{self.repo}:{tag(instance_id)}"


def tag(text: str, limit: int = TAG_MAX) -> str:
    """``text`` as a Docker tag: unsafe characters become ``-``, cut at ``limit``."""
    return _TAG_UNSAFE.sub("-", text)[:limit]


def harbor_image(folder_name: str) -> str:
    """The image `synth harbor-check` builds for one task folder."""
    return f"{HARBOR_REPOSITORY}:{tag(folder_name, 120)}"


def repo_of(env_image: str) -> str:
    """The repository name inside an environment image name (``synth-env/REPO:COMMIT``)."""
    return env_image.rsplit(":", 1)[0].split("/", 1)[1]
