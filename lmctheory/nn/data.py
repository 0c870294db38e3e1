"""Datasets that need no download (docs/experiments.md "Data that needs no download").

- :func:`gaussian_mixture` — the Gaussian subspace mixture of [NI] F.6 (intrinsic dimension ``k`` exact);
- :func:`teacher_student` — the coherence teacher–student task of [NI] F.5 (coherence ``ν = 1/m``);
- :func:`digits` — scikit-learn's bundled 8×8 digits (stand-in for MNIST).

All generators are deterministic in ``seed`` and return a frozen :class:`Dataset` with float32
inputs and int64 class labels (float32 targets for regression).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import check_bool, check_choice, check_int, check_scalar, check_seed
from ..synthetic import random_basis

__all__ = ["Dataset", "gaussian_mixture", "teacher_student", "digits"]


@dataclass(frozen=True)
class Dataset:
    """Train/test split as torch tensors.

    Attributes
    ----------
    X_train, X_test : torch.Tensor, float32, shape (N, d) (images: (N, C, H, W))
    y_train, y_test : torch.Tensor, int64 (classification, shape (N,)) or float32 (regression, shape (N,))
    basis : numpy.ndarray or None
        Orthonormal ``U ∈ R^{d×k}`` of the input support when known exactly (``x = U z``).
    n_classes : int or None
        Number of classes (None for regression).
    info : dict
        Generator parameters (JSON-able).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    basis: np.ndarray | None = None
    n_classes: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def U(self) -> np.ndarray | None:
        """Alias of :attr:`basis`."""
        return self.basis

    @property
    def in_dim(self) -> int:
        return int(self.X_train.shape[1])


def gaussian_mixture(
    n_classes: int = 5,
    k: int = 8,
    d: int = 64,
    n_train: int = 2000,
    n_test: int = 1000,
    separation: float = 1.0,
    seed: int = 0,
    *,
    noise_scale: float = 1.0,
    anisotropy: float = 1.0,
) -> Dataset:
    """Gaussian subspace mixture ([NI] F.6): ``x = U z``, ``z = μ_y + Q_y (s ⊙ ε)``.

    Class centers ``μ_c ~ N(0, separation²·I_k)``; ``ε ~ N(0, I_k)``; direction-wise noise scales
    ``s_j = noise_scale·exp(−anisotropy·j/k)``, ``j = 0…k−1`` (anisotropic: the PCA dimension at
    90% variance can fall below ``k``); ``Q_c`` a Haar-random orthogonal ``k×k`` per class; ``U`` a
    Haar-random orthonormal ``d×k`` basis (:func:`lmctheory.synthetic.random_basis`). Labels are
    uniform over classes. Returns ``basis = U``.
    """
    n_classes = check_int(n_classes, "n_classes", low=2)
    k = check_int(k, "k", low=1)
    d = check_int(d, "d", low=k)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    separation = check_scalar(separation, "separation", low=0.0)
    noise_scale = check_scalar(noise_scale, "noise_scale", low=0.0)
    anisotropy = check_scalar(anisotropy, "anisotropy", low=0.0)
    seed = check_seed(seed)
    rng = np.random.default_rng([seed, 6])
    U = random_basis(d, k, seed=int(rng.integers(2**31)))
    centers = separation * rng.standard_normal((n_classes, k))
    Q = []
    for _ in range(n_classes):
        q, r = np.linalg.qr(rng.standard_normal((k, k)))
        Q.append(q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r))))
    Q = np.stack(Q)
    scales = noise_scale * np.exp(-anisotropy * np.arange(k) / k)

    def sample(N):
        y = rng.integers(n_classes, size=N)
        eps = rng.standard_normal((N, k)) * scales
        z = centers[y] + np.einsum("nij,nj->ni", Q[y], eps)
        return z @ U.T, y

    Xtr, ytr = sample(n_train)
    Xte, yte = sample(n_test)
    info = dict(name="gaussian_mixture", n_classes=n_classes, k=k, d=d, n_train=n_train, n_test=n_test,
                separation=separation, noise_scale=noise_scale, anisotropy=anisotropy, seed=seed)
    return Dataset(torch.as_tensor(Xtr, dtype=torch.float32), torch.as_tensor(ytr, dtype=torch.int64),
                   torch.as_tensor(Xte, dtype=torch.float32), torch.as_tensor(yte, dtype=torch.int64),
                   basis=U, n_classes=n_classes, info=info)


