"""An offline base image: debootstrap a minimal Debian with Python, then `docker import` it.

No registry is reachable from these machines, so nothing can be pulled; the image is built from
the Debian mirror the host's apt already uses and cached under a tag derived from its recipe, so
every later build on the machine reuses it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker
import docker.errors

from synth import proc
from synth.envs.apt_mirror import machine_mirror
from synth.records import content_hash

SUITE = "bookworm"
# The environment's Python → the Debian release whose python3 it is (built the same way).
SUITES = {"3.11": "bookworm", "3.13": "trixie"}
PACKAGES = ("python3", "python3-venv", "git", "ca-certificates", "tzdata", "locales")
# Debian splits parts of the standard library into packages of their own; a project's tests
# expect the whole of it (six's suite imports tkinter's modules and dbm.gnu, 16 of its tests
# skipped without them).
STDLIB = {
    "bookworm": ("python3-tk", "python3-gdbm", "python3-lib2to3", "python3-distutils"),
    "trixie": ("python3-tk", "python3-gdbm"),
}
RECIPE_VERSION = 1
REPOSITORY = "synth-base"


def packages_for(suite: str) -> tuple[str, ...]:
    return (*PACKAGES, *STDLIB.get(suite, ()))


def base_image_tag(suite: str = SUITE, packages: tuple[str, ...] | None = None) -> str:
    """The tag names the recipe, not the mirror: the same recipe is the same base anywhere."""
    packages = packages_for(suite) if packages is None else packages
    return f"{REPOSITORY}:{suite}-{content_hash(suite, sorted(packages), RECIPE_VERSION)[:12]}"


def suite_for(python: str) -> str:
    try:
        return SUITES[python]
    except KeyError:
        raise ValueError(f"no offline base image has Python {python}; environments run "
                         f"{' or '.join(SUITES)} (or pass --base-image)") from None


def ensure_base_image(client: docker.DockerClient, *, work_dir: Path | None = None,
                      python: str = "3.11") -> str:
    """Return the base image tag, building it with debootstrap the first time (about a minute)."""
    suite = suite_for(python)
    tag = base_image_tag(suite)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    mirror = machine_mirror(suite)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="synth-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages_for(suite))}",
                suite,
                rootfs,
                mirror,
            ],
            timeout=1800,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*.deb"):
                item.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        proc.run(["tar", "--numeric-owner", "-C", rootfs, "-cf", tarball, "."], timeout=600)
        repository, _, version = tag.partition(":")
        client.api.import_image(src=str(tarball), repository=repository, tag=version)
    client.images.get(tag)
    return tag
