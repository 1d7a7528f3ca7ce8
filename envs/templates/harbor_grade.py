"""The verifier of an exported Harbor task: `tests/test.sh` runs it as root in the task's container
after the agent is done. Standard library only (the image's system Python).

1. Put the original tests back: every file of ``originals.tar.gz`` (test files, conftest.py files
   and the pytest configuration, as the task was verified with them), and take away what an
   agent could add to steer pytest or the interpreter (new conftest.py, sitecustomize, .pth files,
   bytecode).
2. Run exactly FAIL_TO_PASS + PASS_TO_PASS with the factory's runner and report plugin, both
   from /tests (uploaded now, so the agent never saw or changed them), as the test user, in a
   fresh copy of the working tree.
3. Write /logs/verifier/reward.txt (1 when every one of them passed, else 0), reward.json (the
   reward and the share of each list that passed: Harbor reads every key as a number) and
   verdicts.json (each test's status).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
LOGS = "/logs/verifier"
STEERING = ("conftest.py", "sitecustomize.py", "usercustomize.py")


def restore(testbed: str, originals: str) -> None:
    with tarfile.open(originals, "r:gz") as tar:
        members = tar.getmembers()
        names = {m.name for m in members}
        for member in members:
            path = os.path.join(testbed, member.name)
            if os.path.lexists(path) and (os.path.islink(path) or os.path.isdir(path)):
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) \
                    else os.unlink(path)
        try:
            tar.extractall(testbed, members=members, filter="data")
        except TypeError:  # a Python before tarfile's filters (bookworm's 3.11.2)
            tar.extractall(testbed, members=members)  # our own tarball: regular files only
    for root, dirs, files in os.walk(testbed):
        if ".git" in dirs:
            dirs.remove(".git")
        for name in list(dirs):
            if name == "__pycache__":
                shutil.rmtree(os.path.join(root, name))
                dirs.remove(name)
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), testbed)
            steering = name in STEERING or name.endswith((".pyc", ".pth"))
            if steering and rel not in names:
                os.unlink(os.path.join(root, name))


def run(task: dict, testbed: str) -> dict:
    """The selected tests' statuses, read from the plugin's report (nonce checked)."""
    job = task["job"]
    nonce = secrets.token_hex(16)
    out = "/tmp/synth-out"
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out, mode=0o1733)
    os.chmod(out, 0o1733)
    work = job["work"]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    uid = task["uid"]
    os.chown(work, uid, uid)
    for path in (HERE, testbed):
        subprocess.run(["chmod", "-R", "a+rX", path], check=False)
    job = {**job, "pristine": testbed, "secret": {"report": f"{out}/{nonce}.json", "nonce": nonce}}

    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    done = subprocess.run([sys.executable, os.path.join(HERE, "runner.py")],
                          input=json.dumps(job).encode(), preexec_fn=drop,
                          timeout=task["timeout_s"], check=False)
    try:
        with open(job["secret"]["report"], encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        return {"error": f"no report (exit {done.returncode}); see {job['log']}"}
    if report.get("nonce") != nonce:
        return {"error": "the report does not carry this run's nonce"}
    return {r["test_id"]: r["status"] for r in report.get("results", ())}


def main() -> int:
    with open(os.path.join(HERE, "task.json"), encoding="utf-8") as fh:
        task = json.load(fh)
    os.makedirs(LOGS, exist_ok=True)
    testbed = task["job"]["pristine"]
    restore(testbed, os.path.join(HERE, "originals.tar.gz"))
    try:
        statuses = run(task, testbed)
    except subprocess.TimeoutExpired:
        statuses = {"error": f"the tests took over {task['timeout_s']} s"}
    error = statuses.pop("error", "")
    f2p, p2p = task["FAIL_TO_PASS"], task["PASS_TO_PASS"]
    passed = {t for t in f2p + p2p if statuses.get(t) == "passed"}
    reward = int(not error and passed >= set(f2p + p2p))
    share = {name: (sum(t in passed for t in tests) / len(tests) if tests else 1.0)
             for name, tests in (("fail_to_pass", f2p), ("pass_to_pass", p2p))}
    with open(os.path.join(LOGS, "reward.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"{reward}\n")
    with open(os.path.join(LOGS, "reward.json"), "w", encoding="utf-8") as fh:
        json.dump({"reward": reward, **share}, fh)
    verdicts = {"instance_id": task["instance_id"], "reward": reward, "error": error,
                "FAIL_TO_PASS": {t: statuses.get(t, "missing") for t in f2p},
                "PASS_TO_PASS": {t: statuses.get(t, "missing") for t in p2p}}
    with open(os.path.join(LOGS, "verdicts.json"), "w", encoding="utf-8") as fh:
        json.dump(verdicts, fh, indent=1)
    print(f"reward {reward}: FAIL_TO_PASS {share['fail_to_pass']:.0%} passed, "
          f"PASS_TO_PASS {share['pass_to_pass']:.0%} passed" + (f" ({error})" if error else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
