"""Fingerprint of the package's behaviour at a tiny size, for refactors: run it on the code before and after and diff.

    python benchmarks/fingerprint.py > before.json   (old code)
    python benchmarks/fingerprint.py > after.json    (new code)
    diff before.json after.json                      (no output: byte-identical)

Covers training with checkpoints and resume (`run_pipeline`: model.pt, history, interpretation tables), the
explanation report (MEM masks and tables), a gradient attack, adversarial k-mer sets, the likelihood ratio, a GC
sweep, DeepLIFTShap and the mini genome. Each entry is a SHA-256 of bytes the code wrote or of an array it returned.
Single-threaded, CPU, so the numbers do not depend on the machine's thread count."""
import hashlib, json, os, sys, tempfile, warnings
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np
import torch

torch.set_num_threads(1)
warnings.filterwarnings('ignore')


def h(b) -> str:
    if isinstance(b, (np.ndarray, torch.Tensor)): b = np.ascontiguousarray(np.asarray(b)).tobytes()
    elif isinstance(b, Path): b = b.read_bytes()
    elif not isinstance(b, bytes): b = json.dumps(b, sort_keys=True, default=str).encode()
    return hashlib.sha256(b).hexdigest()[:16]


def _timeless(p: Path):
    "A file's bytes, or what it holds without wall-clock times (history.csv's seconds column; last.pt's model and optimiser)."
    if p.name == 'last.pt':
        ck = torch.load(p, weights_only=False, map_location='cpu')
        return {k: h(np.concatenate([t.detach().numpy().ravel() for t in v.values() if torch.is_tensor(t)]) if k == 'model' else str(v))
                for k, v in ck.items() if k in ('model', 'epoch')}
    if p.suffix == '.csv' and 'seconds' in p.read_text().splitlines()[0]:
        import pandas as pd
        return pd.read_csv(p).drop(columns='seconds').to_csv()
    return p


def files(folder: Path, patterns=('*.pt', '*.csv', '*.tsv', '*.bed', '*.npy', '*.npz', '*.fa', '*.fai', '*.narrowPeak', '*.gz')) -> dict:
    out = {}
    for pat in patterns:
        for p in sorted(folder.rglob(pat)): out[str(p.relative_to(folder))] = h(_timeless(p))
    return out


