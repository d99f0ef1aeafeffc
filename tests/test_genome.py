"""Tests for argminn_nb.genome: bad input, loader protocol, properties, footprints and (offline) downloads."""
import gzip
import io
import json
import os
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st

import argminn_nb.downloads as D
import argminn_nb.genome as G
import argminn_nb.toys as T
from argminn_nb.dna import decode, reverse_complement
from argminn_nb.genome import Genome, read_bed, read_peaks
from argminn_nb.peaks import (PeakLoader, chrom_splits, default_chroms, eval_set, footprint_precision,
                              instances_to_genome, make_peak_splits, min_peak_overlap, peaks_in_genome,
                              positive_window_starts, read_footprints, sample_negative_windows)
from argminn_nb.downloads import download, encode_file, file_checksum, ucsc_genome, vierstra_footprints
from argminn_nb.scoring import interval_coverage
from argminn_nb.toys import make_mini_genome, mini_genome_pfms

FIX = Path(__file__).parent / 'fixtures' / 'mini_genome'


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    "Tests never touch the network: only file:// URLs may be opened."
    real = D._urlopen
    def guarded(url, timeout=None):
        if not url.startswith('file://'): raise AssertionError(f"test tried to reach the network: {url}")
        return real(url, timeout=timeout)
    monkeypatch.setattr(D, '_urlopen', guarded)


@pytest.fixture(scope='module')
def mini(tmp_path_factory):
    "A private copy of the committed fixture (so index rebuilds never touch tests/fixtures)."
    d = tmp_path_factory.mktemp('mini')
    for f in FIX.iterdir(): shutil.copy(f, d / f.name)
    return T.MiniGenome(d / 'mini_genome.fa', {'CTCF': d / 'ctcf_peaks.bed.gz', 'FOXA1': d / 'foxa1_peaks.bed.gz'},
                        d / 'footprints.bed.gz', d / 'instances.tsv')


@pytest.fixture(scope='module')
def genome(mini): return Genome(mini.fasta)


def _text(p: Path) -> str: return G.read_text(p)


# ---------------------------------------------------------------- fixtures

def test_fixture_is_reproducible(tmp_path):
    mg = make_mini_genome(tmp_path, random_state=0)
    for new, old in [(mg.fasta, FIX / 'mini_genome.fa'), (Path(str(mg.fasta) + '.fai'), FIX / 'mini_genome.fa.fai'),
                     (mg.peaks['CTCF'], FIX / 'ctcf_peaks.bed.gz'), (mg.peaks['FOXA1'], FIX / 'foxa1_peaks.bed.gz'),
                     (mg.footprints, FIX / 'footprints.bed.gz'), (mg.instances, FIX / 'instances.tsv')]:
        assert _text(new) == _text(old), f"{old.name} differs from make_mini_genome(random_state=0); regenerate the fixture"


def test_fixture_is_small():
    assert sum(f.stat().st_size for f in FIX.iterdir()) < 2_000_000


def test_other_seed_differs(tmp_path):
    mg = make_mini_genome(tmp_path, random_state=1)
    assert _text(mg.peaks['CTCF']) != _text(FIX / 'ctcf_peaks.bed.gz')


def test_fixture_pfms_are_jaspar():
    motifs = pytest.importorskip('argminn_nb.motifs')
    pytest.importorskip('pyjaspar')
    for name, (mid, _) in T.MINI_GENOME_PFM_COUNTS.items():
        m = motifs.jaspar_motif(mid)
        np.testing.assert_allclose(m.pfm, mini_genome_pfms()[name], atol=1e-6)


def test_fixture_content(mini, genome):
    inst = pd.read_csv(mini.instances, sep='\t')
    assert set(inst['motif']) == {'CTCF', 'FOXA1', 'HNF4A', 'CEBPB'}
    # every bound instance lies inside a peak of its factor
    for f in ('CTCF', 'FOXA1'):
        pk = read_peaks(mini.peaks[f]); b = inst[(inst['factor'] == f) & inst['bound']]
        cov = interval_coverage(b['chrom'].to_numpy(), b['start'], b['end'], pk)
        assert (cov == (b['end'] - b['start'])).all()
        d = inst[(inst['factor'] == f) & ~inst['bound']]
        assert (interval_coverage(d['chrom'].to_numpy(), d['start'], d['end'], pk) == 0).all()
    # footprints cover the instances flagged as footprinted
    fp = read_footprints(mini.footprints)
    t = inst[inst['footprint']]
    assert (interval_coverage(t['chrom'].to_numpy(), t['start'], t['end'], fp) == (t['end'] - t['start'])).all()
    seq = genome.sequences('chr3', [0], genome.chrom_sizes['chr3'])[0]
    assert 'N' in seq and any(c.islower() for c in seq)


