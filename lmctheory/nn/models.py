"""MLPs and ResNets of the [NI] experiments: standard, W-asymmetric, syre and sparse (docs/experiments.md).

Layout of :class:`MLP` (``n_layers`` linear layers): for each hidden layer ``ℓ``
``h_ℓ = act(norm_ℓ(linear_ℓ(h_{ℓ−1})))``; the last linear layer produces the logits. The hidden
units that activation matching permutes are the post-activation outputs ``h_ℓ``; a permutation of
layer ``ℓ`` acts on the rows of ``linear_ℓ`` (weight, bias), on ``norm_ℓ`` (gain, bias) and on the
columns of ``linear_{ℓ+1}`` (docs/theory.md T-S1).

:class:`ResNet` ([NI] App. F.2, ResNet-20 style): a 3×3 stem convolution, three stages of
:class:`BasicBlock` (channels ``w, 2w, 4w``; stride 2 at the start of stages 2 and 3), GroupNorm(1, C)
after every convolution, ReLU, 1×1 projection shortcuts where the shape changes, global average
pooling and a final linear layer. In the asymmetric variants every convolution and the final linear
layer are asymmetric (:class:`~lmctheory.nn.layers.AsymmetricConv2d`,
:class:`~lmctheory.nn.layers.AsymmetricLinear`).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed
from .layers import AsymmetricConv2d, AsymmetricLinear

__all__ = ["MLP", "make_mlp", "MLP_KINDS", "linear_layers", "ResNet", "BasicBlock", "make_resnet", "RESNET_KINDS",
           "PAPER_FIXED_FRACTIONS"]

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
    """Build an MLP of one [NI] architecture (docs/experiments.md "[NI] setups").

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


RESNET_KINDS = ("standard", "wasym", "syre", "sparse")

#: Fixed entries per output channel of the W-ResNet of [NI] Table 3 (ResNet-20 ×8, 3 input channels) as
#: fractions of a reference size: the stem's fan-in (12 of 3·3²), stage ``g``'s nominal kernel
#: ``C_g·3²`` (108 of 128·9, 162 of 256·9, 216 of 512·9, used for every convolution of the stage), a
#: shortcut's fan-in (18 of 128, 24 of 256) and the final layer's fan-in (24 of 512).
PAPER_FIXED_FRACTIONS = {"stem": 12 / 27, "stage1": 108 / 1152, "stage2": 162 / 2304, "stage3": 216 / 4608,
                         "shortcut2": 18 / 128, "shortcut3": 24 / 256, "final": 24 / 512}


class BasicBlock(nn.Module):
    """``relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x))`` with 3×3 convolutions and
    ``shortcut`` the identity or a 1×1 projection (convolution + GroupNorm(1, C)) when the shape changes."""

    def __init__(self, conv1, norm1, conv2, norm2, shortcut=None):
        super().__init__()
        self.conv1, self.norm1, self.conv2, self.norm2 = conv1, norm1, conv2, norm2
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        h = nn.functional.relu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        return nn.functional.relu(h + self.shortcut(x))


class ResNet(nn.Module):
    """Container: ``stem`` (conv), ``stem_norm``, ``stages`` (ModuleList of Sequential of
    :class:`BasicBlock`), global average pooling and ``fc``. Input ``(N, C_in, H, W)``, output logits."""

    def __init__(self, stem, stem_norm, stages, fc, kind: str = "standard"):
        super().__init__()
        self.stem, self.stem_norm = stem, stem_norm
        self.stages = nn.ModuleList(stages)
        self.fc = fc
        self.kind = kind

    def forward(self, x):
        x = nn.functional.relu(self.stem_norm(self.stem(x)))
        for stage in self.stages:
            x = stage(x)
        return self.fc(x.mean(dim=(2, 3)))


