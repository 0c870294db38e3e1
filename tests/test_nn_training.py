"""Data generators, training and interpolation of the torch bridge."""

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn import data, evaluate, interpolate, interpolate_state_dicts, make_mlp, train
from lmctheory.nn.training import barriers


def test_gaussian_mixture_lives_on_its_subspace():
    ds = data.gaussian_mixture(n_classes=3, k=4, d=20, n_train=300, n_test=100, seed=1)
    U = ds.basis
    assert ds.X_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.X_train.shape == (300, 20) and ds.X_test.shape == (100, 20)
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-10)
    X = ds.X_train.double().numpy()
    np.testing.assert_allclose(X - X @ U @ U.T, 0.0, atol=1e-5)
    assert set(ds.y_train.tolist()) == {0, 1, 2}
    again = data.gaussian_mixture(n_classes=3, k=4, d=20, n_train=300, n_test=100, seed=1)
    assert torch.equal(again.X_train, ds.X_train)
    assert not torch.equal(data.gaussian_mixture(n_classes=3, k=4, d=20, n_train=300, n_test=100, seed=2).X_train,
                           ds.X_train)
    with pytest.raises(ValueError, match="d"):
        data.gaussian_mixture(k=10, d=5)


@pytest.mark.parametrize("embedding", ["copy", "frame"])
@pytest.mark.parametrize("m", [1, 3, 10])
def test_teacher_student_coherence(embedding, m):
    ds = data.teacher_student(c=10, m=m, embedding=embedding, n_train=64, n_test=32, seed=0)
    U = ds.basis
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
    assert np.isclose((U ** 2).sum(1).max(), 1.0 / m)
    assert ds.X_train.shape == (64, 20) and ds.y_train.dtype == torch.float32
    z = ds.X_train.double().numpy() @ U  # recover the latent: target is relu(z1 + z2)
    np.testing.assert_allclose(ds.y_train.double().numpy(), np.maximum(z.sum(1), 0), atol=1e-5)


def test_digits_standardized():
    ds = data.digits(seed=0)
    assert ds.X_train.shape[1] == 64 and ds.X_train.shape[0] + ds.X_test.shape[0] == 1797
    assert ds.n_classes == 10
    assert abs(float(ds.X_train.mean())) < 1e-5


def test_train_reduces_loss_and_is_deterministic():
    ds = data.gaussian_mixture(n_classes=3, k=4, d=16, n_train=256, n_test=128, seed=0)
    m1 = make_mlp(16, 32, 3, n_layers=3, kind="wmlp", seed=0)
    m2 = make_mlp(16, 32, 3, n_layers=3, kind="wmlp", seed=0)
    before = [lay.export() for lay in m1.layers]
    h1 = train(m1, ds.X_train, ds.y_train, epochs=4, lr=1e-2, seed=3)
    for (e0, _, D), lay in zip(before, m1.layers):  # train() never moves a fixed entry
        e1 = lay.export()[0]
        np.testing.assert_array_equal(e1[D == 0], e0[D == 0])
        assert np.abs(e1[D == 1] - e0[D == 1]).max() > 1e-3
    h2 = train(m2, ds.X_train, ds.y_train, epochs=4, lr=1e-2, seed=3)
    assert h1["loss"] == h2["loss"] and h1["loss"][-1] < h1["loss"][0]
    l, a = evaluate(m1, ds.X_test, ds.y_test)
    assert 0 <= a <= 1 and l > 0
    ts = data.teacher_student(c=4, m=2, n_train=128, n_test=64)
    reg = make_mlp(8, 16, 1, n_layers=2, norm=None, activation="relu", seed=0)
    h = train(reg, ts.X_train, ts.y_train, epochs=3, loss="mse", optimizer="sgd", lr=1e-2)
    assert np.isfinite(h["loss"]).all() and np.isnan(evaluate(reg, ts.X_test, ts.y_test, loss="mse")[1])


