"""The main job (`run_pipeline`) at a tiny size: output files, metrics, reload; and its building blocks."""
import json

import numpy as np
import pytest
import torch

from argminn_nb.pipeline import CPU_SIZE, GPU_SIZE, run_jobs, run_pipeline, schedules_for, train_on_simulation
from argminn_nb.models import ResidualClassifier, load_model, make_model, save_model
from argminn_nb.train import evaluate

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp('p') / 'out'
    return run_pipeline('spi1', 'argminn', epochs=2, batches_per_epoch=2, seeds=(0,), out=out, eval_batches=1,
                        verbose=False, device='cpu')


def test_outputs(tiny):
    names = sorted(p.name for p in tiny.out.iterdir())
    assert names == ['.argminn-manifest.json', 'checkpoints', 'filter_logos.png', 'history.csv', 'interpretation', 'metrics.json', 'model.pt', 'report.html',
                     'report.md', 'training_curves.png']
    interp = sorted(p.name for p in (tiny.out / 'interpretation').iterdir())
    assert {'filter_logos.png', 'filter_matches.png', 'filter_matches.csv', 'interpretation.md', 'jaspar_matches.png',
            'jaspar_matches.csv', 'instance_positions.png', 'interpretation.html', 'filter_effects.png',
            'filter_effects.csv', 'tracing_by_class.csv'} <= set(interp)
    page = (tiny.out / 'report.html').read_text()
    assert page.count('src="data:image/png;base64,') == (tiny.out / 'report.md').read_text().count('![')
    for png in ('filter_logos.png', 'training_curves.png'):
        assert (tiny.out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    m = json.loads((tiny.out / 'metrics.json').read_text())
    assert m['dataset'] == 'spi1' and m['model'] == 'argminn' and m['settings']['epochs'] == 2
    assert set(m['test']) == {'accuracy', 'loss', 'auroc', 'n'} and m['test']['n'] == 128
    assert m['paper_test_accuracy_percent'] == pytest.approx(89.8)
    rep = (tiny.out / 'report.md').read_text()
    assert '.partial' not in rep and '.partial' not in (tiny.out / 'metrics.json').read_text()   # no trace of the work folder
    assert 'filter_logos.png' in rep and 'training_curves.png' in rep and 'Test accuracy' in rep
    assert '## Reading the model' in rep and 'interpretation/filter_matches.png' in rep
    assert set(m['interpretation']['motifs_recovered']) == {'SPI1'}


def test_reload_gives_same_accuracy(tiny):
    model = load_model(tiny.out / 'model.pt', device='cpu')
    assert not model.training
    assert evaluate(model, tiny.run.splits.test).accuracy == pytest.approx(tiny.run.test.accuracy)


def test_cnn_pipeline(tmp_path):
    r = run_pipeline('rest', 'cnn', epochs=1, batches_per_epoch=2, seeds=(0,), out=tmp_path / 'c', eval_batches=1,
                     verbose=False, device='cpu')
    m = json.loads((r.out / 'metrics.json').read_text())
    assert m['model'] == 'cnn' and m['settings']['reduction'] is None and m['paper_test_accuracy_percent'] == 77.1


def test_defaults_are_paper_size():
    assert CPU_SIZE['epochs'] == GPU_SIZE['epochs'] == 40 and CPU_SIZE['batches_per_epoch'] == 100
    assert tuple(GPU_SIZE['seeds']) == (0, 1, 2)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='model must be one of'):
        run_pipeline(model='transformer', out=tmp_path / 'x', verbose=False)
    with pytest.raises((ValueError, KeyError)):
        run_pipeline(dataset='no_such_dataset', epochs=1, batches_per_epoch=1, out=tmp_path / 'y', verbose=False)
    with pytest.raises(ValueError, match='schedules must be'):
        schedules_for(40, schedules='slow')


def test_same_seed_same_result():
    kw = dict(epochs=2, batches_per_epoch=2, eval_batches=1, seeds=(0,), verbose=False, device='cpu')
    a, b = train_on_simulation('spi1', 'argminn', **kw), train_on_simulation('spi1', 'argminn', **kw)
    assert a.test == b.test
    np.testing.assert_array_equal(a.seeds.best.history.drop(columns='seconds').values,
                                  b.seeds.best.history.drop(columns='seconds').values)


def test_run_jobs_parallel_matches_serial():
    jobs = [dict(dataset='spi1', model='cnn', epochs=1, batches_per_epoch=2, eval_batches=1, seeds=(0,), device='cpu')]
    serial = run_jobs(jobs, workers=1, verbose=False)
    par = run_jobs(jobs * 2, workers=2, verbose=False)
    # same data, same seeds; only the thread count differs (summation order), so compare to float tolerance
    for other in par:
        assert other.test.n == serial[0].test.n and other.test.accuracy == serial[0].test.accuracy
        np.testing.assert_allclose([other.test.loss, other.test.auroc], [serial[0].test.loss, serial[0].test.auroc], rtol=1e-5)


def test_save_load_roundtrip(tmp_path):
    m = make_model('cnn', random_state=0, seq_len=200).eval()
    save_model(m, tmp_path / 'c.pt')
    m2 = load_model(tmp_path / 'c.pt', device='cpu')
    X = torch.rand(3, 4, 200)
    with torch.no_grad(): torch.testing.assert_close(m(X), m2(X))
    r = ResidualClassifier(random_state=0, norm='instance').eval()        # the MEMs' syntax predictor loads too
    save_model(r, tmp_path / 'r.pt'); r2 = load_model(tmp_path / 'r.pt', device='cpu')
    assert type(r2) is ResidualClassifier and r2.config == r.config and not r2.training
    with torch.no_grad(): torch.testing.assert_close(r(X), r2(X))
    torch.save({'model_class': 'Other', 'config': {}, 'state_dict': {}}, tmp_path / 'o.pt')
    with pytest.raises(ValueError, match='rebuilds ARGMINN, CNNBaseline or ResidualClassifier'):
        load_model(tmp_path / 'o.pt')


def test_model_files_are_weights_only_and_reproducible(tmp_path):
    "A model file that would run code when unpickled is refused; the same model gives the same bytes under any name."
    import os
    m = make_model('argminn', random_state=0, n_layers=1)
    a, b = save_model(m, tmp_path / 'a.pt'), save_model(m, tmp_path / 'other_name.pt')
    assert a.read_bytes() == b.read_bytes()

    class Evil:
        def __reduce__(self): return (os.getpid, ())
    torch.save(dict(model_class='ARGMINN', config=m.config, state_dict=m.state_dict(), payload=Evil()), tmp_path / 'evil.pt')
    with pytest.raises(ValueError, match='refusing to load'):
        load_model(tmp_path / 'evil.pt')
