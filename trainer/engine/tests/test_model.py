import pytest
import torch

from poisonlens_engine import model as M
from poisonlens_engine.errors import EngineError


def test_our_configs_are_registered_with_their_context_length():
    M.register_configs()
    names = M.open_clip.list_models()
    for arch in M.our_archs():
        assert arch in names
    cfg = M.model_config("pl-rn32-s64")
    assert M.context_length(cfg) == 32  # not open_clip's silent fallback of 77
    model, cfg = M.build_model("pl-tiny-test")
    assert model.context_length == M.context_length(cfg) == 16
    assert model.visual.image_size == (32, 32)


def test_unknown_architecture_is_a_clean_error():
    with pytest.raises(EngineError, match="unknown architecture 'no-such-arch'"):
        M.model_config("no-such-arch")


def test_freeze_towers():
    model, _ = M.build_model("pl-tiny-test")
    M.freeze(model, "image")
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert model.token_embedding.weight.requires_grad and model.logit_scale.requires_grad
    model, _ = M.build_model("pl-tiny-test")
    M.freeze(model, "text")
    assert all(p.requires_grad for p in model.visual.parameters())
    assert not model.token_embedding.weight.requires_grad and model.logit_scale.requires_grad


def test_checkpoint_round_trip(tmp_path):
    model, cfg = M.build_model("pl-tiny-test")
    M.save_weights(tmp_path / "checkpoint.pt", model, "pl-tiny-test", cfg)
    back, cfg2 = M.model_from_checkpoint(M.load_weights_file(tmp_path))
    assert cfg2 == cfg
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(EngineError, match="no checkpoint"):
        M.load_weights_file(tmp_path / "missing")


def test_a_length_flag_wins_over_the_recipe_length():
    """scenes-base gives its length in steps: no flag keeps them, --epochs or --steps replaces them."""
    from poisonlens_engine.params import load_recipe, resolve

    recipe = load_recipe("scenes-base")
    base = ["--trainset", "t", "--out", "o"]
    _, cfg = resolve(base)
    assert (cfg["steps"], cfg["epochs"]) == (recipe["steps"], None)
    _, cfg = resolve([*base, "--epochs", "1.5"])
    assert (cfg["steps"], cfg["epochs"]) == (None, 1.5)
    _, cfg = resolve([*base, "--steps", "7"])
    assert (cfg["steps"], cfg["epochs"]) == (7, None)
    # The fine-tuning recipe gives epochs: they stay unless a flag says otherwise.
    _, cfg = resolve([*base, "--from", "m"])
    assert (cfg["steps"], cfg["epochs"]) == (None, load_recipe("finetune")["epochs"])