def main():
    from argminn_nb.pipeline import run_pipeline
    from argminn_nb.report import explanation_report
    try: from argminn_nb.attacks import gradient_attack, motif_free_sequences, padded_positives
    except ImportError: from argminn_nb.robustness import gradient_attack, motif_free_sequences, padded_positives   # before the split
    from argminn_nb.robustness import log10_likelihood_ratio, gc_sweep
    from argminn_nb.posthoc import deep_lift_shap
    from argminn_nb.toys import make_mini_genome
    tmp = Path(tempfile.mkdtemp())
    fp = {}
    res = run_pipeline('spi1', epochs=3, batches_per_epoch=3, seeds=(0, 1), eval_batches=1, out=tmp / 'run', verbose=False, device='cpu')
    fp['run'] = files(tmp / 'run')
    m = json.loads((tmp / 'run' / 'metrics.json').read_text())
    fp['run_metrics'] = h({k: m[k] for k in ('test', 'validation', 'selected_seed', 'best_epoch', 'epochs_run')})
    fp['run_seeds'] = h([{k: v for k, v in r.items() if k != 'seconds'} for r in m['seeds']])
    fp['run_interpretation_metrics'] = h({k: v for k, v in m['interpretation'].items() if 'second' not in k})
    fp['run_report'] = h((tmp / 'run' / 'interpretation' / 'interpretation.md').read_text()) if (tmp / 'run' / 'interpretation' / 'interpretation.md').exists() else None
    # resume: a longer run picks up the 3-epoch checkpoints
    res2 = run_pipeline('spi1', epochs=3, batches_per_epoch=3, seeds=(0, 1), eval_batches=1, out=tmp / 'run', verbose=False,
                        device='cpu', resume=True)
    fp['run_resumed_model'] = h(tmp / 'run' / 'model.pt')
    model, test = res.run.model, res.run.splits.test
    X = test.X[:24]
    er = explanation_report(model, X, tmp / 'expl', epochs=2, n_eval=8, n_draws=4, random_state=0)
    fp['explanations'] = files(tmp / 'expl')
    fp['explanation_numbers'] = h({k: v for k, v in er.metrics.items() if 'seconds' not in k})
    fp['explanation_tables'] = h(er.sequences.to_csv() + er.regions.to_csv())
    fp['explanation_markdown'] = h(er.markdown)
    from argminn_nb.simulate import make_splits
    tg = make_splits('tal_gata', batches_per_epoch=1, eval_batches=1, random_state=0).test
    keep = tg.instances[tg.instances.seq < 24]
    er2 = explanation_report(model, tg.X[:24], tmp / 'expl2', instances=keep, epochs=2, n_eval=8, n_draws=4, random_state=0)
    fp['explanations_with_logic'] = files(tmp / 'expl2')
    fp['explanation_with_logic_numbers'] = h({k: v for k, v in er2.metrics.items() if 'seconds' not in k})
    fp['explanation_with_logic_markdown'] = h(er2.markdown)
    ga = gradient_attack(model, X[:4], max_edits=3, n_candidates=4)
    fp['gradient_attack'] = {k: h(np.round(v, 5) if v.dtype.kind == 'f' else v) for k, v in (('logits', ga.logits), ('edits', ga.edits), ('n_edits', ga.n_edits))}
    mf = motif_free_sequences(model, 'spi1', n=16, random_state=0)
    fp['motif_free'] = h(mf.X)
    pp = padded_positives(model, 'spi1', n=16, random_state=0)
    fp['padded'] = h(pp.X)
    fp['likelihood_ratio'] = h(np.round(log10_likelihood_ratio(X, 'spi1'), 10))
    fp['likelihood_ratio_free'] = h(np.round(log10_likelihood_ratio(X, 'spi1', position_free=True), 10))
    gs = gc_sweep(model, 'spi1', gcs=(0.3, 0.6), n_batches=1, batch_size=16)
    fp['gc_sweep'] = h(gs.table.to_csv())
    fp['deeplift'] = h(np.round(deep_lift_shap(model, X[:4], n_shuffles=4, random_state=0).hypothetical, 6))
    from argminn_nb.mems import MEM, Scrambler, explain, fit_explainer
    params = lambda m: h(np.concatenate([t.detach().numpy().ravel() for t in m.state_dict().values()]))
    ctors = {'s_mem': lambda: MEM('sufficient', random_state=3),
             'n_mem_options': lambda: MEM('necessary', band='auto', channels=8, n_groups=2, dilations=(1, 2), pred_loss='bce',
                                          init_keep=0.8, random_state=4),
             'scrambler': lambda: Scrambler('occlusion', random_state=5),
             'scrambler_options': lambda: Scrambler('inclusion', encoding='2x-1', conservation='ic', lam=1.0, t_bits=0.25,
                                                    n_samples=4, channels=8, n_groups=1, dilations=(2,), random_state=6)}
    fp['explainer_init'] = {k: params(c()) for k, c in ctors.items()}
    for k in ('n_mem_options', 'scrambler_options'):
        ex = ctors[k]()
        fit_explainer(ex, model, X[:16], epochs=1, batch_size=8, random_state=0)
        fp[f'explainer_fit_{k}'] = h(np.round(explain(ex, X[:16]), 5))
    mg = make_mini_genome(tmp / 'genome', random_state=0)
    fp['mini_genome'] = files(tmp / 'genome')
    from argminn_nb.peaks import PeakLoader
    for name, kw in (('default', {}), ('options', dict(window=300, rc_augment=False, overlap_rule='shorter', max_n=0.2))):
        ld = PeakLoader(mg.peaks['CTCF'], mg.fasta, 'train', batch_size=8, batches_per_epoch=3, random_state=0, **kw)
        fp[f'peak_batches_{name}'] = h(np.concatenate([np.asarray(x).ravel() for x, _ in ld] + [np.asarray(y).ravel() for _, y in ld]))
    json.dump(fp, sys.stdout, indent=1, sort_keys=True); print()


if __name__ == '__main__':
    main()
