"""The api's one in-memory cache: ``Memo``, a thread-safe LRU of computed values keyed by what identifies their
inputs on disk (a checkpoint's (path, mtime, size), a collection's stamp or digest). A key whose files change is a
new key, so nothing stale is served; the oldest entries fall out beyond ``maxsize``.

Two app sessions asking for the same missing value at once compute it once (a lock per key); different keys
compute in parallel. Disk caches (features, hyperlink indexes, projections) are ``explorer.cache``."""

from __future__ import annotations

import collections
import functools
import threading
from typing import Any, Callable, Hashable


class Memo:
    """``memo.get(key, compute)``: the value for ``key``, computing it with ``compute()`` once; ``key in memo``."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._values: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.Lock()  # guards _values and _computing
        self._computing: dict[Hashable, threading.Lock] = {}

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:  # a second caller of the same key waits here for the first one's value
            with self._lock:
                if key in self._values:
                    return self._values[key]
            try:
                value = compute()  # an exception is not cached: the next call tries again
                with self._lock:
                    self._values[key] = value
                    while len(self._values) > self.maxsize:
                        self._values.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._computing.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def memo(maxsize: int) -> Callable:
    """Decorator: ``fn(*args)`` memoised in a ``Memo`` keyed by its (hashable, positional) arguments."""
    def wrap(fn: Callable) -> Callable:
        store = Memo(maxsize)

        @functools.wraps(fn)
        def call(*args):
            return store.get(args, lambda: fn(*args))

        call.memo = store
        return call

    return wrap
