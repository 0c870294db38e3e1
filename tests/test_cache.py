"""DiskCache: round trips, stale and corrupt entries, no pickles."""

import json

import numpy as np
import pytest

from lmctheory.cache import DiskCache, config_key


def test_config_key_is_order_independent_and_distinguishes_values():
    assert config_key({"a": 1, "b": 2}) == config_key({"b": 2, "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    with pytest.raises(TypeError, match="config"):
        config_key([1, 2])


def test_npz_roundtrip_and_stale_entry(tmp_path):
    cache = DiskCache("t", root=tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0)}

    a = cache.get_or_compute_npz({"s": 1}, compute)
    b = cache.get_or_compute_npz({"s": 1}, compute)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert len(calls) == 1
    # an entry whose recorded config differs (e.g. a hash collision or a hand-copied file) is stale
    path = cache.path({"s": 1}, ".npz")
    path.rename(cache.path({"s": 2}, ".npz"))
    assert cache.load_npz({"s": 2}) is None
    assert not cache.path({"s": 2}, ".npz").exists()


def test_corrupt_entries_are_dropped(tmp_path):
    cache = DiskCache("t", root=tmp_path)
    cache.save_json({"s": 1}, {"v": 1})
    cache.path({"s": 1}, ".json").write_text("{truncated")
    assert cache.load_json({"s": 1}) is None
    cache.save_npz({"s": 1}, {"x": np.ones(2)})
    cache.path({"s": 1}, ".npz").write_bytes(b"garbage")
    assert cache.load_npz({"s": 1}) is None


def test_object_arrays_are_refused(tmp_path):
    cache = DiskCache("t", root=tmp_path)
    with pytest.raises(TypeError, match="object"):
        cache.save_npz({"s": 1}, {"x": np.array([{"a": 1}], dtype=object)})


def test_state_dict_roundtrip(tmp_path):
    torch = pytest.importorskip("torch")
    cache = DiskCache("t", root=tmp_path)
    sd = torch.nn.Linear(3, 2).state_dict()
    cache.save_state_dict({"s": 1}, sd)
    back = cache.load_state_dict({"s": 1})
    for k in sd:
        assert torch.equal(sd[k], back[k])
    assert cache.load_state_dict({"s": 2}) is None


def test_json_roundtrip(tmp_path):
    cache = DiskCache("t", root=tmp_path)
    doc = cache.get_or_compute_json({"s": 1}, lambda: {"v": [1.5, 2]})
    assert doc == json.loads(json.dumps({"v": [1.5, 2]}))
    assert cache.load_json({"s": 1}) == doc


# ----- reliability: never delete a valid entry, never lose a computed result -----------------

import errno  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

from lmctheory import cache as cache_mod  # noqa: E402
from lmctheory.cache import CacheWarning  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_warnings():
    cache_mod._warned.clear()
    yield
    cache_mod._warned.clear()


def _entries(cache):
    return {p.name: p.read_bytes() for p in cache.dir.iterdir()}


@pytest.mark.parametrize("exc", [MemoryError(), PermissionError(errno.EACCES, "denied"), OSError(errno.EIO, "I/O")])
@pytest.mark.parametrize("kind", ["npz", "json", "pt"])
def test_failed_read_never_deletes_a_valid_entry(tmp_path, monkeypatch, exc, kind):
    import builtins
    import io

    c = DiskCache("t", root=tmp_path)
    if kind == "npz":
        c.save_npz({"s": 1}, {"x": np.arange(3.0)})
        load = c.load_npz
    elif kind == "json":
        c.save_json({"s": 1}, {"v": 1})
        load = c.load_json
    else:
        torch = pytest.importorskip("torch")
        c.save_state_dict({"s": 1}, {"w": torch.ones(2)})
        load = c.load_state_dict
    before = _entries(c)
    real_open = builtins.open

    def failing_open(file, *a, **k):  # every read of the entry fails (a 0600 file of another user, EIO, ...)
        if str(tmp_path) in str(file):
            raise exc
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(io, "open", failing_open)
    if isinstance(exc, MemoryError):
        with pytest.raises(MemoryError):
            load({"s": 1})
    else:
        with pytest.warns(CacheWarning, match="could not be read"):
            assert load({"s": 1}) is None
    monkeypatch.undo()
    assert _entries(c) == before  # untouched
    assert load({"s": 1}) is not None


def test_memory_error_while_parsing_keeps_entry(tmp_path, monkeypatch):
    c = DiskCache("t", root=tmp_path)
    c.save_npz({"s": 1}, {"x": np.arange(3.0)})

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(np, "load", boom)
    with pytest.raises(MemoryError):
        c.load_npz({"s": 1})
    monkeypatch.undo()
    assert c.load_npz({"s": 1})["x"].tolist() == [0.0, 1.0, 2.0]


def test_intact_archive_that_fails_to_parse_is_kept(tmp_path, monkeypatch):
    # a well-formed zip this numpy cannot read (e.g. written by another version) is not proof of damage
    c = DiskCache("t", root=tmp_path)
    c.save_npz({"s": 1}, {"x": np.arange(3.0)})

    def unsupported(*a, **k):
        raise ValueError("unsupported format version")

    monkeypatch.setattr(np, "load", unsupported)
    with pytest.warns(CacheWarning, match="could not be read"):
        assert c.load_npz({"s": 1}) is None
    assert c.path({"s": 1}, ".npz").exists()


def test_truncated_and_bitflipped_entries_are_dropped(tmp_path):
    c = DiskCache("t", root=tmp_path)
    p = c.save_npz({"s": 1}, {"x": np.arange(1000.0)})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert c.load_npz({"s": 1}) is None and not p.exists()
    p = c.save_npz({"s": 1}, {"x": np.arange(1000.0)})
    b = bytearray(data)
    b[200] ^= 0xFF  # inside the stored array: CRC mismatch
    p.write_bytes(bytes(b))
    assert c.load_npz({"s": 1}) is None and not p.exists()


def test_entries_follow_folder_permissions(tmp_path):
    old_umask = os.umask(0o002)  # a group-sharing user's umask
    try:
        _check_entry_modes(tmp_path)
    finally:
        os.umask(old_umask)


def _check_entry_modes(tmp_path):
    shared = tmp_path / "shared"
    (shared / "t").mkdir(parents=True)
    os.chmod(shared / "t", 0o2775)
    p = DiskCache("t", root=shared).save_json({"s": 1}, 1)
    assert p.stat().st_mode & 0o777 == 0o664
    private = tmp_path / "private"
    (private / "t").mkdir(parents=True)
    os.chmod(private / "t", 0o700)
    p = DiskCache("t", root=private).save_json({"s": 1}, 1)
    assert p.stat().st_mode & 0o777 == 0o600


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_tmp_files_of_killed_writers_are_removed(tmp_path):
    c = DiskCache("t", root=tmp_path)
    c.dir.mkdir(parents=True)
    host = cache_mod._HOST
    old = time.time() - 2 * cache_mod.STALE_TMP_SECONDS
    dead = c.dir / f".abc.npz.{host}.{_dead_pid()}.x1y2.tmp"
    live = c.dir / f".abc.npz.{host}.{os.getpid()}.x1y3.tmp"  # this process: a live writer
    fresh = c.dir / f".abc.npz.{host}.{_dead_pid()}.x1y4.tmp"  # writer gone but recent
    other = c.dir / ".abc.npz.otherhost.1.x1y5.tmp"  # another host: age decides
    for f in (dead, live, fresh, other):
        f.write_bytes(b"partial")
    for f in (dead, live, other):
        os.utime(f, (old, old))
    c.save_json({"s": 1}, 1)  # the first write cleans up
    assert not dead.exists() and not other.exists()
    assert live.exists() and fresh.exists()
    assert c.load_json({"s": 1}) == 1


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_unwritable_cache_warns_once_and_returns_results(tmp_path, monkeypatch, err):
    def fail(path, data):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod, "atomic_write_bytes", fail)
    c = DiskCache("t", root=tmp_path)
    with pytest.warns(CacheWarning, match="cannot be written"):
        a = c.get_or_compute_npz({"s": 1}, lambda: {"x": np.arange(3)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per folder
        b = c.get_or_compute_json({"s": 2}, lambda: {"v": 2})
    assert a["x"].tolist() == [0, 1, 2] and b == {"v": 2}
    with pytest.raises(OSError):  # an explicit save still raises
        c.save_json({"s": 3}, 3)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_really_read_only_folder(tmp_path):
    (tmp_path / "t").mkdir()
    os.chmod(tmp_path / "t", 0o555)
    try:
        with pytest.warns(CacheWarning):
            assert DiskCache("t", root=tmp_path).get_or_compute_json({"s": 1}, lambda: 5) == 5
    finally:
        os.chmod(tmp_path / "t", 0o755)


def test_set_valued_configs_have_one_key_across_processes():
    code = ("from lmctheory.cache import config_key; "
            "print(config_key({'tags': {'alpha', 'beta', 'gamma', 'delta'}, 'f': frozenset({'x', 'y', 'z'})}))")
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                             cwd=str(Path(__file__).resolve().parents[1]))
        keys.add(out.stdout.strip())
    assert len(keys) == 1
    assert config_key({"t": {"b", "a"}}) == config_key({"t": ["a", "b"]})
    assert config_key({"t": {3, 1, 2}}) == config_key({"t": {2, 3, 1}})
