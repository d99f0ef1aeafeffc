"Tests for argminn_nb.mems: bad input, exact answers on toy predictors, and property checks."
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from argminn_nb.mems import MEM, Scrambler, bounded_sigma, explain, fit_explainer, gaussian_mask_logits, kernel_band
from argminn_nb.explanations import (count_regions, deduce_logic, evaluate_explanations, keep_gradient_check, planted_mask,
                                     restricted_predictions)
from argminn_nb.toys import KmerRule, toy_kmer_data
from argminn_nb.models import ResidualClassifier

KMERS = {'A': 'GGAAGTGACC', 'B': 'CCGCGATCGG'}
SMALL = dict(n_groups=1, blocks_per_group=1, dilations=(1,), channels=4)


# ---------------------------------------------------------------- properties of the mask
@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 120), n=st.integers(1, 3), seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_banded_kernel_equals_exact(L, n, seed, scale):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, L, generator=g, dtype=torch.float64) * scale
    s = bounded_sigma(torch.randn(n, L, generator=g, dtype=torch.float64) * 4)
    exact = gaussian_mask_logits(w, s)
    banded = gaussian_mask_logits(w, s, band=kernel_band(36.0))
    assert torch.allclose(exact, banded, atol=1e-7 * (1 + w.abs().sum().item()))


@settings(max_examples=25, deadline=None)
@given(raw=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
       lo=st.floats(0.01, 5), span=st.floats(0.1, 100))
def test_sigma_bounds(raw, lo, span):
    s = bounded_sigma(torch.tensor(raw, dtype=torch.float64), lo, lo + span)
    assert (s >= lo).all() and (s <= lo + span).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), bias=st.floats(-50, 50))
def test_mem_mask_bounded_and_grads_finite(seed, bias):
    mem = MEM('necessary', band='auto', random_state=seed, **SMALL)
    with torch.no_grad(): mem.head.bias[0] = bias
    X = torch.as_tensor(toy_kmer_data(random_state=seed)[0])
    out = mem(X)
    assert ((out.mask >= 0) & (out.mask <= 1)).all()
    assert ((out.sigma >= mem.sigma_min) & (out.sigma <= mem.sigma_max)).all()
    terms = mem.loss(KmerRule(KMERS, 'AND', hard=False), X, torch.tensor([0.9, 0.1, 0.1, 0.1]),
                     torch.Generator().manual_seed(seed))
    terms['total'].backward()
    assert all(torch.isfinite(p.grad).all() for p in mem.parameters() if p.grad is not None)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=30), min_size=1, max_size=5).filter(
    lambda rows: len({len(r) for r in rows}) == 1))
def test_count_regions_matches_loop(rows):
    S = np.array(rows, dtype=bool)
    expected = [sum(1 for j in range(len(r)) if r[j] and (j == 0 or not r[j - 1])) for r in rows]
    assert count_regions(S).tolist() == expected


# ---------------------------------------------------------------- exact answers on toy predictors
@pytest.fixture(scope='module')
def toy():
    return toy_kmer_data(present=((1, 1), (1, 0), (0, 1), (0, 0)) * 2, random_state=5)


def test_redundant_single_motif_sufficient_not_necessary(toy):
    X, inst = toy
    f = KmerRule(KMERS, 'OR')
    T_A, T_B = planted_mask(inst, len(X), 60, ['A']), planted_mask(inst, len(X), 60, ['B'])
    suff_A = restricted_predictions(f, X, T_A, n_draws=100, random_state=0)
    nec_A = restricted_predictions(f, X, ~T_A, n_draws=100, random_state=0)
    # sequence 0 has A and B: A alone is sufficient, and removing it leaves B, so A is not necessary
    assert suff_A[0] == 1.0 and nec_A[0] == 1.0
    # sequence 1 has A only: A sufficient, and removing it removes the positive (barring a chance k-mer)
    assert suff_A[1] == 1.0 and nec_A[1] <= 0.02
    # B-only sequence: keeping the (absent) A positions keeps nothing useful
    assert suff_A[2] <= 0.02 and restricted_predictions(f, X[2:3], T_B[2:3], n_draws=50, random_state=0)[0] == 1.0


def test_repressive_negative_with_both_motifs(toy):
    X, inst = toy
    f = KmerRule(KMERS, 'AND_NOT')
    assert f(torch.as_tensor(X[:1])).item() == 0.0            # A and B: negative
    T_B = planted_mask(inst, len(X), 60, ['B'])
    # removing B turns the A+B negative positive: B is necessary for the negative prediction
    nec_B = restricted_predictions(f, X[:1], ~T_B[:1], n_draws=100, random_state=1)
    assert nec_B[0] >= 0.98
    # keeping only B is sufficient for the negative class (A would have to appear by chance)
    assert restricted_predictions(f, X[:1], T_B[:1], n_draws=100, random_state=1)[0] <= 0.02


def test_evaluate_explanations_metrics(toy):
    X, inst = toy
    T = planted_mask(inst, len(X), 60)
    ev = evaluate_explanations(KmerRule(KMERS, 'AND'), X, T.astype(float), thresholds=[0.5], truth=T,
                               n_draws=50, random_state=0)
    assert ev.sufficiency[0, 0] == 1.0 and ev.necessity[0, 0] >= 0.98
    assert ev.size[:, 0].tolist() == T.sum(1).tolist()
    assert ev.n_regions[:, 0].tolist() == [2, 1, 1, 0] * 2
    assert np.all(ev.precision[:3, 0] == 1.0) and np.isnan(ev.precision[3, 0])
    df = ev.summary(ev.y_hat == 1)
    assert list(df.columns) == ['t', 'sufficiency', 'necessity', 'size', 'n_regions', 'precision', 'recall']


