"""The lock pins every wheel of a wheelhouse by name, version and content hash, and a wheelhouse
whose files no longer match its lock is refused rather than installed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from envs.wheelhouse import LOCK_NAME, WheelhouseError, lock_of, read_lock, render_lock

WHEELS = {
    "zipp-3.19.2-py3-none-any.whl": b"zipp bytes",
    "demo_pkg-1.2.0-py3-none-any.whl": b"demo bytes",
    "Attrs-23.2.0-py3-none-any.whl": b"attrs bytes",
}


def _wheelhouse(root: Path, wheels: dict[str, bytes] = WHEELS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in wheels.items():
        (root / name).write_bytes(data)
    return root


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_lock_records_name_version_filename_and_content_hash(tmp_path: Path) -> None:
    lock = lock_of(_wheelhouse(tmp_path))
    demo = next(r for r in lock if r.filename == "demo_pkg-1.2.0-py3-none-any.whl")
    assert demo.name == "demo-pkg"  # the normalised project name, as pip compares it
    assert demo.version == "1.2.0"
    assert demo.sha256 == _sha(b"demo bytes")


def test_lock_is_sorted_by_name(tmp_path: Path) -> None:
    lock = lock_of(_wheelhouse(tmp_path))
    assert [r.name for r in lock] == ["attrs", "demo-pkg", "zipp"]


def test_lock_ignores_files_that_are_not_wheels(tmp_path: Path) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text("stale\n")
    (root / "notes.txt").write_text("not a wheel\n")
    assert len(lock_of(root)) == len(WHEELS)


def test_an_empty_wheelhouse_has_an_empty_lock(tmp_path: Path) -> None:
    assert lock_of(tmp_path) == ()
    assert render_lock(()) == ""


def test_render_pins_each_wheel_by_version_and_hash(tmp_path: Path) -> None:
    text = render_lock(lock_of(_wheelhouse(tmp_path)))
    assert text.splitlines() == [
        f"attrs==23.2.0 --hash=sha256:{_sha(b'attrs bytes')}",
        f"demo-pkg==1.2.0 --hash=sha256:{_sha(b'demo bytes')}",
        f"zipp==3.19.2 --hash=sha256:{_sha(b'zipp bytes')}",
    ]
    assert text.endswith("\n")


def test_the_same_wheels_give_the_same_lock_wherever_they_lie(tmp_path: Path) -> None:
    first = lock_of(_wheelhouse(tmp_path / "a"))
    second = lock_of(_wheelhouse(tmp_path / "b", dict(reversed(list(WHEELS.items())))))
    assert first == second
    assert render_lock(first) == render_lock(second)


def test_read_lock_returns_the_lock_of_an_untouched_wheelhouse(tmp_path: Path) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text(render_lock(lock_of(root)))
    assert read_lock(root) == lock_of(root)


@pytest.mark.parametrize("change", ["tamper", "add", "remove"])
def test_read_lock_refuses_a_wheelhouse_that_changed_since_it_was_locked(
    tmp_path: Path, change: str,
) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text(render_lock(lock_of(root)))
    if change == "tamper":
        (root / "demo_pkg-1.2.0-py3-none-any.whl").write_bytes(b"demo bytes, patched")
    elif change == "add":
        (root / "extra-0.1-py3-none-any.whl").write_bytes(b"extra")
    else:
        (root / "zipp-3.19.2-py3-none-any.whl").unlink()
    with pytest.raises(WheelhouseError, match="delete the folder to rebuild"):
        read_lock(root)
