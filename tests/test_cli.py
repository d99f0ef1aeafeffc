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


def test_run_on_own_fasta(tmp_path):
    "`argminn simulate`'s FASTA and labels fed back through `argminn run --fasta --labels` (random split), tiny size."
    r = run('simulate', 'spi1', '-n', '160', '-o', str(tmp_path / 'sim'))
    assert r.returncode == 0, r.stderr
    r = run('run', '--fasta', str(tmp_path / 'sim.fa'), '--labels', str(tmp_path / 'sim.labels.tsv'), '--model', 'cnn',
            '--epochs', '1', '--out', str(tmp_path / 'own'), '--no-interpret', '-q')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('cnn on sim.fa: test accuracy') and '(AUROC' in r.stdout
    rep = (tmp_path / 'own' / 'report.md').read_text()
    assert rep.startswith('# cnn on sequences `sim.fa`')
    assert 'a random split within each class (80% / 10% / 10%, seed 0)' in rep
    assert 'test 8 positive + 8 negative' in rep


def test_run_on_genomic_fasta_holds_out_chromosomes(tmp_path):
    "Records named chrom:start-end: held out by chromosome, with --val-chroms / --test-chroms honoured."
    import numpy as np
    from argminn_nb.dna import write_fasta
    from argminn_nb.simulate import simulate
    d = simulate('spi1', 120, random_state=0)
    names = [f'chr{2 + i % 4}:{1000 * i}-{1000 * i + 500}' for i in range(120)]
    write_fasta(tmp_path / 'pos.fa', d.X[d.y == 1], [n for n, y in zip(names, d.y) if y == 1])
    write_fasta(tmp_path / 'neg.fa', d.X[d.y == 0], [n for n, y in zip(names, d.y) if y == 0])
    common = ['--fasta', str(tmp_path / 'pos.fa'), '--negatives', str(tmp_path / 'neg.fa'), '--model', 'cnn', '--epochs', '1',
              '--no-interpret', '-q']
    r = run('run', *common, '--out', str(tmp_path / 'o'))               # the default chromosomes, chr8, chr10 and chr1, are absent
    assert r.returncode == 2 and 'the validation split has 0 positive and 0 negative' in r.stderr, r.stderr
    assert 'the records lie on chr2, chr3, chr4, chr5: choose other --val-chroms / --test-chroms' in r.stderr, r.stderr
    r = run('run', *common, '--val-chroms', 'chr3', '--test-chroms', 'chr4', '--out', str(tmp_path / 'o'))
    assert r.returncode == 0, r.stderr
    rep = (tmp_path / 'o' / 'report.md').read_text()
    assert 'held out by chromosome: validation chr3, test chr4, training the other 2 chromosome(s)' in rep


def test_run_fasta_bad_arguments_one_line_no_traceback(tmp_path):
    (tmp_path / 'a.fa').write_text('>s1\nACGTACGTACGTACGT\n>s2\nACGTACGTACGTACGA\n>s3\nACGTACGTACGT\n')
    (tmp_path / 'few.tsv').write_text('s1\t1\ns2\t0\n')
    for args, says in ((['run', '--fasta', str(tmp_path / 'a.fa')], '--fasta needs its labels one way: --negatives'),
                       (['run', '--labels', 'x.tsv'], '--labels go(es) with --fasta'),
                       (['run', '--dataset', 'spi1', '--fasta', 'a.fa', '--labels', 'x.tsv'], 'not --dataset and --fasta'),
                       (['run', '--fasta', str(tmp_path / 'a.fa'), '--labels', str(tmp_path / 'few.tsv'),
                         '--out', str(tmp_path / 'o')], "'s3' has 12 bp, 's1' has 16"),
                       (['run', '--fasta', str(tmp_path / 'a.fa'), '--labels', str(tmp_path / 'few.tsv'), '--crop', '20',
                         '--out', str(tmp_path / 'o')], "fewer than crop=20"),
                       (['run', '--fasta', str(tmp_path / 'a.fa'), '--labels', str(tmp_path / 'few.tsv'), '--crop', '12',
                         '--out', str(tmp_path / 'o')], "no label for record 's3'"),
                       (['run', '--fasta', str(tmp_path / 'a.fa'), '--labels', str(tmp_path / 'few.tsv'), '--crop', '8',
                         '--out', str(tmp_path / 'o')], "sequences of 8 bp are shorter than the 10 bp needed"),
                       (['run', '--split', 'random'], '--split goes with --fasta')):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout[-500:], r.stderr[-500:])
        assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, (args, r.stderr)
        assert says in r.stderr, (args, r.stderr)
