"""Training examples from the task store, byte-tokenised and packed into fixed-length rows.

An example's prompt is the task's problem statement followed by the buggy code of the functions
its bug touches; its target is the fix, the bug's diff reversed. Loss falls on target tokens
only. Rows are packed first-fit in a fixed order; which rows make up step n's batch is a pure
function of (seed, n), so a resumed run sees exactly the batches it would have seen.

Held-out tasks (``trainer.split``: by repository and file, identical fixes folded) never become
examples of a training run; ``synth train eval`` samples fixes for them.

The prompt keeps its last ``prompt_budget`` bytes whatever the target (sampling cannot know the
target), and a target too long for the rest of the row is cut but keeps its EOS.

Shape legend: N packed rows, B rows per batch, L sequence length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import torch

from synth.patches import (
    PatchError,
    apply_file_diff,
    enclosing_functions,
    new_side,
    parse_patch,
    reverse_patch,
    touched_new_lines,
)
from synth.trainer.config import BOS, EOS, PAD, SEP, prompt_budget
from synth.trainer.split import split_tasks

if TYPE_CHECKING:
    from synth.data.store import Store
    from synth.records import Task

IGNORE = -100  # target of a position that carries no loss
ReadClean = Callable[[str], str | None]  # repo-relative path -> clean source, None if unknown


@dataclass(frozen=True)
class Example:
    instance_id: str
    prompt: str
    target: str


def buggy_code(patch: str, read_clean: ReadClean | None = None) -> str:
    """The buggy version of the functions ``patch`` (a bug diff) touches, file by file.

    With the clean file at hand the patch is applied and each touched function is shown whole;
    otherwise (or for a change outside any function) the hunks' buggy side is shown.
    """
    parts = []
    for f in parse_patch(patch):
        clean = read_clean(f.old_path) if read_clean and f.old_path != "/dev/null" else None
        functions: list[str] = []
        if clean is not None:
            try:
                functions = enclosing_functions(apply_file_diff(clean, f), touched_new_lines(f))
            except (PatchError, SyntaxError, ValueError):
                functions = []  # a snapshot that moved on, or not Python: fall back to the hunks
        if not functions:
            functions = ["\n".join(text for _, text, _ in new_side(h)) for h in f.hunks]
        parts.append(f"# {f.new_path}\n" + "\n\n".join(functions))
    return "\n\n".join(parts)


def make_example(task: Task, read_clean: ReadClean | None = None) -> Example:
    code = buggy_code(task.patch, read_clean)
    prompt = f"{task.problem_statement.strip()}\n\nThe code involved:\n{code}\n\nThe fix:\n"
    return Example(task.instance_id, prompt, reverse_patch(task.patch))


def snapshot_reader(root: Path) -> ReadClean:
    def read(rel: str) -> str | None:
        path = (root / rel).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read


Split = Literal["all", "train", "held_out"]


def load_examples(
    store: Store, limit: int | None = None, *, split: Split = "all", held_out_fraction: float = 0.0
) -> list[Example]:
    """The store's tasks of ``split`` as examples, in instance-id order (stable across runs)."""
    from synth.data.store import StoreError

    tasks = sorted(store.list_tasks(), key=lambda t: t.instance_id)
    if split != "all":
        sides = split_tasks(tasks, held_out_fraction)
        wanted = set(sides.train if split == "train" else sides.held_out)
        tasks = [t for t in tasks if t.instance_id in wanted]
    tasks = tasks[:limit]
    readers: dict[str, ReadClean | None] = {}
    examples = []
    for task in tasks:
        if task.env_id not in readers:
            try:
                env = store.get_environment(task.env_id)
                snapshot = store.get_snapshot(env.snapshot_id)
                readers[task.env_id] = snapshot_reader(Path(snapshot.path))
            except StoreError:
                readers[task.env_id] = None  # the prompt falls back to the diff's context
        try:
            examples.append(make_example(task, readers[task.env_id]))
        except PatchError:
            continue  # a patch this parser does not read: skip the task rather than guess
    return examples


class Encoded(NamedTuple):
    tokens: list[int]
    loss: list[bool]  # whether each token is a target token


def prompt_tokens(prompt: str, budget: int) -> list[int]:
    """[BOS] prompt [SEP], the prompt cut to its last ``budget`` bytes (the problem statement's
    tail and the code sit at its end, next to the target). Training and sampling
    (``trainer.sample``) both build prompts here, with the same budget."""
    raw = list(prompt.encode("utf-8"))
    return [BOS, *raw[max(len(raw) - budget, 0) :], SEP]


def encode(example: Example, seq_len: int, max_prompt_bytes: int) -> Encoded:
    """[BOS] prompt [SEP] target [EOS] in ``seq_len`` tokens. A target too long for what the
    prompt leaves loses its end but keeps EOS: cut after it, a long fix taught the model that
    fixes never end."""
    prompt = prompt_tokens(example.prompt, prompt_budget(seq_len, max_prompt_bytes))
    room = seq_len - len(prompt) - 1  # EOS
    target = list(example.target.encode("utf-8"))[:room] + [EOS]
    return Encoded(prompt + target, [False] * len(prompt) + [True] * len(target))


class Batch(NamedTuple):
    tokens_BL: torch.Tensor
    targets_BL: torch.Tensor  # next token where it is a target token, else IGNORE
    pos_BL: torch.Tensor  # position inside its document
    docs_BL: torch.Tensor  # document number within the row, -1 for padding

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in self))


def pack(encoded: Sequence[Encoded], seq_len: int) -> Batch:
    """First-fit packing, in order; a document never spans two rows."""
    rows: list[list[Encoded]] = []
    used: list[int] = []
    for enc in encoded:
        n = len(enc.tokens)
        for i, u in enumerate(used):
            if u + n <= seq_len:
                rows[i].append(enc)
                used[i] += n
                break
        else:
            rows.append([enc])
            used.append(n)
    N = len(rows)
    tokens = torch.full((N, seq_len), PAD, dtype=torch.long)
    targets = torch.full((N, seq_len), IGNORE, dtype=torch.long)
    pos = torch.zeros((N, seq_len), dtype=torch.long)
    docs = torch.full((N, seq_len), -1, dtype=torch.long)
    for r, docs_in_row in enumerate(rows):
        at = 0
        for d, enc in enumerate(docs_in_row):
            n = len(enc.tokens)
            tok = torch.tensor(enc.tokens)
            tokens[r, at : at + n] = tok
            nxt = torch.where(torch.tensor(enc.loss[1:]), tok[1:], IGNORE)
            targets[r, at : at + n - 1] = nxt
            pos[r, at : at + n] = torch.arange(n)
            docs[r, at : at + n] = d
            at += n
    return Batch(tokens, targets, pos, docs)


def batch_at(rows: Batch, step: int, batch_size: int, seed: int) -> Batch:
    """The rows of step ``step``: epoch by epoch, each epoch a fresh seeded shuffle."""
    N = rows.tokens_BL.shape[0]
    orders: dict[int, torch.Tensor] = {}
    picked = []
    for i in range(step * batch_size, (step + 1) * batch_size):
        epoch, at = divmod(i, N)
        if epoch not in orders:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            orders[epoch] = torch.randperm(N, generator=gen)
        picked.append(orders[epoch][at])
    index = torch.stack(picked)
    return Batch(*(t[index] for t in rows))


def build_rows(examples: Sequence[Example], seq_len: int, max_prompt_bytes: int) -> Batch:
    if not examples:
        raise ValueError("no examples to train on")
    return pack([encode(e, seq_len, max_prompt_bytes) for e in examples], seq_len)
