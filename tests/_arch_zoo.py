"""The test architectures: one registry of independently written networks (builder plus example input).

The model-level tests draw their independently written networks from here. The classes are written in the styles of the libraries users
bring (torchvision ResNets, pre-activation ResNets with GroupNorm, ``nn.Sequential`` MLPs, ViTs with fused ``qkv``,
SDPA and ``nn.MultiheadAttention`` transformers, gated MLPs written with ``einsum``, text CNNs on token ids, a
timm-style ViT), none with this package's builders except ``make_mlp_wmlp``. :data:`ZOO` maps a name to an
:class:`Arch` (how to build the model and what one input sample looks like); the traced-group and matching tests
run over all of it, and :data:`STYLES` names the three styles every model-level tool is run on
(``tests/test_nn_any_model.py``). :func:`build` gives a model with non-trivial norm parameters and running statistics
(so that forgetting to permute them is caught) and an example input.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """torchvision-style BasicBlock: conv-bn-relu-conv-bn + (1x1 conv + bn projection) shortcut."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return torch.relu(out)


class ResNet(nn.Module):
    def __init__(self, width=4, n_classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(BasicBlock(width, width), BasicBlock(width, width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, stride=2))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        x = self.bn1(self.conv1(x)).relu()
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class PreActBlock(nn.Module):
    def __init__(self, c, groups_norm):
        super().__init__()
        self.n1 = nn.GroupNorm(groups_norm, c)
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.n2 = nn.GroupNorm(groups_norm, c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


class PreActResNet(nn.Module):
    """Pre-activation ResNet with GroupNorm; the stream is tied through every block."""

    def __init__(self, c=6, groups_norm=1):
        super().__init__()
        self.stem = nn.Conv2d(2, c, 3, padding=1)
        self.blocks = nn.ModuleList([PreActBlock(c, groups_norm) for _ in range(2)])
        self.norm = nn.GroupNorm(groups_norm, c)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(F.relu(self.norm(h)).mean(dim=(2, 3)))


class PlainCNN(nn.Module):
    """conv-relu-maxpool twice, then flatten (channels x 2 x 2) into a Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(5, 7, 3, padding=2, dilation=2), nn.Tanh(), nn.AvgPool2d(2))
        self.fc1 = nn.Linear(7 * 2 * 2, 9)
        self.fc2 = nn.Linear(9, 4)

    def forward(self, x):
        h = self.features(x).view(x.shape[0], -1)
        return self.fc2(F.gelu(self.fc1(h)))


def seq_mlp():
    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Dropout(0.1), nn.Linear(10, 8), nn.LayerNorm(8), nn.GELU(),
                         nn.Linear(8, 3))


class ViTBlock(nn.Module):
    """Pre-norm block: fused qkv, manual attention, GELU MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(self.ln1(x)).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // self.heads)
        out = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(out)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyViT(nn.Module):
    def __init__(self, d_in=5, dim=8, heads=2, hidden=12, tokens=4, n_out=3, depth=2):
        super().__init__()
        self.embed = nn.Linear(d_in, dim)
        self.pos = nn.Parameter(0.1 * torch.randn(1, tokens, dim))
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads, hidden) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_out)

    def forward(self, x):  # x: (B, T, d_in)
        h = self.blocks(self.embed(x) + self.pos)
        return self.head(self.ln(h)[:, 0])


class SDPABlock(nn.Module):
    """Separate q/k/v projections, F.scaled_dot_product_attention, SwiGLU-free ReLU MLP, post-norm."""

    def __init__(self, dim=8, heads=4):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, dim))

    def split(self, t):
        b, n, d = t.shape
        return t.view(b, n, self.h, d // self.h).transpose(1, 2)

    def forward(self, x):
        a = F.scaled_dot_product_attention(self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x)))
        a = a.transpose(1, 2).flatten(2)
        x = self.norm(x + self.o(a))
        return x + self.mlp(x)


class SDPANet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 8)
        self.block = SDPABlock()
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.block(self.inp(x)).mean(1))