def test_mini_genome_rejects_tiny_chromosomes(tmp_path):
    with pytest.raises(ValueError, match='at least 5000 bp'): make_mini_genome(tmp_path, chrom_sizes={'chr1': 100})


# ---------------------------------------------------------------- BED / narrowPeak parsing

@pytest.mark.parametrize('text,msg', [
    ('chr1\t1\t5\nchr1\t7\n', 'line 2: expected at least 3 tab-separated columns'),
    ('chr1 1 5\n', 'line 1: expected at least 3'),
    ('chr1\t9\t5\n', 'line 1: start > end'),
    ('chr1\t5\t5\n', 'line 1: empty interval'),
    ('chr1\t1\t5\nchr1\t2.5\t9\n', "line 2: start '2.5' is not a non-negative integer"),
    ('chr1\tx\t9\n', "line 1: start 'x'"),
    ('chr1\t-3\t9\n', "start '-3'"),
    ('chr1\t3\t9e2\n', "end '9e2'"),
    ('chr1\t3\t1_000\n', "end '1_000'"),
    ('\t3\t10\n', 'line 1: empty chromosome name'),
])
def test_bad_bed_lines(tmp_path, text, msg):
    p = tmp_path / 'bad.bed'; p.write_text(text)
    with pytest.raises(ValueError) as e: read_bed(p)
    assert f'{p}, line' in str(e.value) and msg in str(e.value)


def test_bad_bed_line_numbers_count_headers(tmp_path):
    p = tmp_path / 'h.bed'; p.write_text('browser position chr1\n# comment\n\nchr1\t1\t5\nchr1\t9\t5\n')
    with pytest.raises(ValueError, match=r'h\.bed, line 5: start > end'): read_bed(p)


def test_gzip_crlf_and_extra_columns(tmp_path):
    text = 'chr1\t10\t20\tname\t5\r\nchr2\t1\t2\r\n'
    p = tmp_path / 'a.bed.gz'
    with gzip.open(p, 'wt', newline='') as f: f.write(text)
    df = read_bed(p, names=['name', 'score'], mixed_columns='drop')
    assert df[['chrom', 'start', 'end']].values.tolist() == [['chr1', 10, 20], ['chr2', 1, 2]]
    assert 'name' not in df      # only columns every line has are kept
    with pytest.raises(ValueError, match=r'a\.bed\.gz, line 2: 3 columns, but line 1 has 5'):   # the default: an error
        read_bed(p, names=['name', 'score'])


def test_truncated_gzip(tmp_path):
    raw = gzip.compress(b'chr1\t1\t5\n' * 1000)
    p = tmp_path / 't.bed.gz'; p.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match='could not decompress'): read_bed(p)


def test_binary_file(tmp_path):
    p = tmp_path / 'b.bed'; p.write_bytes(b'\xff\xfe\x00\x01')
    with pytest.raises(ValueError, match='not a text file'): read_bed(p)


def test_missing_bed(tmp_path):
    with pytest.raises(FileNotFoundError, match='file not found'): read_peaks(tmp_path / 'nope.bed')


def test_narrowpeak_checks(tmp_path):
    p = tmp_path / 'p.np'
    p.write_text('chr1\t100\t200\t.\t0\t.\t1\t-1\t1\t99\nchr1\t100\t200\t.\t0\t.\t1\t-1\t1\t100\n')
    with pytest.raises(ValueError, match=r'p\.np, line 2: summit offset'): read_peaks(p)
    p.write_text('chr1\t100\t200\t.\t0\t.\t1\t-1\tNaNx\t10\n')
    with pytest.raises(ValueError, match="line 1: narrowPeak column 'qvalue'"): read_peaks(p)
    p.write_text('chr1\t100\t200\t.\t0\t.\t1\t-1\t1\t-1\n')
    assert read_peaks(p)['summit'].tolist() == [150]


# ---------------------------------------------------------------- genome

