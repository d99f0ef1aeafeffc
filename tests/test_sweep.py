"""`argminn sweep` (issue 36): the same bytes here and on a local Ray, a killed worker's job retried to the same result,
--resume after an interruption, and bad input as one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

TINY = """name: tiny
data:
  - dataset: [spi1, rest]
model:
  attention: [softmax, sparsemax]
fit:
  epochs: 2
  batches_per_epoch: {b}
  eval_batches: 1
seeds: [0]
run:
  interpret: false
"""


def cli(*args, **kw):
    return subprocess.run([sys.executable, '-m', 'argminn_nb.cli', *map(str, args)], capture_output=True, text=True, **kw)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout[-400:], r.stderr[-800:])
    assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, r.stderr
    for n in needles: assert n in r.stderr, r.stderr


@pytest.fixture(scope='module')
def here(tmp_path_factory):
    d = tmp_path_factory.mktemp('sweep')
    (d / 's.yaml').write_text(TINY.format(b=3))
    r = cli('sweep', d / 's.yaml', '--out', d / 'here', '-q')
    assert r.returncode == 0, r.stderr
    return d


def test_ray_gives_the_same_bytes(here):
    r = cli('sweep', here / 's.yaml', '--out', here / 'ray', '--workers', '2', '-q')
    assert r.returncode == 0, r.stderr
    a, b = pd.read_csv(here / 'here' / 'summary.csv'), pd.read_csv(here / 'ray' / 'summary.csv')
    assert a.status.tolist() == ['done'] * 4 and a.drop(columns='minutes').equals(b.drop(columns='minutes'))
    for name in a.name:
        assert (here / 'here' / name / 'model.pt').read_bytes() == (here / 'ray' / name / 'model.pt').read_bytes(), name


def test_killed_worker_is_retried_to_the_same_result(here, tmp_path):
    (tmp_path / 's.yaml').write_text(TINY.format(b=3).replace('[spi1, rest]', 'spi1').replace('[softmax, sparsemax]', 'softmax'))
    out = tmp_path / 'k'
    p = subprocess.Popen([sys.executable, '-m', 'argminn_nb.cli', 'sweep', str(tmp_path / 's.yaml'), '--out', str(out), '--workers', '2',
                          '-q'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock, last = out / '.spi1__s0.argminn.lock', out / 'spi1__s0.partial' / 'checkpoints' / 'seed_0' / 'last.pt'
    deadline = time.time() + 300
    while not last.exists() and p.poll() is None and time.time() < deadline: time.sleep(0.05)
    assert p.poll() is None, 'the sweep ended before its worker could be killed'
    os.kill(json.loads(lock.read_text())['pid'], signal.SIGKILL)                 # the worker that runs the job
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert (out / 'spi1__s0' / 'model.pt').read_bytes() == (here / 'here' / 'spi1__attention-softmax__s0' / 'model.pt').read_bytes()


def test_resume_after_an_interruption(here, tmp_path):
    (tmp_path / 's.yaml').write_text(TINY.format(b=3))
    out = tmp_path / 'r'
    p = subprocess.Popen([sys.executable, '-m', 'argminn_nb.cli', 'sweep', str(tmp_path / 's.yaml'), '--out', str(out), '-q'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (out / 'spi1__attention-softmax__s0' / 'model.pt').exists() and p.poll() is None and time.time() < deadline: time.sleep(0.05)
    p.send_signal(signal.SIGINT); p.communicate(timeout=120)
    one_line_error(cli('sweep', tmp_path / 's.yaml', '--out', out, '-q'), '--resume continues the sweep')
    r = cli('sweep', tmp_path / 's.yaml', '--out', out, '--resume')
    assert r.returncode == 0, r.stderr
    assert 'already done, running' in r.stdout and not r.stdout.startswith('4 jobs: 0 already done')
    s = pd.read_csv(out / 'summary.csv')
    assert s.status.tolist() == ['done'] * 4
    for name in s.name: assert (out / name / 'model.pt').read_bytes() == (here / 'here' / name / 'model.pt').read_bytes(), name


def test_bad_sweeps(tmp_path):
    (tmp_path / 'u.yaml').write_text(TINY.format(b=2).replace('fit:', 'fitt:'))
    one_line_error(cli('sweep', tmp_path / 'u.yaml', '--dry-run'), "unknown key 'fitt' in the sweep; allowed: name, data, model, fit")
    (tmp_path / 'd.yaml').write_text(TINY.format(b=2).replace('[spi1, rest]', '[spi1, spi1]'))
    one_line_error(cli('sweep', tmp_path / 'd.yaml', '--dry-run'), 'both named')
    (tmp_path / 'a.yaml').write_text(TINY.format(b=2))
    r = cli('sweep', tmp_path / 'a.yaml', '--out', tmp_path / 'a', '--address', '127.0.0.1:1', '-q')
    one_line_error(r, "could not reach a Ray cluster at '127.0.0.1:1'")
    (tmp_path / 'f.yaml').write_text(TINY.format(b=2).replace('- dataset: [spi1, rest]', '- dataset: spi1\n  - fasta: nope.fa\n    negatives: nope2.fa')
                                     .replace('[softmax, sparsemax]', 'softmax'))
    r = cli('sweep', tmp_path / 'f.yaml', '--out', tmp_path / 'f', '-q')
    assert r.returncode == 1 and '1 of 2 jobs done, 1 failed' in r.stdout, (r.stdout, r.stderr)
    s = pd.read_csv(tmp_path / 'f' / 'summary.csv')
    assert s.status.tolist() == ['done', 'failed'] and 'FASTA file not found' in s.error[1]


def test_experiment_07_sweep_files_name_the_committed_records():
    "The notebook reads its records back only if the sweep files give exactly the jobs the records were trained with."
    from argminn_nb.experiments import _jsonable
    from argminn_nb.sweep import record_jobs
    exp = Path(__file__).resolve().parents[1] / 'nbs' / 'experiments'
    records = {p.stem: json.loads(p.read_text())['job'] for p in (exp / 'results' / '07_argminn_ablation_runs').glob('*.json')}
    names = []
    for f in ('07_argminn_ablation.yaml', '07_argminn_ablation_stage2.yaml'):
        for name, job in record_jobs(exp / 'sweeps' / f).items():
            ckpt = Path('../../runs/07_argminn_ablation') / name.rsplit('__', 1)[0] / f"seed_{job['seeds'][0]}"
            assert _jsonable(dict(job, checkpoint_dir=str(ckpt), resume=True, device='cpu')) == records[name], name
            names.append(name)
    assert sorted(names) == sorted(records)


def test_sweep_variants_dry_run():
    exp = Path(__file__).resolve().parents[1] / 'nbs' / 'experiments' / 'sweeps'
    r = cli('sweep', str(exp / '07_argminn_ablation.yaml'), '--dry-run')
    assert r.returncode == 0, r.stderr
    assert 'tal_gata__paper__s0' in r.stdout and 'rest__bn_dropout0__s2' in r.stdout
