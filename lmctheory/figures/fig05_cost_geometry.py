"""Figure 5 — realization-cost geometry of Example 4.3 (docs/theory.md T-4.3, T-10; [NI] Fig. 2)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from .style import new_figure

NAME = "fig05_cost_geometry"
LEVELS = (0.25, 1.0, 4.0)
#: target coefficients a_i = (a_A, a_B) of the two neurons' functions (fixed across s)
A1 = np.array([1.0, 0.5])
A2 = np.array([0.3, 1.0])


def example_4_3(s: float):
    """The two-neuron, 4-D, 2-D-support instance of Example 4.3 (docs/theory.md T-4.3).

    The support has basis ``U = [u_A, u_B]``, ``u_A = s·e₁ + c·e₂``, ``u_B = s·e₃ + c·e₄``,
    ``c = √(1−s²)``: ``ν(U) = max(s², c²) → 1`` as the visible mass ``s² → 0``. Neuron 1 has
    coordinate 2 fixed (it sees direction A only through ``s``), neuron 2 coordinate 4 (it sees
    B only through ``s``): ``S₁ = diag(s², 1)``, ``S₂ = diag(1, s²)``. The fixed entries put the
    projected centers at ``v₁ = (1, 0)``, ``v₂ = (0, 1)``; each neuron realizes its coefficient
    ``a_i`` (:data:`A1`, :data:`A2`) with the minimum-norm trainable weights ``M_iᵀS_i⁻¹(a_i − v_i)``.

    Returns ``(effective, fixed, diag, basis)``.
    """
    c = np.sqrt(1.0 - s * s)
    U = np.array([[s, 0.0], [c, 0.0], [0.0, s], [0.0, c]])
    D = np.ones((2, 4))
    D[0, 1] = 0.0
    D[1, 3] = 0.0
    F = np.zeros((2, 4))
    F[0, 1] = 1.0 / c
    F[1, 3] = 1.0 / c
    W = np.zeros((2, 4))
    for i, a in enumerate((A1, A2)):
        M = U.T * D[i]  # M_i = Uᵀ diag(d_i)
        r = a - U.T @ F[i]
        W[i] = M.T @ np.linalg.solve(M @ M.T, r)
    return F + D * W, F, D, U


def _ellipse(center, S, level, num=200):
    """Boundary of {a : (a − v)ᵀS⁻¹(a − v) = level}."""
    vals, vecs = np.linalg.eigh(S)
    t = np.linspace(0, 2 * np.pi, num)
    circ = np.stack([np.cos(t), np.sin(t)])
    return (center[:, None] + np.sqrt(level) * vecs @ (np.sqrt(vals)[:, None] * circ)).T


@register(5, NAME, "Realization-cost geometry of Example 4.3 ([NI] Fig. 2)", "analytic")
def make(ctx: FigureContext) -> FigureOutput:
    from lmctheory import costs, gram, subspace

    panel_s = (np.sqrt(0.5), 0.4, 0.15)
    sweep_s = np.logspace(np.log10(0.02), np.log10(np.sqrt(0.5)), ctx.pick(12, 40, 80))
    rows = {c: [] for c in ("kind", "s", "coherence", "neuron", "quantity", "value", "a_A", "a_B")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("grid", 2, 2)
    flat = axes.ravel()
    colors = ("C0", "C3")
    for ax, s in zip(flat[:3], panel_s):
        E, F, D, U = example_4_3(float(s))
        nu = float(subspace.subspace_coherence(U))
        S = np.asarray(gram.gram_matrices(D, U), float)
        V = np.asarray(subspace.projected_centers(F, U), float)
        C = np.asarray(costs.realization_costs(E, F, D, U), float)
        coef = (A1, A2)
        for i in range(2):
            for lv, ls in zip(LEVELS, (":", "-", "--")):
                pts = _ellipse(V[i], S[i], lv)
                ax.plot(pts[:, 0], pts[:, 1], color=colors[i], ls=ls, lw=1.3,
                        label=f"R_{i + 1}(a) = {lv:g}" if lv == LEVELS[1] or s == panel_s[0] else None)
                for x, y in pts[::4]:
                    add("ellipse", s, nu, i + 1, f"R_{i + 1}(a) level", lv, x, y)
            ax.plot(*V[i], marker="x", color=colors[i], ms=8, mew=2,
                    label=f"center v_{i + 1}" if s == panel_s[0] else None)
            ax.plot(*coef[i], marker="o", color=colors[i], ms=7,
                    label=f"function a_{i + 1}" if s == panel_s[0] else None)
            add("center", s, nu, i + 1, "v", np.nan, *V[i])
            add("coefficient", s, nu, i + 1, "a", np.nan, *coef[i])
        for i, j in ((0, 1), (1, 0)):
            add("cost", s, nu, i + 1, f"R_{i + 1}(a_{j + 1})", C[i, j], *coef[j])
            add("cost", s, nu, i + 1, f"R_{i + 1}(a_{i + 1})", C[i, i], *coef[i])
        ax.set_title(f"s² = {s * s:.3g} (ν = {nu:.3f}):  R₁(a₂) = {C[0, 1]:.3g},  R₂(a₁) = {C[1, 0]:.3g}",
                     fontsize="small")
        ax.set_xlabel("coefficient along support direction u_A   [a.u.]")
        ax.set_ylabel("coefficient along u_B   [a.u.]")
        # equal scales so that a circle means an isotropic cost; the x-range grows to fill the panel
        ax.set_xlim(-2.5, 3.5)  # wider than tall: the panels are, too
        ax.set_ylim(-1.5, 2.5)
        ax.set_aspect("equal", adjustable="box")
        ax.set_anchor("C")
    flat[0].legend(fontsize="xx-small", loc="lower left", ncol=2)

    ax = flat[3]
    sweep = {"R_1(a_2)": [], "R_2(a_1)": [], "R_1(a_1)": [], "R_2(a_2)": []}
    nus = []
    for s in sweep_s:
        E, F, D, U = example_4_3(float(s))
        C = np.asarray(costs.realization_costs(E, F, D, U), float)
        nu = float(subspace.subspace_coherence(U))
        nus.append(nu)
        for key, val in zip(sweep, (C[0, 1], C[1, 0], C[0, 0], C[1, 1])):
            sweep[key].append(val)
            add("sweep", s, nu, int(key[2]), key, val, np.nan, np.nan)
    styles = {"R_1(a_2)": ("C0", "-"), "R_2(a_1)": ("C3", "-"), "R_1(a_1)": ("C0", ":"), "R_2(a_2)": ("C3", ":")}
    for key, vals in sweep.items():
        c, ls = styles[key]
        ax.loglog(sweep_s ** 2, vals, color=c, ls=ls, marker="o" if ls == "-" else None, ms=3,
                  label=key.replace("R_1", "R₁").replace("R_2", "R₂"))
    ax.set_xlabel("visible mass s² of the masked direction (= 1 − ν)")
    ax.set_ylabel("cost R_i(a_j)   [squared weight norm ‖w‖²]")
    ax.set_title("Swapping functions becomes expensive as s² → 0 (ν → 1)", fontsize="small")
    ax.legend(fontsize="x-small")

    caption = (
        "Figure 5 (docs/theory.md T-4.3, T-10; [NI] Example 4.3, Fig. 2). Two W-asymmetric neurons with 4-D "
        "inputs on a 2-D support U = [s·e₁ + c·e₂, s·e₃ + c·e₄] (c = √(1−s²), coherence ν = 1 − s²); neuron 1 "
        "has coordinate 2 fixed, neuron 2 coordinate 4, so S₁ = diag(s², 1) and S₂ = diag(1, s²) "
        "(lmctheory.gram.gram_matrices). Panels 1–3: in the plane of subspace coefficients a = Uᵀw̃, "
        f"level sets R_i(a) = {', '.join(f'{l:g}' for l in LEVELS)} (dotted, solid, dashed) of the "
        "Mahalanobis realization cost (a − v_i)ᵀS_i⁻¹(a − v_i) around the projected centers v_i (×), and the "
        "two neurons' functions a_i (●), as the visible mass s² of the masked direction fades. Panel 4: the "
        "swap costs R₁(a₂), R₂(a₁) and the own costs R_i(a_i) vs s², computed by "
        "lmctheory.costs.realization_costs; the cross costs grow like 1/s². Deterministic (no randomness)."
    )
    return FigureOutput(fig, rows, caption, size="grid")
