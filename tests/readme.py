"""The README's ```python blocks, for the tests that run them (unit: they compile, import what
exists and name nothing they leave undefined; integration: they run, as written)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    code: str

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"


def python_blocks(text: str) -> list[Block]:
    return [Block(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


def readme_blocks() -> list[Block]:
    return python_blocks(README.read_text(encoding="utf-8"))