def teacher_student_basis(c: int, m: int, embedding: str = "copy", seed: int = 0) -> np.ndarray:
    """Embedding ``U ∈ R^{2c×2}`` of [NI] F.5 with coherence ``ν(U) = 1/m``.

    ``copy``: latent coordinate 1 copied to slots ``0…m−1`` and coordinate 2 to slots ``c…c+m−1``,
    each with weight ``1/√m``. ``frame``: a random permutation ``π`` of the ``2c`` slots and angles
    ``θ_t``; copy ``t = 0…m−1`` puts ``R(θ_t)/√m`` on slots ``(π(2t), π(2t+1))``. Columns are
    orthonormal and every nonzero row has squared norm ``1/m``.
    """
    c = check_int(c, "c", low=1)
    m = check_int(m, "m", low=1, high=c)
    embedding = check_choice(embedding, "embedding", ("copy", "frame"))
    U = np.zeros((2 * c, 2))
    if embedding == "copy":
        U[:m, 0] = 1.0 / np.sqrt(m)
        U[c:c + m, 1] = 1.0 / np.sqrt(m)
    else:
        rng = np.random.default_rng([check_seed(seed), 5])
        perm = rng.permutation(2 * c)
        theta = rng.uniform(0.0, 2 * np.pi, size=c)  # sampled for all c, reused for every m
        for t in range(m):
            ct, st = np.cos(theta[t]), np.sin(theta[t])
            U[perm[2 * t]] = np.array([ct, -st]) / np.sqrt(m)
            U[perm[2 * t + 1]] = np.array([st, ct]) / np.sqrt(m)
    return U


def teacher_student(
    c: int = 10,
    m: int = 1,
    embedding: str = "copy",
    n_train: int = 1024,
    n_test: int = 2048,
    seed: int = 0,
) -> Dataset:
    """Coherence teacher–student task ([NI] F.5): ``z ~ N(0, I_2)``, target ``relu(z_1 + z_2)``,
    input ``x = U z ∈ R^{2c}`` with :func:`teacher_student_basis` (``ν = 1/m``). Regression targets
    (float32). The latent samples depend on ``seed`` only, so they are shared across ``m``."""
    U = teacher_student_basis(c, m, embedding, seed)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    rng = np.random.default_rng([check_seed(seed), 55])
    z = rng.standard_normal((n_train + n_test, 2))
    y = np.maximum(z[:, 0] + z[:, 1], 0.0)
    X = z @ U.T
    info = dict(name="teacher_student", c=c, m=m, embedding=embedding, n_train=n_train, n_test=n_test,
                seed=int(seed), coherence=1.0 / m)
    f32 = torch.float32
    return Dataset(torch.as_tensor(X[:n_train], dtype=f32), torch.as_tensor(y[:n_train], dtype=f32),
                   torch.as_tensor(X[n_train:], dtype=f32), torch.as_tensor(y[n_train:], dtype=f32),
                   basis=U, n_classes=None, info=info)


def digits(test_fraction: float = 0.25, seed: int = 0, *, as_images: bool = False) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 × 64, 10 classes), stratified split, standardized
    with the training mean and standard deviation (constant pixels keep scale 1).

    ``as_images=True`` returns the same numbers as images of shape ``(N, 1, 8, 8)`` (for
    convolutional models, e.g. :func:`lmctheory.nn.models.make_resnet`)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_scalar(test_fraction, "test_fraction", low=0.0, high=1.0,
                                 low_inclusive=False, high_inclusive=False)
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_fraction, random_state=check_seed(seed) % 2**32,
                                          stratify=y)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd[sd == 0] = 1.0
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    as_images = check_bool(as_images, "as_images")
    if as_images:
        Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    info = dict(name="digits", test_fraction=test_fraction, seed=int(seed), as_images=as_images)
    return Dataset(torch.as_tensor(Xtr, dtype=torch.float32), torch.as_tensor(ytr, dtype=torch.int64),
                   torch.as_tensor(Xte, dtype=torch.float32), torch.as_tensor(yte, dtype=torch.int64),
                   basis=None, n_classes=10, info=info)
