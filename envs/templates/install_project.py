"""Installs the project's own wheel into the environment's venv, then removes its modules.

Run at image build (and by the local backend) with the venv's interpreter. What stays is what
an installed project offers besides its code: metadata (``importlib.metadata.version``), console
scripts, entry points (pytest plugins among them). The code itself comes from the working copy,
which PYTHONPATH puts first: every run resets and patches that one, never a copy here.
Standard library and pip only.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys


def main(wheel: str) -> int:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                           "--no-deps", "--disable-pip-version-check", wheel])
    if done.returncode != 0:
        return done.returncode
    name = os.path.basename(wheel).split("-", 1)[0]
    dist = importlib.metadata.distribution(name)
    site = str(dist.locate_file(""))
    dirs = set()
    dist_info = ""
    for entry in dist.files or ():
        parts = entry.parts
        if parts[0].endswith(".dist-info"):
            dist_info = os.path.join(site, parts[0])
        if parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
            continue  # console scripts (bin/ lies outside site-packages) and metadata stay
        path = os.path.join(site, *parts)
        if os.path.isfile(path) or os.path.islink(path):
            os.unlink(path)
        if len(parts) > 1:
            dirs.add(os.path.join(site, parts[0]))
    for folder in dirs:
        shutil.rmtree(folder, ignore_errors=True)  # left-over __pycache__ and empty folders
    if dist_info:
        forget_origin(dist_info)
    return 0


def forget_origin(dist_info: str) -> None:
    """pip records where the wheel lay (direct_url.json: a path of the build's cache): the same
    project built twice must give the same environment, so that record goes."""
    origin = os.path.join(dist_info, "direct_url.json")
    if not os.path.exists(origin):
        return
    os.unlink(origin)
    record = os.path.join(dist_info, "RECORD")
    with open(record, encoding="utf-8") as fh:
        lines = [line for line in fh if not line.split(",", 1)[0].endswith("direct_url.json")]
    with open(record, "w", encoding="utf-8") as fh:
        fh.writelines(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
