"Toy models with a known answer, threshold edge cases and bad input for argminn_nb.interpret."
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from argminn_nb.dna import one_hot_encode, random_sequences, reverse_complement
from argminn_nb.models import ARGMINNTrace, CNNBaseline
from argminn_nb.interpret import TRACE_COLUMNS, filter_pfms, scanner_activations, trace_instances
from argminn_nb.syntax import compare_spacings, instance_spacings
from argminn_nb.toys import handset_argminn
from argminn_nb.scoring import label_hits, topk_precision
from argminn_nb.report import interpretation_report
from argminn_nb.tracing import DEFAULT_RULE, PAPER_RULE
from argminn_nb.matching import bh_qvalues


def brute_force(W, b, frac=0.5):
    "Reference PFM: enumerate every w-mer, keep those reaching frac x the maximum activation, average."
    w = W.shape[1]
    codes = np.array(list(itertools.product(range(4), repeat=w)))
    s = b + W[codes, np.arange(w)].sum(1)
    mx = max(b + W.max(0).sum(), 0.0)
    keep = codes[(s >= frac * mx - 1e-9)] if mx > 0 else codes[:0]
    return (np.eye(4)[keep].mean(0).T if len(keep) else None), len(keep)


@pytest.mark.parametrize('kmer', ['GATTACAGGA', 'ACGTAC', 'TTTTTTTT', 'C'])
def test_one_hot_filter_pfm_is_the_kmer(kmer):
    W = one_hot_encode(kmer)[0][None].astype(np.float64)
    w = len(kmer)
    strict = filter_pfms((W, np.array([-(w - 0.5)])))                  # only the exact k-mer reaches 50%
    assert strict.n_above[0] == 1
    np.testing.assert_array_equal(strict.pfms[0], W[0])
    loose = filter_pfms((W, np.zeros(1)))                                # half the bases suffice: consensus is still the k-mer
    assert ''.join('ACGT'[i] for i in loose.pfms[0].argmax(0)) == kmer
    sampled = filter_pfms((W, np.zeros(1)), method='sample', n_samples=200_000, random_state=0)
    assert ''.join('ACGT'[i] for i in sampled.pfms[0].argmax(0)) == kmer


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(0, 10_000), st.floats(0.05, 1.0))
def test_exact_pfm_equals_brute_force(w, seed, frac):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(2, 4, w)), rng.normal(size=2)
    fp = filter_pfms((W, b), frac=frac)
    for f in range(2):
        ref, n = brute_force(W[f], b[f], frac)
        assert fp.n_above[f] == n
        if ref is None: assert fp.dead[f] and np.isnan(fp.pfms[f]).all()
        else: np.testing.assert_allclose(fp.pfms[f], ref, atol=1e-12)


def test_sampled_pfm_agrees_with_exact():
    W, b = np.random.default_rng(3).normal(size=(4, 4, 10)), np.zeros(4)
    ex = filter_pfms((W, b))
    sa = filter_pfms((W, b), method='sample', random_state=1)
    se = np.sqrt(ex.pfms * (1 - ex.pfms) / sa.n_above[:, None, None])
    assert (np.abs(sa.pfms - ex.pfms) <= 5 * se + 1e-12).all()


def test_dead_filter_and_cnn_scanner():
    W = -np.abs(np.random.default_rng(0).normal(size=(2, 4, 10)))
    fp = filter_pfms((W, np.array([-0.1, 5.0])))
    assert fp.dead.tolist() == [True, False] and np.isnan(fp.pfms[0]).all() and fp.max_activation[0] == 0
    assert len(fp.motifs()) == 1 and fp.motifs()[0].name == 'filter_1'
    cnn = CNNBaseline(random_state=0)
    assert filter_pfms(cnn).pfms.shape == (8, 4, 10)                    # the CNN's first layer works the same way


def test_pfm_bad_input():
    with pytest.raises(ValueError, match='frac must be'): filter_pfms((np.zeros((1, 4, 3)), np.zeros(1)), frac=1.5)
    with pytest.raises(ValueError, match='no motif scanner'): filter_pfms(nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r'\(n_filters, 4, w\)'): filter_pfms((np.zeros((1, 3, 4)), np.zeros(1)))
    with pytest.raises(ValueError, match='too wide'): filter_pfms((np.zeros((1, 4, 30)), np.ones(1)))


def _planted_model():
    "Filter 0 = one-hot GATTACAGGA (exact match only), filter 1 = one-hot CCCCGGGGAA; every head attends to filter 0."
    W = np.stack([one_hot_encode('GATTACAGGA')[0], one_hot_encode('CCCCGGGGAA')[0]])
    return handset_argminn(W, np.array([-9.5, -9.5]), attend=[0], pe_dim=2, n_heads=2)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 290), min_size=1, max_size=5), st.integers(0, 1000))
