"""Self-describing checkpoints: one dict of plain types and tensors, written atomically.

Layout (``FORMAT = "explorer-checkpoint"``, ``FORMAT_VERSION = 1``)::

    {
      "format", "format_version", "kind",                  # which model class to rebuild
      "config": {...}, "data_spec": {...},                 # the model's config dataclass and inputs
      "versions": {"explorer", "torch", "python"},
      "collection": {"name", "fingerprint", "split", "n_segments"},
      "text": {"vocab": [...], "vectors": Tensor, "params": {...}} | None,   # word2vec used for t
      "model_state": {...},                                # nn.Module.state_dict()
      "inference_only": [...] | absent,                    # modules a release left out (build_model stubs them)
      "optimizer_state": {...} | absent,                   # only in resumable run checkpoints
      "progress": {"epoch", "step_in_epoch", "global_step", "permutation", "rng": {...}},
      "metrics": {...}, "train_seconds": float, "hardware": str, "created": iso-8601 str,
    }

Everything loads with ``torch.load(path, weights_only=True)`` (no pickled classes). ``save`` writes to a
temporary file in the same folder, fsyncs and ``os.replace``s it, so a kill -9 at any moment leaves the
previous checkpoint intact; a small JSON beside it (``<name>.json``) carries the metadata for listing
without loading tensors.
"""

from __future__ import annotations

import io
import json
import platform
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import __version__
from .cache import atomic_write_bytes, atomic_write_text

FORMAT = "explorer-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, of another format, or of an unknown kind."""


def versions() -> dict:
    return {"explorer": __version__, "torch": str(torch.__version__), "python": platform.python_version()}


def _plain(obj):
    """Dataclasses and tuples -> dicts and lists, so the checkpoint holds plain types only."""
    if is_dataclass(obj):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def summary(ckpt: dict, path: Path | None = None) -> dict:
    """The JSON-able metadata of a checkpoint (no tensors)."""
    return {
        "path": str(path) if path else None,
        "kind": ckpt.get("kind"),
        "collection": ckpt.get("collection"),
        "config": ckpt.get("config"),
        "data_spec": ckpt.get("data_spec"),
        "versions": ckpt.get("versions"),
        "metrics": ckpt.get("metrics"),
        "progress": {k: v for k, v in (ckpt.get("progress") or {}).items() if k in ("epoch", "global_step", "epochs")},
        "train_seconds": ckpt.get("train_seconds"),
        "hardware": ckpt.get("hardware"),
        "created": ckpt.get("created"),
        "resumable": "optimizer_state" in ckpt,
    }


def save(ckpt: dict, path: str | Path) -> Path:
    """Atomically write ``ckpt`` (plain types + tensors) and its JSON sidecar."""
    path = Path(path)
    ckpt = {**ckpt, "format": FORMAT, "format_version": FORMAT_VERSION}
    ckpt.setdefault("versions", versions())
    ckpt.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ckpt["config"] = _plain(ckpt.get("config", {}))
    ckpt["data_spec"] = _plain(ckpt.get("data_spec", {}))
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(path, buf.getvalue())
    meta = summary(ckpt, path)
    meta["bytes"] = path.stat().st_size
    atomic_write_text(sidecar_path(path), json.dumps(meta, indent=2, default=str))
    return path


