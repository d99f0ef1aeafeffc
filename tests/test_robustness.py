"Adversarial sequences checked with an independent per-window scan, GC of generated test sets, toy filters with known extreme k-mers, bad input."
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from argminn_nb.dna import decode, one_hot_encode
from argminn_nb.models import ARGMINN, CNNBaseline
from argminn_nb.motifs import Motif
from argminn_nb.simulate import Arrangement, SimConfig, get_config, simulate
from argminn_nb.attacks import extreme_kmers, motif_free_sequences, padded_positives
from argminn_nb.robustness import background_gc, gc_sweep, gc_test_sets, log10_likelihood_ratio, max_motif_scores, motif_free, set_accuracy


def loop_scores(seq: str, motif: Motif):
    "Normalised PWM score of every window on both strands, one window at a time (no convolution): list of (start, strand, score)."
    P = motif.pwm()
    W = P.shape[1]
    lo, hi = P.min(0).sum(), P.max(0).sum()
    rc = seq[::-1].translate(str.maketrans('ACGT', 'TGCA'))
    out = []
    for j in range(len(seq) - W + 1):
        fwd = sum(P['ACGT'.index(seq[j + k]), k] for k in range(W))
        # the minus-strand window covering the same bases [j, j + W)
        r = rc[len(seq) - j - W:len(seq) - j]
        rev = sum(P['ACGT'.index(r[k]), k] for k in range(W))
        out += [(j, '+', (fwd - lo) / (hi - lo)), (j, '-', (rev - lo) / (hi - lo))]
    return out


def loop_matches(X, motifs, threshold=0.9):
    "Set of (seq, motif, start) windows scoring above threshold on either strand, by the plain loop."
    hits = set()
    for i, seq in enumerate(decode(X)):
        for m in motifs:
            hits |= {(i, m.name, j) for j, _, s in loop_scores(seq, m) if s > threshold}
    return hits


def toy_model(w=7):
    "Filter 0 = GATTACA (+1 right base, -1 otherwise, bias -3); filter 1 prefers C and avoids T."
    m = ARGMINN(n_filters=2, filter_width=w, pe_dim=2, n_heads=2, random_state=0)
    W = torch.full((2, 4, w), -1.0)
    for j, c in enumerate('GATTACA'[:w]): W[0, 'ACGT'.index(c), j] = 1.0
    W[1] = 0.0; W[1, 1] = 0.5; W[1, 3] = -2.0
    with torch.no_grad(): m.scanner.weight.copy_(W); m.scanner.bias.copy_(torch.tensor([-3.0, 0.0]))
    return m.eval()


# ---------------------------------------------------------------- known extreme k-mers

def test_toy_filters_give_expected_kmers():
    t = extreme_kmers(toy_model()).table()
    assert list(t.most_activating) == ['GATTACA', 'CCCCCCC']
    # filter 0: the three wrong bases of a column tie at -1, the first of them in A, C, G, T order wins
    assert t.least_activating[0] == ''.join(next(c for c in 'ACGT' if c != g) for g in 'GATTACA') == 'ACAACAC'
    assert t.least_activating[1] == 'TTTTTTT'
    np.testing.assert_allclose(t.max_score, [4.0, 3.5]); np.testing.assert_allclose(t.min_score, [-10.0, -14.0])
    assert t.live.all()


def test_cnn_first_layer_kmers():
    cnn = CNNBaseline(random_state=0)
    W = cnn.scanner.weight.detach().double().numpy(); b = cnn.scanner.bias.detach().double().numpy()
    km = extreme_kmers(cnn)
    assert km.most.shape == (8, 10)
    np.testing.assert_allclose(km.max_score, b + W.max(1).sum(1)); np.testing.assert_array_equal(km.least, W.argmin(1))


