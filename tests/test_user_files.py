"""Nothing of the user's deleted, nothing silently wrong (issue 34): each case of the issue's list, through the command
line where that is how a user meets it, and a property test of the rule behind `--force`."""
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from argminn_nb.dna import read_fasta
from argminn_nb.models import make_model, save_model
from argminn_nb.outputs import MANIFEST, StagedOutput, write_manifest
from argminn_nb.simulate import simulate

I = ['--threads', '1', '--n-trace', '5']
E = ['--threads', '1', '--epochs', '1', '--n-eval', '5', '--n-draws', '2', '-q']


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'argminn_nb.cli', *map(str, args)], capture_output=True, text=True, cwd=cwd)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout[-400:], r.stderr[-800:])
    assert 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, r.stderr
    for n in needles: assert n in r.stderr, r.stderr


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A small simulated FASTA with labels and instances, and an (untrained) saved ARGMINN."
    d = tmp_path_factory.mktemp('data')
    files = simulate('spi1', 40, random_state=1).write(d / 's')
    save_model(make_model('argminn', random_state=0), d / 'M.pt')
    return dict(dir=d, model=d / 'M.pt', **files)


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob('*'))


# ---------------------------------------------------------------- data loss
RUN = ['run', '--epochs', '1', '--batches-per-epoch', '2', '--threads', '1', '-q', '--no-interpret']


def test_run_force_keeps_a_folder_with_other_files(tmp_path, data):
    u = tmp_path / 'u1'; u.mkdir(); (u / 'notes.txt').write_text('x'); (u / 'model.pt').write_text('y')
    r = cli(*RUN, '--fasta', data['fasta'], '--labels', data['labels'], '--out', u, '--force')
    one_line_error(r, "holds 'notes.txt'", 'did not write'); assert 'training' not in r.stdout
    assert tree(u) == ['model.pt', 'notes.txt'] and (u / 'notes.txt').read_text() == 'x'


def test_run_force_keeps_a_file_added_to_an_earlier_run(tmp_path, data):
    u = tmp_path / 'u2'
    assert cli(*RUN, '--fasta', data['fasta'], '--labels', data['labels'], '--out', u).returncode == 0
    (u / 'mine.txt').write_text('x')
    one_line_error(cli(*RUN, '--fasta', data['fasta'], '--labels', data['labels'], '--out', u, '--force'), "holds 'mine.txt'")
    assert (u / 'mine.txt').read_text() == 'x' and (u / 'model.pt').exists()


def test_interpret_force_keeps_the_users_files(tmp_path, data):
    u = tmp_path / 'u3'; u.mkdir(); (u / 'notes.txt').write_text('x')
    one_line_error(cli('interpret', data['model'], data['fasta'], *I, '--out', u, '--force'), "holds 'notes.txt'")
    assert tree(u) == ['notes.txt']


def test_interpret_force_replaces_its_own_folder(tmp_path, data):
    out = tmp_path / 'i'
    for _ in range(2):
        r = cli('interpret', data['model'], data['fasta'], *I, '--labels', data['labels'], '--out', out, '--force')
        assert r.returncode == 0, r.stderr
    assert (out / MANIFEST).exists() and (out / 'predictions.tsv').exists()


def test_explain_force_never_deletes_a_file_or_a_users_folder(tmp_path, data):
    f = tmp_path / 'f.txt'; f.write_text('x')
    one_line_error(cli('explain', data['model'], data['fasta'], *E, '--out', f, '--force'), 'is a file')
    assert f.read_text() == 'x'
    u = tmp_path / 'u5'; u.mkdir(); (u / 'n.txt').write_text('x')
    one_line_error(cli('explain', data['model'], data['fasta'], *E, '--out', u, '--force'), "holds 'n.txt'")
    assert tree(u) == ['n.txt']


def test_explain_out_dotdot_is_refused_before_anything(tmp_path, data):
    (tmp_path / 'w' / 'v').mkdir(parents=True); (tmp_path / 'w' / 'keep.txt').write_text('k')
    for out in ('w/v/..', '.', '..'):
        one_line_error(cli('explain', data['model'], data['fasta'], *E, '--out', out, '--force', cwd=tmp_path),
                       'names the current folder')
    assert tree(tmp_path / 'w') == ['keep.txt', 'v']


