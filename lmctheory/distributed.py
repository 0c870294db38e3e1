"""All-pairs realization costs on a user's Dask or Ray cluster (the STUMPY ``stumped`` convention).

The caller passes a client they already have — a ``dask.distributed.Client`` or the ``ray``
module after ``ray.init(...)`` — as the first argument; setting up the cluster is theirs. The
shared arrays are shipped to the workers once (Dask ``scatter(broadcast=True)``, Ray ``put``);
each task computes one block of rows with the same Numba kernel as the single-process function
(:func:`lmctheory.costs.realization_costs` with ``rows=``), and the blocks are stacked in order.
The result is identical to the single-process function.

Neither dask nor ray is imported by ``import lmctheory``; they are needed only when a client of
that kind is passed (``pip install 'lmctheory[dask]'`` or ``'lmctheory[ray]'``).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int, check_scalar
from .sweep import client_kind

__all__ = ["realization_costs_distributed", "swap_costs_distributed", "row_blocks"]


def row_blocks(n: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ``n_blocks`` contiguous, nearly equal ``(start, stop)`` blocks."""
    n = check_int(n, "n", low=1)
    n_blocks = check_int(n_blocks, "n_blocks", low=1)
    edges = np.linspace(0, n, min(n_blocks, n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _block(effective, fixed, diag, basis, rows, rtol):
    from .costs import realization_costs

    return realization_costs(effective, fixed, diag, basis, rtol=rtol, rows=rows)


def _n_workers(client, where: str) -> int:
    try:
        if where == "dask":
            return max(1, len(client.scheduler_info()["workers"]))
        return max(1, int(client.cluster_resources().get("CPU", 1)))
    except Exception:
        return 1


def realization_costs_distributed(
    client,
    effective,
    fixed,
    diag,
    basis,
    *,
    rtol: float = 1e-8,
    n_blocks: int | None = None,
) -> np.ndarray:
    """All-pairs realization costs ``C[i, j] = R_i(a_j)`` (eq. (10), T-10) computed on a cluster.

    Same formula, tolerance and result as :func:`lmctheory.costs.realization_costs`; the
    ``n`` rows are split into ``n_blocks`` contiguous blocks (default: two per worker), each
    computed by one task from arrays broadcast to the workers once.

    Parameters
    ----------
    client : dask.distributed.Client or the ray module
        An existing client (the caller's cluster).
    effective, fixed, diag : array_like, shape (n, d)
        Effective weights ``W̃ = F + D ⊙ W``, fixed centers ``F`` and diagonal operators ``D``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    rtol : float
        Range-membership tolerance, as in the single-process function.
    n_blocks : int, optional
        Number of row blocks (tasks).

    Returns
    -------
    ndarray, shape (n, n)
    """
    from .costs import realization_costs

    where = client_kind(client)
    if where == "local":
        raise TypeError("client must be a dask.distributed.Client or the ray module; "
                        "use lmctheory.realization_costs for a local computation")
    rtol = check_scalar(rtol, "rtol", low=0.0, low_inclusive=False)
    # validate once on the driver (cheap: one row) so bad input fails before anything is shipped
    realization_costs(effective, fixed, diag, basis, rtol=rtol, rows=(0, 1))
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (effective, fixed, diag, basis)]
    n = arrays[0].shape[0]
    if n_blocks is None:
        n_blocks = 2 * _n_workers(client, where)
    blocks = row_blocks(n, n_blocks)

    if where == "dask":
        # hash=False: content-hashed keys would be shared with a previous call's futures, whose release
        # can drop the data under this call's tasks ("lost dependencies")
        shared = client.scatter(arrays, broadcast=True, hash=False)
        futures = [client.submit(_block, *shared, rows, rtol, pure=False) for rows in blocks]
        parts = client.gather(futures)
    else:
        refs = [client.put(a) for a in arrays]
        remote = client.remote(_block)
        parts = client.get([remote.remote(*refs, rows, rtol) for rows in blocks])
    return np.vstack(parts)


def swap_costs_distributed(client, effective, fixed, diag, basis, *, rtol: float = 1e-8,
                           n_blocks: int | None = None) -> np.ndarray:
    """Swap costs ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]`` (eq. (14–15)) with the cost matrix
    computed by :func:`realization_costs_distributed`."""
    from .costs import swap_costs

    return swap_costs(realization_costs_distributed(client, effective, fixed, diag, basis,
                                                    rtol=rtol, n_blocks=n_blocks))
