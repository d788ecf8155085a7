"""Checkpoints the app can offer: discovery (shipped, ``$EXPLORER_CHECKPOINTS``, training runs), confinement to those
folders, model cards, and loading a model for inference (memoised per file stamp)."""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path

import torch

from .. import checkpoint as ckpt_io
from ..cache import cached_json
from ..checkpoint import CheckpointError
from ..data.collection import CollectionError
from ..evaluate import LoadedModel
from ..paths import DataRootError, checkpoints_dir, runs_dir
from ._memo import memo
from .collections import _coll

DEFAULT_KIND = "gan_proj"  # the GAN recipe that learns on a CPU (docs/gan_proj.md); gan_cls is the paper-faithful one


@memo(8)
def _load(path: str, mtime: float, device: str) -> LoadedModel:
    return LoadedModel(path, device)


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """A checkpoint rebuilt for inference (memoised while the file is unchanged)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {p}")
    return _load(str(p.resolve()), p.stat().st_mtime, device)


def extra_checkpoint_dirs() -> list[Path]:
    """Folders of extra checkpoints: ``$EXPLORER_CHECKPOINTS`` (``os.pathsep``-separated)."""
    env = os.environ.get("EXPLORER_CHECKPOINTS", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def checkpoint_folders() -> list[str]:
    """The folders ``list_checkpoints`` looks in (shipped, extra, runs)."""
    return [str(checkpoints_dir()), *map(str, extra_checkpoint_dirs()), str(runs_dir())]


def _file_stamp(p: Path) -> tuple[str, float, int]:
    st = p.stat()
    return str(p.resolve()), st.st_mtime, st.st_size


@memo(256)
def _summary(path: str, mtime: float, size: int) -> dict:
    from ..models import MODELS

    try:
        meta = ckpt_io.read_summary(path)
    except CheckpointError as e:
        return {"problem": str(e)}
    except Exception as e:  # noqa: BLE001 - any unreadable file is listed with its problem
        return {"problem": f"{Path(path).name} is not a readable checkpoint ({type(e).__name__}: {e})"}
    if meta.get("kind") not in MODELS:
        meta["problem"] = f"unknown model kind {meta.get('kind')!r} (this explorer knows: {', '.join(MODELS)})"
    else:  # e.g. a checkpoint of an older model layout: listed, marked unusable
        fits = cached_json("fits", {"path": path, "mtime": mtime, "size": size, "code": _model_code_digest()},
                           lambda: ckpt_io.check_fits(path))
        if fits:
            meta["problem"] = fits
    return meta


@functools.cache
def _model_code_digest() -> str:
    """Digest of the code that decides whether a checkpoint's weights fit its model (``explorer/models``,
    ``explorer/checkpoint.py``): the "fits" verdicts cached on disk (building every model to check its weights
    took 2 s of a new app process's first page) are redone when that code changes."""
    import hashlib

    root = Path(ckpt_io.__file__).parent
    h = hashlib.sha256()
    for source in [root / "checkpoint.py", *sorted((root / "models").glob("*.py"))]:
        h.update(source.name.encode() + source.read_bytes())
    return h.hexdigest()[:16]


@memo(256)
def _run_state(log: str, mtime: float, size: int) -> str | None:
    from ..jobs import run_outcome

    return run_outcome(str(Path(log).parent))


def _entry(path: Path, source: str, ckpt_id: str, label: str) -> dict:
    meta = _summary(*_file_stamp(path))
    coll = (meta.get("collection") or {}).get("name")
    progress = meta.get("progress") or {}
    return {
        "id": ckpt_id, "path": str(path), "source": source, "label": label, "kind": meta.get("kind"),
        "collection": coll, "metrics": meta.get("metrics") or {}, "epoch": progress.get("epoch"),
        "epochs": progress.get("epochs"), "created": meta.get("created"), "size": path.stat().st_size,
        "supported": "problem" not in meta, "problem": meta.get("problem"), "mtime": path.stat().st_mtime,
        "data_spec": meta.get("data_spec") or {},
    }


def list_checkpoints() -> list[dict]:
    """Every checkpoint the app can offer: shipped (``checkpoints/``), extra folders
    (``$EXPLORER_CHECKPOINTS``) and training runs (``runs/*/best.pt``, else ``latest.pt``).

    Each entry: id (stable, e.g. ``shipped/gan_cls-flowers102_reed.pt``, ``runs/RUN/best.pt``), path,
    source, label, kind, collection, metrics, epoch, supported, problem (why it cannot be used).
    """
    out: list[dict] = []
    seen: set[str] = set()

    def add(path: Path, source: str, ckpt_id: str, label: str) -> None:
        key = str(path.resolve())
        if key in seen or not path.is_file():
            return
        seen.add(key)
        try:
            out.append(_entry(path, source, ckpt_id, label))
        except OSError:
            pass  # vanished between listing and reading

    ship = checkpoints_dir()
    if ship.is_dir():
        for p in sorted(ship.glob("*.pt")):
            add(p, "shipped", f"shipped/{p.name}", f"{p.stem} (shipped)")
    for d in extra_checkpoint_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.pt")):
                add(p, "extra", f"extra/{p.name}", f"{p.stem} ({d.name})")
    runs = runs_dir()
    if runs.is_dir():
        run_dirs = sorted((d for d in runs.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
        for d in run_dirs:
            p = d / "best.pt" if (d / "best.pt").is_file() else d / "latest.pt"
            if not p.is_file():
                continue
            log = d / "log.jsonl"
            state = _run_state(*_file_stamp(log)) if log.is_file() else None
            suffix = "" if state == "finished" else " — unfinished"
            add(p, "run", f"runs/{d.name}/{p.name}", f"run {d.name} · {p.stem}{suffix}")
    return out


def _within(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base.resolve())
    except OSError:
        return False


def resolve_checkpoint(ref) -> Path:
    """A checkpoint path from an id of ``list_checkpoints`` or a path (``CheckpointError`` if neither).

    Only files inside the listed checkpoint folders (shipped, runs, extra) are accepted, whatever the
    ref says (``shipped/../../x`` or an absolute path elsewhere is refused): the app never loads a
    file the pickers would not list.
    """
    if ref is None or str(ref).strip() == "":
        raise CheckpointError("no checkpoint chosen: pick one in the sidebar, or train one on the Training page")
    if isinstance(ref, dict):
        ref = ref["path"]
    s = str(ref)
    folders = [checkpoints_dir(), runs_dir(), *extra_checkpoint_dirs()]
    candidates = []
    for prefix, bases in (("shipped/", [checkpoints_dir()]), ("runs/", [runs_dir()]), ("extra/", extra_checkpoint_dirs())):
        if s.startswith(prefix):
            candidates += [(b / s[len(prefix):], b) for b in bases]
    candidates += [(Path(s).expanduser(), None)]
    for p, base in candidates:
        if not p.is_file():
            continue
        if not any(_within(p, b) for b in ([base] if base is not None else folders)):
            raise CheckpointError(f"checkpoint {s!r} is outside the checkpoint folders (shipped, runs, extra); "
                                  "only listed checkpoints can be opened")
        return p
    raise CheckpointError(f"no checkpoint {s!r} (it may have been deleted; pick another one in the sidebar)")


def checkpoint_stamp(ref) -> tuple[str, float, int]:
    """(resolved path, mtime, size) of a checkpoint: cache keys use it."""
    return _file_stamp(resolve_checkpoint(ref))


def _ckpt_key(ref) -> dict:
    path, mtime, size = checkpoint_stamp(ref)
    return {"path": path, "mtime": mtime, "size": size}


def fits_collection(entry: dict, collection) -> bool:
    """Whether a listed checkpoint can read ``collection``'s inputs: keyframes/transcripts for a model
    trained on raw transcripts, the same built-in feature sizes for a feature-only collection
    (e.g. Wikipedia's 128-d SIFT and 10-d LDA). Unknown specs (old sidecars) count as fitting."""
    spec = entry.get("data_spec") or {}
    if not spec:
        return True
    coll = _coll(collection)
    if coll.features:
        dims = coll.feature_dims()
        return (spec.get("image_input") == "features:builtin" and spec.get("text_input") == "builtin"
                and spec.get("image_dim") == dims.get("image") and spec.get("text_dim") == dims.get("text"))
    return spec.get("text_input") == "word2vec" and (spec.get("image_input") != "features:builtin") and coll.has_images


def default_checkpoint(collection: str | None, entries: list[dict] | None = None) -> str | None:
    """The checkpoint to show first: the shipped default GAN of the collection, else any usable one
    trained on it (shipped first, then the newest run), else a usable one trained elsewhere that can
    read the collection's inputs; None when there is none (the pages then say so)."""
    entries = list_checkpoints() if entries is None else entries
    usable = [e for e in entries if e["supported"]]
    name = Path(collection).name if collection else None
    for e in usable:
        if e["source"] == "shipped" and e["kind"] == DEFAULT_KIND and e["collection"] == name:
            return e["id"]
    for e in usable:
        if e["collection"] == name:
            return e["id"]
    if collection:
        try:
            usable = [e for e in usable if fits_collection(e, collection)]
        except (CollectionError, DataRootError, OSError):
            pass
    return usable[0]["id"] if usable else None


def kind_description(kind: str) -> str:
    from ..models import MODELS

    if kind not in MODELS:
        return f"unknown kind {kind!r}"
    doc = importlib.import_module(MODELS[kind][0].__module__).__doc__ or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def model_card(ref) -> dict:
    """What a checkpoint is: kind, description, training collection, progress, metrics, config, versions."""
    path = resolve_checkpoint(ref)
    meta = dict(_summary(*_file_stamp(path)))
    if "problem" in meta:
        raise CheckpointError(meta["problem"])
    from ..models import MODELS

    cls = MODELS[meta["kind"]][0]
    return {
        "path": str(path), "kind": meta["kind"], "description": kind_description(meta["kind"]),
        "generative": cls.generative, "collection": meta.get("collection") or {},
        "progress": meta.get("progress") or {}, "metrics": meta.get("metrics") or {},
        "config": meta.get("config") or {}, "data_spec": meta.get("data_spec") or {},
        "train_seconds": meta.get("train_seconds"), "hardware": meta.get("hardware"), "created": meta.get("created"),
        "versions": meta.get("versions") or {}, "bytes": path.stat().st_size, "resumable": meta.get("resumable"),
    }


def model_card_text(ref) -> str | None:
    """The Markdown model card shipped beside a checkpoint (``NAME.md`` next to ``NAME.pt``), if any."""
    p = resolve_checkpoint(ref).with_suffix(".md")
    try:
        return p.read_text(encoding="utf-8") if p.is_file() else None
    except OSError:
        return None


def model(ref, device: str = "cpu") -> LoadedModel:
    """The checkpoint's model for inference; every way it can fail is a ``CheckpointError``."""
    path = resolve_checkpoint(ref)
    try:
        return load_model(path, device)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a state dict that no longer matches the model code
        raise CheckpointError(f"{path.name} cannot be rebuilt by this version of explorer "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from e


def model_path(ref) -> Path:
    path = resolve_checkpoint(ref)
    model(path)  # clear CheckpointError before anything else
    return path


def is_generative(ref) -> bool:
    return model(ref).model.generative


@memo(32)
def _embedding_dims(path: str, mtime: float, size: int) -> dict[str, int]:
    lm = model(path)
    spec = lm.spec
    image = torch.zeros(2, 3, 64, 64) if spec.image_input == "pixels64" else torch.zeros(2, spec.image_dim)
    was = lm.model.training
    lm.model.eval()
    try:
        with torch.inference_mode():
            out = lm.model.embed(image.to(lm.device), torch.zeros(2, spec.text_dim, device=lm.device))
    finally:
        lm.model.train(was)
    return {k: int(v.shape[1]) for k, v in out.items()}


def embedding_dims(ref) -> dict[str, int]:
    """{"joint": D} (+ "image"/"text": E for models with per-modality embeddings), from a dummy batch."""
    return _embedding_dims(*checkpoint_stamp(ref))


def model_kinds() -> list[str]:
    from ..models import MODELS

    return list(MODELS)
