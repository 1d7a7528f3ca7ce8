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
    for entry in dist.files or ():
        parts = entry.parts
        if parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
            continue  # console scripts (bin/ lies outside site-packages) and metadata stay
        path = os.path.join(site, *parts)
        if os.path.isfile(path) or os.path.islink(path):
            os.unlink(path)
        if len(parts) > 1:
            dirs.add(os.path.join(site, parts[0]))
    for folder in dirs:
        shutil.rmtree(folder, ignore_errors=True)  # left-over __pycache__ and empty folders
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