def test_planted_kmer_is_traced_at_its_position(positions, seed):
    model = _planted_model()
    X = random_sequences(len(positions), 300, random_state=seed)
    for i, p in enumerate(positions): X[i, :, p:p + 10] = one_hot_encode('GATTACAGGA')[0]
    hits = trace_instances(model, X)
    assert sorted(hits[['seq', 'filter', 'start', 'end']].values.tolist()) == [[i, 0, p, p + 10] for i, p in enumerate(positions)]
    assert (hits.score > 0.9).all() and hits['rank'].tolist() == list(range(1, len(positions) + 1))


def test_reverse_complement_is_not_traced_by_a_strand_specific_filter():
    model = _planted_model()
    X = random_sequences(1, 300, random_state=2)
    X[0, :, 100:110] = one_hot_encode('GATTACAGGA')[0]
    assert len(trace_instances(model, reverse_complement(X))) == 0


def test_other_filter_only_called_where_attended():
    "Filter 1 fires at 50 but attention is on filter 0's match at 200: only filter 0 is called, at 200."
    model = _planted_model()
    X = random_sequences(1, 300, random_state=4)
    X[0, :, 50:60] = one_hot_encode('CCCCGGGGAA')[0]; X[0, :, 200:210] = one_hot_encode('GATTACAGGA')[0]
    assert scanner_activations(model, X)[0, 1, 50] > 0
    assert trace_instances(model, X)[['filter', 'start']].values.tolist() == [[0, 200]]


def test_no_activation_gives_empty_table():
    model = _planted_model()
    hits = trace_instances(model, random_sequences(4, 300, random_state=1))
    assert list(hits.columns) == TRACE_COLUMNS and len(hits) == 0
    assert len(trace_instances(model, random_sequences(4, 300, random_state=1), attention_threshold=0.0)) == 0
    assert len(topk_precision(hits, pd.DataFrame(columns=['seq', 'motif', 'start', 'end']))) == 0
    assert len(instance_spacings(hits, 0, 1)) == 0


class _Fixed(nn.Module):
    "Returns the given activations/attention whatever the input."
    def __init__(self, A, att):
        super().__init__()
        self.A = torch.as_tensor(A, dtype=torch.float32); self.att = torch.as_tensor(att, dtype=torch.float32)
        self.p = nn.Parameter(torch.zeros(1))
    def forward(self, X, return_trace=False):
        n = X.shape[0]; pr = torch.full((n,), .5)
        return ARGMINNTrace(pr, self.A[:n], self.att[:n]) if return_trace else pr


def test_threshold_edges():
    # 2 sequences, 1 filter, 3 positions; layer 0 head 0 puts exactly 0.9 on position 2 of sequence 0
    A = [[[0, 1, 3]], [[0, 0, 0]]]                                       # batch mean over all positions = 4/6
    att = [[[[0.05, 0.05, 0.9]]], [[[0.9, 0.05, 0.05]]]]
    m = _Fixed(A, att); X = random_sequences(2, 12, random_state=0)
    h = trace_instances(m, X)
    assert h[['seq', 'filter', 'start', 'end']].values.tolist() == [[0, 0, 2, 12]]   # seq 1 attended but silent
    assert len(trace_instances(m, X, attention_threshold=float(np.nextafter(np.float32(.9), np.float32(1))))) == 0
    assert len(trace_instances(m, X, activation_threshold=3.0)) == 1            # inclusive
    assert len(trace_instances(m, X, activation_threshold=3.0001)) == 0
    assert len(trace_instances(m, X, activation_threshold=0.0)) == 1             # > 0 still required
    np.testing.assert_allclose(h.attrs['activation_threshold'], [4 / 6])
    for bad, msg in [(dict(attention_threshold=-0.1), r'\[0, 1\]'), (dict(attention_threshold=1.01), r'\[0, 1\]'),
                     (dict(activation_threshold='max'), "'mean'"), (dict(activation_threshold=[1, 2]), '2 values for 1')]:
        with pytest.raises(ValueError, match=msg): trace_instances(m, X, **bad)


def test_tracing_rejects_models_without_trace_and_bad_layout():
    X = random_sequences(2, 500, random_state=0)
    with pytest.raises(ValueError, match='return_trace'): trace_instances(CNNBaseline(), X)
    with pytest.raises(ValueError, match=r'looks like \(N, L, 4\)'): trace_instances(_planted_model(), X.transpose(0, 2, 1))


def test_topk_precision_and_labels():
    hits = pd.DataFrame({'seq': [0, 0, 1, 2], 'filter': [0, 1, 0, 0], 'start': [10, 40, 5, 0], 'end': [20, 50, 15, 10],
                         'rank': [1, 2, 3, 4]})
    truth = pd.DataFrame({'seq': [0, 1, 2], 'motif': ['A', 'B', 'A'], 'start': [18, 30, 10], 'end': [25, 40, 16]})
    lab = label_hits(hits, truth, min_overlap=1)                      # one shared base
    assert lab.true.tolist() == [True, False, False, False] and lab.overlap.tolist() == [2, 0, 0, 0]   # [0,10) vs [10,16): touching
    pk = topk_precision(hits, truth, ks=[1, 2, 4, 10], min_overlap=1)
    assert pk.values.tolist() == [[1, 1, 1.0], [2, 1, 0.5], [4, 1, 0.25]]
    assert not label_hits(hits, truth, min_overlap=3).true.any()
    # the default, the authors' rule: 2 bp of a 7 bp motif is less than half the shorter interval
    assert not label_hits(hits, truth).true.any()
    hits2 = hits.assign(start=[15, 40, 5, 0], end=[25, 50, 15, 10])   # now 7 of 7 bp of the first instance
    assert label_hits(hits2, truth).true.tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match='ground-truth'): topk_precision(hits)