def test_simulate_refuses_to_overwrite_without_force(tmp_path):
    (tmp_path / 'mine.fa').write_text('MY DATA\n')
    one_line_error(cli('simulate', 'spi1', '-n', '10', '-o', 'mine', cwd=tmp_path), 'mine.fa exists', '--force')
    assert (tmp_path / 'mine.fa').read_text() == 'MY DATA\n' and tree(tmp_path) == ['mine.fa']
    assert cli('simulate', 'spi1', '-n', '10', '-o', 'mine', '--force', cwd=tmp_path).returncode == 0
    assert len(read_fasta(tmp_path / 'mine.fa')) == 10


def test_a_second_run_on_an_out_in_use_is_refused(tmp_path, data):
    out = tmp_path / 'busy'
    first = subprocess.Popen([sys.executable, '-m', 'argminn_nb.cli', 'run', '--epochs', '2', '--batches-per-epoch', '30',
                              '--threads', '1', '-q', '--no-interpret', '--out', str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / '.busy.argminn.lock'
    deadline = time.time() + 120
    while not lock.exists() and first.poll() is None and time.time() < deadline: time.sleep(0.05)
    try:
        assert first.poll() is None, 'the first run ended before the second could start'
        one_line_error(cli(*RUN, '--out', out, '--force'), 'in use by process', str(first.pid))
    finally:
        first.communicate(timeout=600)
    assert first.returncode == 0 and not lock.exists()
    run = json.loads((out / 'checkpoints' / 'run.json').read_text())
    assert run['epochs'] == 2                                                  # one run's folder, not a mix of two


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, data):
    (tmp_path / '.o.argminn.lock').write_text(json.dumps(dict(pid=2 ** 22 + 11, host=os.uname().nodename, started='then')))
    r = cli(*RUN, '--fasta', data['fasta'], '--labels', data['labels'], '--out', tmp_path / 'o')
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / '.o.argminn.lock').exists()


# ---------------------------------------------------------------- silently wrong
def test_replaced_fasta_with_an_older_date_is_read_as_it_is(tmp_path, data):
    from argminn_nb.models import load_model
    from argminn_nb.train import predict
    recs = read_fasta(data['fasta'])
    fa = tmp_path / 'x.fa'
    fa.write_text(''.join(f'>{n}\n{s}\n' for n, s in recs.items()))
    assert cli('interpret', data['model'], fa, *I, '--labels', data['labels'], '--out', tmp_path / 'a').returncode == 0
    fa.write_text(''.join(f'>{n}\n{s}\n' for n, s in reversed(list(recs.items()))))
    os.utime(fa, (1577836800, 1577836800))                                      # 2020-01-01: older than any index
    r = cli('interpret', data['model'], fa, *I, '--labels', data['labels'], '--out', tmp_path / 'b')
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(tmp_path / 'b' / 'predictions.tsv', sep='\t').set_index('name').probability
    from argminn_nb.dna import one_hot_encode
    want = predict(load_model(data['model'], device='cpu'), one_hot_encode(list(recs.values())), device='cpu')
    np.testing.assert_allclose(got[list(recs)].to_numpy(), want, rtol=1e-5)
    assert not list(tmp_path.glob('*.fai'))                                     # nothing written beside the user's file


def test_conflicting_duplicate_labels_are_refused(tmp_path, data):
    lab = pd.read_csv(data['labels'], sep='\t')
    rows = lab[['name', 'label']].astype(str).values.tolist()
    bad = tmp_path / 'dup.tsv'
    bad.write_text('\n'.join('\t'.join(r) for r in rows + [[rows[2][0], str(1 - int(rows[2][1]))]]) + '\n')
    msg = f"'{rows[2][0]}' already has a label on line 3"
    one_line_error(cli(*RUN, '--fasta', data['fasta'], '--labels', bad, '--out', tmp_path / 'r'), msg)
    one_line_error(cli('interpret', data['model'], data['fasta'], *I, '--labels', bad, '--out', tmp_path / 'i'), msg)


def test_meme_matrix_longer_than_w_is_refused(tmp_path, data):
    m = tmp_path / 'm.meme'
    m.write_text('MEME version 4\n\nALPHABET= ACGT\n\nMOTIF X\nletter-probability matrix: alength= 4 w= 2\n'
                 '1 0 0 0\n0 1 0 0\n0 0 1 0\n')
    one_line_error(cli('interpret', data['model'], data['fasta'], *I, '--motifs', m, '--out', tmp_path / 'o'),
                   "line 9: motif 'X' has more matrix rows than its w=2")


