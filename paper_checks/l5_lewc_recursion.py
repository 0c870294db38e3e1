"""L5 — the T-5.3 error recursion bounds the measured LEWC error on every net and input ([LEWC] Thm. 5.3).

Claim (docs/theory.md §9 T-5.3, explicit form of [LEWC] Thm. 5.3)
    Per input, ``e_ℓ = z_ℓ(θ_λ) − (1−λ)^ℓ z_ℓ^a − λ^ℓ z_ℓ^b`` (``θ_λ = (1−λ)θ_a + λθ_b``) satisfies
    ``‖e_ℓ‖ ≤ ‖σ(p+q) − σ(p) − σ(q)‖ + ‖c_ℓ‖ + ‖W_ℓ^λ‖₂ ‖e_{ℓ−1}‖`` (``ℓ = 1`` exact, logits exact recursion): weak
    additivity and reciprocal orthogonality at every layer imply LEWC. It holds for every input and network.

Setup
    (a) Every trained pair of the shared L1 sweep (all widths, both weight decays, all pairs), all test inputs,
        ``λ ∈ {1/4, 1/2, 3/4}`` (:func:`lmctheory.nn.merging.layer_measurements` →
        :func:`lmctheory.lewc.lewc_error_recursion`, its floating-point tolerance).
    (b) Random He-initialized bias-free ReLU MLPs (3 hidden layers, widths 32/128/512, several seeds) on the
        same inputs at ``λ ∈ {0.1, 0.3, 0.5, 0.7, 0.9}``.

Pass condition (fixed up front from docs/experiments.md L5)
    zero violations over all (net, λ, input, layer) entries; ``max measured/bound`` over layers ``ℓ ≥ 2`` is
    reported (how tight the recursion is; layer 1 is an equality).
"""

from __future__ import annotations

import time

from lmctheory.experiments import lewc_width as _exp

ID = "L5"
TITLE = "T-5.3's recursion bounds the measured LEWC error on every net and input"
PAPER = ("[LEWC] Thm. 5.3: weak additivity and reciprocal orthogonality at every layer imply LEWC "
         "(the error recursion holds for every input).")
CONDITION = "zero violations of the T-5.3 bound over all trained and random pairs, inputs, layers and λ"
NAMESPACE = "paper_checks_l5"


def config(quick: bool) -> dict:
    sweep = _exp.sweep_config(quick)
    rnd = dict(widths=[32, 128, 512], n_seeds=2 if quick else 5, lams=[0.1, 0.3, 0.5, 0.7, 0.9], n_inputs=450)
    return dict(sweep=sweep, random=rnd)


def random_part(cfg: dict, data_cfg: dict) -> dict:
    """T-5.3 on random pairs (the digits test inputs)."""
    from lmctheory.experiments.lewc_width import load_dataset
    from lmctheory.nn.biasfree import make_width_mlp
    from lmctheory.nn.merging import layer_measurements

    t0 = time.perf_counter()
    ds = load_dataset(data_cfg)
    X = ds.X_test[: cfg["n_inputs"]]
    rows = []
    for w in cfg["widths"]:
        for s in range(cfg["n_seeds"]):
            a = make_width_mlp(ds.in_dim, ds.n_classes, base_width=w, multiplier=1, n_hidden=data_cfg["n_hidden"],
                               seed=10_000 + 2 * s)
            b = make_width_mlp(ds.in_dim, ds.n_classes, base_width=w, multiplier=1, n_hidden=data_cfg["n_hidden"],
                               seed=10_001 + 2 * s)
            for lam in cfg["lams"]:
                m = layer_measurements(a, b, X, lam=lam)
                rows.append(dict(width=w, seed=s, lam=lam, violations=m.violations, max_ratio=m.max_ratio,
                                 entries=int(m.error_measured.size)))
    return dict(rows=rows, violations=int(sum(r["violations"] for r in rows)),
                entries=int(sum(r["entries"] for r in rows)), max_ratio=float(max(r["max_ratio"] for r in rows)),
                seconds=time.perf_counter() - t0)


def collect(ctx) -> dict:
    from paper_checks.common import cached_collect

    cfg = config(ctx.quick)
    sw = _exp.sweep(ctx, cfg["sweep"])
    rnd = cached_collect(NAMESPACE, {"random": cfg["random"], "data": cfg["sweep"]["dataset"], "version": 2}, ctx,
                         lambda: random_part(cfg["random"], cfg["sweep"]))
    trained = {wd: dict(width=t["width"], violations=t["recursion_violations"], entries=t["recursion_entries"],
                        max_ratio=t["recursion_max_ratio"]) for wd, t in sw["table"].items()}
    return {"config": cfg, "trained": trained, "random": rnd, "seconds": sw["seconds"]}


def evaluate(data: dict) -> tuple[bool | None, dict]:
    tv = int(sum(sum(t["violations"]) for t in data["trained"].values()))
    te = int(sum(sum(t["entries"]) for t in data["trained"].values()))
    rv, re_ = int(data["random"]["violations"]), int(data["random"]["entries"])
    if te + re_ == 0:
        return None, {"reason": "no entries checked"}
    mr = max([max(t["max_ratio"]) for t in data["trained"].values()] + [data["random"]["max_ratio"]])
    return tv + rv == 0, dict(trained_violations=tv, trained_entries=te, random_violations=rv, random_entries=re_,
                              max_ratio=float(mr))


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, ev = evaluate(data)
    measured = (f"trained pairs: {ev['trained_violations']} violations in {ev['trained_entries']} (input, layer, λ) "
                f"entries; random pairs: {ev['random_violations']} in {ev['random_entries']}; "
                f"max measured/bound at layers ℓ ≥ 2 = {ev['max_ratio']:.3f} (layer 1: equality)")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "trained": data["trained"], "config": data["config"]})
