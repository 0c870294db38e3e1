"""Check logic of the theorem validation (docs/theory.md §1–11), shared by ``validation/`` and
``tests/test_checks_bite.py``; one module per ``validation/test_thm_*.py`` file:

=====================  ==========================================================  =========================
module                 docs/theory.md IDs                                               tests
=====================  ==========================================================  =========================
``common``             bookkeeping, formula comparison, binomial test (§11)        all
``costs``              T-4.2, T-10, T-4.3 (+ coherence ν, eq. 11)                  ``test_thm_costs.py``
``probability``        T-4.4, T-4.6, T-4.8b (statistical)                          ``test_thm_probability.py``
``sensitivity``        T-16, T-4.5, T-C.5, T-4.7, T-4.8a                           ``test_thm_sensitivity.py``
``chord``              T-C.7, T-C.8, T-chord-exact, T-5.1, T-D.1, T-5.2            ``test_thm_chord.py``
``relaxed``            T-E.1, T-E.2, T-E.4, T-E.5, T-E.6                           ``test_thm_relaxed.py``
``lewc``               T-WA, T-5.3                                                 ``test_thm_lewc.py``
``symmetry``           T-S1, T-S2, T-S3, T-S4                                      ``test_thm_symmetry.py``
=====================  ==========================================================  =========================

Every ``check_*`` function takes the formula / bound / transformation under test as an argument (the
package's function in ``validation/``, a deliberately wrong variant in the bite tests), compares it with an
*independent* route computed in plain NumPy/SciPy (least-squares solves, explicit sums, Monte Carlo,
quadrature, sympy), raises :class:`CheckFailed` (an ``AssertionError``) with a message naming the docs/theory.md
ID, and returns what it measured (ratios left side / right side, errors, violation counts) so the tests can
feed the tightness report.

Checks that also compare a closed form with a copy re-typed here from docs/theory.md take ``compare=True``;
``compare=False`` skips that comparison so that the bite tests can show that a wrong constant is caught by
the independent route alone (inequality, statistics, brute force).

Conventions
-----------
* ``ratio`` always means (left side) / (right side) of an inequality ``lhs ≤ rhs``: ≤ 1 when the
  statement holds, close to 1 when it is tight.
* Deterministic statements are checked with an explicit floating-point tolerance given in each
  docstring. Probabilistic statements use :func:`binomial_check` (docs/theory.md §11: reject when
  ``P(Binom(N, δ) ≥ V) < 1e-6``).
* Input permutations: ``P_ρ = I[perm]`` (``(P_ρ x)_i = x_{perm[i]}``), so ``P_ρ U = U[perm]`` and
  ``v_i^ρ = U[perm]ᵀ f_i``. Output permutations: neuron ``i`` takes the function of neuron ``perm[i]``.

The names of all section modules are re-exported here (``checks.check_formula``, ``checks.ref_grams``, …).
"""

from .common import *  # noqa: F401,F403
from .costs import *  # noqa: F401,F403
from .sensitivity import *  # noqa: F401,F403
from .probability import *  # noqa: F401,F403
from .chord import *  # noqa: F401,F403
from .relaxed import *  # noqa: F401,F403
from .lewc import *  # noqa: F401,F403
from .symmetry import *  # noqa: F401,F403
