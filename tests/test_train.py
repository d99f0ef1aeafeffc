"""Training loop: eval mode for evaluation, early stopping vs schedules, checkpoints/resume, errors, seeds."""
import os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from argminn_nb.dna import one_hot_encode, random_sequences
from argminn_nb.losses import LogRampSchedule, PaperL1Schedule, PaperOverlapSchedule
from argminn_nb.models import ARGMINN, CNNBaseline
from argminn_nb.train import (EarlyStopping, Metrics, TrainResult, auroc, evaluate, fit, metrics_from_probs,
                              plot_history, predict, train_seeds)

torch.set_num_threads(1)
L = 60
KMER = 'GATTACAGGA'


def toy(n, rng):
    X = random_sequences(n, L, random_state=rng)
    y = (np.arange(n) % 2).astype(np.float32)
    km = one_hot_encode(KMER)[0]
    for i in np.flatnonzero(y):
        s = rng.integers(10, L - 20); X[i, :, s:s + 10] = km
    return X, y


class Loader:
    def __init__(self, batches=4, bs=32, seed=0):
        self.batches, self.bs, self.seed, self.epoch, self.epochs_seen = batches, bs, seed, 0, []
    def __len__(self): return self.batches
    def set_epoch(self, e): self.epoch = e; self.epochs_seen.append(e)
    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        for _ in range(self.batches):
            X, y = toy(self.bs, rng)
            yield torch.as_tensor(X), torch.as_tensor(y)


VAL = toy(64, np.random.default_rng(99))
SHORT = dict(overlap_schedule=PaperOverlapSchedule(1, 2), l1_schedule=PaperL1Schedule(1, 2), warmup_until_auroc=None)


def small_argminn(seed=0, batch_norm=True):
    return ARGMINN(n_filters=4, pe_dim=4, n_heads=2, n_layers=1, memory_dim=16, dropout=0.1, batch_norm=batch_norm,
                   random_state=seed)   # dropout: randomness to seed


class ModeSpy(nn.Module):
    """Records `self.training` at every forward pass made under no_grad (i.e. evaluation)."""
    def __init__(self):
        super().__init__(); self.conv = nn.Conv1d(4, 2, 5); self.lin = nn.Linear(2, 1); self.eval_modes = []
    def forward(self, X):
        if not torch.is_grad_enabled(): self.eval_modes.append(self.training)
        return torch.sigmoid(self.lin(torch.relu(self.conv(X)).amax(-1)))       # (N, 1): squeezed by train


def test_fit_basic_and_history():
    loader = Loader()
    r = fit(small_argminn(), loader, VAL, epochs=4, random_state=0, verbose=False, **SHORT)
    assert isinstance(r, TrainResult) and isinstance(r.history, pd.DataFrame)
    assert loader.epochs_seen == [0, 1, 2, 3]                                   # set_epoch called every epoch
    cols = {'epoch', 'lambda_o', 'lambda_l', 'train_total', 'train_prediction', 'train_overlap', 'train_l1',
            'val_loss', 'val_accuracy', 'val_auroc', 'settled', 'seconds'}
    assert cols <= set(r.history.columns)
    assert r.history.lambda_o.tolist()[:1] == [0.0] and r.history.train_overlap.iloc[-1] > 0
    assert r.best_epoch >= 2 and not r.model.training


def test_evaluation_always_in_eval_mode():
    m = ModeSpy()
    fit(m, Loader(), VAL, epochs=2, verbose=False)
    assert len(m.eval_modes) > 0 and not any(m.eval_modes)
    m.train(); predict(m, VAL[0]); assert m.training                           # mode restored after predict
    m.eval(); evaluate(m, *VAL); assert not m.training


