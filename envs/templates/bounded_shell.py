"""The agent's shell command, bounded: ``python3 bounded_shell.py CMD LIMIT_S CAP_BYTES``.

Runs ``sh -c CMD`` in its own process group, keeps at most CAP_BYTES of its combined output
(the rest is drained and counted), kills the whole group at the deadline, and prints one JSON
line: exit_code (124 on timeout), timed_out, truncated, output. Standard library only: the
Docker backend hands it to the container's own interpreter (envs/docker_session.py)."""

import json
import os
import select
import signal
import subprocess
import sys
import time


def main() -> None:
    cmd, limit, cap = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    p = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    out, seen, timed_out, deadline = bytearray(), 0, False, time.monotonic() + limit
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        if select.select([fd], [], [], min(left, 0.5))[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += len(chunk)
            out += chunk[: max(cap - len(out), 0)]
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    code = p.wait()
    print(json.dumps({"exit_code": 124 if timed_out else code, "timed_out": timed_out,
                      "truncated": seen > len(out), "output": out.decode("utf-8", "replace")}))


if __name__ == "__main__":
    main()
