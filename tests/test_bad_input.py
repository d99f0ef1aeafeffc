"""Bad inputs and failures: each test covers one defect of the 'nothing lost, nothing executed' issue, and the
FASTA, BED/narrowPeak and MEME readers are fuzzed (random bytes and random edits of valid files give a correct
parse or a ValueError naming the file — never another exception, never a silently wrong result)."""
import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from torch import nn

from argminn_nb import downloads as D
from argminn_nb.dna import check_one_hot, one_hot_encode, read_fasta, write_fasta
from argminn_nb.peaks import PeakLoader
from argminn_nb.genome import read_bed, read_peaks
from argminn_nb.models import CNNBaseline
from argminn_nb.motifs import read_meme
from argminn_nb.train import evaluate, fit

FIXTURES = Path(__file__).parent / 'fixtures' / 'mini_genome'
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def cli(*args, **kw):
    return subprocess.run([sys.executable, '-m', 'argminn_nb.cli', *args], capture_output=True, text=True, **kw)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout[-400:], r.stderr[-800:])
    assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, r.stderr
    for n in needles: assert n in r.stderr, r.stderr


# ---------------------------------------------------------------- resumable runs, output folders
TINY = ['run', '--dataset', 'spi1', '--epochs', '6', '--batches-per-epoch', '6', '--seeds', '0', '--no-interpret', '-q',
        '--threads', '1']   # one thread: the same bytes whatever else the machine is doing
TIMING = {'wall_seconds', 'train_seconds', 'interpretation_seconds'}


def _metrics(folder):
    m = json.loads((folder / 'metrics.json').read_text())
    for k in TIMING: m.pop(k, None)
    for s in m['seeds']: s.pop('seconds', None)
    return m


def _history(folder):
    return pd.read_csv(folder / 'history.csv').drop(columns='seconds')


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp('full') / 'run'
    r = cli(*TINY, '--out', str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_interrupted_run_resumes_to_the_same_result(tmp_path, uninterrupted):
    "SIGINT mid-training keeps the per-epoch checkpoints; --resume ends with the same model bytes, history and metrics."
    out = tmp_path / 'run'
    last = tmp_path / 'run.partial' / 'checkpoints' / 'seed_0' / 'last.pt'
    p = subprocess.Popen([sys.executable, '-m', 'argminn_nb.cli', *TINY, '--out', str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # a background shell ignores SIGINT
    deadline = time.time() + 300
    while not last.exists() and p.poll() is None and time.time() < deadline: time.sleep(0.01)
    assert p.poll() is None, 'the run ended before it could be interrupted'
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert '--resume' in err and not out.exists() and last.exists()
    epochs_done = torch.load(last, weights_only=True)['epoch'] + 1
    assert epochs_done < 6, 'interrupted too late to test resuming'
    one_line_error(cli(*TINY, '--out', str(out)), 'interrupted run', '--resume')   # never silently restarted
    r = cli(*TINY, '--out', str(out), '--resume')
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / 'run.partial').exists()
    assert (out / 'model.pt').read_bytes() == (uninterrupted / 'model.pt').read_bytes()
    pd.testing.assert_frame_equal(_history(out), _history(uninterrupted))
    assert _metrics(out) == _metrics(uninterrupted)


def test_same_seed_same_model_bytes_and_metrics(tmp_path, uninterrupted):
    r = cli(*TINY, '--out', str(tmp_path / 'again'))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'again' / 'model.pt').read_bytes() == (uninterrupted / 'model.pt').read_bytes()
    assert _metrics(tmp_path / 'again') == _metrics(uninterrupted)


def test_resume_with_other_settings_is_refused(tmp_path, uninterrupted):
    import shutil
    out = tmp_path / 'run'; shutil.copytree(uninterrupted, out)
    one_line_error(cli(*[a if a != '6' else '7' for a in TINY], '--out', str(out), '--resume'),
                   'cannot resume', 'epochs: 6 then, 7 now')


def test_existing_out_refused_unless_force(tmp_path, uninterrupted):
    import shutil
    out = tmp_path / 'run'; shutil.copytree(uninterrupted, out)
    before = (out / 'model.pt').read_bytes()
    t = time.time()
    one_line_error(cli(*TINY, '--out', str(out)), 'exists and is not empty', '--force')
    assert (out / 'model.pt').read_bytes() == before
    (out / 'interpretation').mkdir(exist_ok=True); (out / 'interpretation' / 'old.png').write_text('from an older run')
    manifest = json.loads((out / '.argminn-manifest.json').read_text())
    manifest['files'].append('interpretation/old.png'); (out / '.argminn-manifest.json').write_text(json.dumps(manifest))
    r = cli(*TINY, '--out', str(out), '--force')                              # every file ours: replaced, nothing stale left
    assert r.returncode == 0, r.stderr
    assert not (out / 'interpretation').exists() and (out / 'model.pt').read_bytes() == before
    mine = tmp_path / 'mine'; mine.mkdir(); (mine / 'thesis.tex').write_text('precious')
    one_line_error(cli(*TINY, '--out', str(mine), '--force'), "holds 'thesis.tex', which argminn did not write")
    assert (mine / 'thesis.tex').read_text() == 'precious'


def test_out_checked_before_any_work(tmp_path):
    f = tmp_path / 'a_file'; f.write_text('x')
    r = cli(*TINY, '--out', str(f))
    one_line_error(r, 'is a file, not a folder'); assert 'training' not in r.stdout
    r = cli(*TINY, '--out', str(f / 'below'))                                  # parent is a file
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'training' not in r.stdout, r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write into read-only folders')
def test_read_only_out_parent_refused_before_work(tmp_path):
    ro = tmp_path / 'ro'; ro.mkdir(); ro.chmod(0o555)
    try:
        r = cli(*TINY, '--out', str(ro / 'run'))
        one_line_error(r, 'not writable'); assert 'training' not in r.stdout
    finally: ro.chmod(0o755)


def test_outputs_are_0644(uninterrupted):
    mask = os.umask(0); os.umask(mask)
    for f in uninterrupted.rglob('*'):
        if f.is_file(): assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f


def test_cli_one_line_errors_for_paths(tmp_path):
    one_line_error(cli('run', '--peaks', str(tmp_path), '--genome', str(FIXTURES / 'mini_genome.fa'), '--out', str(tmp_path / 'o'),
                       '--epochs', '1', '-q'), 'directory')
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'o.partial').exists()   # nothing half-made left behind


