"""Weight and activation matching at the sizes people use (:mod:`lmctheory.nn.matching`).

Rows:

- ``weight_match ResNet-18``: two independently initialized torchvision ResNet-18s (random init, seeds 0
  and 1). Ours: :func:`lmctheory.nn.matching.weight_match` (one descent from the identity and one from the graph-order
  solve). Baseline: the
  ``rebasin`` package's ``PermutationCoordinateDescent`` (Git Re-Basin weight matching) when it is installed,
  else :func:`plain_git_rebasin`, a plain re-implementation of Git Re-Basin's Alg. 1 on the same groups (every
  gain recomputed every sweep, no caching). Both objectives are ``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the same
  parameters (those our traced groups permute), computed on each result's permuted model B.
- ``weight_match GPT-2-small``: GPT-2-small dimensions (12 layers, width 768, 12 heads, vocabulary 50,257,
  1,024 positions, random init), time and peak resident memory of the process (run in a fresh subprocess).
  The model is the Hugging Face ``GPT2LMHeadModel`` (``Conv1D`` projections, fused qkv, tied ``lm_head``).
  ``--quick``: 2 layers.
- ``activation_match 1,600 images``: 1,600 images 3×32×32 through a small CNN (two 32-channel conv layers),
  peak resident memory of a fresh subprocess; streamed statistics keep it independent of the number of
  images (the earlier implementation, which kept every activation, peaked at about 4.3 GB here).

Measured (2 CPU cores shared with other jobs, one thread): ResNet-18 ours 5.1 s, objective 5258.1, vs rebasin
0.0.47 6.9 s, objective 5138.1 (identity 4799.7), load average 0.6–0.8 (earlier, from the identity only and at
load 5–8: 8.4 s / 23.7 s, objective 5196.6, vs rebasin 22.7 s / 36.3 s); activation matching of 400 and 1,600 images: peak RSS 440 and
468 MB (273 and 287 MB before matching), against 4,334 MB for 1,600 images with the earlier implementation, which
kept every activation. Hugging Face GPT2LMHeadModel, 12 layers (one thread): trace 2.5 s, weight_match 97 s at
load average 0.8–1.8 (281 s and trace 5.4 s at load 4.5–5.5); 37 groups, objective 20921.4 vs 19195.6 at the
identity; peak RSS 2.9 GB (1.5 GB before matching: the two models and their construction).
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
import time

import numpy as np

NAME = "matching"


def _torchvision():
    """torchvision through :mod:`lmctheory.nn.thirdparty` (the documented work-around for its compiled ops)."""
    from ..nn.thirdparty import import_torchvision

    try:
        return import_torchvision()
    except ImportError as exc:
        raise RuntimeError(f"torchvision is not available: {exc}") from None


def plain_git_rebasin(model_a, model_b, groups, max_iter=100, seed=0):
    """Git Re-Basin weight matching (Ainsworth et al. 2023, Alg. 1) without any caching: every sweep visits every
    group in a random order and recomputes its full gain; a group's permutation is replaced when its linear
    assignment improves the gain. Returns ``{group name: perm}``."""
    import torch
    from scipy.optimize import linear_sum_assignment

    pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    on = {}
    for g in groups:
        for m in g.members:
            if m.name in pa:
                on.setdefault(m.name, []).append((g.name, m))
    size = {g.name: g.size for g in groups}
    perms = {g.name: np.arange(g.size) for g in groups}
    rng = np.random.default_rng(seed)

    def view(t, m, n):
        s = list(t.shape)
        return t.reshape(s[:m.axis] + [m.outer, n, m.inner] + s[m.axis + 1:])

    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(len(groups)):
            g = groups[k]
            G = torch.zeros(g.size, g.size, dtype=torch.float64)
            for name, lst in on.items():
                for h, m in lst:
                    if h != g.name:
                        continue
                    b = pb[name].detach().double()
                    for h2, m2 in lst:
                        if (h2, m2) != (h, m):
                            idx = torch.as_tensor(perms[h2])
                            b = view(b, m2, size[h2]).index_select(m2.axis + 1, idx).reshape(b.shape)
                    a = view(pa[name].detach().double(), m, g.size).movedim(m.axis + 1, 0).reshape(g.size, -1)
                    b = view(b, m, g.size).movedim(m.axis + 1, 0).reshape(g.size, -1)
                    G += a @ b.T
            G = G.numpy()
            rows, cols = linear_sum_assignment(G, maximize=True)
            cand = np.empty(g.size, dtype=np.int64)
            cand[rows] = cols
            idx = np.arange(g.size)
            if G[idx, cand].sum() > G[idx, perms[g.name]].sum() + 1e-12:
                perms[g.name], changed = cand, True
        if not changed:
            break
    return perms


def _member_objective(model_a, model_b, names):
    pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    return float(sum(float((pa[k].detach().double() * pb[k].detach().double()).sum()) for k in names))


def _resnet18_rows():
    import torch

    from lmctheory.nn.matching import permute_model, weight_match
    from lmctheory.nn.symmetry import permutation_groups

    tv = _torchvision()
    torch.manual_seed(0)
    a = tv.models.resnet18()
    torch.manual_seed(1)
    b = tv.models.resnet18()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    groups = permutation_groups(a, x)
    members = sorted({m.name for g in groups for m in g.members if m.name in dict(a.named_parameters())})
    t = time.perf_counter()
    res = weight_match(a, b, groups=groups, n_random=0, keep_costs=False)
    ours_s = time.perf_counter() - t
    ours_obj = _member_objective(a, permute_model(b, res), members)
    try:
        from rebasin import PermutationCoordinateDescent

        bb = copy.deepcopy(b)
        t = time.perf_counter()
        pcd = PermutationCoordinateDescent(a, bb, x)
        pcd.rebasin()
        base_s = time.perf_counter() - t
        base_obj = _member_objective(a, bb, members)
        baseline = "rebasin package (PermutationCoordinateDescent)"
    except ImportError:
        t = time.perf_counter()
        perms = plain_git_rebasin(a, b, groups)
        base_s = time.perf_counter() - t
        base_obj = _member_objective(a, permute_model(b, perms, groups=groups), members)
        baseline = "plain Git Re-Basin re-implementation (rebasin not installed)"
    return [{
        "name": "weight_match ResNet-18 pair (torchvision, random init)",
        "baseline_s": base_s, "ours_s": ours_s, "ratio": base_s / ours_s,
        "objective_ours": ours_obj, "objective_baseline": base_obj, "baseline": baseline,
        "objective_identity": _member_objective(a, b, members),
        "notes": f"objective ours {ours_obj:.1f} vs baseline {base_obj:.1f} ({baseline})",
    }]


def gpt2_case(layers: int) -> dict:
    """Weight matching of two random GPT-2-small-sized models (run in a fresh process by :func:`run`)."""
    import torch

    from lmctheory.nn.matching import weight_match
    from lmctheory.nn.symmetry import permutation_groups
    from lmctheory.nn.thirdparty import import_transformers

    torch.set_num_threads(1)
    ids = torch.randint(0, 50257, (2, 8), generator=torch.Generator().manual_seed(0))
    kind = "Hugging Face GPT2LMHeadModel"
    tr = import_transformers()
    cfg = tr.GPT2Config(n_layer=layers, use_cache=False)
    torch.manual_seed(0)
    a = tr.GPT2LMHeadModel(cfg)
    torch.manual_seed(1)
    b = tr.GPT2LMHeadModel(cfg)
    t = time.perf_counter()
    groups = permutation_groups(a, {"input_ids": ids})
    trace_s = time.perf_counter() - t
    rss0 = _peak_rss_mb()
    t = time.perf_counter()
    res = weight_match(a, b, groups=groups, n_random=0, keep_costs=False)
    match_s = time.perf_counter() - t
    return {"kind": kind, "layers": layers, "groups": len(groups), "trace_s": trace_s, "match_s": match_s,
            "objective": res.objective, "objective_identity": res.objective_identity,
            "peak_rss_mb_before_match": rss0,
            "peak_rss_mb": _peak_rss_mb(),
            "params_mb_per_model": sum(p.numel() * p.element_size() for p in a.parameters()) / 2**20}


@functools.cache
def _small_cnn_class():
    import torch
    from torch import nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            h = torch.relu(self.c2(torch.relu(self.c1(x))))
            return self.fc(h.mean(dim=(2, 3)))

    return SmallCNN


def small_cnn():
    """The network of the activation-matching memory case: two 32-channel 3×3 convolutions with ReLU, a global
    mean pool and a linear read-out (random init from torch's current seed; one class for every call, so two
    instances are the same architecture)."""
    return _small_cnn_class()()


def activation_case(n_images: int) -> dict:
    """Activation matching of two small CNNs on ``n_images`` random 3×32×32 images (fresh process)."""
    import torch

    from lmctheory.nn.matching import activation_match

    torch.set_num_threads(1)
    torch.manual_seed(0)
    a, b = small_cnn(), small_cnn()
    X = torch.randn(n_images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    rss0 = _peak_rss_mb()
    t = time.perf_counter()
    res = activation_match(a, b, X, n_random=2)
    return {"n_images": n_images, "match_s": time.perf_counter() - t, "n_samples": res.n_samples,
            "peak_rss_mb_before_match": rss0,
            "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB: ``VmHWM`` (Linux; reset by exec, unlike ``ru_maxrss``, which
    keeps the parent's size at fork), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _subprocess(case: str, arg: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "lmctheory.bench.matching", case, str(arg)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict]:
    rows = _resnet18_rows()
    g = _subprocess("gpt2", 2 if quick else 12)
    rows.append({"name": f"weight_match GPT-2-small dims ({g['layers']} layers)", "baseline_s": None,
                 "ours_s": g["match_s"], "ratio": None, **g,
                 "notes": f"{g['kind']}; trace {g['trace_s']:.1f} s; peak RSS {g['peak_rss_mb']:.0f} MB "
                          f"(models alone {g['peak_rss_mb_before_match']:.0f} MB)"})
    for n in ((400,) if quick else (400, 1600)):
        c = _subprocess("activation", n)
        rows.append({"name": f"activation_match {n} images 3x32x32 (2 conv layers)", "baseline_s": None,
                     "ours_s": c["match_s"], "ratio": None, **c,
                     "notes": f"peak RSS {c['peak_rss_mb']:.0f} MB "
                              f"(before matching {c['peak_rss_mb_before_match']:.0f} MB)"})
    return rows


if __name__ == "__main__":
    case, arg = sys.argv[1], int(sys.argv[2])
    print(json.dumps(gpt2_case(arg) if case == "gpt2" else activation_case(arg)))
