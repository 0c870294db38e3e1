"""Slow, obvious NumPy references for every Numba kernel (the STUMPY ``naive.py`` idea).

Each function here computes the same quantity as a fast kernel in :mod:`lmctheory.kernels`, in
the most direct way the formula in THEORY.md allows (Python loops, ``np.linalg.pinv``, explicit
sums). Tests compare the two on many generated inputs. Sections belong to one kernel family each.
"""

import numpy as np

# ===== costs / gram (lmctheory.kernels.costs) ===============================================

# ===== subspace / gaps / sensitivity (lmctheory.kernels.gaps) ================================

# ===== chord / weak additivity Monte Carlo (lmctheory.kernels.montecarlo) ====================
