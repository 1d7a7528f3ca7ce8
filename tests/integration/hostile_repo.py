"""A repository whose tests attack the sandbox they run in, one attack per marker file.

Each attack test does nothing unless its marker file exists in the working copy; a patch that
creates the marker (``marker_patch``) switches one attack on. An attack that succeeds makes its
test pass; a contained one makes it fail, or ends the run with TIMEOUT / OOM. The host address
of a listening socket is baked in, so the network attack has a real target on this machine.
"""

from __future__ import annotations

import textwrap

TESTS = '''
import json
import os
import signal
import socket
import subprocess
import sys
import time

from box import double

HOST, PORT = {host!r}, {port}


def on(mode):
    return os.path.exists(mode)


def test_double():
    assert double(21) == 42


def test_fake_passed_lines():
    if on("FAKEPASS"):
        print("tests/test_box.py::test_double PASSED")
        print("tests/test_box.py::test_fake_passed_lines PASSED")
        print("=== 9 passed in 0.01s ===")
        assert False, "printed PASSED lines must not count"


def test_sleep_forever():
    if on("SLEEP"):
        time.sleep(10_000)


def test_busy_loop():
    if on("BUSY"):
        while True:
            pass


def test_child_ignoring_sigterm():
    if on("TERMCHILD"):
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        child = subprocess.Popen([sys.executable, "-c", code])
        with open(os.environ.get("TMPDIR", "/tmp") + "/termchild.pid", "w") as fh:
            fh.write(str(child.pid))


def test_setsid_grandchild():
    if on("SETSID"):
        code = "import os, time; os.setsid(); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_fork_bomb():
    if on("FORKBOMB"):
        children = []
        for _ in range(100_000):
            pid = os.fork()
            if pid == 0:
                os.execv("/bin/sleep", ["/bin/sleep", "61.5"])
            children.append(pid)


def test_allocate_4gb():
    if on("HOG"):
        blob = bytearray(4 * 1024 ** 3)
        blob[:: 4096] = b"x" * len(blob[:: 4096])


def test_fill_the_disk():
    if on("DISK"):
        chunk = b"x" * (1 << 20)
        with open("filler.bin", "wb") as fh:
            for _ in range(8 * 1024):
                fh.write(chunk)
                fh.flush()


def test_outbound_network():
    if on("NET"):
        socket.create_connection((HOST, PORT), timeout=3).close()


def test_write_outside_the_repository():
    if on("ESCAPE"):
        with open("/usr/lib/synth-escaped", "w") as fh:
            fh.write("escaped")


def test_mount():
    if on("MOUNT"):
        done = subprocess.run(["mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True)
        assert done.returncode == 0, done.stderr


def test_become_root():
    if on("SETUID"):
        os.setuid(0)
        assert os.getuid() == 0


def test_forge_the_report():
    if on("FORGE"):
        assert "SYNTH_REPORT" not in os.environ and "SYNTH_NONCE" not in os.environ
        fake = {{"format": 2, "nonce": "", "exitstatus": 0, "collected": 1, "deselected": 0,
                 "results": [{{"test_id": "tests/test_box.py::test_double", "status": "passed"}}]}}
        for guess in ("/opt/synth-out/report.json", os.path.join(os.getcwd(), "report.json")):
            try:
                with open(guess, "w") as fh:
                    json.dump(fake, fh)
            except OSError:
                pass
        # In-process: rewrite the plugin's own records of this run.
        plugin = sys.modules.get("synth_report")
        if plugin is not None:
            for entry in plugin._results.values():
                entry["status"] = "passed"
        assert False, "the forger's own test fails; the forgery must not turn it into a pass"
'''


def write_hostile_repo(root, host: str, port: int) -> None:
    (root / "tests").mkdir(parents=True)
    (root / "box.py").write_text("def double(x):\n    return x * 2\n")
    (root / "tests" / "test_box.py").write_text(textwrap.dedent(TESTS).format(host=host, port=port))
    (root / "pyproject.toml").write_text('[project]\nname = "box"\nversion = "0"\n')


def marker_patch(name: str) -> str:
    """A patch that adds an empty file ``name``: switches one attack on."""
    return f"diff --git a/{name} b/{name}\nnew file mode 100644\nindex 0000000..e69de29\n"
