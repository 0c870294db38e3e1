"""Symmetry engine at GPT-2-small scale: capture and group tracing time, peak memory.

Model: a GPT-2-shaped language model written here (so the benchmark needs no test-only dependency):
token and position embeddings (vocabulary 50 257, width 768, tied output head), 12 pre-norm blocks with
a fused ``qkv`` projection, 12 heads, scaled-dot-product attention with a causal mask, a GELU MLP of
width 3072; random initialization, input ids of shape ``(2, 16)``. ``--quick``: 2 blocks, width 64,
4 heads, vocabulary 1000.

Rows (each measured in a fresh subprocess, peak memory as ``ru_maxrss`` minus the RSS just before the call):

- baseline: ``torch.export`` capture alone (:func:`lmctheory.nn.symmetry.capture`);
- ours: :func:`lmctheory.nn.symmetry.analyze` — capture, axis classes, groups and attention sites —
  on a fresh model (so the capture is not cached), and the number of groups found.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from ._measure import load_average, maxrss_mb, rss_mb

NAME = "symmetry"

#: (layers, width, heads, vocabulary, positions) per mode.
SIZES = {False: (12, 768, 12, 50257, 1024), True: (2, 64, 4, 1000, 64)}


def _model(layers, width, heads, vocab, positions):
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, x):
            B, T, E = x.shape
            q, k, v = self.qkv(self.ln_1(x)).split(E, dim=2)
            q, k, v = (t.view(B, T, heads, E // heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, E))
            return x + self.out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(positions, width)
            self.h = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(width)
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, input_ids):
            x = self.wte(input_ids) + self.wpe(torch.arange(input_ids.shape[1]))
            for b in self.h:
                x = b(x)
            return self.lm_head(self.ln_f(x))

    torch.manual_seed(0)
    return GPT().eval()


def _child(what: str, quick: bool) -> dict:
    import torch

    from lmctheory.nn.symmetry import analyze, capture

    torch.set_num_threads(1)
    layers, width, heads, vocab, positions = SIZES[quick]
    model = _model(layers, width, heads, vocab, positions)
    ids = torch.randint(0, vocab, (2, 16), generator=torch.Generator().manual_seed(1))
    capture(_model(1, 8, 2, 16, 16), torch.zeros(2, 4, dtype=torch.long))  # warm-up: imports, export machinery
    rss0 = rss_mb()
    t0 = time.perf_counter()
    if what == "capture":
        capture(model, ids)
        extra = {}
    else:
        a = analyze(model, ids)
        extra = {"groups": len(a.groups), "attention_sites": len(a.attention),
                 "kinds": sorted({g.kind for g in a.groups})}
    sec = time.perf_counter() - t0
    return {"seconds": sec, "rss_before_mb": rss0, "peak_delta_mb": maxrss_mb() - rss0, **extra}


def _spawn(what: str, quick: bool) -> dict:
    cmd = [sys.executable, "-m", "lmctheory.bench.symmetry", "--child", what] + (["--quick"] if quick else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    """One row: analyze (ours) against the bare torch.export capture (baseline) at GPT-2-small shape."""
    layers, width, heads, vocab, _ = SIZES[quick]
    base = _spawn("capture", quick)
    ours = _spawn("analyze", quick)
    return [{
        "name": f"symmetry analyze vs capture alone, GPT-2 shape ({layers} layers, width {width}, {heads} heads, "
                f"vocab {vocab})",
        "baseline_s": base["seconds"], "ours_s": ours["seconds"], "ratio": base["seconds"] / ours["seconds"],
        "peak_mem_baseline_mb": base["peak_delta_mb"], "peak_mem_ours_mb": ours["peak_delta_mb"],
        "groups": ours["groups"], "attention_sites": ours["attention_sites"],
        "notes": (f"{ours['groups']} groups ({', '.join(ours['kinds'])}), {ours['attention_sites']} attention sites; "
                  f"peak RSS over call: capture {base['peak_delta_mb']:.0f} MiB, analyze {ours['peak_delta_mb']:.0f} "
                  f"MiB (model itself {ours['rss_before_mb']:.0f} MiB RSS); {load_average()}"),
    }]


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], "--quick" in sys.argv)))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
