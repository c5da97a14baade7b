"""Training data: training-set files in, tensors out.

Images are decoded and preprocessed once (by DataLoader worker processes for large sets) and
cached on disk, keyed by the file list, the files' sizes and modification times, and the image
size, as one uint8 .npy array [N, S, S, 3] written block by block. Training holds that array in
memory, or (`--data stream`, automatic for large sets and under torchrun) reads each batch's rows
from the file (`ImageStore`), so memory stays bounded whatever N. The preprocessing is exactly what model.json's `image` tells a server to do:
drop alpha, resize the shortest side to S (bicubic), centre-crop S×S, then (per batch, in
`Normalize`) scale to [0, 1] and normalise with mean/std.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .compat import import_open_clip
from .errors import EngineError
from .formats import TrainsetFiles

open_clip = import_open_clip()

CACHE_VERSION = 1


# --------------------------------------------------------------------------- training sets
def check_fresh(ts: TrainsetFiles) -> None:
    """A training set records the manifest hash of the dataset it was built from; if that
    dataset was regenerated since, its image files no longer match the pairs' captions."""
    want = (ts.card.get("dataset") or {}).get("manifestSha256")
    manifest = ts.dataset_dir / "manifest.jsonl" if ts.dataset_dir else None
    if not want or manifest is None or not manifest.is_file():
        return
    got = hashlib.sha256(manifest.read_bytes()).hexdigest()
    if got != want:
        name = (ts.card.get("dataset") or {}).get("name", ts.dataset_dir.name)
        raise EngineError(
            f"training set {ts.card.get('name', ts.dir.name)!r} is stale: dataset {name!r} changed since it was built "
            f"(manifest sha256 {got[:12]}…, recorded {want[:12]}…); rebuild the training set", "stale_trainset")


def resolve_image(image: str, base: Path | None) -> str:
    if os.path.isabs(image) or base is None:
        return os.path.normpath(image)
    return os.path.normpath(os.path.join(base, image))


def check_files(paths: Sequence[str], what: str = "image") -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise EngineError(f"missing {what} file {missing[0]}{more}", "missing_images")


# --------------------------------------------------------------------------- datasets (val/test)
@dataclass
class Split:
    ids: list[str]
    paths: list[str]
    captions: list[list[str]]
    manifest_sha256: str


def read_split(dataset_dir: str | os.PathLike, split: str, limit: int | None = None) -> Split:
    d = Path(dataset_dir)
    manifest = d / "manifest.jsonl"
    if not manifest.is_file():
        raise EngineError(f"no dataset at {d} (manifest.jsonl missing)", "dataset_not_found")
    raw = manifest.read_bytes()
    out = Split([], [], [], hashlib.sha256(raw).hexdigest())
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        if e.get("split") != split or not e.get("captions"):
            continue
        out.ids.append(e["id"])
        out.paths.append(resolve_image(e["file"], d))
        out.captions.append(list(e["captions"]))
        if limit is not None and len(out.ids) >= limit:
            break
    return out