def test_nan_error_names_epoch_and_term():
    model = CNNBaseline(seq_len=L)
    class NaNLoader(Loader):       # at epoch 2, batch 1 a weight turns NaN, so the model's output does
        def __iter__(self):
            for i, (X, y) in enumerate(super().__iter__()):
                if self.epoch == 2 and i == 1:
                    with torch.no_grad(): model.scanner.weight[0, 0, 0] = float('nan')
                yield X, y
    with pytest.raises(FloatingPointError, match=r'non-finite logits \(.*\) at epoch 2, batch 1'):
        fit(model, NaNLoader(), VAL, epochs=4, verbose=False)
    with pytest.raises(FloatingPointError, match='weighted overlap loss'):
        fit(small_argminn(), Loader(), VAL, epochs=1, overlap_schedule=1e39, reduction='sum', verbose=False)


def test_early_stopping_rule():
    es = EarlyStopping(patience=3, min_delta=0.001)
    assert [es.step(v) for v in [1.0, 0.9995, 0.9991, 0.9990]] == [False, False, False, True]
    es = EarlyStopping(patience=3, min_delta=0.001)
    assert [es.step(v) for v in [1.0, 0.9995, 0.9991, 0.998, 0.9979, 0.9978, 0.9977]] == [False] * 6 + [True]


def test_early_stopping_never_while_ramping():
    class Same(Loader):
        def __iter__(self):
            X, y = toy(self.bs, np.random.default_rng(0))
            for _ in range(self.batches): yield torch.as_tensor(X), torch.as_tensor(y)
    # a ramp over all 8 epochs: nothing is settled before the last epoch, so no early stop, best = last
    r = fit(small_argminn(), Same(), VAL, epochs=8, lr=1e-2, overlap_schedule=LogRampSchedule(1, 100, 0, 8),
            l1_schedule=0, verbose=False)
    assert len(r.history) == 8 and not r.stopped_early and r.best_epoch == 7
    assert r.history.settled.tolist() == [False] * 7 + [True]
    # no ramp, memorisable data: it stops early
    r = fit(CNNBaseline(seq_len=L, random_state=0), Same(batches=8), VAL, epochs=40, lr=1e-2, verbose=False)
    assert r.stopped_early and len(r.history) < 40 and r.history.settled.all()


def test_best_checkpoint_restored():
    r = fit(CNNBaseline(seq_len=L, random_state=0), Loader(), VAL, epochs=5, early_stopping=False, verbose=False)
    best = r.history.loc[r.history.val_loss.idxmin()]
    assert r.best_epoch == int(best.epoch)
    assert evaluate(r.model, *VAL).loss == pytest.approx(best.val_loss, abs=1e-6)


def test_checkpoints_atomic_and_resume(tmp_path):
    class Crash(Loader):
        def __iter__(self):
            if self.epoch == 3: raise KeyboardInterrupt
            yield from super().__iter__()
    kw = dict(epochs=5, random_state=4, verbose=False, **SHORT)
    with pytest.raises(KeyboardInterrupt):
        fit(small_argminn(1), Crash(), VAL, checkpoint_dir=tmp_path, **kw)
    assert sorted(os.listdir(tmp_path)) == ['best.pt', 'last.pt']
    ck = torch.load(tmp_path / 'last.pt', weights_only=True)   # checkpoints hold tensors and plain values only
    assert ck['epoch'] == 2 and len(ck['history']) == 3
    resumed = fit(small_argminn(7), Loader(), VAL, checkpoint_dir=tmp_path, resume=True, **kw)
    straight = fit(small_argminn(1), Loader(), VAL, **kw)
    a = resumed.history.drop(columns='seconds').astype(float).values
    b = straight.history.drop(columns='seconds').astype(float).values
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ['best.pt', 'last.pt']
    # resuming a finished run just returns it
    again = fit(small_argminn(8), Loader(), VAL, checkpoint_dir=tmp_path, resume=True, **kw)
    assert len(again.history) == 5 and again.best_epoch == resumed.best_epoch
    # a mismatching configuration is refused
    with pytest.raises(ValueError, match='cannot resume'):
        fit(small_argminn(), Loader(), VAL, checkpoint_dir=tmp_path, resume=True, lr=0.5, epochs=5, verbose=False)
    with pytest.raises(ValueError, match='needs a checkpoint_dir'):
        fit(small_argminn(), Loader(), VAL, resume=True, verbose=False)