# ---------------------------------------------------------------- one line, not a traceback
@pytest.mark.parametrize('content, needle', [
    (b'hello, I am text\n', 'not a PyTorch file (it starts with text'),
    (b'', 'the file is empty'),
    ('tensor', 'holds a Tensor'),
    ('list', 'holds a list'),
    (bytes(range(7, 207)), 'not a PyTorch file (it starts with binary data'),
    ('noconfig', "has no 'config' / 'state_dict'"),
])
def test_files_that_are_not_models(tmp_path, data, content, needle):
    f = tmp_path / 'X.pt'
    if content == 'tensor': torch.save(torch.zeros(3), f)
    elif content == 'list': torch.save([1, 2, 3], f)
    elif content == 'noconfig': torch.save({'model_class': 'ARGMINN'}, f)
    else: f.write_bytes(content)
    r = cli('interpret', f, data['fasta'], *I, '--out', tmp_path / 'o')
    one_line_error(r, str(f), needle); assert 'arbitrary code' not in r.stderr


def test_gzip_fasta_and_bom_are_read(tmp_path, data):
    text = Path(data['fasta']).read_bytes()
    (tmp_path / 'z.fa').write_bytes(gzip.compress(text)); (tmp_path / 'b.fa').write_bytes(b'\xef\xbb\xbf' + text)
    assert read_fasta(tmp_path / 'z.fa') == read_fasta(data['fasta']) == read_fasta(tmp_path / 'b.fa')


def test_out_symlink_refused_before_the_work(tmp_path, data):
    (tmp_path / 'real').mkdir(); os.symlink(tmp_path / 'real', tmp_path / 'ln')
    r = cli('interpret', data['model'], data['fasta'], *I, '--out', tmp_path / 'ln', '--force')
    one_line_error(r, 'symbolic link'); assert not list(tmp_path.glob('*.partial'))


def test_truncated_checkpoint_on_resume_is_named_with_the_fix(tmp_path, data):
    out = tmp_path / 'r'
    args = ['run', '--epochs', '2', '--batches-per-epoch', '2', '--threads', '1', '-q', '--no-interpret', '--out', out]
    assert cli(*args).returncode == 0
    os.replace(out, tmp_path / 'r.partial'); (tmp_path / 'r.partial' / '.argminn-partial').touch()
    last = tmp_path / 'r.partial' / 'checkpoints' / 'seed_0' / 'last.pt'
    last.write_bytes(last.read_bytes()[:200])
    one_line_error(cli(*args, '--resume'), f'cannot resume from {last}', 'Delete that file')


def test_bad_instances_bed_is_refused_before_training(tmp_path, data):
    bed = tmp_path / 'bad.bed'; bed.write_text('seq0\t10\tnot_a_number\tSPI1\n')
    r = cli(*RUN, '--fasta', data['fasta'], '--labels', data['labels'], '--instances', bed, '--out', tmp_path / 'o')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'bad.bed' in r.stderr, r.stderr
    assert 'epoch' not in r.stdout + r.stderr.replace('bad.bed', '') and not (tmp_path / 'o').exists()


# ---------------------------------------------------------------- the rule behind --force, as a property
NAMES = ['model.pt', 'report.md', 'notes.txt', 'sub/a.png', 'sub/b.csv', 'checkpoints/last.pt', 'thesis.tex']


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(present=st.sets(st.sampled_from(NAMES), min_size=1), listed=st.sets(st.sampled_from(NAMES)),
       has_manifest=st.booleans())
def test_force_refuses_or_removes_only_manifest_files(tmp_path_factory, present, listed, has_manifest):
    out = tmp_path_factory.mktemp('prop') / 'out'
    for n in present: (out / n).parent.mkdir(parents=True, exist_ok=True); (out / n).write_text(n)
    if has_manifest: (out / MANIFEST).write_text(json.dumps(dict(files=sorted(listed))))
    known = ('model.pt', 'report.md', 'checkpoints')
    owned = {n for n in present if (n in listed if has_manifest else n.split('/')[0] in known)}
    try:
        with StagedOutput(out, force=True, known=known) as w: (w / 'new.txt').write_text('new')
    except FileExistsError:
        assert owned != present                                                # refused only when something is not ours
        assert all((out / n).read_text() == n for n in present)               # and then nothing was touched
        return
    assert owned == present                                                    # went ahead only when everything was ours
    assert tree(out) == [MANIFEST, 'new.txt']
