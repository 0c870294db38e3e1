"""MLPs of the [NI] experiments: standard, W-MLP (W-asymmetric), syre and sparse (EXPERIMENTS.md).

Layout of :class:`MLP` (``n_layers`` linear layers): for each hidden layer ``ℓ``
``h_ℓ = act(norm_ℓ(linear_ℓ(h_{ℓ−1})))``; the last linear layer produces the logits. The hidden
units that activation matching permutes are the post-activation outputs ``h_ℓ``; a permutation of
layer ``ℓ`` acts on the rows of ``linear_ℓ`` (weight, bias), on ``norm_ℓ`` (gain, bias) and on the
columns of ``linear_{ℓ+1}`` (THEORY.md T-S1).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed
from .layers import AsymmetricLinear

__all__ = ["MLP", "make_mlp", "MLP_KINDS", "linear_layers"]

MLP_KINDS = ("standard", "wmlp", "syre", "sparse")


class MLP(nn.Module):
    """Plain MLP container: ``layers`` (ModuleList of linear layers), ``norms`` (ModuleList of
    ``nn.LayerNorm`` or ``nn.Identity``, one per hidden layer) and an elementwise ``activation``."""

    def __init__(self, layers, norms, activation: str = "gelu", kind: str = "standard"):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(norms)
        if len(self.norms) != len(self.layers) - 1:
            raise ValueError("need one norm (or Identity) per hidden layer")
        self.activation = check_choice(activation, "activation", ("gelu", "relu"))
        self.kind = kind

    def act(self, x):
        return nn.functional.gelu(x) if self.activation == "gelu" else nn.functional.relu(x)

    def forward(self, x, return_hidden: bool = False):
        hidden = []
        for lin, norm in zip(self.layers[:-1], self.norms):
            x = self.act(norm(lin(x)))
            hidden.append(x)
        out = self.layers[-1](x)
        return (out, hidden) if return_hidden else out

    @property
    def in_features(self) -> int:
        """Input width (read by :func:`lmctheory.nn._checks.model_io`)."""
        return int(self.layers[0].in_features)

    @property
    def out_features(self) -> int:
        """Output width."""
        return int(self.layers[-1].out_features)


def linear_layers(model: nn.Module) -> list[nn.Module]:
    """The ``nn.Linear`` / :class:`AsymmetricLinear` modules of ``model`` in forward order."""
    if isinstance(model, MLP):
        return list(model.layers)
    return [m for m in model.modules() if isinstance(m, (nn.Linear, AsymmetricLinear))]


def make_mlp(
    in_dim: int,
    hidden: int,
    out_dim: int,
    *,
    n_layers: int = 4,
    kind: str = "standard",
    sigma_f: float = 1.0,
    fixed_fraction: float = 0.08,
    last_fixed: int | None = None,
    keep_prob: float = 0.5,
    norm: str | None = "layernorm",
    activation: str = "gelu",
    bias: bool = True,
    mask_seed: int = 0,
    seed: int | None = None,
) -> MLP:
    """Build an MLP of one [NI] architecture (EXPERIMENTS.md "[NI] setups").

    Parameters
    ----------
    in_dim, hidden, out_dim : int
        Input, hidden and output widths.
    n_layers : int
        Number of linear layers (≥ 1); ``n_layers − 1`` hidden layers.
    kind : {"standard", "wmlp", "syre", "sparse"}
        ``standard``: ``nn.Linear`` layers. ``wmlp``: every layer W-asymmetric
        (:class:`AsymmetricLinear` mode ``wasym``) with ``m = max(1, round(fixed_fraction·fan_in))``
        fixed entries per row, and the last layer ``last_fixed`` (default ``min(fan_in − 1, 4m)``,
        the paper's 64 → 256 ratio). ``syre``: ``F = σ_F·N(0,1)`` on every entry of every layer.
        ``sparse``: Bernoulli(``keep_prob``) masks, ``F = 0``.
    sigma_f : float
        Fixed weight scale ``σ_F`` (wmlp, syre).
    norm : {"layernorm", None}
        Normalization after each hidden linear layer.
    activation : {"gelu", "relu"}
    mask_seed : int
        Seed of all ``F``/``D`` (layer ``ℓ`` uses stream ``ℓ``); the two models of a pair share it.
    seed : int, optional
        If given, the trainable initialization is drawn from ``torch.manual_seed(seed)`` inside a
        forked RNG (the global torch RNG is left untouched); otherwise from the global RNG.
    """
    in_dim = check_int(in_dim, "in_dim", low=1)
    hidden = check_int(hidden, "hidden", low=1)
    out_dim = check_int(out_dim, "out_dim", low=1)
    n_layers = check_int(n_layers, "n_layers", low=1)
    kind = check_choice(kind, "kind", MLP_KINDS)
    sigma_f = check_scalar(sigma_f, "sigma_f", low=0.0)
    fixed_fraction = check_scalar(fixed_fraction, "fixed_fraction", low=0.0, high=1.0)
    keep_prob = check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
    if norm is not None:
        check_choice(norm, "norm", ("layernorm",))
    check_choice(activation, "activation", ("gelu", "relu"))
    mask_seed = check_seed(mask_seed, "mask_seed")
    dims = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]

    def build():
        layers, norms = [], []
        for ell in range(n_layers):
            d, n = dims[ell], dims[ell + 1]
            if kind == "standard":
                lin = nn.Linear(d, n, bias=bias)
            elif kind == "wmlp":
                m = max(1, int(round(fixed_fraction * d)))
                if ell == n_layers - 1:
                    m = min(d - 1, 4 * m) if last_fixed is None else check_int(last_fixed, "last_fixed", low=0, high=d)
                lin = AsymmetricLinear(d, n, "wasym", fixed_per_row=min(m, d), sigma_f=sigma_f, bias=bias,
                                       mask_seed=mask_seed, mask_stream=ell)
            elif kind == "syre":
                lin = AsymmetricLinear(d, n, "syre", sigma_f=sigma_f, bias=bias, mask_seed=mask_seed, mask_stream=ell)
            else:
                lin = AsymmetricLinear(d, n, "sparse", keep_prob=keep_prob, bias=bias, mask_seed=mask_seed,
                                       mask_stream=ell)
            layers.append(lin)
            if ell < n_layers - 1:
                norms.append(nn.LayerNorm(n) if norm == "layernorm" else nn.Identity())
        return MLP(layers, norms, activation=activation, kind=kind)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed(seed))
        return build()
