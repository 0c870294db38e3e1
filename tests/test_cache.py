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