def test_resume_with_no_checkpoint_starts_fresh(tmp_path):
    r = fit(small_argminn(), Loader(batches=1), VAL, epochs=1, checkpoint_dir=tmp_path / 'new', resume=True,
            verbose=False)
    assert len(r.history) == 1 and (tmp_path / 'new' / 'last.pt').exists()


def test_same_seed_same_run():
    a = fit(small_argminn(0), Loader(), VAL, epochs=3, random_state=1, verbose=False, **SHORT)
    b = fit(small_argminn(0), Loader(), VAL, epochs=3, random_state=1, verbose=False, **SHORT)
    c = fit(small_argminn(0), Loader(), VAL, epochs=3, random_state=2, verbose=False, **SHORT)
    np.testing.assert_array_equal(a.history.drop(columns='seconds').values, b.history.drop(columns='seconds').values)
    assert not np.array_equal(a.history.train_total.values, c.history.train_total.values)   # dropout differs


def test_global_rng_untouched():
    s = torch.random.get_rng_state()
    fit(small_argminn(0), Loader(batches=1), VAL, epochs=1, random_state=0, verbose=False)
    assert torch.equal(torch.random.get_rng_state(), s)


def test_regularize_switch():
    r = fit(CNNBaseline(seq_len=L), Loader(batches=2), VAL, epochs=1, regularize=True, overlap_schedule=1.0,
            l1_schedule=1e-3, verbose=False)
    assert r.history.train_overlap.iloc[0] > 0 and r.history.train_l1.iloc[0] > 0
    r = fit(small_argminn(), Loader(batches=2), VAL, epochs=1, regularize=False, verbose=False)
    assert r.history.train_overlap.iloc[0] == 0 and r.history.train_l1.iloc[0] == 0
    with pytest.raises(ValueError, match='needs a model with a `scanner`'):
        fit(ModeSpy(), Loader(batches=1), VAL, epochs=1, regularize=True, verbose=False)


def test_works_with_torch_dataloader_and_simdata_like_val():
    X, y = toy(64, np.random.default_rng(5))
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=16)
    class Holder: pass
    v = Holder(); v.X, v.y = VAL
    r = fit(CNNBaseline(seq_len=L), dl, v, epochs=2, verbose=False)
    assert len(r.history) == 2


def test_fit_without_validation():
    r = fit(CNNBaseline(seq_len=L), Loader(batches=2), None, epochs=2, verbose=False)
    assert 'val_loss' not in r.history and r.best_epoch in (0, 1)


def test_bad_model_output():
    class Bad(nn.Module):
        def __init__(self): super().__init__(); self.l = nn.Linear(4, 3)
        def forward(self, X): return torch.sigmoid(self.l(X.mean(-1)))
    with pytest.raises(ValueError, match=r'one probability per sequence, shape \(N,\)'):
        fit(Bad(), Loader(batches=1), VAL, epochs=1, verbose=False)


def test_metrics():
    assert auroc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0
    assert auroc([0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2]) == 0.0
    m = metrics_from_probs([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5])
    assert isinstance(m, Metrics) and m.accuracy == 0.5 and m.n == 4
    assert m.loss == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4, 0.5])))
    with pytest.raises(ValueError, match='differ in length'):
        metrics_from_probs([0, 1], [0.5])
    with pytest.raises(ValueError, match='looks like'):
        predict(CNNBaseline(seq_len=L), np.zeros((2, L, 4), np.float32))


