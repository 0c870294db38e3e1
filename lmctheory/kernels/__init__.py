"""Numba kernels (``@njit(cache=True)``), one module per family.

Kernels trust their input completely (no bounds checks): they are called only by the validated
public functions of the core modules, never by users. Each kernel has a plain reference in
``tests/naive.py`` that the tests compare it with.

``costs``       all-pairs realization costs (GEMM form), Gram matrix build / pseudo-inverse per neuron
``gaps``        pairwise and minimum projected-center gaps
``montecarlo``  seeded, parallel Monte Carlo for the weak-additivity cosine and chord deviations
"""
