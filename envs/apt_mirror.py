"""The Debian mirror this machine's apt already uses, read from its own sources (never written
into the code)."""

from __future__ import annotations

import re
from pathlib import Path

SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


class MirrorNotFound(RuntimeError):
    pass


def mirror_from_sources(deb822: list[str], one_line: list[str], suite: str) -> str:
    """First main-archive URI serving ``suite``, from deb822 stanzas or one-line entries."""
    for text in deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields = _fields(stanza)
            if "deb" not in fields.get("types", "deb").split():
                continue
            if fields.get("enabled", "yes").lower() in ("no", "false", "0"):
                continue
            if suite in fields.get("suites", "").split() and fields.get("uris"):
                return fields["uris"].split()[0].rstrip("/")
    for text in one_line:
        for line in text.splitlines():
            parts = re.sub(r"\[[^\]]*\]", "", line).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                return parts[1].rstrip("/")
    raise MirrorNotFound(
        f"no apt source serves the Debian suite {suite!r}; add one to /etc/apt/sources.list "
        "or pass --base-image with an image your registry serves"
    )


def _fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[0].isspace():
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    return fields


def machine_mirror(suite: str, fallback: str = "bookworm") -> str:
    """The mirror serving ``suite``; else the one serving ``fallback``: a Debian archive serves
    every release, and the host's sources name only the host's own (trixie from a bookworm
    host's mirror, verified on these machines)."""
    try:
        return _machine_mirror(suite)
    except MirrorNotFound:
        if suite == fallback:
            raise
        return _machine_mirror(fallback)


def _machine_mirror(suite: str) -> str:
    deb822 = (
        [p.read_text() for p in sorted(SOURCES_DIR.glob("*.sources"))]
        if SOURCES_DIR.exists()
        else []
    )
    lines = [SOURCES_LIST.read_text()] if SOURCES_LIST.exists() else []
    lines += (
        [p.read_text() for p in sorted(SOURCES_DIR.glob("*.list"))] if SOURCES_DIR.exists() else []
    )
    return mirror_from_sources(deb822, lines, suite)