def test_genome_missing_and_index(tmp_path, mini):
    with pytest.raises(FileNotFoundError, match='genome FASTA not found'): Genome(tmp_path / 'none.fa')
    fa = tmp_path / 'g.fa'; shutil.copy(mini.fasta, fa)
    assert not Path(str(fa) + '.fai').exists()
    g = Genome(fa)
    assert Path(str(fa) + '.fai').exists() and g.chrom_sizes['chr2'] == 100_000


def test_genome_malformed_fasta(tmp_path):
    fa = tmp_path / 'm.fa'; fa.write_text('>a\nACGTACGT\nACG\nACGTACGT\n')    # a short line in the middle
    with pytest.raises(ValueError, match='could not open genome FASTA'): Genome(fa)


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0, reason='root can write to read-only folders')
def test_genome_index_in_read_only_folder(tmp_path, mini):
    d = tmp_path / 'ro'; d.mkdir(); shutil.copy(mini.fasta, d / 'g.fa'); d.chmod(0o555)
    try:
        with pytest.raises(ValueError, match='must be writable'): Genome(d / 'g.fa')
    finally: d.chmod(0o755)


def test_genome_windows(genome):
    L = genome.chrom_sizes['chrX']
    x = genome.one_hot(['chrX', 'chr1'], [L - 500, 0], 500)
    assert x.shape == (2, 4, 500) and x.dtype == np.float32
    assert (x[1].sum(0) == 0).all()                      # chr1 starts with an N gap
    with pytest.raises(ValueError, match='runs off chrX'): genome.codes('chrX', [L - 499], 500)
    with pytest.raises(ValueError, match='runs off'): genome.codes('chrX', [-1], 500)
    with pytest.raises(ValueError, match="'chrY' is not in the genome"): genome.codes('chrY', [0], 10)
    mem = Genome(genome.path, in_memory=True, chroms=['chr2', 'chrX'])
    starts = np.array([0, 5000, 99_500]); assert (mem.codes('chr2', starts, 500) == genome.codes('chr2', starts, 500)).all()


# ---------------------------------------------------------------- splits, peak checks

def test_splits_and_chroms():
    assert default_chroms(['chr1', 'chr2', 'chrY', 'chrM', 'chr3_random', 'chrX', 'chrUn_x']) == ['chr1', 'chr2', 'chrX']
    assert default_chroms(['scaffold1', 'scaffold2']) == ['scaffold1', 'scaffold2']
    sp = chrom_splits(['chr1', 'chr2', 'chr8', 'chr10', 'chrX'])
    assert sp == {'train': ['chr2', 'chrX'], 'val': ['chr8', 'chr10'], 'test': ['chr1']}
    assert chrom_splits(['a', 'b', 'c'], val=['b'], test=['c'])['train'] == ['a']
    with pytest.raises(ValueError, match='no chromosomes are left'): chrom_splits(['chr1', 'chr8', 'chr10'])


def test_missing_chromosome_skip_and_raise(tmp_path, genome):
    p = tmp_path / 'peaks.bed'
    p.write_text('chr2\t5000\t5300\nchrEBV\t1\t100\nchr2_KI270\t5\t50\nchrY\t1\t100\n')
    with pytest.warns(UserWarning, match=r'skipped 3 peaks on chromosomes absent from mini_genome\.fa'):
        kept = peaks_in_genome(read_peaks(p), genome, on_missing='skip')
    assert kept['line'].tolist() == [1]
    assert kept.attrs['skipped']['not_in_genome'] == {'chrEBV': 1, 'chr2_KI270': 1, 'chrY': 1}
    with pytest.raises(ValueError, match=r"peaks\.bed, line 2: chromosome 'chrEBV' is not in the genome"):
        peaks_in_genome(read_peaks(p), genome)          # the default
    with pytest.raises(ValueError, match='on_missing must be'): peaks_in_genome(read_peaks(p), genome, on_missing='ignore')


def test_peak_past_chromosome_end(tmp_path, genome):
    p = tmp_path / 'hg19.bed'; p.write_text('chr2\t5000\t5300\nchr2\t99990\t100010\n')
    with pytest.raises(ValueError, match=r'hg19\.bed, line 2: peak chr2:99990-100010 ends past the end of chr2 \(100000 bp'):
        PeakLoader(p, genome)


