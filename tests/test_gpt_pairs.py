"""The G3 experiment's data and models: modular sequences and Hugging Face GPT-2 pairs (gpt_pairs)."""

from __future__ import annotations

import pytest
import torch

from tests._thirdparty import load_transformers


def test_modular_sequences_targets_and_seed():
    from lmctheory.experiments.gpt_pairs import modular_sequences

    X, Y = modular_sequences(50, length=6, p=7, seed=3)
    assert X.shape == Y.shape == (50, 6) and X.dtype == Y.dtype == torch.int64
    assert int(X.min()) >= 0 and int(X.max()) < 7
    # written out independently: Y_t = (X_t + X_{t-1}) mod p with X_0 = 0
    for i in range(50):
        prev = 0
        for t in range(6):
            assert int(Y[i, t]) == (int(X[i, t]) + prev) % 7
            prev = int(X[i, t])
    X2, _ = modular_sequences(50, length=6, p=7, seed=3)
    X3, _ = modular_sequences(50, length=6, p=7, seed=4)
    assert torch.equal(X, X2) and not torch.equal(X, X3)


def test_make_gpt_is_hugging_face_gpt2_seeded_tied_no_dropout():
    tr = load_transformers()
    from lmctheory.experiments.gpt_pairs import make_gpt, modular_sequences

    state = torch.random.get_rng_state()
    m = make_gpt(7, 6, 16, 2, 4, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert isinstance(m, tr.GPT2LMHeadModel)
    c = m.config
    assert (c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head) == (7, 6, 16, 2, 4)
    assert c.resid_pdrop == c.embd_pdrop == c.attn_pdrop == 0.0 and c.use_cache is False
    assert m.lm_head.weight is m.transformer.wte.weight  # GPT-2's tied read-out
    same, other = make_gpt(7, 6, 16, 2, 4, seed=5), make_gpt(7, 6, 16, 2, 4, seed=6)
    sd, sd2, sd3 = m.state_dict(), same.state_dict(), other.state_dict()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert not torch.equal(sd["transformer.h.0.attn.c_attn.weight"], sd3["transformer.h.0.attn.c_attn.weight"])
    X, _ = modular_sequences(4, length=6, p=7, seed=0)
    out = m.train()(input_ids=X, use_cache=False)  # no dropout: train and eval modes agree
    with torch.no_grad():
        ref = m.eval()(input_ids=X)
    assert out.logits.shape == (4, 6, 7) and out.past_key_values is None
    assert torch.allclose(out.logits.detach(), ref.logits)


@pytest.mark.parametrize("args, match", [((7, 6, 0, 2, 4), "dim"), ((7, 6, -8, 2, 4), "dim"),
                                         ((7, 6, 10, 2, 4), "multiple of heads"), ((1, 6, 8, 2, 4), "vocab"),
                                         ((7, 6, 8, 0, 4), "depth")])
def test_make_gpt_rejects_bad_sizes(args, match):
    load_transformers()
    from lmctheory.experiments.gpt_pairs import make_gpt

    with pytest.raises(ValueError, match=match):
        make_gpt(*args, seed=0)
