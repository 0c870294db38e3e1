"""Reproductions of published LMC claims on trained networks at CPU scale (docs/experiments.md).

Run ``python -m paper_checks [--quick] [--only C1 C5 …]``; see :mod:`paper_checks.common` for the
claim-module protocol (``ID``, ``TITLE``, ``PAPER``, ``CONDITION``, ``config``, ``collect``, ``run``).
"""

from .common import ClaimResult, Context, discover, load_claim, run_claims

__all__ = ["ClaimResult", "Context", "discover", "load_claim", "run_claims"]