class MHANet(nn.Module):
    """nn.MultiheadAttention (batch_first) as a leaf, residual, post-LayerNorm."""

    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.inp = nn.Linear(4, dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 2)

    def forward(self, x):
        h = self.inp(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.out(self.ln(h + a)).sum(1)


class GLUTokens(nn.Module):
    """CLS token concatenated on the token axis, gainless RMSNorm written functionally, GLU via chunk,
    attention written with einsum, and a channel concat of two equal branches (one permutation acts in both)."""

    def __init__(self, dim=6, heads=3):
        super().__init__()
        self.h = heads
        self.embed = nn.Linear(4, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.o = nn.Linear(dim, dim)
        self.up = nn.Linear(dim, 10)  # GLU: 2 x 5
        self.down = nn.Linear(5, dim)
        self.side = nn.Linear(dim, 3)
        self.side2 = nn.Linear(dim, 3)
        self.head = nn.Linear(6, 2)

    @staticmethod
    def rms(x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

    def forward(self, x):
        h = self.embed(x)
        h = torch.cat([self.cls.expand(x.shape[0], -1, -1), h], dim=1)
        q, k, v = self.qkv(self.rms(h)).chunk(3, dim=-1)
        b, t, d = q.shape
        q, k, v = (z.reshape(b, t, self.h, d // self.h) for z in (q, k, v))
        att = torch.einsum("bqhd,bkhd->bhqk", q, k).softmax(-1)
        a = torch.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d)
        h = h + self.o(a)
        u, g = self.up(self.rms(h)).chunk(2, dim=-1)
        h = h + self.down(u * torch.sigmoid(g))
        c = h[:, 0]
        return self.head(torch.cat([torch.tanh(self.side(c)), F.relu(self.side2(c))], dim=-1))


class AsymConv2dStandIn(nn.Module):
    """Stand-in for an asymmetric conv layer: weight, F, D of shape (C_out, C_in, kh, kw), effective_weight()."""

    def __init__(self, cin, cout, k, stride=1, padding=0, dilation=1, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.register_buffer("D", (torch.rand(cout, cin, k, k, generator=g) > 0.3).float())
        self.register_buffer("F", torch.randn(cout, cin, k, k, generator=g) * (1 - self.D) * 0.3)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k, generator=g) * 0.3 * self.D)
        self.bias = nn.Parameter(0.1 * torch.randn(cout, generator=g))

    def effective_weight(self):
        return self.F + self.D * self.weight

    def forward(self, x):
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding, self.dilation)


class AsymCNN(nn.Module):
    def __init__(self):
        super().__init__()
        from lmctheory.nn import AsymmetricLinear

        self.c1 = AsymConv2dStandIn(2, 5, 3, padding=1, seed=1)
        self.c2 = AsymConv2dStandIn(5, 6, 3, stride=2, seed=2)
        self.fc = AsymmetricLinear(6, 7, "wasym", mask_seed=3)
        self.out = nn.Linear(7, 2)

    def forward(self, x):
        h = F.relu(self.c2(F.relu(self.c1(x))))
        return self.out(F.gelu(self.fc(h.mean((-1, -2)))))


class TextCNN(nn.Module):
    """Token ids -> Embedding -> Conv1d/BatchNorm1d/ReLU -> global max pool -> Linear."""

    def __init__(self, vocab=20, dim=6, channels=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, channels, 3, padding=1)
        self.bn = nn.BatchNorm1d(channels)
        self.fc = nn.Linear(channels, 2)

    def forward(self, ids):
        h = self.emb(ids).transpose(1, 2)
        h = nn.functional.adaptive_max_pool1d(torch.relu(self.bn(self.conv(h))), 1).squeeze(-1)
        return self.fc(h)


# ---- timm-style Vision Transformer (Attention / Mlp / Block classes, conv patch embedding, class token) --------

class TimmAttention(nn.Module):
    def __init__(self, dim, num_heads=2, qkv_bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class TimmMlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(0.0)
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.drop1(self.act(self.fc1(x))))


class TimmBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, num_heads)
        self.ls1 = nn.Identity()
        self.drop_path1 = nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = TimmMlp(dim, int(dim * mlp_ratio))
        self.ls2 = nn.Identity()
        self.drop_path2 = nn.Identity()

    def forward(self, x):
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class TimmViT(nn.Module):
    """Conv patch embedding (kernel = stride = patch), class token, learned positions, blocks, final norm, head on the
    class token — the layout of timm's VisionTransformer, written from scratch."""

    def __init__(self, img=4, patch=2, in_chans=1, dim=8, depth=2, num_heads=2, n_classes=3):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        n_patches = (img // patch) ** 2
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n_patches + 1, dim))
        self.blocks = nn.Sequential(*[TimmBlock(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# ---- the registry ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arch:
    """A test architecture: ``build()`` returns a fresh model (parameters from torch's global RNG); ``shape`` is the
    shape of one input sample; ``vocab`` is set for models that take integer token ids in ``range(vocab)``."""

    build: Callable[[], nn.Module]
    shape: tuple[int, ...]
    vocab: int | None = None

    def example_input(self, n: int, seed: int) -> torch.Tensor:
        """``n`` samples, shape ``(n, *shape)``, from a generator seeded with ``seed``."""
        g = torch.Generator().manual_seed(seed)
        if self.vocab is not None:
            return torch.randint(0, self.vocab, (n, *self.shape), generator=g)
        return torch.randn(n, *self.shape, generator=g)


def _make_mlp_wmlp():
    from lmctheory.nn import make_mlp

    return make_mlp(5, 7, 3, kind="wmlp", seed=0)


#: every test architecture; the traced-group and generic matching tests run over all of them
ZOO: dict[str, Arch] = {
    "resnet_bn": Arch(lambda: ResNet(), (3, 8, 8)),  # BatchNorm, projection shortcut (width 4, 3 classes)
    "preact_gn1": Arch(lambda: PreActResNet(groups_norm=1), (2, 6, 6)),
    "preact_gn2": Arch(lambda: PreActResNet(groups_norm=2), (2, 6, 6)),
    "plain_cnn": Arch(lambda: PlainCNN(), (1, 8, 8)),
    "seq_mlp": Arch(seq_mlp, (6,)),
    "vit_fused_qkv": Arch(lambda: TinyViT(), (4, 5)),
    "sdpa": Arch(lambda: SDPANet(), (5, 3)),
    "mha": Arch(lambda: MHANet(), (5, 4)),
    "glu_einsum": Arch(lambda: GLUTokens(), (4, 4)),
    "asym_cnn": Arch(lambda: AsymCNN(), (2, 7, 7)),
    "make_mlp_wmlp": Arch(_make_mlp_wmlp, (5,)),
    "text_cnn": Arch(lambda: TextCNN(), (10,), vocab=20),  # integer token ids
    "timm_vit": Arch(TimmViT, (1, 4, 4)),
}

#: the three styles every model-level tool is run on (tests/test_nn_any_model.py)
STYLES: dict[str, Arch] = {
    "sequential_mlp": ZOO["seq_mlp"],
    "resnet_batchnorm": ZOO["resnet_bn"],
    "timm_vit": ZOO["timm_vit"],
}


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial affine parameters and running statistics, so forgetting to permute them is caught."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def make_input(key: str, n: int, seed: int) -> torch.Tensor:
    """``n`` example inputs of architecture ``key``."""
    return ZOO[key].example_input(n, seed)


def build(key: str, seed: int = 0, n: int = 2) -> tuple[nn.Module, torch.Tensor]:
    """``(model, x)``: architecture ``key`` built under ``torch.manual_seed(seed)`` with randomized norms, and ``n``
    example inputs (seed ``seed + 1``)."""
    torch.manual_seed(seed)
    return randomize_norms(ZOO[key].build(), seed), make_input(key, n, seed + 1)