def test_train_seeds_selects_by_validation():
    sr = train_seeds(lambda s: CNNBaseline(seq_len=L, random_state=s), Loader(), VAL, seeds=(0, 1, 2), epochs=2,
                     verbose=False)
    t = sr.table
    assert list(t.seed) == [0, 1, 2] and t.selected.sum() == 1
    best = t.sort_values(['val_accuracy', 'val_loss'], ascending=[False, True]).iloc[0]
    assert sr.best_seed == best.seed and sr.best is sr.results[sr.best_seed]
    assert sr.best.best_val_accuracy == best.val_accuracy
    with pytest.raises(ValueError, match='at least one seed'):
        train_seeds(lambda s: CNNBaseline(seq_len=L), Loader(), VAL, seeds=())


def test_train_seeds_loader_factory_and_checkpoints(tmp_path):
    made = []
    def make_loader(s): made.append(s); return Loader(batches=1, seed=s)
    sr = train_seeds(lambda s: CNNBaseline(seq_len=L, random_state=s), make_loader, VAL, seeds=(3, 4), epochs=1,
                     checkpoint_dir=tmp_path, verbose=False)
    assert made == [3, 4] and (tmp_path / 'seed_3' / 'best.pt').exists() and (tmp_path / 'seed_4' / 'last.pt').exists()


def test_plot_history():
    import matplotlib; matplotlib.use('Agg')
    r = fit(small_argminn(), Loader(batches=1), VAL, epochs=3, verbose=False, **SHORT)
    fig = plot_history(r.history, r.best_epoch, title='x')
    assert len(fig.axes) >= 3
    r = fit(CNNBaseline(seq_len=L), Loader(batches=1), VAL, epochs=2, verbose=False)
    assert len(plot_history(r.history).axes) == 2


class Stuck(Loader):
    """Labels independent of the sequences: nothing to learn, validation AUROC stays near 0.5."""
    def __iter__(self):
        for X, y in super().__iter__(): yield X, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(self.epoch))]


def test_regularisers_held_until_learning():
    kw = dict(overlap_schedule=PaperOverlapSchedule(1, 2), l1_schedule=PaperL1Schedule(1, 2), verbose=False, random_state=0)
    # nothing learnable: held for max_extra_warmup epochs, then started anyway; the run is longer by that much
    r = fit(small_argminn(), Stuck(), VAL, epochs=6, max_extra_warmup=2, early_stopping=False, **kw)
    h = r.history
    assert len(h) == 8 and h.lambda_o[:3].tolist() == [0, 0, 0] and h.lambda_o[3] > 0
    assert h.schedule_epoch.tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert h.settled.tolist() == [False] * 4 + [True] * 4
    # the paper's fixed schedule: on at epoch 1 whatever the model does
    r = fit(small_argminn(), Stuck(), VAL, epochs=6, warmup_until_auroc=None, early_stopping=False, **kw)
    assert len(r.history) == 6 and r.history.lambda_o[1] > 0
    assert r.history.schedule_epoch.tolist() == list(range(6))
    # a threshold already met (AUROC >= 0) and no loss-gain condition: never held
    r = fit(small_argminn(), Stuck(), VAL, epochs=4, warmup_until_auroc=0.0, warmup_min_gain=None, early_stopping=False, **kw)
    assert r.history.lambda_o[1] > 0 and len(r.history) == 4
    # no warm-up at all: nothing to hold
    r = fit(small_argminn(), Stuck(), VAL, epochs=2, overlap_schedule=1.0, l1_schedule=0.0, verbose=False)
    assert r.history.lambda_o.tolist() == [1.0, 1.0]
    # CNN: no regulariser, no hold
    r = fit(CNNBaseline(seq_len=L), Stuck(), VAL, epochs=3, early_stopping=False, verbose=False)
    assert len(r.history) == 3


