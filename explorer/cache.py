"""On-disk cache of derived arrays (visual features, keyframe tensors, word vectors, projections).

An entry is keyed by a *namespace* (e.g. ``"visual/mobilenet"``) and a *key* dict of plain values
(collection fingerprint, extractor version, parameters). The key is hashed into the file name and
also stored beside the arrays, so an entry whose stored key differs (a stale one) is recomputed.
Entries are written atomically (temp file + ``os.replace``): a crash never leaves a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .paths import cache_dir


def key_digest(key: dict) -> str:
    """Stable 16-hex digest of a JSON-able key dict."""
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data and checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def entry_path(namespace: str, key: dict) -> Path:
    return cache_dir() / namespace / f"{key_digest(key)}.npz"


def load_arrays(namespace: str, key: dict) -> dict[str, np.ndarray] | None:
    """The cached arrays for ``key``, or None when absent, unreadable or stale."""
    path = entry_path(namespace, key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored_key = json.loads(str(z["__key__"]))
            if stored_key != json.loads(json.dumps(key, sort_keys=True, default=str)):
                return None
            return {k: z[k] for k in z.files if k != "__key__"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # corrupt entry: treated as a miss and overwritten


def save_arrays(namespace: str, key: dict, arrays: dict[str, np.ndarray]) -> Path:
    import io

    path = entry_path(namespace, key)
    buf = io.BytesIO()
    np.savez(buf, __key__=np.array(json.dumps(key, sort_keys=True, default=str)), **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def cached_arrays(
    namespace: str, key: dict, compute: Callable[[], dict[str, np.ndarray]], refresh: bool = False
) -> dict[str, np.ndarray]:
    """Return the cached arrays for ``key``; compute and store them when missing or stale."""
    if not refresh:
        hit = load_arrays(namespace, key)
        if hit is not None:
            return hit
    arrays = compute()
    save_arrays(namespace, key, arrays)
    return arrays


def cached_json(namespace: str, key: dict, compute: Callable[[], object]):
    """A small JSON-able value for ``key``, computed once and kept as ``CACHE/namespace/<digest>.json`` beside
    its key (a stale or unreadable entry is recomputed); an unwritable cache only costs the computing."""
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    path = cache_dir() / namespace / f"{key_digest(key)}.json"
    try:
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key and "value" in stored:
            return stored["value"]
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        atomic_write_text(path, json.dumps({"key": key, "value": value}))
    except OSError:
        pass
    return value