@settings(max_examples=30, deadline=None)
@given(w=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_extreme_kmers_match_brute_force(w, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(2, 4, w)), rng.normal(size=2)
    codes = np.array(list(itertools.product(range(4), repeat=w)))
    scores = b[:, None] + W[:, codes, np.arange(w)].sum(-1)                   # (2, 4^w) every w-mer
    km = extreme_kmers((W, b))
    np.testing.assert_allclose(km.max_score, scores.max(1)); np.testing.assert_allclose(km.min_score, scores.min(1))
    for f in range(2):
        assert np.isclose(b[f] + W[f, km.most[f], np.arange(w)].sum(), scores[f].max())
        assert np.isclose(b[f] + W[f, km.least[f], np.arange(w)].sum(), scores[f].min())


def test_dead_filters_are_left_out():
    W = np.zeros((3, 4, 6)); W[0, 2] = 1.0; W[1, 0] = 1.0
    b = np.array([0.0, 0.0, -1.0])                                             # filter 2 can never activate
    a = motif_free_sequences((W, b), 'spi1', n=4, random_state=0)
    assert sorted(a.used_filters) == [0, 1] and list(a.excluded_filters) == [2] and 'dead' in a.excluded_filters[2]


# ---------------------------------------------------------------- no motif matches (independent loop)

@pytest.mark.parametrize('make', [toy_model, lambda: CNNBaseline(random_state=3)])
def test_motif_free_sequences_have_no_match(make):
    motifs = list(get_config('spi1').motifs.values())
    a = motif_free_sequences(make(), 'spi1', n=6, random_state=1)
    assert a.X.shape == (6, 4, 500) and (a.y == 0).all()
    assert loop_matches(a.X, motifs) == set()
    codes = a.X.argmax(1)                                                       # every base is from its filter's k-mer
    w = a.kmers.width
    np.testing.assert_array_equal(codes, a.kmers.most[a.chunk_filter, np.arange(500) % w])


def test_motif_free_with_rest_motifs_both_halves():
    motifs = list(get_config('rest').motifs.values())
    a = motif_free_sequences(CNNBaseline(random_state=5), 'rest', n=4, random_state=2)
    assert loop_matches(a.X, motifs) == set()


def test_padded_positives_only_planted_matches():
    motifs = list(get_config('spi1').motifs.values())
    p = padded_positives(CNNBaseline(random_state=3), 'spi1', n=6, random_state=4)
    assert (p.y == 1).all() and len(p.instances) == 6
    planted = {(r.seq, r.motif, r.start) for r in p.instances.itertuples()}
    assert loop_matches(p.X, motifs) <= planted
    for r in p.instances.itertuples():                                          # the configuration is untouched
        assert (p.chunk_filter[r.seq, r.start:r.end] == -1).all()
    assert (p.chunk_filter >= 0).sum(1).min() >= 500 - 100                     # flanks cover everything outside the central 100 bp


def test_kmer_that_is_the_motif_is_excluded():
    gattaca = Motif('GATTACA', one_hot_encode('GATTACA')[0] * 0.97 + 0.0075)
    a = motif_free_sequences(toy_model(), 'spi1', n=4, motifs=[gattaca], random_state=0)
    assert list(a.used_filters) == [1] and 0 in a.excluded_filters
    assert loop_matches(a.X, [gattaca]) == set()


def test_impossible_motif_free_set_raises():
    cc = Motif('CC14', one_hot_encode('C' * 14)[0] * 0.97 + 0.0075)
    with pytest.raises(RuntimeError, match='rebuild rounds'):
        motif_free_sequences(toy_model(), 'spi1', n=2, motifs=[cc], filters=[1], max_rounds=2)


def test_max_motif_scores_agree_with_loop():
    p = padded_positives(toy_model(), 'spi1', n=3, random_state=7)
    m = get_config('spi1').motifs['SPI1']
    ref = [max(s for _, _, s in loop_scores(seq, m)) for seq in decode(p.X)]
    np.testing.assert_allclose(max_motif_scores(p, 'spi1', exclude_planted=False), ref, atol=1e-4)


def test_reproducible():
    a1 = motif_free_sequences(toy_model(), 'spi1', n=5, random_state=11)
    a2 = motif_free_sequences(toy_model(), 'spi1', n=5, random_state=11)
    np.testing.assert_array_equal(a1.X, a2.X)
    p1, p2 = (padded_positives(toy_model(), 'spi1', n=5, random_state=3) for _ in range(2))
    np.testing.assert_array_equal(p1.X, p2.X)


# ---------------------------------------------------------------- GC of generated test sets

def test_gc_sets_within_tolerance():
    gs = gc_test_sets('spi1', gcs=(0.1, 0.5, 0.9), n_batches=1, batch_size=128, random_state=0)
    assert (gs.table.status == 'ok').all()
    for g, d in gs.sets.items():
        seqs = decode(d.X)
        # independent count of G+C outside the planted instances
        cover = np.zeros((len(seqs), 500), bool)
        for r in d.instances.itertuples(): cover[r.seq, r.start:r.end] = True
        gc = [np.mean([c in 'GC' for c, cv in zip(s, cv_row) if not cv]) for s, cv_row in zip(seqs, cover)]
        np.testing.assert_allclose(background_gc(d), gc, atol=1e-9)
        assert abs(np.mean(gc) - g) < 0.02, (g, np.mean(gc))
        overall = np.mean([np.mean([c in 'GC' for c in s]) for s in seqs])
        assert abs(overall - g) < 0.05


def test_gc_failure_is_reported_not_skipped():
    at = Motif('WWWWWW', np.tile([[0.5], [0.0], [0.0], [0.5]], 6))
    cfg = SimConfig('at_rich', {'WWWWWW': at}, positives=[(1.0, Arrangement(('WWWWWW',)))], negatives=[(1.0, Arrangement())])
    gs = gc_test_sets(cfg, gcs=(0.0, 0.6), n_batches=1, batch_size=8)
    assert gs.table.status.tolist() == ['not generated', 'ok'] and 'GC 0.0' in gs.table.note[0]
    sw = gc_sweep(toy_model(), cfg, sets=gs)
    assert np.isnan(sw.table.accuracy[0]) and not np.isnan(sw.table.accuracy[1])
    with pytest.raises(RuntimeError, match='GC 0.0'):
        gc_test_sets(cfg, gcs=(0.0,), n_batches=1, batch_size=8, on_failure='raise')


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match='no motif scanner'): extreme_kmers(torch.nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r'\(n_filters, 4, w\)'): extreme_kmers((np.zeros((2, 4)), np.zeros(2)))
    with pytest.raises(ValueError, match='one value per filter'): extreme_kmers((np.zeros((2, 4, 3)), np.zeros(3)))
    with pytest.raises(ValueError, match='n must be >= 1'): motif_free_sequences(toy_model(), 'spi1', n=0)
    with pytest.raises(ValueError, match='filters must name'): padded_positives(toy_model(), 'spi1', n=2, filters=[2])
    with pytest.raises(ValueError, match='on_failure'): gc_test_sets('spi1', gcs=(0.5,), on_failure='skip')
    with pytest.raises(ValueError, match=r'in \[0, 1\]'): gc_test_sets('spi1', gcs=(-0.1,))
    with pytest.raises(TypeError, match=r'expected an \(X, y\) pair or an object with .X and .y'): set_accuracy(toy_model(), {'x': 3})


