"""A collection's embeddings by a checkpoint, on disk: computed once in batches straight into memory-mapped
``.npy`` files, then opened read-only by every process that needs them (the app's pages, ``explorer
export-run``), never held in memory whole and never twice.

Layout: ``CACHE/embeddings/<digest>/`` with one ``<name>.npy`` per embedding ("joint", and "image" /
"text" for crossmodal kinds) and ``key.json``, the key the digest was made from (checkpoint path, mtime,
size; collection digest; dtype; a format version). The folder is written under a temporary name and
renamed when complete, so a killed computation leaves nothing a reader would take (stale temporaries are
removed on the next write). ``dtype`` float16 halves the files (a million 256-d rows: 0.5 GB), at a cost
of about 1e-3 relative error per value.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .cache import key_digest
from .paths import cache_dir

FORMAT_VERSION = 1
DTYPES = ("float32", "float16")


def store_key(checkpoint_stamp: tuple, collection_digest: str, dtype: str = "float32") -> dict:
    path, mtime, size = checkpoint_stamp
    return {"checkpoint": {"path": str(path), "mtime": mtime, "size": size}, "collection": collection_digest,
            "dtype": dtype, "version": FORMAT_VERSION}


def store_dir(key: dict) -> Path:
    return cache_dir() / "embeddings" / key_digest(key)


def load(key: dict) -> dict[str, np.ndarray] | None:
    """The stored embeddings for ``key`` as read-only memory maps, or None when absent or stale."""
    folder = store_dir(key)
    try:
        if json.loads((folder / "key.json").read_text()) != json.loads(json.dumps(key)):
            return None
        return {p.stem: np.load(p, mmap_mode="r") for p in sorted(folder.glob("*.npy"))}
    except (OSError, ValueError):
        return None


def compute(key: dict, embed) -> dict[str, np.ndarray]:
    """Run ``embed(allocate)`` (e.g. ``LoadedModel.embeddings(coll, allocate=...)``) writing into new memory-mapped
    files, publish them atomically, and return them opened read-only."""
    if key["dtype"] not in DTYPES:
        raise ValueError(f"embeddings dtype must be one of {', '.join(DTYPES)}; got {key['dtype']!r}")
    final = store_dir(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):  # left by a killed computation
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    arrays = []

    def allocate(name: str, n: int, dim: int) -> np.ndarray:
        arr = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=key["dtype"], shape=(n, dim))
        arrays.append(arr)
        return arr

    try:
        embed(allocate)
        for arr in arrays:
            arr.flush()
        del arrays[:]
        (tmp / "key.json").write_text(json.dumps(key, indent=1))
        shutil.rmtree(final, ignore_errors=True)  # a stale entry under the same digest (never the case normally)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out = load(key)
    assert out is not None
    return out


def embeddings(key: dict, embed) -> dict[str, np.ndarray]:
    """The stored embeddings for ``key``, computing them with ``embed(allocate)`` the first time."""
    return load(key) or compute(key, embed)