def test_spacings_and_comparison():
    hits = pd.DataFrame({'seq': [0, 0, 1, 1], 'filter': [0, 1, 1, 0], 'start': [100, 118, 50, 65], 'end': [110, 128, 60, 75]})
    sp = instance_spacings(hits, 0, 1)
    assert sp[['seq', 'offset', 'gap']].values.tolist() == [[0, 18, 8], [1, -15, 5]]
    truth = pd.DataFrame({'seq': [0, 0, 1, 1], 'motif': ['L', 'R', 'R', 'L'], 'start': [101, 117, 50, 66], 'end': [109, 127, 60, 74]})
    cs = compare_spacings(sp, truth, 'L', 'R')
    assert cs.planted_gap.tolist() == [8, 6] and cs.difference.tolist() == [0, -1]


def test_bh_qvalues_match_definition():
    p = np.random.default_rng(0).uniform(size=50)
    q = bh_qvalues(p)
    o = np.argsort(p); n = len(p)
    ref = np.array([min(1, min(p[o][k:] * n / np.arange(k + 1, n + 1))) for k in range(n)])
    np.testing.assert_allclose(q[o], ref)
    assert len(bh_qvalues([])) == 0


def test_interpretation_report_on_planted_model(tmp_path):
    "End to end on the planted model: one known motif, exact instances, files written, no error without ground truth."
    from argminn_nb.motifs import Motif
    model = _planted_model()
    X = random_sequences(6, 300, random_state=7); y = np.array([1, 1, 1, 1, 0, 0], dtype=np.float32)
    pos = [30, 100, 150, 200]
    for i, p in enumerate(pos): X[i, :, p:p + 10] = one_hot_encode('GATTACAGGA')[0]
    truth = pd.DataFrame({'seq': range(4), 'motif': 'GATTACA', 'start': pos, 'end': [p + 10 for p in pos]})
    pfm = np.full((4, 10), 0.02) + 0.92 * one_hot_encode('GATTACAGGA')[0]
    motifs = {'GATTACA': Motif('GATTACA', pfm), 'OTHER': Motif('OTHER', np.random.default_rng(0).dirichlet(np.ones(4), 6).T)}
    with pytest.warns(UserWarning, match='target motifs'):
        rep = interpretation_report(model, (X, y, truth), tmp_path / 'r', motifs=motifs, link_prefix='r/', rule=PAPER_RULE)
    assert rep.metrics['precision_all'] == 1.0 and rep.metrics['n_traced_instances'] == 4
    # the package's rule confirms each instance by the logit drop when it is switched off: this hand-set model's logit
    # moves by 0.01-0.02 (it barely uses its instances), so none is kept, and the report says which rule it used
    with pytest.warns(UserWarning, match='target motifs'):
        rep_d = interpretation_report(model, (X, y, truth), tmp_path / 'rd', motifs=motifs)
    assert rep_d.metrics['n_traced_instances'] == 0 and rep_d.metrics['tracing_rule'] == DEFAULT_RULE.describe()
    assert rep.metrics['motifs_recovered']['GATTACA']
    assert (tmp_path / 'r' / 'filter_logos.png').exists() and '](r/filter_logos.png)' in rep.markdown
    rep2 = interpretation_report(model, (X, y), tmp_path / 'r2', motifs=motifs, rule=PAPER_RULE)   # no ground truth: no precision
    assert 'precision_all' not in rep2.metrics and (tmp_path / 'r2' / 'traced_instances.csv').exists()
    with pytest.raises(ValueError, match='no positive'):
        interpretation_report(model, (X, np.zeros(6)), tmp_path / 'r3', motifs=motifs)


def test_interpretation_report_for_a_cnn_has_no_tracing(tmp_path):
    from argminn_nb.motifs import builtin_motifs
    X = random_sequences(8, 500, random_state=0); y = np.r_[np.ones(4), np.zeros(4)].astype(np.float32)
    with pytest.warns(UserWarning, match='target motifs'):
        rep = interpretation_report(CNNBaseline(random_state=0), (X, y), tmp_path, motifs=builtin_motifs(['SPI1', 'CTCF']))
    assert 'n_traced_instances' not in rep.metrics and rep.metrics['n_filters'] == 8
    assert (tmp_path / 'filter_logos.png').exists() and 'cannot trace' in (tmp_path / 'interpretation.md').read_text()
