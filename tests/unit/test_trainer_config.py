"""The trainer's named configs and expert backends as enums: `synth train --config/--backend`
take them, and a config read back from a checkpoint's JSON is the one that was saved."""

from __future__ import annotations

import json

import pytest

from synth.records import content_hash
from synth.trainer.config import (
    CONFIGS,
    TINY,
    ConfigError,
    ConfigName,
    ExpertBackend,
    MoEConfig,
    config_from_dict,
    get_config,
)


def test_every_named_config_has_its_config_name() -> None:
    assert set(CONFIGS) == set(ConfigName)
    assert all(get_config(name).name == name for name in ConfigName)


def test_a_backend_read_back_from_json_is_the_enum() -> None:
    """A checkpoint's meta.json holds the backend as a plain string."""
    saved = TINY.with_backend(ExpertBackend.LOOP)
    again = config_from_dict(json.loads(json.dumps(saved.to_dict())))
    assert again == saved and again.model.moe.backend is ExpertBackend.LOOP
    assert TINY.with_backend("torch_gmm").model.moe.backend is ExpertBackend.TORCH_GMM


def test_the_backend_enum_leaves_run_ids_as_they_were() -> None:
    """The run id hashes the config: an enum must hash as its string did, or a resumed run
    would not find its checkpoints."""
    as_text = json.loads(json.dumps(TINY.to_dict()))
    assert as_text["model"]["moe"]["backend"] == "auto" and as_text["name"] == "tiny"
    assert content_hash("training_run", TINY.to_dict()) == content_hash("training_run", as_text)


def test_an_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="moe.backend='cutlass': choose one of auto, loop"):
        MoEConfig(num_experts=2, top_k=1, expert_dim=8, shared_expert_dim=0,
                  backend="cutlass")  # type: ignore[arg-type]
