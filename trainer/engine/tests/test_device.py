"""Device, precision and world choices (device.py), checked without a GPU: the functions take what
they look at (is CUDA there, does it do bf16) as arguments."""
import pytest
import torch

from poisonlens_engine import device as V
from poisonlens_engine.errors import EngineError
from poisonlens_engine.params import resolve
from poisonlens_engine.train import _deal, config_hash


def test_auto_picks_cuda_then_mps_then_cpu():
    assert V.resolve_device("auto", cuda_available=True, mps=True) == "cuda"
    assert V.resolve_device(None, cuda_available=False, mps=True) == "mps"
    assert V.resolve_device("auto", cuda_available=False, mps=False) == "cpu"
    assert V.resolve_device("cpu", cuda_available=True, mps=True) == "cpu"


def test_a_device_asked_for_by_name_must_be_there():
    with pytest.raises(EngineError, match="torch sees no CUDA GPU"):
        V.resolve_device("cuda", cuda_available=False, mps=False)
    with pytest.raises(EngineError, match="MPS backend is not available"):
        V.resolve_device("mps", cuda_available=False, mps=False)
    with pytest.raises(EngineError, match="--device must be one of"):
        V.resolve_device("tpu")


def test_precision_per_device():
    # CPU: what the engine always did (bf16 where native, else fp32); fp16 refused.
    assert V.resolve_precision("cpu", "auto", bf16_ok=True) == "bf16"
    assert V.resolve_precision("cpu", "auto", bf16_ok=False) == "fp32"
    assert V.resolve_precision("cpu", "fp32", bf16_ok=True) == "fp32"
    with pytest.raises(EngineError, match="fp16 is for GPUs"):
        V.resolve_precision("cpu", "fp16")
    # CUDA: bf16 where the GPU has it, else fp16 (with a gradient scaler in train.py).
    assert V.resolve_precision("cuda", "auto", bf16_ok=True) == "bf16"
    assert V.resolve_precision("cuda", "auto", bf16_ok=False) == "fp16"
    with pytest.raises(EngineError, match="no bf16 support"):
        V.resolve_precision("cuda", "bf16", bf16_ok=False)
    assert V.resolve_precision("mps", "auto") == "fp32"


def test_cpu_autocast_is_the_engine_s_old_context():
    ctx = V.autocast("cpu", "bf16")
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16 and ctx._enabled
    assert not V.autocast("cpu", "fp32")._enabled


def test_world_from_torchrun_environment():
    assert V.world_from_env({}) == (0, 0, 1)
    assert V.world_from_env({"LOCAL_RANK": "1", "RANK": "3", "WORLD_SIZE": "4"}) == (1, 3, 4)
    w, dev = V.init_world("cpu", {})
    assert not w.distributed and w.is_main and dev == torch.device("cpu")


def test_ranks_are_dealt_the_global_batch_as_distributed_sampler_deals_it():
    perm = torch.randperm(40).numpy()
    parts = [_deal(perm, 2, 8, V.World(rank=r, size=2)) for r in range(2)]
    assert sorted([*parts[0], *parts[1]]) == sorted(perm[16:24])
    assert list(parts[0]) == list(perm[16:24:2]) and list(parts[1]) == list(perm[17:24:2])
    assert list(_deal(perm, 2, 8, V.World())) == list(perm[16:24])


def test_where_a_run_computes_is_recorded_but_does_not_block_a_resume(tmp_path):
    base = ["--trainset", str(tmp_path), "--out", str(tmp_path / "o"), "--arch", "pl-tiny-test", "--steps", "2"]
    _, a = resolve(base)
    _, b = resolve([*base, "--device", "cuda", "--local-loss", "--data", "stream", "--workers", "3"])
    assert a["device"] == "auto" and b["device"] == "cuda" and b["localLoss"] is True
    b["worldSize"], b["precision"] = 4, "fp16"
    assert config_hash(a) == config_hash(b)
    _, c = resolve([*base, "--lr", "0.5"])
    assert config_hash(a) != config_hash(c)
    with pytest.raises(EngineError, match="not both"):
        resolve([*base, "--precision", "bf16", "--no-bf16"])


def test_steps_zero_only_packages_given_weights(tmp_path):
    base = ["--trainset", str(tmp_path), "--out", str(tmp_path / "o"), "--steps", "0"]
    _, cfg = resolve([*base, "--arch", "ViT-B-32", "--pretrained", "openai"])
    assert cfg["steps"] == 0 and cfg["epochs"] is None
    with pytest.raises(EngineError, match="--steps must be a positive"):
        resolve([*base, "--arch", "pl-tiny-test"])


def test_streamed_images_are_the_in_memory_images(tmp_path):
    """The uint8 cache decoded by DataLoader worker processes equals the one-process decode, and
    an ImageStore over it answers batches (int arrays, slices) as the in-memory array does."""
    import numpy as np
    from PIL import Image

    from poisonlens_engine import data as D

    paths = []
    rng = np.random.default_rng(0)
    for i in range(300):  # above the worker threshold (4 blocks of 64)
        p = tmp_path / "img" / f"{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24 + i % 5, 30, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    one = D.load_images(paths, 16, None, workers=0)
    cached = D.load_images(paths, 16, tmp_path / "cache", workers=2)
    assert np.array_equal(one, cached)
    store = D.load_images(paths, 16, tmp_path / "cache", workers=2, stream=True)
    assert isinstance(store, D.ImageStore) and len(store) == 300 and store.shape == one.shape
    idx = np.array([299, 0, 17, 17, 150])
    assert np.array_equal(store[idx], one[idx]) and np.array_equal(store[5:9], one[5:9])
    assert D.stream_images("auto", 120_000, 224, False) and D.stream_images("auto", 10, 32, True)
    assert not D.stream_images("auto", 1000, 64, False) and D.stream_images("stream", 1, 8, False)
