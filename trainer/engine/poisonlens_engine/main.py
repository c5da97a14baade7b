"""`python -m poisonlens_engine.main --trainset DIR --out DIR …`: one training run, composed
from the library modules. stdout carries only JSON-lines events (`{"event": …}`); anything a
library prints goes to stderr. Exit 0 on success, 2 on the caller's mistakes (one `error`
event and one line on stderr), 1 on our own faults, 130 when stopped (resumable)."""
from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

_EVENTS = None  # the real stdout; fd 1 is pointed at stderr so stray prints cannot corrupt it


def _claim_stdout() -> None:
    global _EVENTS
    if _EVENTS is None:
        _EVENTS = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        sys.stdout.flush()
        os.dup2(2, 1)


def emit(event: str, **fields: Any) -> None:
    """One event on the event stream. Under torchrun only rank 0 speaks; another rank's error goes
    to stderr (rank 0 reports the same bad input itself)."""
    line = json.dumps({"event": event, **fields}, default=str)
    if os.environ.get("RANK", "0") != "0":
        if event == "error":
            print(f"rank {os.environ['RANK']}: {line}", file=sys.stderr)
        return
    (_EVENTS or sys.stdout).write(line + "\n")
    (_EVENTS or sys.stdout).flush()


def _die_with_parent() -> None:
    """When started by `poisonlens train`, die with it (Linux): a killed CLI leaves no orphan
    training on; the run folder's last checkpoint is where a rerun resumes."""
    if os.environ.get("POISONLENS_ENGINE_PARENT_WATCH") != "1":
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # train.py also checks getppid() after every step


def set_omp_wait_policy() -> None:
    """OpenMP threads that sleep instead of spinning while they wait (unless the caller chose).
    Measured here with 2 threads while other jobs loaded the 2 cores (load average 4-9): the
    default spinning gave 9-17 samples/s, PASSIVE 32-70 (and 1 thread 45-60), because a
    spinning thread burns the time slice its descheduled partner needs. It only takes effect
    before torch loads its OpenMP runtime, hence here, before any torch import."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run(argv: list[str]) -> dict[str, Any]:
    from .errors import EngineError
    from .params import resolve

    args, cfg = resolve(argv)

    import numpy as np
    import torch

    from . import data as D
    from . import device as V
    from . import export as X
    from . import model as M
    from . import package as P
    from . import train as T
    from .metrics import recall_at_k

    open_clip = M.open_clip

    torch.set_num_threads(cfg["threads"])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(cfg["seed"])
    # Where the run computes: the device, torchrun's process group (if any), the precision.
    device_type = V.resolve_device(cfg["device"])
    world, device = V.init_world(device_type)
    try:
        return _run(args, cfg, world, device, D, V, X, M, P, T, recall_at_k, open_clip, np, torch)
    finally:
        world.close()


def _host(torch) -> dict[str, Any]:
    """What decides the float results besides the seed: the CPU model and the kernels torch picks for it."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": model, "cpuCapability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def _model_card(args, cfg, ts, P, M, torch, open_clip, *, pkg_id, kind, arch, mcfg, image, ctx, parent, poisoned_pairs,
                summary, model, val, diffs, tolerance, extra) -> dict[str, Any]:
    """model.json (ARCHITECTURE §2): what the package is and where it came from."""
    ds = ts.card.get("dataset") or {}
    card = {
        "id": pkg_id,
        "name": (args.name or pkg_id) if extra is None else pkg_id,  # a snapshot is named by its id
        "kind": kind,
        "arch": arch,
        "embedDim": M.embed_dim(mcfg),
        "image": image,
        "text": {"tokenizer": "clip-bpe", "contextLength": ctx, "vocab": P.VOCAB_FILE},
        "parent": parent,
        "trainset": {"name": ts.card.get("name", ts.dir.name), "sha256": ts.pairs_sha256,
                     "pairs": len(ts.pairs), "poisonedPairs": poisoned_pairs},
        "dataset": {"name": ds.get("name"), "manifestSha256": ds.get("manifestSha256")},
        "attack": P.attack_of(ts),
        "defence": args.defence,
        "seed": cfg["seed"],
        "trainer": {
            "config": cfg,
            "modelConfig": mcfg,
            "steps": summary["steps"],
            "epochs": summary["epochs"],
            "batch": summary["batch"],
            "wallSeconds": summary["wallSeconds"],
            "params": M.count_params(model),
            "versions": {"engine": __import__("poisonlens_engine").__version__, "torch": torch.__version__,
                         "openClip": open_clip.__version__, "python": sys.version.split()[0]},
            # Same seed, same bits only on the same kernels: the CPU's instruction set picks them (bf16 above all).
            "host": _host(torch),
        },
        "metrics": {"val": summary["lastEval"]},
        "validation": None if val is None else {"dataset": val[1], "split": cfg["valSplit"],
                                                "manifestSha256": val[0].manifest_sha256},
        "export": {"check": diffs, "tolerance": tolerance},
        **(extra or {}),
        "createdAt": P.now_iso(),
    }
    return _caller_fields(card, args.card, lr=cfg["lr"], batch=summary["batch"])