def test_interpolate_endpoints_and_self_pair():
    ds = data.gaussian_mixture(n_classes=3, k=4, d=16, n_train=200, n_test=100, seed=0)
    a = make_mlp(16, 16, 3, n_layers=3, kind="syre", seed=1, sigma_f=0.3)
    b = make_mlp(16, 16, 3, n_layers=3, kind="syre", seed=2, sigma_f=0.3)
    r = interpolate(a, b, ds.X_test, ds.y_test, lams=[0, 0.25, 0.75, 1])
    assert r.lams.tolist() == [0, 0.25, 0.75, 1]
    assert np.isclose(r.loss[0], evaluate(a, ds.X_test, ds.y_test)[0], rtol=1e-6)
    assert np.isclose(r.acc[-1], evaluate(b, ds.X_test, ds.y_test)[1])
    same = interpolate(a, a, ds.X_test, ds.y_test)
    assert abs(same.barrier_lin) < 1e-5 and abs(same.midpoint_acc_drop) < 1e-9
    d = r.to_dict()
    assert isinstance(d["loss"], list) and isinstance(d["midpoint_acc_drop"], float)


def test_interpolate_state_dicts_mixes_effective_weights():
    a = make_mlp(6, 5, 2, n_layers=2, kind="wmlp", seed=1)
    b = make_mlp(6, 5, 2, n_layers=2, kind="wmlp", seed=2)
    mid = make_mlp(6, 5, 2, n_layers=2, kind="wmlp", seed=3)
    mid.load_state_dict(interpolate_state_dicts(a.state_dict(), b.state_dict(), 0.3))
    want = 0.7 * a.layers[0].effective_weight() + 0.3 * b.layers[0].effective_weight()
    torch.testing.assert_close(mid.layers[0].effective_weight(), want)


def test_barriers_formula():
    lams = np.array([0, 0.5, 1.0])
    b = barriers(lams, [1.0, 3.0, 2.0], [0.9, 0.5, 0.8])
    assert np.isclose(b["barrier_lin"], 1.5) and np.isclose(b["barrier_max"], 1.0)
    assert np.isclose(b["acc_barrier_lin"], 35.0) and np.isclose(b["acc_barrier_max"], 30.0)


def test_interpolation_bad_inputs():
    a = make_mlp(6, 5, 2, n_layers=2, kind="wmlp", mask_seed=0)
    b = make_mlp(6, 5, 2, n_layers=2, kind="wmlp", mask_seed=1)
    X, y = torch.randn(10, 6), torch.zeros(10, dtype=torch.int64)
    with pytest.raises(ValueError, match="mask_seed"):
        interpolate(a, b, X, y)
    with pytest.raises(ValueError, match="endpoints"):
        interpolate(a, a, X, y, lams=[0.2, 1.0])
    with pytest.raises(ValueError, match="lam"):
        interpolate(a, a, X, y, lams=[0, 1.5])
    with pytest.raises(ValueError, match="rows"):
        evaluate(a, X, y[:5])
    with pytest.raises(TypeError, match="X must be a torch tensor"):
        train(a, X.numpy(), y, epochs=1)
    with pytest.raises(ValueError, match="optimizer"):
        train(a, X, y, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="keys"):
        interpolate_state_dicts(a.state_dict(), make_mlp(6, 5, 2, n_layers=3).state_dict(), 0.5)


# --------------------------------------------------------------------------- image inputs, BatchNorm reset

