"""The trainer's configuration: one typed tree, each component owning its node.

``TrainConfig`` holds a ``ModelConfig`` (which holds a ``MoEConfig``), a ``DataConfig`` and an
``OptimConfig``. Nodes that make a component have ``build()``. Named configs live in
``CONFIGS``: ``tiny`` for tests and CPU runs, ``100m`` for a GPU. Nothing here reads the
environment; a run's choices (device, backend override) are passed in, not looked up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synth.trainer.model import MoELM
    from synth.trainer.moe import MoE


class ExpertBackend(StrEnum):
    """How routed experts run (``trainer.backends``); ``auto``: triton on CUDA, else torch_gmm
    where torch has a grouped GEMM, else loop."""

    AUTO = "auto"
    LOOP = "loop"
    TORCH_GMM = "torch_gmm"
    TRITON = "triton"


class ConfigName(StrEnum):
    """The named configs of ``CONFIGS``, as `synth train --config` takes them."""

    TINY = "tiny"
    GPU_100M = "100m"


# Byte-level vocabulary: 256 byte values, then the special tokens below, padded to a multiple
# of 8 so that the embedding and the output matmul have friendly shapes.
PAD, BOS, SEP, EOS = 256, 257, 258, 259
VOCAB_SIZE = 264


class ConfigError(ValueError):
    """A config that cannot work; the message says which field and why."""


@dataclass(frozen=True)
class MoEConfig:
    num_experts: int  # E
    top_k: int  # K
    expert_dim: int  # F, hidden size of one routed SwiGLU expert
    shared_expert_dim: int  # hidden size of the shared expert; 0 for none
    norm_topk_prob: bool = True  # renormalise the top-k probabilities to sum to 1
    aux_loss_coef: float = 0.01  # Switch-style load-balancing loss (1.0 under uniform routing)
    z_loss_coef: float = 0.0  # router z-loss: mean of logsumexp(logits)^2
    bias_update_rate: float = 0.0  # > 0 turns on aux-loss-free bias balancing
    freeze_router: bool = False
    backend: ExpertBackend = ExpertBackend.AUTO

    def __post_init__(self) -> None:
        if self.num_experts < 1 or not 1 <= self.top_k <= self.num_experts:
            raise ConfigError(
                f"moe: top_k={self.top_k} must lie in 1..num_experts={self.num_experts}"
            )
        try:  # a config read back from a checkpoint's JSON holds the plain string
            object.__setattr__(self, "backend", ExpertBackend(self.backend))
        except ValueError:
            raise ConfigError(
                f"moe.backend={self.backend!r}: choose one of {', '.join(ExpertBackend)}"
            ) from None

    def build(self, dim: int) -> MoE:
        from synth.trainer.moe import MoE

        return MoE(self, dim)


@dataclass(frozen=True)
class ModelConfig:
    dim: int  # D
    n_layers: int
    n_heads: int
    moe: MoEConfig
    vocab_size: int = VOCAB_SIZE
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-6
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ConfigError(
                f"model: dim={self.dim} must split into n_heads={self.n_heads} heads of even size"
            )
        if self.vocab_size < VOCAB_SIZE:
            raise ConfigError(f"model.vocab_size must be at least {VOCAB_SIZE} (bytes + specials)")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def build(self) -> MoELM:
        from synth.trainer.model import MoELM

        return MoELM(self)


@dataclass(frozen=True)
class DataConfig:
    seq_len: int  # tokens per packed row
    batch_size: int  # packed rows per optimizer step
    max_prompt_bytes: int = 4096  # longer prompts lose their beginning (see ``prompt_budget``)
    # Tasks kept out of training for `synth train eval` (``trainer.split``). 0 by default so a
    # hand-built config trains on everything; the named configs hold out 20%.
    held_out_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise ConfigError(
                f"data.held_out_fraction={self.held_out_fraction} must lie in [0, 1)"
            )
        if self.seq_len < 8 or self.max_prompt_bytes < 1:
            raise ConfigError(
                f"data: seq_len={self.seq_len} must be at least 8 and max_prompt_bytes="
                f"{self.max_prompt_bytes} at least 1"
            )

    @property
    def prompt_budget(self) -> int:
        """Prompt bytes kept, the same in training and sampling: at most max_prompt_bytes, and
        a quarter of the row always left to the target. It must not depend on the target,
        which sampling cannot know."""
        return prompt_budget(self.seq_len, self.max_prompt_bytes)


def prompt_budget(seq_len: int, max_prompt_bytes: int) -> int:
    """See ``DataConfig.prompt_budget``."""
    return min(max_prompt_bytes, seq_len - 2 - seq_len // 4)  # 2: BOS, SEP


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio
    warmup_steps: int = 10
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    name: str
    model: ModelConfig
    data: DataConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    # Steps between checkpoints (0: only at the end), so a crashed run resumes from near where
    # it stopped; the newest ``keep_checkpoints`` are kept (0: all of them).
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    bf16_autocast: bool = True  # on CUDA only; CPU runs stay in fp32

    def __post_init__(self) -> None:
        if self.checkpoint_every < 0 or self.keep_checkpoints < 0:
            raise ConfigError(
                f"checkpoint_every={self.checkpoint_every} and keep_checkpoints="
                f"{self.keep_checkpoints} must be >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_backend(self, backend: ExpertBackend | str) -> TrainConfig:
        """This config with its experts on ``backend`` (a name: ``MoEConfig`` checks it)."""
        return replace(
            self, model=replace(self.model, moe=replace(self.model.moe, backend=backend))
        )


TINY = TrainConfig(
    name=ConfigName.TINY,
    model=ModelConfig(
        dim=64,
        n_layers=2,
        n_heads=4,
        moe=MoEConfig(
            num_experts=6,
            top_k=2,
            expert_dim=64,
            shared_expert_dim=64,
            bias_update_rate=0.01,
            z_loss_coef=1e-3,
        ),
    ),
    data=DataConfig(seq_len=1024, batch_size=4, max_prompt_bytes=1024, held_out_fraction=0.2),
    optim=OptimConfig(lr=3e-3, warmup_steps=5),
)

# About 100M parameters (see `MoELM.num_params`): 8 layers of 32 experts, top-4, F=224.
GPU_100M = TrainConfig(
    name=ConfigName.GPU_100M,
    model=ModelConfig(
        dim=512,
        n_layers=8,
        n_heads=8,
        moe=MoEConfig(
            num_experts=32,
            top_k=4,
            expert_dim=224,
            shared_expert_dim=512,
            bias_update_rate=1e-3,
            z_loss_coef=1e-3,
        ),
    ),
    data=DataConfig(seq_len=2048, batch_size=16, max_prompt_bytes=6144, held_out_fraction=0.2),
    optim=OptimConfig(lr=1e-3, warmup_steps=100),
)

CONFIGS: dict[str, TrainConfig] = {c.name: c for c in (TINY, GPU_100M)}


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """The inverse of ``TrainConfig.to_dict`` (as a checkpoint's JSON reads back); a field
    missing from an older checkpoint takes its default."""
    try:
        model = dict(raw["model"])
        model["moe"] = MoEConfig(**model["moe"])
        optim = dict(raw.get("optim", {}))
        if "betas" in optim:
            optim["betas"] = tuple(optim["betas"])
        return TrainConfig(
            **{
                **raw,
                "model": ModelConfig(**model),
                "data": DataConfig(**raw["data"]),
                "optim": OptimConfig(**optim),
            }
        )
    except (KeyError, TypeError) as e:
        raise ConfigError(f"not a trainer config ({e!r})") from e


def get_config(name: str) -> TrainConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(
            f"no trainer config {name!r}; choose one of {', '.join(sorted(CONFIGS))}"
        ) from None