# ---------------------------------------------------------------- inputs
def test_check_one_hot_rejects_nan_and_non_binary():
    X = one_hot_encode(['ACGTA', 'TTGCA'])
    for bad, msg in ((np.where(X == 1, np.nan, X), 'not finite'), (X * 3, 'outside [0, 1]'), (X + 1, 'outside [0, 1]'),
                     (np.ones_like(X), 'sums to 4')):
        with pytest.raises(ValueError, match=r'not one-hot DNA: sequence 0, position 0'): check_one_hot(bad)
        with pytest.raises(ValueError, match=re.escape(msg)): check_one_hot(torch.tensor(bad))


def test_predict_refuses_nan_input():
    m = CNNBaseline(seq_len=200)
    X = one_hot_encode(['ACGT' * 50] * 4); X[2, 0, 7] = np.nan
    with pytest.raises(ValueError, match='sequence 2, position 7 is not finite'):
        evaluate(m, X, np.array([0, 1, 0, 1], dtype=np.float32), device='cpu')


def _batches(y):
    X = torch.tensor(one_hot_encode(['ACGTTGCA' * 8] * len(y)))
    return [(X, torch.tensor(y, dtype=torch.float32))]


def test_labels_must_be_binary():
    with pytest.raises(ValueError, match=r'training labels must hold binary labels 0 and 1; label 2 is 2.0'):
        fit(CNNBaseline(seq_len=64), _batches([0, 1, 2, 1]), None, epochs=1, device='cpu', verbose=False)
    with pytest.raises(ValueError, match='label 1 is 0.5'):
        evaluate(CNNBaseline(seq_len=64), _batches([0, 0.5])[0][0], np.array([0, 0.5]), device='cpu')


def test_fit_rejects_epochs_below_one():
    for e in (0, -2, 1.5):
        with pytest.raises(ValueError, match='epochs must be a positive integer'):
            fit(CNNBaseline(seq_len=64), _batches([0, 1]), None, epochs=e, device='cpu', verbose=False)


class NaNModel(nn.Module):
    "A probabilities-only model that returns NaN."
    def __init__(self):
        super().__init__(); self.w = nn.Parameter(torch.zeros(()))
    def forward(self, X): return torch.full((len(X),), float('nan')) + self.w


def test_non_finite_predictions_stop_training_with_epoch_and_term():
    with pytest.raises(FloatingPointError, match=r'non-finite probabilities \(4 of 4\) at epoch 0, batch 0'):
        fit(NaNModel(), _batches([0, 1, 0, 1]), None, epochs=2, device='cpu', verbose=False)