class _BNConvNet(nn.Module):
    """A small CNN with BatchNorm2d, written independently of the package's builders."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.c2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.c1(x)))
        x = torch.relu(self.bn2(self.c2(x)))
        return self.fc(x.mean((2, 3)))


def _bn_pair():
    ds = data.digits(seed=0, as_images=True)
    Xtr, ytr = ds.X_train[:256], ds.y_train[:256]
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = _BNConvNet()
        train(m, Xtr, ytr, epochs=8, lr=2e-2, batch_size=32, seed=seed)
        models.append(m)
    return models, Xtr, ds.X_test[:128], ds.y_test[:128]


def test_digits_as_images():
    flat, img = data.digits(seed=0), data.digits(seed=0, as_images=True)
    assert img.X_train.shape == (flat.X_train.shape[0], 1, 8, 8)
    assert torch.equal(img.X_train.reshape(-1, 64), flat.X_train) and torch.equal(img.y_test, flat.y_test)
    with pytest.raises(TypeError, match="as_images"):
        data.digits(as_images=1)


def test_interpolate_with_and_without_batchnorm_reset():
    from lmctheory.nn.batchnorm import reset_batchnorm

    (a, b), Xtr, Xte, yte = _bn_pair()
    plain = interpolate(a, b, Xte, yte, lams=[0.0, 0.5, 1.0])
    reset = interpolate(a, b, Xte, yte, lams=[0.0, 0.5, 1.0], reset_bn=Xtr, bn_batch_size=None)
    probe = _BNConvNet()
    probe.load_state_dict(interpolate_state_dicts(a.state_dict(), b.state_dict(), 0.5))
    stale = evaluate(probe, Xte, yte)  # interpolated running statistics, as they are
    assert np.isclose(plain.loss[1], stale[0], rtol=1e-6) and np.isclose(plain.acc[1], stale[1])
    reset_batchnorm(probe, Xtr, batch_size=None)
    fresh = evaluate(probe, Xte, yte)
    assert np.isclose(reset.loss[1], fresh[0], rtol=1e-6) and np.isclose(reset.acc[1], fresh[1])
    assert abs(fresh[0] - stale[0]) > 1e-3  # the reset changes the midpoint (measured: 2.146 stale vs 1.933 reset)
    # endpoints are reset too, and a tensor and a list of the same batches agree
    a_reset = _BNConvNet()
    a_reset.load_state_dict(a.state_dict())
    reset_batchnorm(a_reset, Xtr, batch_size=None)
    assert np.isclose(reset.loss[0], evaluate(a_reset, Xte, yte)[0], rtol=1e-6)
    listed = interpolate(a, b, Xte, yte, lams=[0.0, 0.5, 1.0], reset_bn=[(Xtr, None)])
    np.testing.assert_allclose(listed.loss, reset.loss, rtol=1e-6)
    with pytest.raises(TypeError, match="reset_bn"):
        interpolate(a, b, Xte, yte, reset_bn=Xtr.numpy())
    with pytest.raises(ValueError, match="reset_bn"):
        interpolate(a, b, Xte, yte, reset_bn=torch.full_like(Xtr, float("nan")))
    with pytest.raises(ValueError, match="bn_batch_size"):
        interpolate(a, b, Xte, yte, reset_bn=Xtr, bn_batch_size=1)


def test_image_inputs_and_step_counters():
    (a, b), Xtr, Xte, yte = _bn_pair()
    b.bn1.num_batches_tracked += 5  # different step counters are not architecture
    r = interpolate(a, b, Xte.double(), yte, lams=[0.0, 1.0])
    assert np.isclose(r.loss[0], evaluate(a, Xte, yte)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        evaluate(a, Xte[:, :, :0], yte)
    with pytest.raises(ValueError, match="inf"):
        train(a, torch.full((4, 1, 8, 8), float("inf")), yte[:4], epochs=1)


def test_check_pair_reads_any_layer_with_F_and_D():
    class MyAsym(nn.Module):
        def __init__(self, seed):
            super().__init__()
            g = torch.Generator().manual_seed(seed)
            self.register_buffer("F", torch.randn(3, 4, generator=g))
            self.register_buffer("D", torch.ones(3, 4))
            self.weight = nn.Parameter(torch.zeros(3, 4))

        def forward(self, x):
            return x @ (self.F + self.D * self.weight).T

    X, y = torch.randn(8, 4), torch.zeros(8, dtype=torch.int64)
    r = interpolate(MyAsym(0), MyAsym(0), X, y, lams=[0.0, 1.0])
    assert np.isfinite(r.loss).all()
    with pytest.raises(ValueError, match="different F"):
        interpolate(MyAsym(0), MyAsym(1), X, y)