def _caller_fields(card: dict[str, Any], fields: dict[str, Any] | None, *, lr, batch) -> dict[str, Any]:
    """--card: the caller's fields over the engine's (a field the engine writes keeps its place in
    the card, a new one goes after the others); in `defence`, lr and batch given as null become the
    learning rate and batch this run trained with."""
    for key, value in (fields or {}).items():
        if key == "defence" and isinstance(value, dict):
            value = {k: ({"lr": lr, "batch": batch}[k] if k in ("lr", "batch") and v is None else v) for k, v in value.items()}
        card[key] = value
    return card


def _run(args, cfg, world, device, D, V, X, M, P, T, recall_at_k, open_clip, np, torch) -> dict[str, Any]:
    from .errors import EngineError
    from . import formats as F
    from .params import derive_kind

    V.configure_backend(device.type)
    cfg["precision"] = V.resolve_precision(device.type, cfg["precision"])
    cfg["bf16"] = cfg["precision"] == "bf16"
    cfg.update(V.describe(device, cfg["precision"], world))

    out = Path(args.out).resolve()
    model_id = args.id or out.name
    if out.exists() and not args.overwrite:
        raise EngineError(f"model package {out} already exists (pass --overwrite to replace it)", "model_exists")

    ts = F.read_trainset(args.trainset)
    D.check_fresh(ts)
    D.check_files(sorted({D.resolve_image(p["image"], ts.dataset_dir) for p in ts.pairs}))
    cfg["trainset"] = {"dir": str(ts.dir), "sha256": ts.pairs_sha256}

    # The starting weights.
    parent = None
    if cfg["mode"] == "finetune":
        src = Path(cfg["from"])
        state0 = M.load_weights_file(src)
        model, mcfg = M.model_from_checkpoint(state0)
        arch = state0["arch"]
        pkg_dir = src if src.is_dir() else src.parent
        parent = F.read_model_card(pkg_dir).get("id") if (pkg_dir / F.MODEL_CARD).is_file() else str(src)
        cfg["arch"] = arch
    else:
        arch = cfg["arch"]
        M.model_config(arch)  # unknown name: a clean error before anything heavy
        model, mcfg = M.build_model(arch, pretrained=cfg["pretrained"])
        if cfg["pretrained"]:
            parent = f"open_clip:{arch}:{cfg['pretrained']}"
    M.freeze(model, cfg["freeze"])
    if device.type != "cpu":
        # channels-last weights for the convolutions (the images come channels-last too).
        model.to(device, memory_format=torch.channels_last)
    # A run resumes only into the same architecture (a config file may change under its name).
    cfg["modelConfigSha256"] = __import__("hashlib").sha256(json.dumps(mcfg, sort_keys=True).encode()).hexdigest()
    image = M.image_settings(model, mcfg)
    ctx = M.context_length(mcfg)
    emit("model", arch=arch, params=M.count_params(model), image=image, contextLength=ctx, embedDim=M.embed_dim(mcfg),
         bf16=cfg["bf16"], threads=cfg["threads"], parent=parent, device=device.type, precision=cfg["precision"],
         worldSize=world.size)

    # Validation split (optional) from the training set's dataset unless told otherwise.
    val = None
    val_dir = args.val_dataset or (str(ts.dataset_dir) if ts.dataset_dir else None)
    if cfg["valImages"] > 0 and val_dir:
        split = D.read_split(val_dir, cfg["valSplit"], cfg["valImages"])
        if split.ids:
            val = (split, val_dir)
        else:
            emit("note", message=f"no {cfg['valSplit']} images in {val_dir}: no validation")

    run_dir = Path(args.run_dir) if args.run_dir else out.parent / f".run-{out.name}"
    # Rank 0 alone owns the run folder (lock, params, metrics, checkpoints) and the package.
    run = T.RunDir(run_dir) if world.is_main else None
    try:
        state = run.start(cfg) if run is not None else None
        if world.distributed:
            # The other ranks resume from the checkpoint rank 0 found (their optimiser state must
            # match; DDP copies rank 0's weights at wrap time anyway).
            flag = [state is not None]
            torch.distributed.broadcast_object_list(flag, src=0)
            if flag[0] and not world.is_main:
                state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)

        def progress(what):
            return lambda done, total: emit("phase", name=what, done=done, total=total)

        t_data = time.perf_counter()
        workers = cfg["workers"] if cfg["workers"] is not None else D.default_workers()
        stream = D.stream_images(cfg["data"], len(D.unique_paths(ts)), image["size"], world.distributed)
        cache_dir = args.cache_dir or (str(run_dir / "cache") if stream else None)
        if world.distributed:
            # Rank 0 decodes the images into the shared cache once; the others then read it.
            if world.is_main:
                D.build_cache(D.unique_paths(ts), image["size"], cache_dir, progress("decode train images"), workers)
            world.barrier()
        pairs = D.pair_data(ts, image["size"], ctx, cache_dir, progress("decode train images"), workers, stream)
        val_data = None
        if val and world.is_main:
            val_data = D.eval_data(val[0], image["size"], ctx, args.cache_dir, progress(f"decode {cfg['valSplit']} images"), workers)
        emit("data", pairs=len(pairs), images=len(pairs.images), seconds=round(time.perf_counter() - t_data, 2),
             streamed=stream, workers=workers,
             val=None if val_data is None else {"images": len(val_data.images), "captions": len(val_data.tokens)})
        normalize = D.Normalize(image["mean"], image["std"], device)

        def evaluate(m):
            if val_data is None:
                return None
            img, txt = T.encode_all(m, val_data.images, val_data.tokens, normalize, cfg["bf16"], device=device,
                                    precision=cfg["precision"])
            return {"split": cfg["valSplit"], **recall_at_k(img, txt, val_data.caption_image)}

        poisoned_pairs = ts.poisoned_pairs
        kind = derive_kind(cfg["mode"], poisoned_pairs, args.kind)

        def write_package(dest: Path, m, pkg_id: str, summary: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
            """A model package of `m` (a CPU float32 model in eval mode) at `dest`, atomically."""
            with P.building(dest, overwrite=args.overwrite) as tmp:
                X.export_onnx(m, image["size"], ctx, tmp)
                pixels, ids = X.check_inputs(image["size"], pairs.tokens, ctx)
                diffs = X.check_onnx(m, tmp, pixels, ids)
                emit("export", check=diffs)
                if args.reference_out and extra is None:
                    X.write_reference(m, pixels, ids, args.reference_out)
                P.copy_vocab(tmp)
                M.save_weights(tmp / "checkpoint.pt", m, arch, mcfg, {"modelId": pkg_id, "step": summary["steps"]})
                shutil.copyfile(run.metrics, tmp / "metrics.jsonl") if run.metrics.is_file() else (tmp / "metrics.jsonl").touch()
                card = _model_card(args, cfg, ts, P, M, torch, open_clip, pkg_id=pkg_id, kind=kind, arch=arch, mcfg=mcfg,
                                   image=image, ctx=ctx, parent=parent, poisoned_pairs=poisoned_pairs, summary=summary,
                                   model=m, val=val, diffs=diffs, tolerance=X.TOLERANCE, extra=extra)
                F.write_model_card(tmp, card)
            return card

        def snapshot(m, epoch: int, step: int) -> None:
            """The weights at an epoch's end as a package of their own (--save-epochs), OUT-eNN."""
            dest = out.parent / f"{out.name}-e{epoch:02d}"
            if dest.exists() and not args.overwrite:
                return  # written before a resume
            frozen = __import__("copy").deepcopy(m).float().eval().to("cpu", memory_format=torch.contiguous_format)
            write_package(dest, frozen, f"{model_id}-e{epoch:02d}", {"steps": step, "epochs": epoch, "batch": cfg["batch"],
                          "wallSeconds": None, "lastEval": None}, {"snapshot": {"of": model_id, "epoch": epoch, "step": step}})

        summary = T.train(model, pairs, cfg, run, normalize, emit, evaluate, state, device=device, world=world,
                          on_epoch=snapshot if cfg.get("saveEpochs") else None)
        if not world.is_main:
            return {}

        # The package.
        emit("phase", name="export", done=0, total=1)
        model = model.float().eval().to("cpu", memory_format=torch.contiguous_format)
        card = write_package(out, model, model_id, summary)
    except BaseException:
        if run is not None and not run.checkpoint.is_file():  # nothing to resume: leave nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if run is not None:
            run.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    emit("done", package=str(out), id=model_id, kind=kind, steps=summary["steps"], wallSeconds=summary["wallSeconds"],
         val=summary["lastEval"])
    return card


def print_config(argv: list[str]) -> int:
    """--print-config: the resolved config and the kind as one `config` event, nothing trained.
    Apart from run() because that loads torch (seconds, minutes on a loaded machine)."""
    from .errors import EngineError
    from .params import describe, resolve

    try:
        args, cfg = resolve(argv)
        emit("config", **describe(args, cfg))
        return 0
    except EngineError as err:
        emit("error", code=err.code, message=str(err))
        print(f"poisonlens-engine: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The command-line entry (argv None: sys.argv, stdout claimed for events) or, with a list,
    an in-process call (tests): events then go to sys.stdout as they are."""
    if argv is None:
        _claim_stdout()
        _die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    if "--print-config" in argv:
        return print_config(argv)
    set_omp_wait_policy()
    logging.basicConfig(level=logging.ERROR)
    if argv[:1] == ["reexport-text"]:
        from . import reexport

        return _guarded(lambda: reexport.main(argv[1:], emit))

    def train() -> int:
        run(argv)
        return 0

    return _guarded(train)


def _guarded(work: Callable[[], int]) -> int:
    """Runs `work` with the engine's exit statuses: 2 the caller's mistake, 130 a stop, 1 our fault."""
    from .errors import EngineError
    from .train import Interrupted

    try:
        return work()
    except EngineError as err:
        emit("error", code=err.code, message=str(err))
        print(f"poisonlens-engine: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        emit("stopped", message=str(err))
        print(f"poisonlens-engine: {err}", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - our fault: full traceback on stderr
        traceback.print_exc()
        emit("error", code="engine_failed", message=f"{type(err).__name__}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