def loop_log_ratio(seq: str, cfg: SimConfig) -> float:
    "log P(seq | one 'center' arrangement) / P(seq | background) by listing every layout explicitly (plain loops)."
    (_, a), = cfg.positives
    bg = {'A': (1 - cfg.gc) / 2, 'C': cfg.gc / 2, 'G': cfg.gc / 2, 'T': (1 - cfg.gc) / 2}
    def p_window(m, start, minus):
        pfm, W = cfg.motifs[m].pfm, cfg.motifs[m].width
        w = seq[start:start + W]
        if minus: w = w[::-1].translate(str.maketrans('ACGT', 'TGCA'))
        return np.prod([pfm['ACGT'.index(c), j] / bg[c] for j, c in enumerate(w)]) if len(w) == W else 0.0
    total, layouts = 0.0, 0
    c0 = (cfg.length - cfg.center) // 2
    for order in (itertools.permutations(a.motifs) if a.shuffle_order else [a.motifs]):
        for gaps in itertools.product(*a.gaps):
            widths = [cfg.motifs[m].width for m in order]
            offs = [0]
            for w, g in zip(widths[:-1], gaps): offs.append(offs[-1] + w + g)
            span = offs[-1] + widths[-1]
            starts = range(c0, c0 + cfg.center - span + 1)
            per_layout = 0.0
            for s in starts:
                for strands in itertools.product([False, True], repeat=len(order)):
                    if a.strand == 'block' and len(set(strands)) > 1: continue
                    o = [span - x - w for x, w in zip(offs, widths)] if (a.strand == 'block' and strands[0]) else offs
                    per_layout += np.prod([p_window(m, s + x, minus) for m, x, minus in zip(order, o, strands)])
            n_strand = 2 if a.strand == 'block' else 2 ** len(order)
            total += per_layout / (len(starts) * n_strand); layouts += 1
    return float(np.log10(total / layouts))


