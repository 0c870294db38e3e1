"""Small Vision Transformers for the [NI] App. G.4 and [GLMC] experiments, in standard, W-asymmetric and
syre variants of every linear map.

Layout (pre-norm, written the common way so that :func:`lmctheory.nn.symmetry.permutation_groups` can trace it):

``x (N, C·H·W) or (N, C, H, W)`` → non-overlapping ``p×p`` patches ``(N, T, C·p·p)`` → patch embedding (linear) →
``+ pos_embed (1, T, D)`` → ``depth`` × [``x = x + proj(attn(qkv(norm₁(x))))``; ``x = x + fc₂(act(fc₁(norm₂(x))))``]
→ ``norm`` → mean over tokens → ``head`` (linear) → logits.

Attention uses a fused ``qkv`` linear map ``D → 3D`` reshaped to ``(N, T, 3, H, d_h)``, scores
``q kᵀ / √d_h``, a softmax over keys and the output projection ``D → D`` (``attention="manual"``), or
``torch.nn.functional.scaled_dot_product_attention`` on the same tensors (``attention="sdpa"``); both
compute the same function.

Normalization: ``"layernorm"`` (``nn.LayerNorm`` with gain and bias), or ``"rmsnorm"``: RMSNorm *without*
gain, ``x / √(mean(x²) + ε)``, which commutes with every orthogonal map of the residual stream
(docs/theory.md T-S3), so the [GLMC] orthogonal alignment applies exactly.

Every linear map (patch embedding, qkv, proj, fc₁, fc₂, head) is an :class:`~lmctheory.nn.layers.AsymmetricLinear`
in the asymmetric variants ([NI] G.4: "every linear map W-asymmetric"); the two models of a pair share
``mask_seed`` (masks and fixed weights are architecture).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed
from .layers import AsymmetricLinear

__all__ = ["ViT", "ViTBlock", "RMSNorm", "make_vit", "VIT_KINDS"]

#: ``standard``: ``nn.Linear``; ``wasym``: W-asymmetric (``σ_F = 0`` is "masking alone");
#: ``syre``: ``F = σ_F·N(0,1)`` on every entry; ``sparse``: Bernoulli masks, ``F = 0``.
VIT_KINDS = ("standard", "wasym", "syre", "sparse")


class RMSNorm(nn.Module):
    """RMSNorm without gain: ``x / √(mean(x²) + eps)`` over the last axis (docs/theory.md T-S3).

    It has no parameters, so ``RMSNorm(Qx) = Q·RMSNorm(x)`` for every orthogonal ``Q`` acting on the last axis.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim = check_int(dim, "dim", low=1)
        self.eps = check_scalar(eps, "eps", low=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps:g}"