def test_resume_keeps_the_hold(tmp_path):
    class CrashStuck(Stuck):
        def __iter__(self):
            if self.epoch == 3: raise KeyboardInterrupt
            yield from super().__iter__()
    kw = dict(epochs=6, max_extra_warmup=2, early_stopping=False, overlap_schedule=PaperOverlapSchedule(1, 2),
              l1_schedule=PaperL1Schedule(1, 2), random_state=0, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        fit(small_argminn(), CrashStuck(), VAL, checkpoint_dir=tmp_path, **kw)
    resumed = fit(small_argminn(), Stuck(), VAL, checkpoint_dir=tmp_path, resume=True, **kw)
    straight = fit(small_argminn(), Stuck(), VAL, **kw)
    assert resumed.history.schedule_epoch.tolist() == straight.history.schedule_epoch.tolist()
    np.testing.assert_allclose(resumed.history.train_total, straight.history.train_total, rtol=1e-5)


def test_no_early_stop_on_the_initial_plateau():
    """Early stopping waits until the model has started to learn (validation AUROC >= warmup_until_auroc)."""
    # without the scanner BatchNorm the plateau is flat (with it, the validation loss can still creep down by
    # about the 0.001 threshold per epoch, depending on the thread count, which makes the plain rule's stop flaky)
    torch.set_num_threads(1)                                    # again: numba calls in earlier test modules reset it
    r = fit(small_argminn(batch_norm=False), Stuck(), VAL, epochs=8, regularize=False, verbose=False)
    assert len(r.history) == 8 and not r.stopped_early          # never learns: never stopped early
    r = fit(small_argminn(batch_norm=False), Stuck(), VAL, epochs=8, regularize=False, warmup_until_auroc=None, verbose=False)
    assert r.stopped_early and len(r.history) < 8                # plain rule: stops on the plateau


def test_release_rule_of_the_hold():
    """The schedules start at the first epoch where the previous epoch had AUROC >= threshold and a val-loss
    gain < warmup_min_gain, or when the hold reaches max_extra_warmup."""
    kw = dict(overlap_schedule=PaperOverlapSchedule(1, 2), l1_schedule=PaperL1Schedule(1, 2), verbose=False,
              random_state=0, early_stopping=False)
    for thr, gain, mx in [(0.6, 0.01, 6), (0.6, None, 6), (0.99, 0.01, 2)]:
        r = fit(small_argminn(), Loader(batches=6), VAL, epochs=6, warmup_until_auroc=thr, warmup_min_gain=gain,
                max_extra_warmup=mx, **kw)
        h = r.history
        on = int(h.epoch[h.lambda_o > 0].iloc[0])
        delay = on - 1
        prev, before = h.iloc[on - 1], h.iloc[on - 2] if on >= 2 else None
        ok_gain = gain is None or before is None or before.val_loss - prev.val_loss < gain
        assert delay == mx or (prev.val_auroc >= thr and ok_gain), (thr, gain, mx, on)
        for e in range(1, on):            # every earlier epoch was rightly held
            p, b = h.iloc[e - 1], h.iloc[e - 2] if e >= 2 else None
            held_gain = gain is not None and b is not None and b.val_loss - p.val_loss >= gain
            assert p.val_auroc < thr or held_gain
        assert len(h) == 6 + delay


def test_progress_off_a_terminal_is_one_line_per_epoch(capsys):
    """Written to a file or CI log (pytest's capture is not a terminal), fit's progress is one plain line per epoch —
    no carriage returns, nothing from the per-batch bars — and verbose=False prints nothing."""
    fit(small_argminn(), Loader(), VAL, epochs=3, random_state=0, verbose=True, early_stopping=False,
        warmup_until_auroc=None)
    err = capsys.readouterr().err
    assert '\r' not in err
    lines = [l for l in err.splitlines() if l.startswith('ARGMINN')]
    assert len(lines) == 3 and lines[-1].startswith('ARGMINN: 3/3 epoch (loss='), err
    fit(small_argminn(), Loader(), VAL, epochs=2, random_state=0, verbose=False)
    out = capsys.readouterr()
    assert out.err == '' and out.out == ''
