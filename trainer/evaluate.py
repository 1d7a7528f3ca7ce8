"""`synth train eval`: sample fixes from a checkpoint for held-out tasks and score them.

The held-out tasks are those training never saw (``trainer.split`` with the checkpoint's own
``held_out_fraction``), the first N by instance id. Each fix is sampled with the training prompt
and in the training precision, then every fix is scored the way `synth verify --patches` scores
a batch
(``pipelines.verify.verify_many``: Ray workers, verdicts stored in the ``solutions`` table).
Whatever the model wrote is submitted as it is: text that is no diff changes nothing and
scores unresolved, a diff that does not apply scores error. The verifier is the judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from synth.patches import PatchError, parse_patch
from synth.trainer.checkpoint import Meta, find_checkpoint, load_weights
from synth.trainer.config import TrainConfig, config_from_dict
from synth.trainer.dataset import Example, load_examples
from synth.trainer.model import MoELM
from synth.trainer.sample import Sample, SampleConfig, sample
from synth.trainer.train import precision

if TYPE_CHECKING:
    from synth.envs.backend import BackendConfig
    from synth.records import BackendKind, SolutionVerdict


class EvalError(ValueError):
    """An input the user can fix: the message says which and how."""


@dataclass(frozen=True)
class Generated:
    instance_id: str
    sample: Sample
    patch: str  # what is submitted: the sample less NUL bytes (DuckDB strings hold none)

    @property
    def is_diff(self) -> bool:
        try:
            return bool(parse_patch(self.patch))
        except PatchError:
            return False


@dataclass(frozen=True)
class EvalItem:
    generated: Generated
    verdict: SolutionVerdict


@dataclass(frozen=True)
class EvalReport:
    checkpoint: Path
    run_id: str
    step: int
    held_out: int  # held-out tasks in the store, of which the first ``len(items)`` were sampled
    items: list[EvalItem]

    @property
    def resolved(self) -> int:
        return sum(i.verdict.resolved for i in self.items)

    @property
    def resolve_rate(self) -> float:
        return self.resolved / len(self.items) if self.items else 0.0


def load_model(path: Path, device: torch.device) -> tuple[MoELM, TrainConfig, Meta]:
    """The checkpoint's model in eval mode; experts run on the backend right for ``device``."""
    from synth.trainer.checkpoint import read_meta

    meta = read_meta(path)
    # On a CPU the reference loop: torch_gmm probes grouped_mm with a backward pass, which
    # fails under no_grad and would be cached as "unsupported" for the whole process.
    backend = "loop" if device.type == "cpu" else "auto"
    cfg = config_from_dict(meta.config).with_backend(backend)
    model = cfg.model.build().to(device)
    load_weights(path, model, device)
    return model.eval(), cfg, meta


def held_out_examples(db: Path, fraction: float, n: int) -> tuple[list[Example], int]:
    """The first ``n`` held-out tasks as examples, and how many the store holds out."""
    from synth.data.store import Store

    with Store.open(db) as store:
        held = load_examples(store, split="held_out", held_out_fraction=fraction)
    if not held:
        raise EvalError(
            f"{db} holds no held-out tasks for this checkpoint (held_out_fraction={fraction}); "
            "train with a config that holds tasks out (`tiny` and `100m` hold out 20%) on a "
            "store of several tasks"
        )
    return held[:n], len(held)


def generate(model: MoELM, cfg: TrainConfig, examples: list[Example], sampling: SampleConfig,
             on_sample: Callable[[Generated], None] | None = None) -> list[Generated]:
    """A fix per example, sampled in the precision the checkpoint trained in (bf16 autocast on
    CUDA): scored in fp32, it would be a model that never trained."""
    out = []
    for example in examples:
        with precision(cfg, model.embed_VD.device):
            s = sample(model, example.prompt, sampling, seq_len=cfg.data.seq_len,
                       max_prompt_bytes=cfg.data.max_prompt_bytes)
        g = Generated(example.instance_id, s, s.text.replace("\x00", ""))
        out.append(g)
        if on_sample:
            on_sample(g)
    return out


def backend_config(db: Path, instance_id: str, kind: BackendKind | None, cache_dir: Path,
                   timeout_s: float) -> BackendConfig:
    """The backend the task's environment was built for; asking for another is an error."""
    from synth.data.store import Store
    from synth.envs.backend import BackendConfig, Limits
    from synth.pipelines.verify import load_context

    with Store.open(db) as store:
        built = load_context(store, instance_id).environment.backend
    if kind is not None and kind is not built:
        raise EvalError(
            f"--backend {kind.value}: the store's environments are {built.value} ones; "
            f"use --backend {built.value} or auto"
        )
    return BackendConfig(kind=built, cache_dir=cache_dir, limits=Limits(timeout_s=timeout_s))


def evaluate(db: Path, checkpoint: Path, n: int, sampling: SampleConfig, *,
             device: torch.device, cache_dir: Path, kind: BackendKind | None = None,
             timeout_s: float = 300.0, workers: int = 2, address: str | None = None,
             on_sample: Callable[[Generated], None] | None = None) -> EvalReport:
    from synth.pipelines.verify import Submission, verify_many

    path = find_checkpoint(checkpoint)
    model, cfg, meta = load_model(path, device)
    examples, held = held_out_examples(db, cfg.data.held_out_fraction, n)
    config = backend_config(db, examples[0].instance_id, kind, cache_dir, timeout_s)
    generated = generate(model, cfg, examples, sampling, on_sample)
    verdicts = verify_many(db, [Submission(g.instance_id, g.patch) for g in generated], config,
                           workers=min(workers, len(generated)), address=address)
    items = [EvalItem(g, v) for g, v in zip(generated, verdicts, strict=True)]
    return EvalReport(checkpoint=path, run_id=meta.run_id, step=meta.step, held_out=held,
                      items=items)
