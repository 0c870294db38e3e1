"""Inputs outside the supported range fail with a ValueError/TypeError naming the argument (found by an
input fuzz: before, they returned NaN or raised ZeroDivisionError/LinAlgError from inside a kernel)."""

import numpy as np
import pytest

import lmctheory as lt
from lmctheory.synthetic import asymmetric_layer, random_basis


@pytest.fixture(scope="module")
def layer():
    return asymmetric_layer(5, 6, mode="wasym", seed=2), random_basis(6, 3, seed=1)


@pytest.mark.parametrize("arg", ["effective", "fixed", "diag"])
def test_costs_reject_entries_beyond_1e50(layer, arg):
    lay, U = layer
    kw = dict(effective=lay.effective, fixed=lay.fixed, diag=lay.diag)
    kw[arg] = kw[arg] * 1e90 + (1e90 if arg != "diag" else 0.0)
    with pytest.raises(ValueError, match=rf"{arg} has entries of magnitude .* > 1e\+50"):
        lt.realization_costs(kw["effective"], kw["fixed"], kw["diag"], U)
    lt.realization_costs(lay.effective * 1e40, lay.fixed * 1e40, lay.diag * 1e40, U)  # inside the range: fine


def test_gram_and_chord_and_subspace_reject_overflowing_entries(layer):
    lay, U = layer
    with pytest.raises(ValueError, match="diag has entries of magnitude"):
        lt.gram_spectra(lay.diag * 1e160, U)
    w = np.ones((2, 3))
    with pytest.raises(ValueError, match="w0 has entries of magnitude"):
        lt.relu_chord_bound(w * 1e200, w, np.eye(3), 0.5)
    with pytest.raises(ValueError, match="cov has entries of magnitude"):
        lt.smooth_chord_bound(w, 2 * w, np.eye(3) * 1e200, 0.5, "gelu")
    with pytest.raises(ValueError, match="X has entries of magnitude"):
        lt.subspace_basis(np.random.default_rng(0).normal(size=(20, 6)) * 1e160)


def test_scale_invariant_functions_still_accept_huge_inputs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    np.testing.assert_allclose(lt.pairwise_center_gaps(X * 1e160), lt.pairwise_center_gaps(X) * 1e160, rtol=1e-14)
    lt.activation_correlation(X * 1e200, X * 1e-200)


def test_flags_must_be_bools():
    with pytest.raises(TypeError, match="log must be a bool"):
        lt.unit_ball_volume(3, log="yes")
    with pytest.raises(TypeError, match="log_densities must be a bool"):
        lt.center_gap_probability_bound(0.1, 2, [1.0, 2.0], log_densities=1)
    assert lt.unit_ball_volume(2, log=np.bool_(False)) == pytest.approx(np.pi)


def test_cos_theta_outside_unit_interval_is_rejected_not_clipped():
    with pytest.raises(ValueError, match="cos_theta must lie in"):
        lt.relu_gaussian_moment(1.0, 1.0, 5.0)
    assert lt.relu_gaussian_moment(1.0, 1.0, 1.0 + 1e-12) == 0.5  # rounding is clipped


def test_ragged_lam_names_lam():
    w = np.ones((2, 3))
    with pytest.raises(TypeError, match="lam must be"):
        lt.chord_deviation(w, w, np.ones((4, 3)), [0.0, [0.5, 1.0]])


def test_shape_messages_have_no_stray_quotes():
    with pytest.raises(ValueError) as info:
        lt.realization_costs(np.ones((3, 7)), np.ones((3, 7)), np.ones((3, 7)), random_basis(6, 2, seed=0))
    assert "'?'" not in str(info.value)
    from lmctheory._validation import check_array

    with pytest.raises(ValueError, match=r"shape \(7, \?\)"):
        check_array(np.ones((3, 7)), "W_Q", shape=(7, None))


def test_costs_that_overflow_float64_are_inf_not_nan(layer):
    """Tiny masks (S_i ~ 1e-300) with large targets: the true costs exceed float64, so +inf (never a NaN from
    inf − inf inside the GEMM)."""
    lay, U = layer
    C = lt.realization_costs(lay.effective * 1e49, lay.fixed, lay.diag * 1e-150, U)
    assert not np.isnan(C).any()
    assert np.isinf(C).all()


def test_huge_integer_counts_are_named():
    from lmctheory.distributed import row_blocks

    with pytest.raises(ValueError, match="n must be <="):
        row_blocks(2**70, 2)
    with pytest.raises(ValueError, match="n_random must be <="):
        lt.activation_matching(np.eye(3), np.eye(3), n_random=2**70)


def test_torch_tensors_of_numpy_less_dtypes_and_meta_device_name_the_argument():
    """bfloat16 is widened exactly; meta and sparse tensors are refused naming the argument (not torch's words)."""
    import torch

    from lmctheory import min_center_gap

    V = torch.tensor([[0.0, 1.0], [3.0, 5.0], [0.5, 1.0]], dtype=torch.bfloat16)
    assert min_center_gap(V) == pytest.approx(min_center_gap(V.double().numpy()), rel=0, abs=0)
    with pytest.raises(ValueError, match="centers is a meta-device tensor"):
        min_center_gap(torch.empty(4, 2, device="meta"))
    with pytest.raises(TypeError, match="centers must be a dense tensor"):
        min_center_gap(torch.eye(3).to_sparse())
