"""On-disk result cache shared by ``paper_checks``, ``lmctheory.figures`` and sweeps.

Entries are keyed by a hash of their configuration (a JSON-serializable dict) and hold plain
data only: ``.npz`` arrays, ``.json`` documents, or torch state dicts (``torch.save``, loaded back
with ``weights_only=True``) — never pickled objects. Every write is atomic (temporary file in the
same folder, then ``os.replace``), so an interrupted run never leaves a half-written entry. Each
entry records the configuration it was computed for; an entry that cannot be read, or whose
recorded configuration differs from the requested one, is treated as missing (and removed) so the
caller recomputes it instead of crashing.

Location: ``$LMCTHEORY_CACHE`` if set, else ``$XDG_CACHE_HOME/lmctheory`` (default
``~/.cache/lmctheory``). Pass ``root=`` to use another folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["default_cache_dir", "config_key", "DiskCache"]

CACHE_FORMAT = 1  # bump to invalidate every entry after a change in what entries mean


def default_cache_dir() -> Path:
    env = os.environ.get("LMCTHEORY_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmctheory"


def _canonical(config: dict) -> str:
    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (tuple, set)):
            return list(o)
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"config value of type {type(o).__name__} is not JSON-serializable")

    return json.dumps({"__format__": CACHE_FORMAT, **config}, sort_keys=True, default=default)


def config_key(config: dict) -> str:
    """Stable 16-hex-digit key of a JSON-serializable configuration dict."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    return hashlib.sha256(_canonical(config).encode()).hexdigest()[:16]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class DiskCache:
    """A folder of cache entries, one namespace per experiment family.

    >>> cache = DiskCache(namespace="demo", root=tmp_path)           # doctest: +SKIP
    >>> arrays = cache.get_or_compute_npz({"seed": 0}, lambda: {"x": np.arange(3)})  # doctest: +SKIP
    """

    def __init__(self, namespace: str = "default", root: str | os.PathLike | None = None):
        if not isinstance(namespace, str) or not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.dir = self.root / namespace

    # -- paths -------------------------------------------------------------------------------
    def path(self, config: dict, suffix: str) -> Path:
        return self.dir / f"{config_key(config)}{suffix}"

    def _drop(self, path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    # -- npz -----------------------------------------------------------------------------------
    def save_npz(self, config: dict, arrays: dict[str, Any]) -> Path:
        path = self.path(config, ".npz")
        buf = io.BytesIO()
        payload = {k: np.asarray(v) for k, v in arrays.items()}
        for k, v in payload.items():
            if v.dtype == object:
                raise TypeError(f"cache entry {k!r} is an object array; store plain numeric data")
        payload["__config__"] = np.array(_canonical(config))
        np.savez(buf, **payload)
        _atomic_write_bytes(path, buf.getvalue())
        return path

    def load_npz(self, config: dict) -> dict[str, np.ndarray] | None:
        path = self.path(config, ".npz")
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["__config__"]) != _canonical(config):
                    raise ValueError("stale entry")
                return {k: z[k] for k in z.files if k != "__config__"}
        except Exception:
            self._drop(path)
            return None

    def get_or_compute_npz(self, config: dict, compute: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        hit = self.load_npz(config)
        if hit is not None:
            return hit
        arrays = compute()
        self.save_npz(config, arrays)
        return {k: np.asarray(v) for k, v in arrays.items()}

    # -- json ----------------------------------------------------------------------------------
    def save_json(self, config: dict, doc: Any) -> Path:
        path = self.path(config, ".json")
        data = json.dumps({"config": json.loads(_canonical(config)), "data": doc}, default=float)
        _atomic_write_bytes(path, data.encode())
        return path

    def load_json(self, config: dict) -> Any | None:
        path = self.path(config, ".json")
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
            if doc["config"] != json.loads(_canonical(config)):
                raise ValueError("stale entry")
            return doc["data"]
        except Exception:
            self._drop(path)
            return None

    def get_or_compute_json(self, config: dict, compute: Callable[[], Any]) -> Any:
        hit = self.load_json(config)
        if hit is not None:
            return hit
        doc = compute()
        self.save_json(config, doc)
        return json.loads(json.dumps(doc, default=float))

    # -- torch state dicts ---------------------------------------------------------------------
    def save_state_dict(self, config: dict, state_dict: dict) -> Path:
        import torch

        path = self.path(config, ".pt")
        buf = io.BytesIO()
        torch.save({"__config__": _canonical(config), "state_dict": state_dict}, buf)
        _atomic_write_bytes(path, buf.getvalue())
        return path

    def load_state_dict(self, config: dict) -> dict | None:
        import torch

        path = self.path(config, ".pt")
        if not path.exists():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if obj["__config__"] != _canonical(config):
                raise ValueError("stale entry")
            return obj["state_dict"]
        except Exception:
            self._drop(path)
            return None

    def clear(self) -> None:
        """Remove every entry of this namespace."""
        if self.dir.exists():
            for p in self.dir.iterdir():
                if p.is_file():
                    self._drop(p)
