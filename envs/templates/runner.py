"""Runs one test-suite execution inside an environment. Standard library only: it runs under the
environment's system Python (Docker) or the host's (local backend), never the project's venv.

Reads one JSON job from stdin: reset the working copy from the pristine one (byte for byte), apply
the patch, run the given pytest command with stdout/stderr to a log, exit with pytest's code.
Exit 97 means the patch did not apply: the run is void, not a test failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

PATCH_FAILED = 97


def clear(work: str) -> None:
    """Empty ``work``, entry by entry: it is a mount point the test user does not own."""
    for name in os.listdir(work):
        path = os.path.join(work, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def reset(pristine: str, work: str, skip: tuple = ()) -> None:
    """``work`` made a byte-for-byte copy of ``pristine`` (less the top-level names in ``skip``)."""
    clear(work)
    for name in os.listdir(pristine):
        if name in skip:
            continue
        src, dst = os.path.join(pristine, name), os.path.join(work, name)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)


def main() -> int:
    job = json.load(sys.stdin)
    work = job["work"]
    reset(job["pristine"], work)
    scratch = tempfile.mkdtemp(prefix="synth-job-")
    if job.get("patch"):
        patch_file = os.path.join(scratch, "task.patch")
        with open(patch_file, "w", encoding="utf-8") as fh:
            fh.write(job["patch"])
        applied = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", patch_file], cwd=work,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        if applied.returncode != 0:
            with open(job["log"], "wb") as log:
                log.write(applied.stdout)
            return PATCH_FAILED
    env = dict(os.environ)
    env.update(job.get("env", {}))
    if job.get("secret"):
        secret_file = os.path.join(scratch, "secret.json")
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(job["secret"], fh)
        env["SYNTH_SECRET"] = secret_file
    if job.get("select") is not None:
        select_file = os.path.join(scratch, "select.txt")
        with open(select_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(job["select"]) + "\n")
        env["SYNTH_SELECT"] = select_file
    with open(job["log"], "wb") as log:
        done = subprocess.run(job["argv"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    shutil.rmtree(scratch, ignore_errors=True)
    return done.returncode if done.returncode >= 0 else 128 - done.returncode


if __name__ == "__main__":
    sys.exit(main())