def load(path: str | Path, map_location: str = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; clear errors for every way it can be wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle with classes, not a torch file at all
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            # PyTorch suggests re-running with weights_only=False: never for a file we did not write.
            why = "it holds pickled Python objects, which explorer never loads (weights only)"
        else:
            why = " ".join(str(e).split())[:160] or "unreadable"
        raise CheckpointError(f"{path} is not a readable explorer checkpoint: {why}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an explorer checkpoint (no format={FORMAT!r} key)")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {ckpt['format_version']}; this explorer reads up to {FORMAT_VERSION}")
    from .models import MODELS

    if ckpt.get("kind") not in MODELS:
        raise CheckpointError(f"{path}: unknown model kind {ckpt.get('kind')!r} (known: {', '.join(MODELS)})")
    return ckpt


def read_summary(path: str | Path) -> dict:
    """Metadata for listing: the JSON sidecar when it describes this very file (not older than it, and
    recording its size in bytes), else read from the checkpoint itself."""
    path = Path(path)
    side = sidecar_path(path)
    stat = path.stat()
    if side.exists() and side.stat().st_mtime >= stat.st_mtime - 1:
        try:
            meta = json.loads(side.read_text())
            if meta.get("bytes") == stat.st_size:
                return meta
        except (OSError, json.JSONDecodeError):
            pass
    return summary(load(path), path)


def _mismatch(model: torch.nn.Module, state: dict, left_out: list[str]) -> str | None:
    """One line saying how ``state`` differs from ``model``'s state dict, or None when it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not _in_modules(k, left_out)]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in state
              if k in own and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = [f"{len(v)} {what} (e.g. {', '.join(v[:2])})" for what, v in
             (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)) if v]
    return "; ".join(parts) or None


def check_fits(path: str | Path) -> str | None:
    """Why a checkpoint file cannot be rebuilt (config refused, or weights that do not fit the model its
    config describes), or None when it can. Tensors are memory-mapped, not read: cheap enough for a
    listing."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        model = _new_model(ckpt)
    except Exception as e:  # noqa: BLE001 - whatever stops a rebuild is the problem to show
        return " ".join(str(e).split())[:300] or type(e).__name__
    return _misfit(ckpt, model)


def _new_model(ckpt: dict):
    """The untrained model the checkpoint's kind, config (checked) and data spec describe."""
    from .models import MODELS, DataSpec
    from .models.base import config_from_dict

    model_cls, config_cls = MODELS[ckpt["kind"]]
    return model_cls(config_from_dict(config_cls, ckpt["config"], from_checkpoint=True), DataSpec.from_dict(ckpt["data_spec"]))


def _misfit(ckpt: dict, model) -> str | None:
    """"its KIND weights do not fit ...: what differs", or None when the checkpoint's state fits ``model``."""
    problem = _mismatch(model, ckpt["model_state"], list(ckpt.get("inference_only") or []))
    return f"its {ckpt['kind']} weights do not fit the model its config describes: {problem}" if problem else None


def build_model(ckpt: dict, path: str | Path | None = None):
    """Rebuild the model (eval mode) from a checkpoint dict alone (vsepp-style).

    A state that does not fit the architecture its config describes raises ``CheckpointError`` with
    one line naming the file, the kind and what does not match.
    """
    model = _new_model(ckpt)
    # An inference-only release leaves out the modules embed() never uses (strip_for_release); every
    # other key must load, and the left-out modules are replaced by stubs that say so when called.
    dropped = list(ckpt.get("inference_only") or [])
    problem = _misfit(ckpt, model)
    if problem:
        raise CheckpointError(f"{path or 'checkpoint'}: {problem}")
    model.load_state_dict(ckpt["model_state"], strict=not dropped)
    for name in dropped:
        setattr(model, name, LeftOut(name, ckpt["kind"]))
    return model.eval()


def _in_modules(key: str, modules) -> bool:
    """Whether a state_dict key belongs to one of the named submodules."""
    return any(key.startswith(f"{m}.") for m in modules)


class LeftOut(torch.nn.Module):
    """Stands in for a training-only module that an inference-only release left out."""

    def __init__(self, name: str, kind: str):
        super().__init__()
        self.name, self.kind = name, kind

    def forward(self, *args, **kwargs):
        raise RuntimeError(f"{self.kind}.{self.name} was left out of this inference-only release checkpoint "
                           "(only what embed() needs is shipped); train or use a run checkpoint to get it")


def strip_for_release(ckpt: dict, inference_only: bool = False) -> dict:
    """Drop what only resuming needs (optimizer state, RNG, permutation): shipped checkpoints stay small.

    ``inference_only``: also leave out the model's ``training_only_modules`` (discriminators, decoders:
    what ``embed`` never uses), listed under ``"inference_only"`` so ``build_model`` knows."""
    out = {k: v for k, v in ckpt.items() if k != "optimizer_state"}
    progress = dict(out.get("progress") or {})
    for k in ("rng", "permutation"):
        progress.pop(k, None)
    out["progress"] = progress
    if inference_only:
        from .models import MODELS

        names = [m for m in getattr(MODELS[ckpt["kind"]][0], "training_only_modules", ())
                 if any(_in_modules(k, [m]) for k in ckpt["model_state"])]
        if names:
            out["model_state"] = {k: v for k, v in ckpt["model_state"].items() if not _in_modules(k, names)}
            out["inference_only"] = sorted(set(out.get("inference_only") or []) | set(names))
    return out