def make_resnet(
    in_channels: int,
    num_classes: int,
    *,
    depth: int | None = None,
    blocks_per_stage: int | None = None,
    width: int = 16,
    kind: str = "standard",
    sigma_f: float = 2.0,
    fixed_fraction="paper",
    keep_prob: float = 0.5,
    bias: bool = False,
    mask_seed: int = 0,
    seed: int | None = None,
) -> ResNet:
    """Build a ResNet of one [NI] architecture (App. F.2; docs/experiments.md "[NI] ResNets").

    ResNet-``(6n+2)``: stem 3×3 convolution ``C_in → w``, three stages of ``n`` :class:`BasicBlock`
    with ``w, 2w, 4w`` channels (the first block of stages 2 and 3 has stride 2 and a 1×1 projection
    shortcut), GroupNorm(1, C) after every convolution, ReLU, global average pooling, linear layer
    ``4w → num_classes``. [NI] uses ResNet-20 with ``w = 128`` (width multiplier 8 of the 16-channel
    ResNet-20) on CIFAR-10.

    Parameters
    ----------
    in_channels, num_classes : int
        Input channels ``C_in`` and outputs.
    depth : int, optional
        ``6n + 2`` (8, 14, 20, …); exclusive with ``blocks_per_stage``. Default ResNet-20 (``n = 3``).
    blocks_per_stage : int, optional
        ``n ≥ 1``.
    width : int
        Channels ``w`` of the first stage (16 = ResNet-20 ×1, 128 = the paper's ×8).
    kind : {"standard", "wasym", "syre", "sparse"}
        ``standard``: ``nn.Conv2d`` / ``nn.Linear``. ``wasym`` (W-ResNet): every convolution and the final
        linear layer W-asymmetric with ``m`` fixed entries per output channel, ``F = σ_F·N(0,1)`` on
        them (``sigma_f=0``: masking only, zero fixed weights). ``syre``: ``F = σ_F·N(0,1)`` on every
        entry, ``D = 1``. ``sparse``: Bernoulli(``keep_prob``) masks, ``F = 0``.
    sigma_f : float
        Fixed weight scale ``σ_F`` (``κ`` in [NI]; 2 is the paper's effective symmetry breaking value).
    fixed_fraction : "paper" or float in [0, 1]
        ``wasym`` only. ``"paper"``: ``m = max(1, round(f·ref))`` with the fractions
        :data:`PAPER_FIXED_FRACTIONS` of [NI] Table 3 (exactly Table 3 for ``width=128``,
        ``in_channels=3``); a float ``f``: ``m = max(1, round(f·fan_in))`` for every layer. Always
        capped at ``fan_in − 1``, so every output channel keeps a trainable entry.
    keep_prob : float
        ``sparse`` only.
    bias : bool
        Biases in the convolutions (the final linear layer always has one). Default False: every
        convolution is followed by a normalization.
    mask_seed : int
        Seed of all ``F``/``D``; layer ``ℓ`` (in construction order) uses stream ``ℓ``.
    seed : int, optional
        Trainable initialization from ``torch.manual_seed(seed)`` in a forked RNG (global RNG untouched).

    Returns
    -------
    ResNet

    References
    ----------
    [NI] App. F.2 and Table 3 (W-ResNet), §6 Fig. 4; He et al. (2016) ResNet-20; Lim et al. (2024).

    Examples
    --------
    >>> import torch
    >>> net = make_resnet(1, 10, depth=8, width=8, kind="wasym", seed=0)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    in_channels = check_int(in_channels, "in_channels", low=1)
    num_classes = check_int(num_classes, "num_classes", low=1)
    if depth is not None and blocks_per_stage is not None:
        raise ValueError("give depth or blocks_per_stage, not both")
    if blocks_per_stage is not None:
        n_blocks = check_int(blocks_per_stage, "blocks_per_stage", low=1)
    else:
        depth = 20 if depth is None else check_int(depth, "depth", low=8)
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 (8, 14, 20, ...), got {depth}")
        n_blocks = (depth - 2) // 6
    width = check_int(width, "width", low=1)
    kind = check_choice(kind, "kind", RESNET_KINDS)
    sigma_f = check_scalar(sigma_f, "sigma_f", low=0.0)
    paper = isinstance(fixed_fraction, str)
    if paper:
        check_choice(fixed_fraction, "fixed_fraction", ("paper",))
    else:
        fixed_fraction = check_scalar(fixed_fraction, "fixed_fraction", low=0.0, high=1.0)
    keep_prob = check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
    mask_seed = check_seed(mask_seed, "mask_seed")
    chans = [width, 2 * width, 4 * width]
    stream = iter(range(10**6))

    def n_fixed(role, fan_in, ref):
        frac = PAPER_FIXED_FRACTIONS[role] if paper else fixed_fraction
        return min(fan_in - 1, max(1, int(round(frac * (ref if paper else fan_in))))) if fan_in > 1 else 0

    def conv(cin, cout, k, stride, role, ref):
        pad = k // 2
        if kind == "standard":
            return nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=bias)
        kw = dict(sigma_f=sigma_f, bias=bias, mask_seed=mask_seed, mask_stream=next(stream))
        if kind == "wasym":
            kw["fixed_per_row"] = n_fixed(role, cin * k * k, ref)
        elif kind == "sparse":
            kw["keep_prob"] = keep_prob
        return AsymmetricConv2d(cin, cout, k, stride=stride, padding=pad, mode=kind, **kw)

    def build():
        stem = conv(in_channels, width, 3, 1, "stem", in_channels * 9)
        stages = []
        cin = width
        for g, cout in enumerate(chans, start=1):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (g > 1 and b == 0) else 1
                c1 = conv(cin, cout, 3, stride, f"stage{g}", cout * 9)
                c2 = conv(cout, cout, 3, 1, f"stage{g}", cout * 9)
                short = None
                if stride != 1 or cin != cout:
                    short = nn.Sequential(conv(cin, cout, 1, stride, f"shortcut{max(g, 2)}", cin),
                                          nn.GroupNorm(1, cout))
                blocks.append(BasicBlock(c1, nn.GroupNorm(1, cout), c2, nn.GroupNorm(1, cout), short))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        d = chans[-1]
        if kind == "standard":
            fc = nn.Linear(d, num_classes)
        else:
            kw = dict(sigma_f=sigma_f, mask_seed=mask_seed, mask_stream=next(stream))
            if kind == "wasym":
                kw["fixed_per_row"] = n_fixed("final", d, d)
            elif kind == "sparse":
                kw["keep_prob"] = keep_prob
            fc = AsymmetricLinear(d, num_classes, kind, **kw)
        return ResNet(stem, nn.GroupNorm(1, width), stages, fc, kind=kind)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed(seed))
        return build()