def test_peaks_on_last_and_first_bases(tmp_path, genome):
    L = genome.chrom_sizes['chrX']
    p = tmp_path / 'edge.bed'; p.write_text(f'chrX\t{L - 1}\t{L}\nchr2\t0\t1\nchrX\t{L - 2000}\t{L}\n')
    ld = PeakLoader(p, genome, split='train', batch_size=12, random_state=0)
    for e in range(3):
        d = ld.batch(e, 0); c = d.coords[d.coords['label'] == 1]
        assert (c['start'] >= 0).all() and (c['end'] <= c['chrom'].map(genome.chrom_sizes)).all()
        pk = ld.peaks.iloc[c['peak']]
        ov = np.minimum(c['end'].to_numpy(), pk['end'].to_numpy()) - np.maximum(c['start'].to_numpy(), pk['start'].to_numpy())
        assert (ov >= min_peak_overlap(pk['end'] - pk['start'])).all()
    lo, hi = positive_window_starts(ld.peaks, genome.chrom_sizes)
    assert lo.tolist()[:2] == [L - 500, 0] and hi.tolist()[:2] == [L - 500, 0]


def test_short_chromosome_peaks_are_counted(tmp_path):
    fa = tmp_path / 's.fa'; fa.write_text('>chr2\n' + 'ACGT' * 2000 + '\n>chr3\n' + 'ACGT' * 50 + '\n')
    p = tmp_path / 's.bed'; p.write_text('chr2\t100\t300\nchr3\t10\t60\n')
    ld = PeakLoader(p, fa, split='all', chroms=['chr2', 'chr3'], val_chroms=[], test_chroms=[], batch_size=4, random_state=0)
    assert ld.n_peaks == 1 and ld.skipped_short == 1
    assert set(ld.batch(0, 0).coords['chrom']) == {'chr2'}


# ---------------------------------------------------------------- properties

@settings(max_examples=200, deadline=None)
@given(P=st.integers(1, 3000), s=st.integers(0, 5000), extra=st.integers(0, 5000), W=st.sampled_from([100, 500, 1000]),
       rule=st.sampled_from(['spec', 'shorter']))
