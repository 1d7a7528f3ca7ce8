"""Seals a container to one task: copies the pristine tree (the clean commit, which only root and
the factory's own runs can read) into /stage with the task's buggy state applied, and nothing of
the clean commit's git history. Standard library only; run once per container, as root.

Reads one JSON job from stdin: ``pristine``, ``stage``, ``patch`` (the task's bug, and a canary's
when scoring one) and ``git`` (give the stage a one-commit repository whose HEAD is the buggy
state, for an agent's workspace). Every later run of the container resets its working copy from
the stage, as the test user, who cannot read the pristine tree: the code under test and an agent
see the task's buggy state and nothing that holds the fix.

Exit 97: the patch did not apply (its message on stdout).
"""

import json
import os
import subprocess
import sys

from runner import PATCH_FAILED, clear, reset  # beside this file in /opt/synth

# A fixed identity and date: the same buggy state is the same commit, run after run.
IDENTITY = {"GIT_AUTHOR_NAME": "synth", "GIT_AUTHOR_EMAIL": "synth@localhost",
            "GIT_COMMITTER_NAME": "synth", "GIT_COMMITTER_EMAIL": "synth@localhost",
            "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
            "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/tmp"}


def git(stage: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", "core.logAllRefUpdates=false", *args], cwd=stage,
                          env={**os.environ, **IDENTITY}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def main() -> int:
    job = json.load(sys.stdin)
    pristine, stage = job["pristine"], job["stage"]
    reset(pristine, stage, skip=(".git",))  # the clean commit's history stays behind
    if job.get("patch"):
        patch_file = os.path.join("/tmp", "synth-stage.patch")
        with open(patch_file, "w", encoding="utf-8") as fh:
            fh.write(job["patch"])
        applied = git(stage, "apply", "--whitespace=nowarn", patch_file)
        os.unlink(patch_file)
        if applied.returncode != 0:
            sys.stdout.write(applied.stdout.decode("utf-8", "replace"))
            clear(stage)
            return PATCH_FAILED
    if job.get("git"):
        for args in (("init", "-q", "-b", "main"), ("add", "-A", "-f"),
                     ("commit", "-q", "--no-verify", "-m", "The task's starting state")):
            done = git(stage, *args)
            if done.returncode != 0:
                sys.stdout.write(done.stdout.decode("utf-8", "replace"))
                clear(stage)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