@pytest.mark.parametrize('strand', ['random', 'block'])
def test_likelihood_ratio_matches_loop(strand):
    "The vectorised ratio against an explicit sum over every order, gap, start and strand (REST-like two-part motif)."
    rng = np.random.default_rng(1)
    m1, m2 = Motif('L', rng.dirichlet(np.ones(4) * 0.5, 5).T), Motif('R', rng.dirichlet(np.ones(4) * 0.5, 4).T)
    cfg = SimConfig('two', {'L': m1, 'R': m2}, [(1, Arrangement(('L', 'R'), gaps=((0, 2, 3),), shuffle_order=True, strand=strand))],
                    [(1, Arrangement())], length=40, center=24, gc=0.42)
    seqs = [''.join(rng.choice(list('ACGT'), 40)) for _ in range(5)]
    got = log10_likelihood_ratio(one_hot_encode(seqs), cfg)
    np.testing.assert_allclose(got, [loop_log_ratio(s, cfg) for s in seqs], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('name', ['spi1', 'tal_gata', 'e2f6', 'rest', 'cooperative', 'redundant', 'repressive'])
def test_likelihood_ratio_separates_builtin_datasets(name):
    "On every built-in dataset, the generating model's own ratio classifies its simulated sequences (a Bayes classifier)."
    d = simulate(name, 300, random_state=0)
    lr = log10_likelihood_ratio(d, name)
    assert np.isfinite(lr).all()
    assert np.mean((lr > 0) == (d.y == 1)) > 0.75
    assert np.median(lr[d.y == 1]) > 0 > np.median(lr[d.y == 0])


def test_likelihood_ratio_bad_input():
    with pytest.raises(ValueError, match='generates 500 bp'): log10_likelihood_ratio(np.zeros((2, 4, 100), np.float32) + [[1], [0], [0], [0]], 'spi1')
    with pytest.raises(ValueError, match='max_ratio'): motif_free(simulate('spi1', 4, random_state=0), 'spi1', max_ratio=0)
    with pytest.raises(NotImplementedError, match='more than 2 motifs'):
        cfg = SimConfig('three', get_config('cooperative').motifs | {'E2F6': get_config('e2f6').motifs['E2F6']},
                        [(1, Arrangement(('SPI1', 'CTCF', 'E2F6'), placement='anywhere'))], [(1, Arrangement())])
        log10_likelihood_ratio(simulate('spi1', 2, random_state=0).X, cfg)