def test_positive_window_rule(P, s, extra, W, rule):
    size = max(s + P + extra, W)
    pk = pd.DataFrame({'chrom': ['c'], 'start': [s], 'end': [s + P]})
    m = int(min_peak_overlap([P], W, rule)[0])
    assert 1 <= m <= min(P, W)
    if rule == 'spec': assert m == min(-(-max(P, W) // 2), min(P, W))
    else: assert m == -(-min(P, W) // 2)
    lo, hi = (int(v[0]) for v in positive_window_starts(pk, {'c': size}, W, rule))
    ov = lambda w: max(0, min(w + W, s + P) - max(w, s))
    assert lo <= hi
    for w in {lo, hi, (lo + hi) // 2}: assert 0 <= w <= size - W and ov(w) >= m
    if lo > 0: assert ov(lo - 1) < m
    if hi < size - W: assert ov(hi + 1) < m


@settings(max_examples=100, deadline=None)
@given(iv=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40)), min_size=0, max_size=20),
       q=st.lists(st.tuples(st.integers(0, 350), st.integers(1, 60)), min_size=1, max_size=20))
def test_interval_coverage_matches_brute_force(iv, q):
    ivs = pd.DataFrame({'chrom': ['c'] * len(iv), 'start': [a for a, _ in iv], 'end': [a + b for a, b in iv]},
                       columns=['chrom', 'start', 'end']).astype({'start': np.int64, 'end': np.int64})
    cover = np.zeros(500, bool)
    for a, b in iv: cover[a:a + b] = True
    qs = np.array([a for a, _ in q]); qe = qs + np.array([b for _, b in q])
    got = interval_coverage('c', qs, qe, ivs)
    assert got.tolist() == [int(cover[a:b].sum()) for a, b in zip(qs, qe)]


# ---------------------------------------------------------------- loader protocol

def test_loader_protocol(mini, genome):
    ld = PeakLoader(mini.peaks['CTCF'], genome, random_state=7)
    assert len(ld) == -(-ld.n_peaks // 32)
    batches = list(ld)
    assert len(batches) == len(ld)
    for X, y in batches:
        assert isinstance(X, torch.Tensor) and X.dtype == torch.float32 and X.shape == (128, 4, 500)
        assert y.dtype == torch.float32 and y.shape == (128,) and y.sum() == 64
        assert torch.equal(X[64:], torch.flip(X[:64], (1, 2)))
        assert ((X.sum(1) == 0) | (X.sum(1) == 1)).all()
    # a second iteration is the next epoch; set_epoch replays an epoch exactly
    X1 = next(iter(ld))[0]
    assert not torch.equal(X1, batches[0][0])
    ld.set_epoch(0); assert torch.equal(next(iter(ld))[0], batches[0][0])
    ld2 = PeakLoader(mini.peaks['CTCF'], genome, random_state=7); ld2.set_epoch(1)
    assert torch.equal(next(iter(ld2))[0], X1)
    assert not torch.equal(next(iter(PeakLoader(mini.peaks['CTCF'], genome, random_state=8)))[0], batches[0][0])
    with pytest.raises(ValueError, match='epoch must be >= 0'): ld.set_epoch(-1)
    with pytest.raises(IndexError): ld.batch(0, len(ld))


def test_loader_options(mini, genome):
    ld = PeakLoader(mini.peaks['FOXA1'], genome, split='val', batch_size=20, rc_augment=False, batches_per_epoch=7,
                    window=300, random_state=0)
    X, y = next(iter(ld))
    assert len(ld) == 7 and X.shape == (20, 4, 300) and y.sum() == 10
    assert set(ld.batch(0, 3).coords['chrom']) <= {'chr8', 'chr10'}
    # more batches than peaks: every peak is used, and reused
    ld = PeakLoader(mini.peaks['CTCF'], genome, split='test', batches_per_epoch=4, random_state=0)
    peaks_used = pd.concat([ld.batch(0, b).coords for b in range(4)])
    peaks_used = peaks_used[(peaks_used['label'] == 1) & (peaks_used['strand'] == '+')]['peak']
    assert set(peaks_used) == set(ld._rows) and len(peaks_used) == 128


def test_loader_errors(tmp_path, mini, genome):
    with pytest.raises(ValueError, match='positive multiple of 4'): PeakLoader(mini.peaks['CTCF'], genome, batch_size=2)
    with pytest.raises(ValueError, match='positive multiple of 2'): PeakLoader(mini.peaks['CTCF'], genome, batch_size=3, rc_augment=False)
    with pytest.raises(ValueError, match='split must be one of'): PeakLoader(mini.peaks['CTCF'], genome, split='valid')
    p = tmp_path / 'only2.bed'; p.write_text('chr2\t5000\t5300\n')
    with pytest.raises(ValueError, match=r'no usable peaks on the test chromosomes \(chr1\)'): PeakLoader(p, genome, split='test')
    with pytest.raises(ValueError, match="validation chromosomes \\['chr9'\\]"): PeakLoader(p, genome, val_chroms=['chr9'])


def test_negatives(mini, genome):
    pk = read_peaks(mini.peaks['CTCF'])
    neg = sample_negative_windows(genome, 300, ['chr1', 'chr3'], peaks=pk, max_n=0.0, random_state=0)
    assert (interval_coverage(neg['chrom'].to_numpy(), neg['start'], neg['end'], pk) == 0).all()
    assert (genome.codes(neg['chrom'].to_numpy(), neg['start'], 500) < 4).all()
    free = sample_negative_windows(genome, 400, ['chr2'], peaks=None, max_n=1.0, random_state=0)
    assert (interval_coverage(free['chrom'].to_numpy(), free['start'], free['end'], pk) > 0).any()   # plain random windows hit peaks
    # the loader's negatives: no peaks (of this factor) and at most 5% N
    ld = PeakLoader(mini.peaks['CTCF'], genome, split='test', random_state=1)
    c = ld.batch(0, 0).coords; c = c[c['label'] == 0]
    assert (interval_coverage(c['chrom'].to_numpy(), c['start'], c['end'], pk) == 0).all()
    assert ((genome.codes(c['chrom'].to_numpy(), c['start'], 500) == 4).mean(1) <= 0.05).all()


def test_positives_carry_the_motif(mini, genome):
    "The fixture is learnable: a CTCF PWM separates positives from negatives in a test batch."
    pfm = mini_genome_pfms()['CTCF']; pwm = np.log(pfm / 0.25 + 1e-3)
    d = eval_set(mini.peaks['CTCF'], genome, split='test', random_state=0, rc_augment=False)
    win = np.lib.stride_tricks.sliding_window_view(d.X, pfm.shape[1], axis=2)
    best = np.maximum(np.einsum('nclw,cw->nl', win, pwm), np.einsum('nclw,cw->nl', win, pwm[::-1, ::-1])).max(1)
    acc = ((best > 5) == (d.y == 1)).mean()
    assert acc > 0.85, acc


def test_eval_sets(mini, genome):
    pk = read_peaks(mini.peaks['CTCF'])
    d = eval_set(mini.peaks['CTCF'], genome, split='test', random_state=3)
    n = int((pk['chrom'] == 'chr1').sum())
    assert len(d) == 4 * n and d.X.dtype == np.float32 and d.y.dtype == np.float32
    assert (d.y[:n] == 1).all() and (d.y[n:2 * n] == 0).all()
    np.testing.assert_array_equal(d.X[2 * n:], reverse_complement(d.X[:2 * n]))
    assert (d.coords['strand'][:2 * n] == '+').all() and (d.coords['strand'][2 * n:] == '-').all()
    np.testing.assert_array_equal(eval_set(mini.peaks['CTCF'], genome, split='test', random_state=3).X, d.X)
    small = eval_set(mini.peaks['CTCF'], genome, split='test', n=10, rc_augment=False, random_state=3)
    assert len(small) == 20
    sp = make_peak_splits(mini.peaks['CTCF'], genome, random_state=0)
    assert sp.train.split == 'train' and len(sp.test) == 4 * n
    assert set(sp.val.coords['chrom']) <= {'chr8', 'chr10'}


def test_loader_trains_with_fit(mini, genome):
    train = pytest.importorskip('argminn_nb.train')
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 19), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool1d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 1), torch.nn.Flatten(0), torch.nn.Sigmoid())
    ld = PeakLoader(mini.peaks['CTCF'], genome, batches_per_epoch=2, random_state=0)
    val = eval_set(mini.peaks['CTCF'], genome, split='val', n=32, random_state=0)
    res = train.fit(model, ld, val, epochs=2, early_stopping=False, device='cpu', random_state=0, verbose=False)
    assert len(res.history) == 2 and np.isfinite(res.history['val_loss']).all()