class ViTBlock(nn.Module):
    """One pre-norm transformer block (fused qkv attention + GELU MLP), see the module docstring."""

    def __init__(self, dim, heads, mlp_ratio, make_linear, make_norm, attention="manual"):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.attention = check_choice(attention, "attention", ("manual", "sdpa"))
        hidden = int(mlp_ratio * dim)
        self.norm1 = make_norm(dim)
        self.qkv = make_linear(dim, 3 * dim)
        self.proj = make_linear(dim, dim)
        self.norm2 = make_norm(dim)
        self.fc1 = make_linear(dim, hidden)
        self.fc2 = make_linear(hidden, dim)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, d_h)
        if self.attention == "sdpa":
            out = nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            out = scores.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.proj(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """A small Vision Transformer (see the module docstring); build it with :func:`make_vit`."""

    def __init__(self, image_size, channels, patch, dim, depth, heads, mlp_ratio, n_classes, make_linear,
                 make_norm, attention="manual", kind="standard"):
        super().__init__()
        self.image_size, self.channels, self.patch = image_size, channels, patch
        self.n_tokens = (image_size // patch) ** 2
        self.kind = kind
        self.embed = make_linear(channels * patch * patch, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_tokens, dim))
        nn.init.normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(
            [ViTBlock(dim, heads, mlp_ratio, make_linear, make_norm, attention) for _ in range(depth)])
        self.norm = make_norm(dim)
        self.head = make_linear(dim, n_classes)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C·H·W)`` or ``(N, C, H, W)`` → ``(N, T, C·p·p)`` non-overlapping patches, row-major."""
        s, c, p = self.image_size, self.channels, self.patch
        x = x.reshape(x.shape[0], c, s // p, p, s // p, p)
        return x.permute(0, 2, 4, 1, 3, 5).reshape(x.shape[0], self.n_tokens, c * p * p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(self.patches(x)) + self.pos_embed
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h).mean(dim=1))


def make_vit(
    image_size: int = 8,
    channels: int = 1,
    n_classes: int = 10,
    *,
    patch: int = 2,
    dim: int = 32,
    depth: int = 2,
    heads: int = 4,
    mlp_ratio: float = 2.0,
    kind: str = "standard",
    sigma_f: float = 1.0,
    sigma_scale: str = "absolute",
    fixed_fraction: float = 0.08,
    keep_prob: float = 0.5,
    norm: str = "layernorm",
    attention: str = "manual",
    mask_seed: int = 0,
    seed: int | None = None,
) -> ViT:
    """Build a small ViT of one [NI] G.4 architecture.

    Parameters
    ----------
    image_size, channels, n_classes : int
        Square input images ``(channels, image_size, image_size)`` (inputs may also be flattened to
        ``channels·image_size²``); number of classes.
    patch : int
        Patch side ``p`` (must divide ``image_size``); ``T = (image_size/p)²`` tokens.
    dim, depth, heads : int
        Residual-stream width ``D`` (divisible by ``heads``), number of blocks, attention heads.
    mlp_ratio : float
        MLP hidden width ``= mlp_ratio·D``.
    kind : {"standard", "wasym", "syre", "sparse"}
        ``wasym``: every linear map W-asymmetric with ``m = max(1, round(fixed_fraction·fan_in))`` fixed entries per
        row drawn ``σ_F·N(0,1)`` (``sigma_f=0``: masking alone); ``syre``: ``F = σ_F·N(0,1)`` everywhere;
        ``sparse``: Bernoulli(``keep_prob``) masks.
    sigma_scale : {"absolute", "fan_in"}
        ``absolute``: every map's fixed entries have standard deviation ``sigma_f``; ``fan_in``: a map with fan-in
        ``d`` uses ``sigma_f/√d`` (fixed and trainable parts then have comparable scales in every map, like the
        default initialization; ``sigma_f`` is then the ratio ``κ``).
    norm : {"layernorm", "rmsnorm"}
        ``rmsnorm`` has no gain (orthogonal alignment of the residual stream is then exact, T-S3).
    attention : {"manual", "sdpa"}
        Explicit ``softmax(q kᵀ/√d_h) v`` or ``torch.nn.functional.scaled_dot_product_attention``.
    mask_seed : int
        Seed of every ``F``/``D`` (each linear map its own stream); the two models of a pair share it.
    seed : int, optional
        Seed of the trainable initialization, drawn inside a forked RNG (global RNG untouched).

    References
    ----------
    [NI] App. G.4 (W-asymmetric ViTs); [GLMC] §3 (transformer symmetries); docs/theory.md T-S1, T-S3, T-S4.

    Examples
    --------
    >>> import torch
    >>> vit = make_vit(kind="wasym", sigma_f=1.0, seed=0)
    >>> tuple(vit(torch.zeros(5, 64)).shape)
    (5, 10)
    """
    image_size = check_int(image_size, "image_size", low=1)
    channels = check_int(channels, "channels", low=1)
    n_classes = check_int(n_classes, "n_classes", low=1)
    patch = check_int(patch, "patch", low=1, high=image_size)
    if image_size % patch:
        raise ValueError(f"patch must divide image_size, got patch={patch}, image_size={image_size}")
    dim = check_int(dim, "dim", low=1)
    depth = check_int(depth, "depth", low=1)
    heads = check_int(heads, "heads", low=1, high=dim)
    if dim % heads:
        raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
    mlp_ratio = check_scalar(mlp_ratio, "mlp_ratio", low=0.0, low_inclusive=False)
    if int(mlp_ratio * dim) < 1:
        raise ValueError(f"mlp_ratio·dim must be at least 1, got {mlp_ratio}·{dim}")
    kind = check_choice(kind, "kind", VIT_KINDS)
    sigma_f = check_scalar(sigma_f, "sigma_f", low=0.0)
    sigma_scale = check_choice(sigma_scale, "sigma_scale", ("absolute", "fan_in"))
    fixed_fraction = check_scalar(fixed_fraction, "fixed_fraction", low=0.0, high=1.0)
    keep_prob = check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
    norm = check_choice(norm, "norm", ("layernorm", "rmsnorm"))
    attention = check_choice(attention, "attention", ("manual", "sdpa"))
    mask_seed = check_seed(mask_seed, "mask_seed")
    stream = iter(range(10**6))  # one mask stream per linear map, in construction order

    def make_linear(d, n):
        if kind == "standard":
            return nn.Linear(d, n)
        s = next(stream)
        sf = sigma_f / math.sqrt(d) if sigma_scale == "fan_in" else sigma_f
        if kind == "wasym":
            m = min(d, max(1, int(round(fixed_fraction * d))))
            return AsymmetricLinear(d, n, "wasym", fixed_per_row=m, sigma_f=sf, mask_seed=mask_seed,
                                    mask_stream=s)
        if kind == "syre":
            return AsymmetricLinear(d, n, "syre", sigma_f=sf, mask_seed=mask_seed, mask_stream=s)
        return AsymmetricLinear(d, n, "sparse", keep_prob=keep_prob, mask_seed=mask_seed, mask_stream=s)

    def make_norm(d):
        return nn.LayerNorm(d) if norm == "layernorm" else RMSNorm(d)

    def build():
        return ViT(image_size, channels, patch, dim, depth, heads, mlp_ratio, n_classes, make_linear, make_norm,
                   attention=attention, kind=kind)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed(seed))
        return build()
