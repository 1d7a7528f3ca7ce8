"""The job a run sends into its environment, and the test server's reply, as typed records
(synth.envs.backend.Job, synth.envs.docker_session.Reply) with the JSON the programs there read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synth.envs.backend import JobPaths, Limits, RunRequest, ServerSettings, make_job
from tests.factories import make_spec

PATHS = JobPaths(pristine="/testbed", work="/work", report="/out/n.json", log="/tmp/log",
                 python="/opt/venv/bin/python", plugin_dir="/opt/synth")


def test_the_wire_holds_what_runner_and_server_read() -> None:
    job = make_job(make_spec(), RunRequest(patch="P", select=("t::a",), order="reverse",
                                           cpu_s=2.0), PATHS, "nonce", Limits())
    wire = job.wire()
    assert set(wire) == {"pristine", "work", "log", "patch", "secret", "select", "cpu_s",
                         "argv", "env"}
    assert wire["secret"] == {"report": "/out/n.json", "nonce": "nonce"}
    assert wire["select"] == ["t::a"] and wire["patch"] == "P" and wire["cpu_s"] == 2.0
    assert wire["argv"][:3] == ["/opt/venv/bin/python", "-m", "pytest"]
    assert wire["env"]["SYNTH_ORDER"] == "reverse" and "SYNTH_SECRET" not in wire["env"]


def test_a_servers_settings_sit_at_the_top_and_a_missing_secret_is_no_key() -> None:
    job = make_job(make_spec(), RunRequest(), PATHS, "n", Limits())
    served = job.model_copy(update={"server": ServerSettings(mode="hot", timeout_s=9.0,
                                                             screen=True)}).wire()
    assert (served["mode"], served["timeout_s"], served["screen"], served["witness"]) == (
        "hot", 9.0, True, False)
    assert "secret" not in job.model_copy(update={"secret": None}).wire()
    with pytest.raises(ValidationError):
        ServerSettings(mode="warm", timeout_s=1.0)


def test_a_reply_without_an_exit_code_is_refused() -> None:
    from synth.envs.docker_session import Reply

    reply = Reply.model_validate({"exit_code": 1, "report": "{}", "timed_out": False,
                                  "oom": False, "mode": "hot", "phases": {"run": 0.01}})
    assert (reply.exit_code, reply.mode, reply.report) == (1, "hot", "{}")
    for bad in ({"report": None}, {"exit_code": None}, {"exit_code": 0, "mode": "lukewarm"}):
        with pytest.raises(ValidationError):
            Reply.model_validate(bad)
