"""Where things live on disk: the data root, the models root, the cache and the shipped checkpoints.

Resolution order (each overridable by an environment variable, so tests and CI can point elsewhere):
- data root:   ``$EXPLORER_DATA``, else ``../shared/data`` beside the repository (or beside the
               current directory) when it exists;
- models root: ``$EXPLORER_MODELS``, else ``../shared/models`` likewise (pretrained visual models);
- cache:       ``$EXPLORER_CACHE``, else ``<repo>/.cache`` (features, word vectors, projections);
- checkpoints: ``$EXPLORER_SHIPPED``, else ``<repo>/checkpoints`` (shipped ``KIND-COLLECTION.pt`` files);
- ingested collections: ``$EXPLORER_COLLECTIONS``, else ``<repo>/runs/collections``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class DataRootError(FileNotFoundError):
    """No data root could be found (set EXPLORER_DATA)."""


def _sibling_shared(sub: str) -> Path | None:
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base.parent / "shared" / sub
        if candidate.is_dir():
            return candidate
    return None


def data_root(required: bool = True) -> Path | None:
    """The folder holding named collections (``EXPLORER_DATA`` or ``../shared/data``)."""
    env = os.environ.get("EXPLORER_DATA")
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise DataRootError(f"EXPLORER_DATA={env!r} is not a directory")
        return root
    root = _sibling_shared("data")
    if root is None and required:
        raise DataRootError(
            "no data root: set EXPLORER_DATA to the folder holding your collections "
            "(default ../shared/data beside the repository, which does not exist here)"
        )
    return root


def models_root() -> Path | None:
    """The folder holding pretrained visual models (``EXPLORER_MODELS`` or ``../shared/models``)."""
    env = os.environ.get("EXPLORER_MODELS")
    if env:
        return Path(env).expanduser()
    return _sibling_shared("models")


def cache_dir() -> Path:
    """Writable cache for derived data (features, word vectors, UMAP projections)."""
    env = os.environ.get("EXPLORER_CACHE")
    path = Path(env).expanduser() if env else REPO_ROOT / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoints_dir() -> Path:
    """Shipped checkpoints, named ``KIND-COLLECTION.pt`` (``$EXPLORER_SHIPPED`` overrides, e.g. in tests)."""
    env = os.environ.get("EXPLORER_SHIPPED")
    return Path(env).expanduser() if env else REPO_ROOT / "checkpoints"


def collections_dir() -> Path:
    """Where ingested collections go (the app's Ingest form, ``bench/bench_video_road.py``):
    ``$EXPLORER_COLLECTIONS``, else ``<runs>/collections``. Its folders are listed beside the data
    root's, which wins on a name clash."""
    env = os.environ.get("EXPLORER_COLLECTIONS")
    return Path(env).expanduser() if env else runs_dir() / "collections"


def runs_dir() -> Path:
    """Default parent of training run directories (``$EXPLORER_RUNS`` or ``<repo>/runs``)."""
    env = os.environ.get("EXPLORER_RUNS")
    return Path(env).expanduser() if env else REPO_ROOT / "runs"