# ---------------------------------------------------------------- footprints

def test_footprint_precision_by_hand():
    co = pd.DataFrame({'chrom': ['chr1', 'chr1'], 'start': [90, 90], 'end': [190, 190], 'strand': ['+', '-']})
    fp = pd.DataFrame({'chrom': ['chr1', 'chr1'], 'start': [100, 150], 'end': [110, 152]})
    ins = pd.DataFrame({'seq': [0, 1, 0, 1], 'start': [5, 80, 50, 0], 'end': [15, 90, 60, 10]})
    g = instances_to_genome(ins, co)
    assert g[['gstart', 'gend']].values.tolist() == [[95, 105], [100, 110], [140, 150], [180, 190]]
    res = footprint_precision(ins, co, fp, ks=[1, 2, 3, 4])
    assert res['hits'].tolist() == [1, 2, 2, 2] and res['precision'].tolist() == [1.0, 1.0, 2 / 3, 0.5]
    assert footprint_precision(ins, co, fp, ks=[1, 2], min_overlap=6)['hits'].tolist() == [0, 1]
    assert footprint_precision(ins, co, fp, ks=[2], min_overlap=1.0)['hits'].tolist() == [1]
    res = footprint_precision(ins.assign(score=[1, 2, 4, 3]), co, fp, ks=[1, 4], score='score')
    assert res['hits'].tolist() == [0, 2]
    assert footprint_precision(ins, co, fp)['k'].iloc[-1] == 4
    with pytest.raises(ValueError, match='every k must be in 1..4'): footprint_precision(ins, co, fp, ks=[0])
    with pytest.raises(ValueError, match='fractional min_overlap'): footprint_precision(ins, co, fp, min_overlap=1.5)
    with pytest.raises(ValueError, match='outside its 100 bp window'): instances_to_genome(ins.assign(end=[15, 90, 60, 101]), co)
    with pytest.raises(ValueError, match="'seq' is missing"): instances_to_genome(ins.drop(columns='seq'), co)
    with pytest.raises(ValueError, match='out of range'): instances_to_genome(ins.assign(seq=[0, 1, 2, 0]), co)
    assert len(footprint_precision(ins.iloc[:0], co, fp)) == 0


