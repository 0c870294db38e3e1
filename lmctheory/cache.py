"""On-disk result cache shared by ``paper_checks``, ``lmctheory.figures`` and sweeps.

Entries are keyed by a hash of their configuration (a JSON-serializable dict) and hold plain
data only: ``.npz`` arrays, ``.json`` documents, or torch state dicts (``torch.save``, loaded back
with ``weights_only=True``) — never pickled objects.

Guarantees
----------
*Atomic writes.* Every write goes to a temporary file in the same folder (``.<entry>.<host>.<pid>.…tmp``),
is fsynced, then renamed over the entry (``os.replace``): an interrupted or killed run never leaves a
half-written entry. Temporary files left by a killed writer (``kill -9``) are removed by the next
writer in that folder once they are older than :data:`STALE_TMP_SECONDS` and their process (same host)
is gone.

*No lost results.* An entry is deleted only when it is proven unusable: it was read and does not
parse (JSON syntax; for ``.npz``/``.pt`` a zip archive whose magic, directory or CRC check fails), or
the configuration it records differs from the requested one (a hash collision or a hand-copied file).
A read that fails for another reason (``PermissionError``, an I/O error, or a well-formed archive this
numpy/torch cannot read) leaves the file untouched and counts as a miss, with a warning;
``MemoryError`` propagates. A cache that cannot be written (read-only, full disk, no permission)
makes :meth:`DiskCache.get_or_compute_npz` and friends (and :func:`lmctheory.sweep.run_jobs`) warn once
per folder and return the freshly computed result uncached; the explicit ``save_*`` methods raise.

*Permissions.* New entries get the read/write bits of their folder, less the umask (``0700`` folder →
``0600`` entries; a group-shared ``2775`` folder with umask ``002`` → ``0664``; umask ``022`` → ``0644``).

Keys: configurations are serialized canonically (sorted keys; sets and frozensets as sorted lists;
tuples as lists; numpy scalars and arrays as plain numbers), so a key is the same in every process
(independent of ``PYTHONHASHSEED``).

Location: ``$LMCTHEORY_CACHE`` if set, else ``$XDG_CACHE_HOME/lmctheory`` (default
``~/.cache/lmctheory``). Pass ``root=`` to use another folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["default_cache_dir", "config_key", "DiskCache", "CacheWarning", "STALE_TMP_SECONDS"]

CACHE_FORMAT = 1  # bump to invalidate every entry after a change in what entries mean

#: age (seconds) after which a temporary file whose writer is gone is removed
STALE_TMP_SECONDS = 3600.0


class CacheWarning(UserWarning):
    """The cache could not be read or written; the result was computed (or returned) uncached."""


def default_cache_dir() -> Path:
    env = os.environ.get("LMCTHEORY_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmctheory"


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    if isinstance(o, (set, frozenset)):
        # iteration order of a set of strings depends on PYTHONHASHSEED: sort by canonical form
        return sorted(o, key=lambda e: json.dumps(e, sort_keys=True, default=_json_default))
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"config value of type {type(o).__name__} is not JSON-serializable")


def _canonical(config: dict) -> str:
    return json.dumps({"__format__": CACHE_FORMAT, **config}, sort_keys=True, default=_json_default)


def config_key(config: dict) -> str:
    """Stable 16-hex-digit key of a JSON-serializable configuration dict (same in every process)."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    return hashlib.sha256(_canonical(config).encode()).hexdigest()[:16]


_HOST = socket.gethostname().replace(".", "_") or "host"


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would race with other threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _entry_mode(folder: Path) -> int:
    """Permission bits of a new entry: the folder's read/write bits (no execute), less the umask."""
    try:
        return stat.S_IMODE(folder.stat().st_mode) & 0o666 & ~_umask()
    except OSError:
        return 0o600


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, then ``os.replace``.

    Internal API, shared with the paper checks' report writer; creates the parent folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _entry_mode(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: exists, another user's
        return True
    return True


def _stale_tmp(p: Path, now: float, max_age: float) -> bool:
    """A ``.<entry>.<host>.<pid>.<rand>.tmp`` file older than ``max_age`` whose writer is not running."""
    try:
        if now - p.stat().st_mtime < max_age:
            return False
    except OSError:
        return False
    parts = p.name[:-len(".tmp")].split(".")
    # parts: ["", <entry stem>, <entry suffix>, <host>, <pid>, <rand>]; older names lack host/pid
    if len(parts) >= 3 and parts[-3] == _HOST and parts[-2].isdigit():
        return not _pid_alive(int(parts[-2]))
    return True  # another host (shared file system) or an old-style name: age alone decides


_warned: set = set()


def _warn_once(key, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, CacheWarning, stacklevel=4)


def _zip_is_damaged(path: Path) -> bool:
    """True when ``path`` is provably not an intact zip archive (bad magic, directory or CRC).

    Streams the file (no second copy in memory). ``OSError`` (permission, I/O) and ``MemoryError``
    propagate: they prove nothing about the file.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is not None
    except (OSError, MemoryError):
        raise
    except Exception:  # BadZipFile, zlib.error, EOFError, ...: the bytes read are damaged
        return True


class _Corrupt(Exception):
    """The entry's bytes were read in full and are provably unusable (or stale)."""


