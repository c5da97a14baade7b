import numpy as np
import torch
from PIL import Image

from poisonlens_engine import data as D
from poisonlens_engine.metrics import recall_at_k
from poisonlens_engine.train import lr_at, no_decay, param_groups
from poisonlens_engine import model as M


def test_preprocess_resizes_the_short_side_and_centre_crops():
    img = Image.new("RGB", (80, 40), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 20, 40))   # left quarter red: cropped away
    img.paste((0, 0, 255), (20, 0, 60, 40))  # middle half blue: kept
    out = D.preprocess_pil(img, 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert (out[:, :, 2] > 200).all() and (out[:, :, 0] < 50).all()


def test_rgba_drops_alpha():
    img = Image.new("RGBA", (8, 8), (10, 20, 30, 0))
    assert D.preprocess_pil(img, 8)[0, 0].tolist() == [10, 20, 30]


def test_image_cache_is_reused(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (16, 16), (i * 50, 0, 0)).save(p)
        paths.append(str(p))
    calls = []
    a = D.load_images(paths, 16, tmp_path / "cache", lambda d, t: calls.append(d))
    b = D.load_images(paths, 16, tmp_path / "cache", lambda d, t: calls.append(d))
    assert np.array_equal(a, b) and calls == [3]  # decoded once
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_random_resized_crop_keeps_shape_and_is_seeded():
    x = torch.rand(5, 3, 16, 16)
    a = D.random_resized_crop(x, torch.Generator().manual_seed(1))
    b = D.random_resized_crop(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)


def test_tokenize_puts_end_last_when_truncated():
    t = D.tokenize(["a red square", "a " * 40], 8)
    assert t.shape == (2, 8) and t.dtype == torch.long
    assert t[0, 0] == 49406 and 49407 in t[0].tolist()
    assert t[1, -1] == 49407  # truncated: <end> stays last (the EOT position is the argmax)


def test_recall_at_k():
    img = torch.eye(3)
    txt = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0.1, 0], [0, 0, 1.0]])
    r = recall_at_k(img, txt, [0, 1, 1, 2], ks=(1, 2))
    assert r["ir"] == {"r1": 0.75, "r2": 1.0}  # caption 2 ranks image 0 first
    assert r["tr"] == {"r1": 1.0, "r2": 1.0}


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    assert lr_at(0, 100, 1e-3, 1e-5, 10) == 1e-4
    assert abs(lr_at(10, 100, 1e-3, 1e-5, 10) - 1e-3) < 1e-12
    assert abs(lr_at(100, 100, 1e-3, 1e-5, 10) - 1e-5) < 1e-12


def test_weight_decay_skips_biases_norms_scale_and_embeddings():
    model, _ = M.build_model("pl-tiny-test")
    decayed = {id(p) for p in param_groups(model, 0.2)[0]["params"]}
    for n, p in model.named_parameters():
        skip = p.ndim < 2 or "embedding" in n or "logit_scale" in n or "bias" in n
        assert (id(p) not in decayed) == skip or no_decay(n, p), n
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert "token_embedding.weight" not in names and "positional_embedding" not in names
    assert any("attn" in n for n in names)
