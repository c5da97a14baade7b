import os

import numpy as np
import pytest
import torch
from PIL import Image

from poisonlens_engine import data as D
from poisonlens_engine.errors import EngineError
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


def _pngs(folder, n, shade=0):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.new("RGB", (16, 16), (shade, i * 40, 0)).save(p)
        paths.append(str(p))
    return paths


def test_image_caches_beyond_the_limit_go_least_recently_used_first(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    sets = [_pngs(tmp_path / f"set{k}", 3, shade=k * 60) for k in range(4)]
    one = 3 * 16 * 16 * 3 + 128  # three 16 px images and the .npy header
    monkeypatch.setenv(D.IMAGE_CACHE_LIMIT_ENV, str(2.5 * one / (1 << 30)))  # room for two
    files = []
    for k in range(3):
        D.load_images(sets[k], 16, cache)
        files.append(D._cache_file(sets[k], 16, cache))
        os.utime(files[-1], (1000 + k, 1000 + k))  # distinct ages, oldest first
    assert [f.exists() for f in files] == [False, True, True]
    D.load_images(sets[1], 16, cache)  # a hit: set 1 becomes the most recent
    D.load_images(sets[3], 16, cache)
    assert sorted(p.name for p in cache.glob("*.npy")) == sorted([files[1].name, D._cache_file(sets[3], 16, cache).name])
    calls = []
    again = D.load_images(sets[0], 16, cache, lambda d, t: calls.append(d))  # evicted: decoded again, same pixels
    assert calls == [3] and np.array_equal(again, D.load_images(sets[0], 16))


def test_image_cache_limit_zero_keeps_only_the_one_in_use_the_default_and_bad_limits(tmp_path, monkeypatch):
    monkeypatch.setenv(D.IMAGE_CACHE_LIMIT_ENV, "0")
    for k in range(2):
        D.load_images(_pngs(tmp_path / f"s{k}", 2, shade=k * 90), 16, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    monkeypatch.delenv(D.IMAGE_CACHE_LIMIT_ENV)
    assert D.image_cache_limit() == 4 << 30
    assert D.image_cache_limit(3 << 30) == 6 << 30, "room for the cache in use and one as big"
    for bad in ("lots", "-1", "nan", "inf"):
        monkeypatch.setenv(D.IMAGE_CACHE_LIMIT_ENV, bad)
        with pytest.raises(EngineError, match=D.IMAGE_CACHE_LIMIT_ENV):
            D.image_cache_limit()