# --------------------------------------------------------------------------- images
def preprocess_pil(img: Image.Image, size: int) -> np.ndarray:
    """uint8 [S, S, 3]: RGB (alpha dropped), shortest side resized to S (bicubic), centre crop."""
    img = img.convert("RGB")
    w, h = img.size
    if min(w, h) != size:
        # torchvision's Resize(size) on a PIL image: the short side becomes `size`, the long
        # side int(size * long / short), with PIL's bicubic filter.
        if w <= h:
            nw, nh = size, int(size * h / w)
        else:
            nw, nh = int(size * w / h), size
        img = img.resize((nw, nh), Image.BICUBIC)
        w, h = nw, nh
    if (w, h) != (size, size):
        top = int(round((h - size) / 2.0))
        left = int(round((w - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


def load_image(path: str, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return preprocess_pil(img, size)
    except FileNotFoundError as err:
        raise EngineError(f"missing image file {path}", "missing_images") from err
    except OSError as err:
        raise EngineError(f"cannot decode image {path}: {err}", "bad_image") from err


def cache_key(paths: Sequence[str], size: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "size": size}).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"\n{p}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    return h.hexdigest()


ProgressFn = Callable[[int, int], None]


def default_workers() -> int:
    return max(0, min(8, (os.cpu_count() or 1)))


class _DecodeSet(torch.utils.data.Dataset):
    """Image i decoded and preprocessed, for DataLoader worker processes. A file that cannot be
    decoded comes back as its error message (the main process raises it as an EngineError)."""

    def __init__(self, paths: Sequence[str], size: int):
        self.paths, self.size = list(paths), size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return load_image(self.paths[i], self.size)
        except EngineError as err:
            return str(err)


def _stack(items):
    for it in items:
        if isinstance(it, str):
            raise EngineError(it, "bad_image")
    return np.stack(items)


DECODE_BLOCK = 64


def decoded_blocks(paths: Sequence[str], size: int, workers: int = 0) -> Iterator[np.ndarray]:
    """uint8 [k, S, S, 3] blocks of `paths` in order, decoded by `workers` DataLoader worker
    processes (0: here, one image after the other). Memory: a few blocks per worker."""
    if workers <= 0 or len(paths) < 4 * DECODE_BLOCK:
        for s in range(0, len(paths), DECODE_BLOCK):
            yield np.stack([load_image(p, size) for p in paths[s:s + DECODE_BLOCK]])
        return
    loader = torch.utils.data.DataLoader(_DecodeSet(paths, size), batch_size=DECODE_BLOCK, shuffle=False,
                                         num_workers=workers, collate_fn=_stack, prefetch_factor=2)
    for block in loader:
        if isinstance(block, str):
            raise EngineError(block, "bad_image")
        yield block


def _npy_header(shape: tuple[int, ...]) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                               "fortran_order": False, "shape": shape})
    return buf.getvalue()


class ImageStore:
    """uint8 [N, S, S, 3] images read from an .npy file a batch at a time (os.pread into a fresh
    array): the training set stays on disk (and in the OS page cache), the process holds only the
    batches in flight. Indexing with an int array or a slice gives what the in-memory array would."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        with open(self.path, "rb") as f:
            major, _minor = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            self.offset = f.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4:
            raise EngineError(f"{self.path}: not a uint8 [N, S, S, 3] image cache", "bad_cache")
        self.shape = tuple(shape)
        self.row = int(np.prod(shape[1:]))
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        rows = np.asarray(idx, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(rows), self.row)
        for k, r in enumerate(rows):
            if not 0 <= r < self.shape[0]:
                raise IndexError(f"image {r} of {self.shape[0]}")
            view = memoryview(flat[k])
            got = os.preadv(self._fd, [view], self.offset + int(r) * self.row)
            if got != self.row:
                raise EngineError(f"{self.path}: short read (truncated cache?)", "bad_cache")
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        self.close()


def _cache_file(paths: Sequence[str], size: int, cache_dir) -> Path:
    return Path(cache_dir) / f"images-{size}px-{cache_key(paths, size)[:32]}.npy"


def _cached_shape_ok(path: Path, n: int, size: int) -> bool:
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            header = f.tell()
        return (tuple(shape) == (n, size, size, 3) and not fortran and dtype == np.uint8
                and path.stat().st_size == header + n * size * size * 3)
    except (OSError, ValueError):
        return False


# Every poisoned pool is a new set of images, so a study of 380 small fine-tunes leaves 380
# caches (12 MB each at 64 px) that are never read again: the least recently used go beyond a
# limit. By default it always has room for the cache in use and one as big (a clean and a poisoned
# COCO, 18.5 GB each, alternate without decoding again).
IMAGE_CACHE_LIMIT_ENV = "POISONLENS_IMAGE_CACHE_GB"
IMAGE_CACHE_MIN_GB = 4


def image_cache_limit(in_use: int = 0) -> int:
    """Bytes the image caches of one folder may hold: POISONLENS_IMAGE_CACHE_GB when set, else
    the larger of 4 GiB and twice the cache in use (`in_use` bytes)."""
    raw = os.environ.get(IMAGE_CACHE_LIMIT_ENV)
    if raw is None:
        return max(IMAGE_CACHE_MIN_GB << 30, 2 * in_use)
    try:
        gb = float(raw)
    except ValueError:
        raise EngineError(f"{IMAGE_CACHE_LIMIT_ENV}={raw!r} is not a number of GB", "bad_flags") from None
    if not 0 <= gb < math.inf:
        raise EngineError(f"{IMAGE_CACHE_LIMIT_ENV}={raw!r} must be 0 or more", "bad_flags")
    return int(gb * (1 << 30))


def evict_image_caches(cache_dir: str | os.PathLike, keep: Path, limit: int) -> list[Path]:
    """Deletes the least recently used image caches of `cache_dir` (by mtime: a hit touches its
    file) until they hold at most `limit` bytes; never `keep`, the one in use. A process still
    reading a deleted cache keeps its open file (POSIX); one that starts later decodes again."""
    caches = []
    for f in Path(cache_dir).glob("images-*.npy"):
        try:
            st = f.stat()
        except FileNotFoundError:  # another engine evicted it meanwhile
            continue
        caches.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in caches)
    gone = []
    for _, size, f in sorted(caches, key=lambda c: (c[0], c[2].name)):
        if total <= limit:
            break
        if f == keep:
            continue
        try:
            f.unlink(missing_ok=True)
        except OSError:  # in use where open files cannot be deleted (Windows): left for next time
            continue
        total -= size
        gone.append(f)
    return gone


def build_cache(paths: Sequence[str], size: int, cache_dir: str | os.PathLike, progress: ProgressFn | None = None,
                workers: int = 0) -> Path:
    """Decodes `paths` once into the uint8 .npy cache under `cache_dir` (block by block, written as
    it comes: bounded memory whatever N), unless a whole one is there; a new one then keeps the
    folder's caches within image_cache_limit(). Returns its path."""
    check_files(paths)
    image_cache_limit()  # a bad limit fails before any decoding
    cache_file = _cache_file(paths, size, cache_dir)
    if cache_file.is_file() and _cached_shape_ok(cache_file, len(paths), size):
        try:
            os.utime(cache_file)  # recently used: the last to be evicted
        except OSError:  # a cache we may read but not touch is used as it is
            pass
        return cache_file
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
    n, done = len(paths), 0
    try:
        with open(tmp, "wb") as f:
            f.write(_npy_header((n, size, size, 3)))
            for block in decoded_blocks(paths, size, workers):
                f.write(np.ascontiguousarray(block).tobytes())
                before, done = done, done + len(block)
                if progress and (done == n or done // 500 > before // 500):
                    progress(done, n)
        os.replace(tmp, cache_file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    evict_image_caches(cache_dir, cache_file, image_cache_limit(cache_file.stat().st_size))
    return cache_file


def load_images(paths: Sequence[str], size: int, cache_dir: str | os.PathLike | None = None,
                progress: ProgressFn | None = None, workers: int = 0, stream: bool = False) -> np.ndarray | ImageStore:
    """uint8 [N, S, S, 3] for `paths`, decoded once (by `workers` processes) and cached under
    `cache_dir`; in memory, or (`stream`, which needs the cache) an ImageStore over the cache file."""
    check_files(paths)
    if cache_dir is not None:
        cache_file = build_cache(paths, size, cache_dir, progress, workers)
        return ImageStore(cache_file) if stream else np.load(cache_file)
    if stream:
        raise EngineError("streamed training images need a cache folder (--cache-dir)", "bad_flags")
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    n, done = len(paths), 0
    for block in decoded_blocks(paths, size, workers):
        out[done:done + len(block)] = block
        before, done = done, done + len(block)
        if progress and (done == n or done // 500 > before // 500):
            progress(done, n)
    return out


class Normalize:
    """uint8 NHWC batch → float32 NCHW in [0, 1] → (x - mean) / std, in channels-last memory:
    the NHWC bytes keep their order (no reordering copy) and oneDNN's convolutions run 20-30%
    faster on it than on contiguous NCHW (pl-rn32-s64, batch 128, 2 cores; engine vs bare loop in
    bench/trainer.py speed went from 0.86x to 0.93-1.05x)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device | str = "cpu"):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1).to(device)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1).to(device)

    def to_float(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(batch)
        return t.permute(0, 3, 1, 2).float().div_(255.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # After a crop (grid_sample answers in contiguous NCHW) the layout is set again.
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)


def crop_params(n: int, generator: torch.Generator, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3),
                attempts: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop draws for `n` images: float [n, 4] rows (w, h, tx, ty), the
    crop's width and height as fractions of the frame and its centre in [-1, 1]. As there: up to
    `attempts` draws of (area fraction, aspect ratio) per image; an image with no draw that fits
    keeps its whole frame. The draws of image i depend only on the generator and n, so the ranks
    of a distributed run draw for the whole global batch and keep their own rows."""
    area = torch.empty(n, attempts).uniform_(scale[0], scale[1], generator=generator)
    log_r = torch.empty(n, attempts).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r)
    h = torch.sqrt(area / r)
    ok = (w <= 1) & (h <= 1)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
    rows = torch.arange(n)
    w = torch.where(first >= 0, w[rows, first.clamp(min=0)], torch.ones(n))
    h = torch.where(first >= 0, h[rows, first.clamp(min=0)], torch.ones(n))
    tx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - w)
    ty = (torch.rand(n, generator=generator) * 2 - 1) * (1 - h)
    return torch.stack((w, h, tx, ty), dim=1)


def apply_crop(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Crops a float NCHW batch by `crop_params` rows and resizes back to the same size, in one
    `grid_sample` (on x's device)."""
    n = x.shape[0]
    params = params.to(x.device)
    w, h, tx, ty = params[:, 0], params[:, 1], params[:, 2], params[:, 3]
    # The sampling grid of an axis-aligned scale + shift, built from its two 1-D axes (what
    # affine_grid computes, at a fraction of its cost): pixel centres in [-1, 1].
    hh, ww = x.shape[-2], x.shape[-1]
    ys = (torch.arange(hh, dtype=torch.float32, device=x.device) * 2 + 1) / hh - 1
    xs = (torch.arange(ww, dtype=torch.float32, device=x.device) * 2 + 1) / ww - 1
    gx = (w[:, None] * xs[None, :] + tx[:, None])[:, None, :].expand(n, hh, ww)
    gy = (h[:, None] * ys[None, :] + ty[:, None])[:, :, None].expand(n, hh, ww)
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, scale=(0.9, 1.0),
                        ratio=(3 / 4, 4 / 3), attempts: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop on a float NCHW batch, back to the same size."""
    return apply_crop(x, crop_params(x.shape[0], generator, scale, ratio, attempts))


# --------------------------------------------------------------------------- text
def tokenize(captions: Sequence[str], context_length: int) -> torch.Tensor:
    """int64 [N, C]: open_clip's SimpleTokenizer (`<start> … <end>`, truncated, `<end>` last)."""
    tok = open_clip.SimpleTokenizer(context_length=context_length)
    uniq: dict[str, int] = {}
    for c in captions:
        uniq.setdefault(c, len(uniq))
    table = tok(list(uniq)) if uniq else torch.zeros(0, context_length, dtype=torch.long)
    idx = torch.tensor([uniq[c] for c in captions], dtype=torch.long)
    return table[idx].contiguous()


def vocab_path() -> Path:
    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


# --------------------------------------------------------------------------- assembled sets
@dataclass
class PairData:
    """Training pairs: unique images once, each pair an index into them plus its tokens."""
    images: np.ndarray | ImageStore   # uint8 [M, S, S, 3], in memory or streamed from the cache
    image_of_pair: np.ndarray     # int64 [P]
    tokens: torch.Tensor          # int64 [P, C]
    image_paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_of_pair)


STREAM_ABOVE_BYTES = 4 << 30


def stream_images(mode: str, n_images: int, size: int, distributed: bool) -> bool:
    """`--data`: memory holds the decoded training images in the process (the fastest, and what
    small sets always did); stream reads each batch from the uint8 cache on disk (bounded memory).
    auto streams when the decoded set is above 4 GiB (COCO at 224 px is ~18 GB) or under torchrun
    (the ranks then share one cache in the OS page cache instead of W private copies)."""
    if mode == "auto":
        return distributed or n_images * size * size * 3 > STREAM_ABOVE_BYTES
    return mode == "stream"


def unique_paths(ts: TrainsetFiles) -> list[str]:
    """The training set's image files, each once, in order of first use (the cache's row order)."""
    index: dict[str, int] = {}
    for p in ts.pairs:
        index.setdefault(resolve_image(p["image"], ts.dataset_dir), len(index))
    return list(index)


def pair_data(ts: TrainsetFiles, size: int, context_length: int, cache_dir=None,
              progress: ProgressFn | None = None, workers: int = 0, stream: bool = False) -> PairData:
    paths = [resolve_image(p["image"], ts.dataset_dir) for p in ts.pairs]
    uniq = unique_paths(ts)
    index = {p: i for i, p in enumerate(uniq)}
    check_files(uniq)
    images = load_images(uniq, size, cache_dir, progress, workers, stream)
    of_pair = np.fromiter((index[p] for p in paths), dtype=np.int64, count=len(paths))
    tokens = tokenize([p["caption"] for p in ts.pairs], context_length)
    return PairData(images, of_pair, tokens, uniq)


@dataclass
class EvalData:
    images: np.ndarray            # uint8 [N, S, S, 3]
    tokens: torch.Tensor          # int64 [T, C]
    caption_image: np.ndarray     # int64 [T]: the image row of each caption
    ids: list[str]


def eval_data(split: Split, size: int, context_length: int, cache_dir=None, progress: ProgressFn | None = None,
              workers: int = 0) -> EvalData:
    images = load_images(split.paths, size, cache_dir, progress, workers)
    caps, owner = [], []
    for i, cs in enumerate(split.captions):
        caps.extend(cs)
        owner.extend([i] * len(cs))
    return EvalData(images, tokenize(caps, context_length), np.asarray(owner, dtype=np.int64), split.ids)


def batches(n: int, size: int) -> Iterable[slice]:
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))
