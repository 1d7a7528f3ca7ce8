"""`synth report` opened in headless Chromium: the charts render (not a blank page).

Skips where no chromium is installed, unless SYNTH_REQUIRE_DOCKER=1 (CI), which installs it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth import proc
from synth.cli import app
from synth.data.store import Store
from tests.unit.test_report_html import fill

CHARTS = ("funnel-operator", "funnel-repo", "test-time", "flake-rates", "audits", "corpus-growth")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("SYNTH_REQUIRE_DOCKER") == "1":
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    with Store.open(root / "r.duckdb") as store:
        fill(store)
    result = CliRunner().invoke(
        app, ["report", "--db", str(root / "r.duckdb"), "--out", str(root / "report.html")]
    )
    assert result.exit_code == 0, result.output
    return root / "report.html"


def _headless(chromium: str, profile: Path, *args: str) -> proc.Completed:
    return proc.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        timeout=120,
        check=False,
    )


def test_charts_are_in_the_dom_chromium_builds(chromium: str, report: Path, tmp_path: Path) -> None:
    done = _headless(chromium, tmp_path / "profile", "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    rendered = set(re.findall(r'<svg class="chart" data-chart="([^"]+)"', done.stdout))
    assert set(CHARTS) <= rendered
    assert done.stdout.count('class="bar"') >= 10


def test_screenshot_shows_the_charts(chromium: str, report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    done = _headless(
        chromium,
        tmp_path / "profile",
        "--window-size=1440,2400",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1440, 2400)
    colours = image.getcolors(maxcolors=1 << 22) or []
    blank = sum(n for n, rgb in colours if min(rgb) > 240)
    assert blank < 0.97 * 1440 * 2400, "the page is (nearly) blank"
    assert len(colours) > 50, "a rendered page has text and charts, so many colours"
    # The charts' own fills are on screen: bar blue, validated green, generated grey.
    present = {c for _, c in colours}
    for rgb in ((0x2B, 0x6C, 0xB0), (0x2F, 0x85, 0x5A), (0x8B, 0x98, 0xA9)):
        assert rgb in present, f"no pixel of {rgb}: a chart did not render"
