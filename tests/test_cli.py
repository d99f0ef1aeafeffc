"The console script, run as a user would."
import subprocess
import sys
import pandas as pd


def run(*args):
    return subprocess.run([sys.executable, '-m', 'argminn_nb.cli', *args], capture_output=True, text=True)


def test_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0 and 'simulate' in r.stdout and 'datasets' in r.stdout


def test_simulate_writes_files(tmp_path):
    r = run('simulate', 'rest', '-n', '100', '-o', str(tmp_path / 'r'), '--seed', '3', '--gc', '0.4')
    assert r.returncode == 0, r.stderr
    labels = pd.read_csv(tmp_path / 'r.labels.tsv', sep='\t')
    assert len(labels) == 100 and labels.label.sum() == 50
    bed = pd.read_csv(tmp_path / 'r.instances.bed', sep='\t', header=None)
    assert set(bed[3]) <= {'REST_left', 'REST_right'}
    fa = (tmp_path / 'r.fa').read_text().split('>')[1:]
    assert len(fa) == 100


def test_config_file(tmp_path):
    cfg = tmp_path / 'mine.json'
    cfg.write_text('{"name": "mine", "motifs": ["FOXA1", "HNF4A"], "rule": "FOXA1 and not HNF4A"}')
    r = run('simulate', str(cfg), '-n', '20', '-o', str(tmp_path / 'm'))
    assert r.returncode == 0, r.stderr


def test_bad_arguments_one_line_no_traceback(tmp_path):
    for args in (['simulate', 'nope'], ['simulate', 'spi1', '-n', '-3'], ['simulate', 'spi1', '--gc', 'high'],
                 ['simulate', str(tmp_path / 'missing.json')], ['frobnicate']):
        r = run(*args)
        assert r.returncode == 2, args
        assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, (args, r.stderr)


def test_run_on_peaks_writes_report(tmp_path):
    "`argminn run --peaks --genome` on the committed mini-genome fixture, at a tiny size."
    from pathlib import Path
    fx = Path(__file__).parent / 'fixtures' / 'mini_genome'
    r = run('run', '--peaks', str(fx / 'ctcf_peaks.bed.gz'), '--genome', str(fx / 'mini_genome.fa'), '--model', 'cnn',
            '--epochs', '1', '--batches-per-epoch', '2', '--out', str(tmp_path / 'ctcf'), '--no-interpret', '-q')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('cnn on ctcf_peaks.bed.gz: test accuracy')
    rep = (tmp_path / 'ctcf' / 'report.md').read_text()
    assert rep.startswith('# cnn on ChIP-seq peaks `ctcf_peaks.bed.gz`')


def test_run_bad_arguments_one_line_no_traceback(tmp_path):
    for args in (['run', '--peaks', 'x.bed'], ['run', '--peaks', str(tmp_path / 'x.bed'), '--genome', 'g.fa'],
                 ['run', '--dataset', 'spi1', '--peaks', 'x.bed', '--genome', 'g.fa'], ['run', '--model', 'rnn'],
                 ['run', '--epochs', '0'], ['run', '--seeds', '1,x'], ['run', '--dataset', 'nope', '--out', str(tmp_path / 'o')]):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout[-500:], r.stderr[-500:])
        assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, (args, r.stderr)