def test_footprint_rc_windows_agree(mini, genome):
    d = eval_set(mini.peaks['CTCF'], genome, split='test', n=8, random_state=0)
    n = len(d) // 2
    fwd = pd.DataFrame({'seq': np.arange(n), 'start': 100, 'end': 119})
    rc = pd.DataFrame({'seq': np.arange(n) + n, 'start': 500 - 119, 'end': 500 - 100})
    a, b = instances_to_genome(fwd, d.coords), instances_to_genome(rc, d.coords)
    assert a[['chrom', 'gstart', 'gend']].values.tolist() == b[['chrom', 'gstart', 'gend']].values.tolist()
    s = decode(d.X[[0, n]])
    assert s[1][381:400] == reverse_complement(s[0][100:119])
    fp = read_footprints(mini.footprints)
    np.testing.assert_array_equal(footprint_precision(fwd, d.coords, fp, ks=[n])['hits'],
                                  footprint_precision(rc, d.coords, fp, ks=[n])['hits'])


# ---------------------------------------------------------------- downloads (no network)

def test_download_file_url(tmp_path, mini):
    src = mini.peaks['CTCF']
    p = download(src.as_uri(), cache_dir=tmp_path, md5=file_checksum(src), sha256=file_checksum(src, 'sha256'))
    assert p == tmp_path / src.name and p.read_bytes() == src.read_bytes()
    mask = os.umask(0); os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask       # usual permissions, not mkstemp's 0600


def test_download_checksum_mismatch_leaves_nothing(tmp_path, mini):
    src = mini.peaks['CTCF']
    with pytest.raises(ValueError, match='checksum mismatch.*md5'):
        download(src.as_uri(), dest=tmp_path / 'x.gz', md5='0' * 32)
    with pytest.raises(ValueError, match='sha256'):
        download(src.as_uri(), dest=tmp_path / 'x.gz', sha256='f' * 64)
    assert list(tmp_path.iterdir()) == []


def test_download_uses_verified_cache(tmp_path, mini, monkeypatch):
    src = mini.peaks['CTCF']; md5 = file_checksum(src)
    p = download(src.as_uri(), cache_dir=tmp_path, md5=md5)
    def fail(url, timeout=None): raise AssertionError('should not fetch')
    monkeypatch.setattr(D, '_urlopen', fail)
    assert download(src.as_uri(), cache_dir=tmp_path, md5=md5) == p
    # a corrupted cache entry is fetched again (with a warning)
    p.write_bytes(b'garbage')
    monkeypatch.setattr(D, '_urlopen', lambda url, timeout=None: open(src, 'rb'))
    with pytest.warns(UserWarning, match='does not match its checksum'):
        download(src.as_uri(), cache_dir=tmp_path, md5=md5)
    assert file_checksum(p) == md5