def test_deduce_logic_not_hard_coded():
    # evidence that only says "A alone is positive, nothing is negative" fits OR and A AND NOT B equally: a tie
    res = deduce_logic([frozenset('A')], [1], [frozenset('A')], [True], motifs=('A', 'B'))
    assert res.rule == 'undetermined'
    # adding "A+B is negative" (a necessary B in a negative) singles out AND-NOT
    res = deduce_logic([frozenset('A'), frozenset('AB')], [1, 0], [frozenset('A'), frozenset()], [True, False],
                       [frozenset(), frozenset('B')], [False, True], motifs=('A', 'B'))
    assert res.rule == 'A AND NOT B'


# ---------------------------------------------------------------- training, determinism, bad input
def test_fit_explainer_deterministic_and_predictor_untouched(toy):
    X, _ = toy
    f = ResidualClassifier(channels=4, random_state=0)
    w0 = [p.detach().clone() for p in f.parameters()]
    runs = []
    for _ in range(2):
        ex = Scrambler('inclusion', random_state=1, **SMALL)
        fit = fit_explainer(ex, f, X, epochs=2, batch_size=4, random_state=3)
        runs.append((fit.history['total'].to_numpy(), explain(ex, X)))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(w0, f.parameters()))
    assert (runs[0][1] >= 0).all() and (runs[0][1] <= 1).all()


def test_mixed_precision_training_close_to_full_precision(toy):
    """bfloat16 autocast (the default on CUDA, an option on the CPU) trains the same explainer to nearly the same
    losses: bf16 keeps 8 bits of mantissa, so agreement is to a few percent, not to float rounding."""
    X, _ = toy
    f = ResidualClassifier(channels=4, random_state=0)
    hist = {}
    for amp in (False, True):
        ex = MEM('sufficient', random_state=1, **SMALL)
        hist[amp] = fit_explainer(ex, f, X, epochs=2, batch_size=4, random_state=3, mixed_precision=amp).history
        assert np.isfinite(hist[amp]['total']).all()
    np.testing.assert_allclose(hist[True]['mask_mean'], hist[False]['mask_mean'], rtol=0.05)


def test_residual_classifier_chunks_large_eval_batches():
    f = ResidualClassifier(channels=4, random_state=0).eval()
    X = torch.as_tensor(np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (150, 60))].transpose(0, 2, 1))
    with torch.no_grad(): torch.testing.assert_close(f.logits(X), f._logits(X), rtol=1e-5, atol=1e-6)
    f.train()                                        # batch statistics: never chunked
    torch.testing.assert_close(f.logits(X), f._logits(X), rtol=0, atol=0)


@pytest.mark.parametrize('keep', [0.8, 0.9])
def test_straight_through_gradient_matches_finite_differences(keep):
    """The MEMs' straight-through keep gradient, summed over every base of every sequence, estimates the derivative
    of E f(x~) with respect to a keep probability moved everywhere at once: within a factor of 2 of central finite
    differences on a soft AND k-mer toy (12 positives). Averaging the per-sequence sums instead would be 12x off."""
    X, _ = toy_kmer_data(present=((1, 1),) * 12, random_state=2)
    f = KmerRule(KMERS, 'AND', hard=False)
    fd, st = keep_gradient_check(f, X, keep, n_rep=8, random_state=0)
    assert fd > 0 and st > 0
    assert 0.5 < fd / st < 2, (fd, st)


def test_non_finite_loss_raises(toy):
    X, _ = toy

    class NaNModel(torch.nn.Module):
        def forward(self, X): return torch.full((X.shape[0],), float('nan')) + 0 * X.sum((1, 2))

    with pytest.raises(FloatingPointError, match='non-finite explainer loss at epoch 0'):
        fit_explainer(MEM('sufficient', **SMALL), NaNModel(), X, epochs=1, batch_size=4, random_state=0)


def test_bad_inputs(toy):
    X, _ = toy
    mem = MEM('sufficient', **SMALL)
    with pytest.raises(ValueError, match='looks like \\(N, L, 4\\)'):
        explain(mem, X.transpose(0, 2, 1))
    with pytest.raises(ValueError, match='S must be'):
        restricted_predictions(KmerRule(KMERS, 'AND'), X, np.ones((len(X), 7), bool))
    with pytest.raises(ValueError, match='n_draws'):
        restricted_predictions(KmerRule(KMERS, 'AND'), X, np.ones((len(X), 60), bool), n_draws=0)
    with pytest.raises(ValueError, match='unknown metrics'):
        evaluate_explanations(KmerRule(KMERS, 'AND'), X, np.zeros((len(X), 60)), metrics=('accuracy',))
    with pytest.raises(ValueError, match='pass predictor='):
        explain(MEM('sufficient', class_input=True, **SMALL), X)
    with pytest.raises(ValueError, match='rule must be one of'):
        KmerRule(KMERS, 'XOR')
    with pytest.raises(ValueError, match='init_keep'):
        MEM(init_keep=1.5)