class DiskCache:
    """A folder of cache entries, one namespace per experiment family (see the module doc for guarantees).

    >>> cache = DiskCache(namespace="demo", root=tmp_path)           # doctest: +SKIP
    >>> arrays = cache.get_or_compute_npz({"seed": 0}, lambda: {"x": np.arange(3)})  # doctest: +SKIP
    """

    def __init__(self, namespace: str = "default", root: str | os.PathLike | None = None):
        if not isinstance(namespace, str) or not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.dir = self.root / namespace
        self._cleaned = False

    # -- paths -------------------------------------------------------------------------------
    def path(self, config: dict, suffix: str) -> Path:
        return self.dir / f"{config_key(config)}{suffix}"

    def _drop(self, path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def clean_stale_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove temporary files of killed writers (older than ``max_age`` s, writer not running).

        Returns the number removed. Called automatically before the first write of this instance.
        """
        n = 0
        now = time.time()
        try:
            candidates = [p for p in self.dir.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
        except OSError:
            return 0
        for p in candidates:
            if _stale_tmp(p, now, max_age):
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
        return n

    def _write(self, path: Path, data: bytes) -> Path:
        if not self._cleaned:
            self._cleaned = True
            self.clean_stale_tmp()
        atomic_write_bytes(path, data)
        return path

    def _load(self, config: dict, suffix: str, parse: Callable[[Path, str], Any], damaged: Callable[[Path], bool]):
        """``parse(path, canonical config)``; a failure deletes the entry only when ``damaged`` proves it."""
        path = self.path(config, suffix)
        try:
            return parse(path, _canonical(config))
        except FileNotFoundError:
            return None
        except MemoryError:
            raise
        except _Corrupt:
            self._drop(path)
            return None
        except Exception as exc:
            try:
                bad = damaged(path)
            except FileNotFoundError:
                return None
            except OSError:  # unreadable (permission, I/O): nothing is proven about the entry
                bad = False
            if bad:
                self._drop(path)
            else:
                _warn_once(("load", str(self.dir), type(exc).__name__),
                           f"cache entry {path} could not be read ({type(exc).__name__}: {exc}); "
                           "treated as missing, file left in place")
            return None

    def store_quietly(self, save: Callable[[], Path]) -> None:
        """Call ``save()``; an ``OSError`` (read-only or full cache) warns once per folder and is swallowed, so the
        caller keeps its result and runs uncached."""
        try:
            save()
        except OSError as exc:  # read-only, ENOSPC, EACCES, ...: keep the result, run uncached
            _warn_once(("write", str(self.dir), exc.errno),
                       f"cache folder {self.dir} cannot be written ({type(exc).__name__}: {exc}); "
                       "continuing without caching")

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
        return self._write(path, buf.getvalue())

    @staticmethod
    def _parse_npz(path: Path, canon: str):
        with np.load(path, allow_pickle=False) as z:
            if "__config__" not in z.files or str(z["__config__"]) != canon:
                raise _Corrupt("stale entry")
            return {k: z[k] for k in z.files if k != "__config__"}

    def load_npz(self, config: dict) -> dict[str, np.ndarray] | None:
        return self._load(config, ".npz", self._parse_npz, _zip_is_damaged)

    def get_or_compute_npz(self, config: dict, compute: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        hit = self.load_npz(config)
        if hit is not None:
            return hit
        arrays = compute()
        self.store_quietly(lambda: self.save_npz(config, arrays))
        return {k: np.asarray(v) for k, v in arrays.items()}

    # -- json ----------------------------------------------------------------------------------
    def save_json(self, config: dict, doc: Any) -> Path:
        path = self.path(config, ".json")
        data = json.dumps({"config": json.loads(_canonical(config)), "data": doc}, default=float)
        return self._write(path, data.encode())

    @staticmethod
    def _parse_json(path: Path, canon: str):
        data = path.read_bytes()  # OSError / MemoryError here prove nothing: handled by _load
        try:
            doc = json.loads(data.decode())
            cfg, payload = doc["config"], doc["data"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise _Corrupt(str(exc)) from None
        if cfg != json.loads(canon):
            raise _Corrupt("stale entry")
        return payload

    def load_json(self, config: dict) -> Any | None:
        # syntax errors are caught in _parse_json; anything else is not proof of damage
        return self._load(config, ".json", self._parse_json, lambda data: False)

    def get_or_compute_json(self, config: dict, compute: Callable[[], Any]) -> Any:
        hit = self.load_json(config)
        if hit is not None:
            return hit
        doc = compute()
        self.store_quietly(lambda: self.save_json(config, doc))
        return json.loads(json.dumps(doc, default=float))

    # -- torch state dicts ---------------------------------------------------------------------
    def save_state_dict(self, config: dict, state_dict: dict) -> Path:
        import torch

        path = self.path(config, ".pt")
        buf = io.BytesIO()
        torch.save({"__config__": _canonical(config), "state_dict": state_dict}, buf)
        return self._write(path, buf.getvalue())

    @staticmethod
    def _parse_pt(path: Path, canon: str):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or "state_dict" not in obj:
            raise _Corrupt("not a cache entry")
        if obj.get("__config__") != canon:
            raise _Corrupt("stale entry")
        return obj["state_dict"]

    def load_state_dict(self, config: dict) -> dict | None:
        return self._load(config, ".pt", self._parse_pt, _zip_is_damaged)

    def clear(self) -> None:
        """Remove every entry (and temporary file) of this namespace."""
        if self.dir.exists():
            for p in self.dir.iterdir():
                if p.is_file():
                    self._drop(p)
