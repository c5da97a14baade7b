"""Which parameters train under each --freeze mode (the paper's Table 5 and mm_poison's text freeze)."""
import pytest

from poisonlens_engine import model as M
from poisonlens_engine.errors import EngineError
from poisonlens_engine.params import resolve

# The text side of open_clip's CLIP, by parameter name (pl-tiny-test: one text block).
TEXT_BLOCKS = {
    "transformer.resblocks.0.ln_1.weight", "transformer.resblocks.0.ln_1.bias",
    "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.0.attn.in_proj_bias",
    "transformer.resblocks.0.attn.out_proj.weight", "transformer.resblocks.0.attn.out_proj.bias",
    "transformer.resblocks.0.ln_2.weight", "transformer.resblocks.0.ln_2.bias",
    "transformer.resblocks.0.mlp.c_fc.weight", "transformer.resblocks.0.mlp.c_fc.bias",
    "transformer.resblocks.0.mlp.c_proj.weight", "transformer.resblocks.0.mlp.c_proj.bias",
}
TEXT_REST = {"token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection"}


def trainable_after(which):
    model, _ = M.build_model("pl-tiny-test")
    M.freeze(model, which)
    names = {n for n, _ in model.named_parameters()}
    return names, {n for n, p in model.named_parameters() if p.requires_grad}


def test_the_text_side_names_are_what_the_modes_assume():
    names, _ = trainable_after(None)
    image = {n for n in names if n.startswith("visual.")}
    assert names == image | TEXT_BLOCKS | TEXT_REST | {"logit_scale"}
    assert len(image) > 10


@pytest.mark.parametrize(
    "which, frozen",
    [
        (None, set()),
        ("image", "visual"),  # the whole image tower
        ("text", TEXT_BLOCKS | TEXT_REST),  # the whole text tower
        ("text-blocks", TEXT_BLOCKS),  # mm_poison: embeddings, ln_final and projection still train
    ],
)
def test_each_freeze_mode_trains_exactly_the_rest(which, frozen):
    names, trainable = trainable_after(which)
    if frozen == "visual":
        frozen = {n for n in names if n.startswith("visual.")}
    assert trainable == names - frozen
    assert "logit_scale" in trainable


def test_an_unknown_mode_is_a_clean_error():
    model, _ = M.build_model("pl-tiny-test")
    with pytest.raises(EngineError, match="--freeze must be one of image, text, text-blocks"):
        M.freeze(model, "blocks")


def test_the_flag_takes_text_blocks_and_records_it():
    _, cfg = resolve(["--trainset", "t", "--out", "o", "--from", "m", "--freeze", "text-blocks"])
    assert cfg["freeze"] == "text-blocks"