def _genome_with_n_block(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {c: ''.join(rng.choice(list('ACGT'), 6000)) for c in ('chr1', 'chr2', 'chr8', 'chr10')}
    seqs['chr2'] = seqs['chr2'][:2000] + 'N' * 2000 + seqs['chr2'][4000:]
    fa = tmp_path / 'g.fa'
    write_fasta(fa, list(seqs.values()), names=list(seqs))
    return fa


def test_n_rich_positive_windows_are_dropped_and_counted(tmp_path):
    fa = _genome_with_n_block(tmp_path)
    bed = tmp_path / 'p.bed'
    bed.write_text('chr2\t500\t700\nchr2\t2900\t3100\nchr2\t4800\t5000\n')   # the middle peak lies in the N block
    with pytest.warns(UserWarning, match=r'dropped 1 train peak\(s\) whose 500 bp window is more than 5% N'):
        ld = PeakLoader(bed, fa, 'train', batch_size=8, random_state=0)
    assert ld.skipped_n_rich == 1 and ld.n_peaks == 2
    for e in range(3):
        for b in range(len(ld)):
            d = ld.batch(e, b)
            pos = d.X[d.y == 1]
            assert (pos.sum(1) == 0).mean(1).max() <= 0.05


def test_unknown_chromosome_is_an_error_naming_file_and_line(tmp_path):
    bed = tmp_path / 'p.bed'
    bed.write_text('chr2\t2000\t2300\nchrEBV\t10\t200\n')
    with pytest.raises(ValueError, match=r"p\.bed, line 2: chromosome 'chrEBV' is not in the genome"):
        PeakLoader(bed, FIXTURES / 'mini_genome.fa', 'train', random_state=0)
    with pytest.warns(UserWarning, match='skipped 1 peaks'):
        PeakLoader(bed, FIXTURES / 'mini_genome.fa', 'train', on_missing='skip', random_state=0)


def test_cli_unknown_chromosome_error_and_skip_option(tmp_path):
    peaks = tmp_path / 'p.bed'
    text = gzip.decompress((FIXTURES / 'ctcf_peaks.bed.gz').read_bytes()).decode()
    peaks.write_text(text + 'chrUn_KI270\t10\t300\t.\t1000\t.\t50.0\t-1\t5.0\t100\n')
    args = ['run', '--peaks', str(peaks), '--genome', str(FIXTURES / 'mini_genome.fa'), '--model', 'cnn', '--epochs', '1',
            '--batches-per-epoch', '1', '--no-interpret', '-q']
    n = len(text.strip().split('\n'))
    one_line_error(cli(*args, '--out', str(tmp_path / 'a')), f'p.bed, line {n + 1}', 'chrUn_KI270')
    r = cli(*args, '--out', str(tmp_path / 'b'), '--skip-missing-chroms')
    assert r.returncode == 0, r.stderr


def test_mixed_bed_columns_are_an_error(tmp_path):
    p = tmp_path / 'm.narrowPeak'
    p.write_text('chr1\t10\t20\tp1\t0\t.\t5.0\t3.0\t2.0\t4\nchr1\t30\t40\n')
    with pytest.raises(ValueError, match=r'm\.narrowPeak, line 2: 3 columns, but line 1 has 10'):
        read_peaks(p)


# ---------------------------------------------------------------- downloads
def test_download_paths_cannot_leave_the_cache(tmp_path):
    with pytest.raises(ValueError, match='plain file-name part'): D.encode_file('ENCFF664UGR', cache_dir=tmp_path, ext='../../x')
    with pytest.raises(ValueError, match='plain file-name part'): D.ucsc_genome('../../etc', cache_dir=tmp_path)
    for url in ('https://example.org/data/', 'https://example.org/data/..', 'file:///tmp/.', 'ftp://example.org/x.bed'):
        with pytest.raises(ValueError, match='names a folder|unsupported URL'): D.download(url, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_footprints_get_a_recorded_checksum(tmp_path):
    src = FIXTURES / 'footprints.bed.gz'
    with pytest.warns(UserWarning, match='no checksum is known'):
        p = D.vierstra_footprints(src.as_uri(), cache_dir=tmp_path)
    rec = p.with_name(p.name + '.sha256')
    assert rec.read_text().split()[0] == D.file_checksum(src, 'sha256')
    p.write_bytes(b'corrupted')                                     # a later use verifies against the recorded hash
    with pytest.warns(UserWarning, match='does not match its checksum'):
        D.vierstra_footprints(src.as_uri(), cache_dir=tmp_path)
    assert p.read_bytes() == src.read_bytes()
    mask = os.umask(0); os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


# ---------------------------------------------------------------- fuzzing the readers
EDIT_CHARS = '\t\n\r >#.-+0123456789ACGTNacgtxchr=:'

@st.composite
def edited(draw, text: str):
    "`text` with a few random insertions, deletions and replacements."
    s = list(text)
    for _ in range(draw(st.integers(1, 6))):
        if not s: break
        i = draw(st.integers(0, len(s) - 1)); op = draw(st.sampled_from('idr'))
        c = draw(st.sampled_from(EDIT_CHARS))
        if op == 'i': s.insert(i, c)
        elif op == 'd': del s[i]
        else: s[i] = c
    return ''.join(s)


def _parse_or_value_error(fn, path):
    for f in path.parent.glob('*.fai'): f.unlink()          # pyfaidx's index of an earlier example
    try: return fn(path)
    except ValueError as e:
        assert str(path) in str(e) or path.name in str(e), f'error does not name the file: {e}'
        return None


VALID_PEAKS = ('chr1\t100\t400\tp1\t1000\t.\t5.5\t3.2\t2.1\t150\n'
               'chr2\t1000\t1300\tp2\t900\t.\t4.0\t2.0\t1.5\t-1\n'
               'chr1\t5000\t5600\tp3\t800\t.\t3.0\t1.0\t1.0\t20\n')


def _check_bed_rows(df, text):
    "Every parsed row is exactly what its line says (no silently shifted or invented values)."
    lines = text.split('\n')
    for r in df.itertuples():
        f = lines[r.line - 1].rstrip('\r').split('\t')
        assert (r.chrom, r.start, r.end) == (f[0], int(f[1]), int(f[2])), (r, f)


@pytest.mark.parametrize('reader, suffix', [(read_bed, '.bed'), (read_fasta, '.fa'), (read_meme, '.meme')],
                         ids=['bed', 'fasta', 'meme'])
@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes(tmp_path, reader, suffix, data):
    p = tmp_path / f'f{suffix}'; p.write_bytes(data)
    got = _parse_or_value_error(reader, p)
    if got is not None and reader is read_bed: _check_bed_rows(got, data.decode('utf-8'))


@FUZZ
@given(text=edited(VALID_PEAKS))
def test_fuzz_narrowpeak_edits(tmp_path, text):
    p = tmp_path / 'f.narrowPeak'; p.write_text(text)
    df = _parse_or_value_error(read_peaks, p)
    if df is not None:
        _check_bed_rows(df, text)
        assert ((df.summit >= df.start) & (df.summit < df.end)).all()


def test_fasta_bare_carriage_return_is_an_error(tmp_path):
    "pyfaidx would split '>s\\req1' into the name 's'; a CR that does not end a line is refused instead (CRLF still reads)."
    p = tmp_path / 'cr.fa'; p.write_bytes(b'>seq0\nACGT\n>s\req1 first\nACGT\n')
    with pytest.raises(ValueError, match=r'cr\.fa, line 3: a carriage return inside a line'): read_fasta(p)
    p.write_bytes(b'>seq0\r\nACGT\r\n'); assert read_fasta(p) == {'seq0': 'ACGT'}


def _naive_fasta(text):
    out, name = {}, None
    for line in text.replace('\r', '').split('\n'):
        if line.startswith('>'): name = line[1:].split()[0]; out[name] = ''
        elif line: out[name] += line
    return out


@FUZZ
@given(text=edited('>seq1 first\nACGTACGTAC\nGGTTNNAC\n>seq2\nacgtAC\n'))
def test_fuzz_fasta_edits(tmp_path, text):
    p = tmp_path / 'f.fa'; p.write_text(text)
    got = _parse_or_value_error(read_fasta, p)
    if got is not None: assert got == _naive_fasta(text)


VALID_MEME = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF M1 first
letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 0
 0.1 0.2 0.3 0.4
 0.7 0.1 0.1 0.1
 0.25 0.25 0.25 0.25

MOTIF M2
letter-probability matrix: alength= 4 w= 2
 1.0 0.0 0.0 0.0
 0.0 0.0 0.5 0.5
"""


@FUZZ
@given(text=edited(VALID_MEME))
def test_fuzz_meme_edits(tmp_path, text):
    p = tmp_path / 'f.meme'; p.write_text(text)
    m = _parse_or_value_error(read_meme, p)
    if m is not None:
        assert len(m.motifs) <= text.count('MOTIF')
        for mo in m.motifs:
            assert mo.pfm.shape[0] == 4 and np.allclose(mo.pfm.sum(0), 1, atol=1e-2)
