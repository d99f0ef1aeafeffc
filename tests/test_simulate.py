"Independent checks of the simulator: a per-window loop scan (not the generator's convolution)."
import numpy as np
import pytest

from argminn_nb.simulate import simulate, DATASETS, get_config, SimLoader
from argminn_nb.dna import decode


def _loop_max_outside(data, threshold=0.9):
    "Plain-Python scan of every window, both strands, every dataset motif; returns offending windows."
    motifs = data.config.motifs
    pwms = {n: (m.pwm(), m.reverse_complement().pwm()) for n, m in motifs.items()}
    planted = {(r.seq, r.motif, r.start) for r in data.instances.itertuples()}
    bad = []
    seqs = decode(data.X)
    idx = {'A': 0, 'C': 1, 'G': 2, 'T': 3}
    for s, seq in enumerate(seqs):
        codes = [idx[c] for c in seq]
        for name, (f, r) in pwms.items():
            W = f.shape[1]
            lo, hi = f.min(0).sum(), f.max(0).sum()
            cols = range(W)
            for i in range(len(codes) - W + 1):
                if (s, name, i) in planted: continue
                for p in (f, r):
                    sc = (sum(p[codes[i + j], j] for j in cols) - lo) / (hi - lo)
                    if sc > threshold: bad.append((s, name, i, sc))
    return bad


@pytest.mark.parametrize('name', DATASETS)
def test_no_spurious_matches_independent_scan(name):
    data = simulate(name, 24, random_state=123)
    assert _loop_max_outside(data) == []


@pytest.mark.parametrize('name', ['spi1', 'rest', 'cooperative'])
def test_planted_bases_are_pfm_draws_at_annotated_positions(name):
    "Bases read at the annotated (start, end, strand) have the PFM's column frequencies (so position and strand are right)."
    data = simulate(name, 3000, random_state=7)
    for motif, inst in data.instances.groupby('motif'):
        m = data.config.motifs[motif]
        assert ((inst.end - inst.start) == m.width).all()
        cols = inst.start.values[:, None] + np.arange(m.width)[None]
        W = data.X[inst.seq.values[:, None], :, cols]                    # (n_inst, W, 4)
        W = np.where((inst.strand.values == '-')[:, None, None], W[:, ::-1, ::-1], W)
        freq = W.mean(0).T                                                # (4, W)
        assert len(inst) > 500
        assert np.abs(freq - m.pfm).max() < 0.06, (motif, np.abs(freq - m.pfm).max())
        shifted = data.X[inst.seq.values[:, None], :, (cols + 3) % data.X.shape[-1]]          # a wrong offset must not pass
        shifted = np.where((inst.strand.values == '-')[:, None, None], shifted[:, ::-1, ::-1], shifted)
        assert np.abs(shifted.mean(0).T - m.pfm).max() > 0.2


def test_negatives_without_motifs_where_config_says():
    data = simulate('spi1', 500, random_state=0)
    assert set(data.instances.seq) == set(np.flatnonzero(data.y == 1))


def test_high_and_low_gc_backgrounds_still_filter():
    for gc in (0.1, 0.9):
        data = simulate('tal_gata', 16, gc=gc, random_state=1)
        assert _loop_max_outside(data) == []


def test_same_seed_same_data_different_seed_different():
    a, b, c = (simulate('e2f6', 50, random_state=s) for s in (4, 4, 5))
    assert np.array_equal(a.X, b.X) and a.instances.equals(b.instances)
    assert not np.array_equal(a.X, c.X)


def test_global_seed_is_not_used():
    np.random.seed(0); a = simulate('spi1', 10, random_state=1)
    np.random.seed(99); b = simulate('spi1', 10, random_state=1)
    assert np.array_equal(a.X, b.X)


def test_loader_resume_is_deterministic():
    a = SimLoader('rest', batches_per_epoch=3, random_state=2, chunk_batches=2)
    b = SimLoader('rest', batches_per_epoch=3, random_state=2, chunk_batches=2)
    a.set_epoch(0); list(a)              # epoch 0 consumed by a only
    a.set_epoch(1); b.set_epoch(1)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())


@pytest.mark.parametrize('bad, msg', [
    ({'motifs': ['SPI1'], 'rule': 'SPI1 or not SPI1'}, 'always true'),
    ({'motifs': ['SPI1'], 'rule': 'SPI1 and GATA'}, "unknown motif 'GATA'"),
    ({'motifs': ['NOPE'], 'rule': 'NOPE'}, 'unknown built-in motif'),
    ({'motifs': ['SPI1'], 'positives': [{'motifs': ['CTCF']}]}, 'unknown motif'),
    ({'motifs': ['SPI1', 'CTCF'], 'positives': [{'motifs': ['SPI1', 'CTCF'], 'gaps': [[80]]}]}, 'does not fit'),
])
def test_bad_configs(bad, msg):
    with pytest.raises((ValueError, KeyError)) as e:
        get_config(bad)
    assert msg in str(e.value)


def test_bad_n():
    with pytest.raises(ValueError, match='n must be >= 1'):
        simulate('spi1', 0)
