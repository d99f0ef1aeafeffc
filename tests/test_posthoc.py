"""Post-hoc pipeline: DeepLIFTShap / IG properties, agreement with tangermeme, MoDISco/FIMO edge cases, errors."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st, HealthCheck
from torch import nn

from argminn_nb.dna import dinucleotide_shuffle, one_hot_encode, random_sequences
from argminn_nb.matching import bh_qvalues
from argminn_nb.models import ARGMINN, CNNBaseline
from argminn_nb.modisco import LABEL_COLUMNS, label_motifs, run_modisco, trim_to_width
from argminn_nb.posthoc import (FIMO_COLUMNS, LogitModel, collapse_overlaps, deep_lift_shap, fimo_instances,
                                integrated_gradients, posthoc_pipeline)


class ConvReluLinear(nn.Module):
    "Conv1d → (functional or module) ReLU → Linear over positions: DeepLIFT is exact for it."
    def __init__(self, L, n_f, w, seed, functional=True):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv, self.lin = nn.Conv1d(4, n_f, w), nn.Linear(n_f * (L - w + 1), 1)
        with torch.no_grad():
            for p in self.parameters(): p.copy_(torch.randn(p.shape, generator=g))
        self.functional = functional
        self.relu = nn.ReLU()

    def logits(self, X):
        h = self.conv(X)
        h = F.relu(h) if self.functional else self.relu(h)
        return self.lin(h.flatten(1))[:, 0]

    def forward(self, X): return torch.sigmoid(self.logits(X))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), L=st.integers(8, 40), n_f=st.integers(1, 4), w=st.integers(1, 6),
       functional=st.booleans())
def test_dls_sums_to_output_difference(seed, L, n_f, w, functional):
    "Per sequence, DeepLIFTShap contributions add up to f(x) − mean f(reference) on the logit."
    model = ConvReluLinear(L, n_f, w, seed, functional)
    X = random_sequences(3, L, random_state=seed)
    a = deep_lift_shap(model, X, n_shuffles=5, random_state=seed, device='cpu')
    with torch.no_grad():
        fx = model.logits(torch.tensor(X)).numpy()
        R = dinucleotide_shuffle(X, n_shuffles=5, random_state=seed)
        fr = model.logits(torch.tensor(R.reshape(-1, 4, L))).numpy().reshape(3, 5).mean(1)
    scale = 1.0 + np.abs(fx).max() + np.abs(fr).max()
    np.testing.assert_allclose(a.contrib.sum((1, 2)), fx - fr, atol=1e-4 * scale)
    np.testing.assert_allclose(a.output, fx, atol=1e-5 * scale)
    assert np.abs(a.delta).max() < 1e-4 * scale


def test_cnn_baseline_exact_and_argminn_delta_reported():
    "The CNN's nonlinearities are all covered (exact sums); ARGMINN's LayerNorm/softmax are not (delta reported)."
    X = random_sequences(4, 500, random_state=0)
    a = deep_lift_shap(CNNBaseline(random_state=0), X, random_state=0, device='cpu')
    assert np.abs(a.delta).max() < 1e-4
    b = deep_lift_shap(ARGMINN(random_state=0), X, random_state=0, device='cpu')
    np.testing.assert_allclose(b.delta, b.contrib.sum((1, 2)) - (b.output - b.reference_output), atol=1e-5)


def test_hypothetical_matches_tangermeme():
    "Same model (module ReLU, so both tools are exact) and same references: same hypothetical contributions."
    tm = pytest.importorskip('tangermeme.deep_lift_shap')
    model = ConvReluLinear(30, 3, 5, seed=1, functional=False)

    class Out2D(nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, X): return self.m.logits(X)[:, None]

    X = random_sequences(5, 30, random_state=2)
    R = dinucleotide_shuffle(X, n_shuffles=6, random_state=3)
    ours = deep_lift_shap(model, X, references=R, device='cpu')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        theirs = tm.deep_lift_shap(Out2D(model), torch.tensor(X), references=torch.tensor(R), hypothetical=True,
                                   device='cpu', batch_size=64).numpy()
    np.testing.assert_allclose(ours.hypothetical, theirs, atol=1e-5)


def test_ig_completeness_and_zero_baseline():
    model = ConvReluLinear(25, 2, 4, seed=5)
    X = random_sequences(4, 25, random_state=1)
    a = integrated_gradients(model, X, n_steps=200, device='cpu')
    with torch.no_grad():
        f = model.logits(torch.tensor(X)).numpy(); f0 = model.logits(torch.zeros(4, 4, 25)).numpy()
    np.testing.assert_allclose(a.contrib.sum((1, 2)), f - f0, atol=1e-3 * (1 + np.abs(f - f0).max()))
    assert a.hypothetical is None and ((a.contrib != 0) & (X == 0)).sum() == 0


def test_model_state_restored_and_eval_inside():
    model = CNNBaseline(seq_len=100, pool=10, random_state=0)
    X = random_sequences(3, 100, random_state=0)
    model.train()
    a = deep_lift_shap(model, X, random_state=0, device='cpu')
    ig = integrated_gradients(model, X, device='cpu')
    assert model.training
    model.eval()
    b = deep_lift_shap(model, X, random_state=0, device='cpu')
    assert not model.training
    np.testing.assert_allclose(a.contrib, b.contrib, atol=1e-6)
    np.testing.assert_allclose(ig.contrib, integrated_gradients(model, X, device='cpu').contrib, atol=1e-6)


def test_n_columns_get_zero_contribution():
    model = ConvReluLinear(30, 2, 4, seed=0)
    X = one_hot_encode(['ACGTNNACGTTGCAACGTNACGTACGTACG'])
    a = deep_lift_shap(model, X, random_state=0, device='cpu')
    n = np.flatnonzero(X[0].sum(0) == 0)
    assert len(n) == 3 and np.all(a.contrib[0][:, n] == 0)
    assert np.all(integrated_gradients(model, X, device='cpu').contrib[0][:, n] == 0)


def test_bad_inputs_raise_clear_errors():
    model = ConvReluLinear(30, 2, 4, seed=0)
    X = random_sequences(2, 30, random_state=0)
    with pytest.raises(ValueError, match='empty batch'): deep_lift_shap(model, X[:0], device='cpu')
    with pytest.raises(ValueError, match=r'looks like \(N, L, 4\)'): deep_lift_shap(model, X.transpose(0, 2, 1), device='cpu')
    with pytest.raises(ValueError, match='references must have shape'): deep_lift_shap(model, X, references=np.zeros((2, 3, 4, 29)), device='cpu')
    with pytest.raises(ValueError, match='n_shuffles'): deep_lift_shap(model, X, n_shuffles=0, device='cpu')
    with pytest.raises(ValueError, match="no `logits"): LogitModel(nn.Conv1d(4, 1, 3))
    with pytest.raises(ValueError, match="output must be"): LogitModel(model, output='scores')
    with pytest.raises(ValueError, match='works in place'): LogitModel(nn.Sequential(nn.Conv1d(4, 1, 3), nn.ReLU(inplace=True)), output='probs')

    class InplaceF(nn.Module):
        def __init__(self): super().__init__(); self.conv = nn.Conv1d(4, 1, 3)
        def logits(self, X): return F.relu(self.conv(X), inplace=True).sum((1, 2))

    with pytest.raises(ValueError, match='in-place activation'): deep_lift_shap(InplaceF(), X, device='cpu')
    with pytest.raises(ValueError, match='n_steps'): integrated_gradients(model, X, n_steps=1, device='cpu')


def test_probs_output_for_models_without_logits():
    seq = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 18, 1))
    X = random_sequences(2, 20, random_state=0)
    a = deep_lift_shap(seq, X, output='probs', random_state=0, device='cpu')
    assert np.abs(a.delta).max() < 1e-4


def test_modisco_degenerate_inputs():
    X = random_sequences(10, 120, random_state=0)
    r = run_modisco(X, np.zeros_like(X))
    assert len(r) == 0 and 'no positive or no negative' in r.note and len(r.table) == 0 and len(r.seqlets) == 0
    with pytest.raises(ValueError, match='NaN'): run_modisco(X, np.full(X.shape, np.inf, dtype=np.float32))
    with pytest.raises(ValueError, match='must match'): run_modisco(X, np.zeros((10, 4, 100)))
    with pytest.raises(ValueError, match='longer than'): run_modisco(X[:, :, :30], np.ones((10, 4, 30)))
    assert len(label_motifs(r, {'a': np.full((4, 5), 0.25)})) == 0
    assert list(label_motifs(r, {'a': np.full((4, 5), 0.25)}).columns) == LABEL_COLUMNS


def test_trim_to_width():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4) * 0.3, size=25).T
    s, e = trim_to_width(p, 10)
    assert e - s == 10
    from argminn_nb.motifs import information_content
    ic = information_content(p)
    assert ic[s:e].sum() >= max(ic[i:i + 10].sum() for i in range(16)) - 1e-12
    with pytest.raises(ValueError): trim_to_width(p, 0)


def test_bh_over_matches_bh_when_all_tests_given():
    p = np.random.default_rng(1).uniform(size=50) ** 3
    np.testing.assert_allclose(bh_qvalues(p, 50), bh_qvalues(p))
    assert np.all(bh_qvalues(p, 500) >= bh_qvalues(p, 50))
    with pytest.raises(ValueError, match="cannot be smaller"): bh_qvalues(p, 10)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(1, 15), st.floats(0, 1)), min_size=0, max_size=30))
def test_collapse_leaves_no_overlaps_and_keeps_the_best(rows):
    h = pd.DataFrame([dict(seq=s, start=a, end=a + w, q_value=q, p_value=q, score=0.0) for s, a, w, q in rows],
                     columns=['seq', 'start', 'end', 'q_value', 'p_value', 'score'])
    c = collapse_overlaps(h)
    for _, g in c.groupby('seq'):
        iv = sorted(zip(g.start, g.end))
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(iv, iv[1:]))
    for s, g in h.groupby('seq'):                             # the best hit of every sequence is always kept
        assert g.q_value.min() == c[c.seq == s].q_value.min()
    for r in h.itertuples():                                   # every dropped hit overlaps a kept hit at least as good
        kept = c[(c.seq == r.seq)]
        if not ((kept.start == r.start) & (kept.end == r.end) & (kept.q_value == r.q_value)).any():
            ov = kept[(kept.start < r.end) & (r.start < kept.end)]
            assert len(ov) and ov.q_value.min() <= r.q_value


def test_fimo_finds_planted_kmer_and_ranks_by_q():
    rng = np.random.default_rng(0)
    pfm = np.full((4, 8), 0.01); pfm[rng.integers(0, 4, 8), np.arange(8)] = 0.97
    pfm /= pfm.sum(0)
    X = random_sequences(30, 200, random_state=1)
    cons = pfm.argmax(0)
    for i in range(30): X[i, :, 100:108] = np.eye(4, dtype=np.float32)[:, cons]
    h = fimo_instances({'m': pfm}, X)
    assert list(h.columns) == FIMO_COLUMNS
    top = h[h['rank'] <= 30]                                  # the exact consensus has the smallest possible p-value
    assert set(top.seq) == set(range(30)) and (top.start == 100).all()
    assert h.q_value.is_monotonic_increasing
    with pytest.raises(ValueError, match=r'\(4, W\)'): fimo_instances({'m': np.ones((5, 3))}, X)
    assert len(fimo_instances([], X)) == 0


def test_pipeline_rejects_empty_positive_set():
    X = random_sequences(6, 500, random_state=0)
    with pytest.raises(ValueError, match='no positive sequences'):
        posthoc_pipeline(CNNBaseline(random_state=0), X, y=np.zeros(6), device='cpu')
    with pytest.raises(ValueError, match='6 sequences'):
        posthoc_pipeline(CNNBaseline(random_state=0), X, y=np.ones(5), device='cpu')