def test_download_offline_and_http_errors(tmp_path, monkeypatch):
    def offline(url, timeout=None): raise urllib.error.URLError(OSError(-3, 'Temporary failure in name resolution'))
    monkeypatch.setattr(D, '_urlopen', offline)
    with pytest.raises(ConnectionError, match='seems to be offline'): download('https://example.org/x.bed.gz', cache_dir=tmp_path)
    def http404(url, timeout=None): raise urllib.error.HTTPError(url, 404, 'Not Found', None, None)
    monkeypatch.setattr(D, '_urlopen', http404)
    with pytest.raises(ConnectionError, match='HTTP 404'): download('https://example.org/x.bed.gz', cache_dir=tmp_path)
    class Broken(io.BytesIO):
        def read(self, n=-1): raise OSError('connection reset')
    monkeypatch.setattr(D, '_urlopen', lambda url, timeout=None: Broken())
    with pytest.raises(ConnectionError, match='interrupted'): download('https://example.org/x.bed.gz', cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_encode_file(tmp_path, mini, monkeypatch):
    src = mini.peaks['FOXA1']; calls = []
    def server(url, timeout=None):
        calls.append(url)
        if url == 'https://www.encodeproject.org/files/ENCFF081USG/?format=json':
            return io.BytesIO(json.dumps({'accession': 'ENCFF081USG', 'md5sum': file_checksum(src)}).encode())
        if url == 'https://www.encodeproject.org/files/ENCFF081USG/@@download/ENCFF081USG.bed.gz': return open(src, 'rb')
        raise AssertionError(url)
    monkeypatch.setattr(D, '_urlopen', server)
    monkeypatch.setenv('ARGMINN_CACHE', str(tmp_path / 'cache'))
    p = encode_file(D.PAPER_DATASETS['FOXA1']['peaks'])
    assert p == tmp_path / 'cache' / 'encode' / 'ENCFF081USG.bed.gz' and len(calls) == 2
    assert encode_file('ENCFF081USG') == p and len(calls) == 2        # cached: no request at all
    with pytest.raises(ValueError, match='is an ENCODE experiment'): encode_file('ENCSR865RXA')
    with pytest.raises(ValueError, match='not an ENCODE file accession'): encode_file('foo')
    # wrong checksum from the portal: the file is rejected
    monkeypatch.setattr(D, '_urlopen', lambda url, timeout=None: io.BytesIO(json.dumps({'md5sum': '1' * 32}).encode())
                        if url.endswith('json') else open(src, 'rb'))
    with pytest.raises(ValueError, match='checksum mismatch'): encode_file('ENCFF000AAA', cache_dir=tmp_path / 'c2')


def test_ucsc_genome(tmp_path, mini, monkeypatch):
    gz = tmp_path / 'srv' / 'mini.fa.gz'; gz.parent.mkdir()
    gz.write_bytes(gzip.compress(mini.fasta.read_bytes()))
    md5 = file_checksum(gz)
    def server(url, timeout=None):
        if url.endswith('md5sum.txt'): return io.BytesIO(f'0123  other.fa.gz\n{md5}  mini.fa.gz\n'.encode())
        assert url == 'https://hgdownload.soe.ucsc.edu/goldenPath/mini/bigZips/mini.fa.gz'
        return open(gz, 'rb')
    monkeypatch.setattr(D, '_urlopen', server)
    fa = ucsc_genome('mini', cache_dir=tmp_path / 'cache')
    assert fa.read_bytes() == mini.fasta.read_bytes() and Path(str(fa) + '.fai').exists()
    assert not (fa.parent / 'mini.fa.gz').exists()
    assert Genome(fa).chrom_sizes == Genome(mini.fasta).chrom_sizes
    monkeypatch.setattr(D, '_urlopen', lambda url, timeout=None: io.BytesIO(b'abc  hg38.fa.gz\n'))
    with pytest.raises(ValueError, match='no checksum for other.fa.gz'): ucsc_genome('other', cache_dir=tmp_path / 'c3')


def test_vierstra_footprints(tmp_path, mini):
    p = vierstra_footprints(mini.footprints.as_uri(), cache_dir=tmp_path, md5=file_checksum(mini.footprints))
    assert p == tmp_path / 'footprints' / 'footprints.bed.gz'
    assert len(read_footprints(p)) == len(read_footprints(mini.footprints))
    assert D.VIERSTRA_FOOTPRINTS_URL.startswith('https://') and D.VIERSTRA_FOOTPRINTS_URL.endswith('.bed.gz')


def test_run_fetches_a_ucsc_genome_by_name(tmp_path, mini, monkeypatch):
    "`argminn run --peaks P --genome NAME` downloads the assembly through the cache (a local server stands in for UCSC)."
    from argminn_nb.cli import main
    gz = tmp_path / 'srv' / 'hgTest1.fa.gz'; gz.parent.mkdir()
    gz.write_bytes(gzip.compress(mini.fasta.read_bytes()))
    served = []
    def server(url, timeout=None):
        served.append(url)
        if url.endswith('md5sum.txt'): return io.BytesIO(f'{file_checksum(gz)}  hgTest1.fa.gz\n'.encode())
        assert url == 'https://hgdownload.soe.ucsc.edu/goldenPath/hgTest1/bigZips/hgTest1.fa.gz', url
        return open(gz, 'rb')
    monkeypatch.setattr(D, '_urlopen', server)
    monkeypatch.setenv('ARGMINN_CACHE', str(tmp_path / 'cache'))
    args = ['run', '--peaks', str(mini.peaks['CTCF']), '--genome', 'hgTest1', '--epochs', '1', '--batches-per-epoch', '1',
            '--seeds', '0', '--no-interpret', '-q', '--threads', '1', '--device', 'cpu']
    assert main(args + ['--out', str(tmp_path / 'o1')]) == 0
    fa = tmp_path / 'cache' / 'genomes' / 'hgTest1.fa'
    assert fa.read_bytes() == mini.fasta.read_bytes() and len(served) == 2
    assert main(args + ['--out', str(tmp_path / 'o2')]) == 0 and len(served) == 2          # cached: no second download
    assert json.loads((tmp_path / 'o2' / 'metrics.json').read_text())['settings']['genome'] == str(fa)
    assert main(args[:4] + ['no_such_genome.fa'] + args[5:] + ['--out', str(tmp_path / 'o3')]) == 2   # a missing file is not a name
