"""Time from a trained model to motifs + ranked motif instances: ARGMINN's read-out vs the post-hoc pipeline;
and importance-score throughput of argminn_nb.posthoc.deep_lift_shap vs tangermeme.deep_lift_shap.

1. Time to motifs. Same dataset, same positives for both:
   - ARGMINN read-out (`argminn_readout`): exact filter PFMs + instances traced through attention on the scan set.
   - Post-hoc pipeline (`posthoc_pipeline`): DeepLIFTShap (10 dinucleotide shuffles) on the discovery positives,
     TF-MoDISco-lite (max 10,000 seqlets), motifs trimmed to 10 bp, FIMO on the scan set, collapsed, ranked.
   The post-hoc pipeline is timed on the same ARGMINN model and on the CNN (the paper's setting).
   Discovery set: 1280 simulated positives; scan set: 128 test positives + their reverse complements (the paper's).
   Target: ARGMINN's read-out >= 100x faster than the pipeline.
2. DeepLIFTShap throughput (sequences/s) on the same model and the same references (10 shuffles per sequence),
   same number of sequence-reference pairs per batch, in two settings so that both tools apply the same rules
   (our models call F.relu, which neither captum nor tangermeme hooks by itself; ours routes it through modules):
   'routed' (both apply the rescale rule to the functional ReLUs: exact on the CNN) and 'as is' (neither does).
   Target: ours not slower than tangermeme's.

Trained models come from the checkpoints the experiment notebooks write (`nbs/experiments/02_reading_argminn`,
also used by `03_posthoc_vs_argminn`), under $ARGMINN_CACHE (default ~/.cache/argminn_nb); with --train-epochs N
missing ones are trained here (the paper's schedule is 40 epochs of 100 batches).
usage: python benchmarks/time_to_motifs.py [--dataset spi1] [--n-discovery 1280] [--n-scan 128] [--n-throughput 256]
                                           [--threads 1] [--skip-pipeline] [--skip-throughput] [--train-epochs N]
"""
import argparse
import contextlib
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from argminn_nb.models import ARGMINN, CNNBaseline
from argminn_nb.simulate import make_splits, simulate
from argminn_nb.train import train_seeds
from argminn_nb.dna import dinucleotide_shuffle
from argminn_nb.posthoc import LogitModel, argminn_readout, posthoc_pipeline, deep_lift_shap

CACHE = Path(os.environ.get('ARGMINN_CACHE', Path.home() / '.cache' / 'argminn_nb')) / 'experiments' / '02_reading_argminn' / 'cpu'


def trained(dataset: str, kind: str, splits, epochs: int | None):
    "The notebooks' checkpointed model (seed 0, best.pt), or one trained here with --train-epochs."
    ck = CACHE / dataset / kind
    make = (lambda s: ARGMINN(random_state=s)) if kind == 'argminn' else (lambda s: CNNBaseline(random_state=s))
    if (ck / 'seed_0' / 'best.pt').exists():
        m = make(0); m.load_state_dict(torch.load(ck / 'seed_0' / 'best.pt', map_location='cpu', weights_only=False)['model_state'])
        return m.eval()
    if epochs is None:
        raise SystemExit(f"no trained {kind} for {dataset} under {ck}; run nbs/experiments/02_reading_argminn "
                         f"(or 03_posthoc_vs_argminn) first, or pass --train-epochs N to train one here")
    sr = train_seeds(make, splits.train, splits.val, seeds=(0,), epochs=epochs, checkpoint_dir=ck, verbose=False)
    return sr.best.model.eval()


class Out2D(nn.Module):
    "tangermeme wants (N, n_outputs): the logit as one column (`m` is a model with .logits, or a LogitModel)."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, X): return (self.m(X) if isinstance(self.m, LogitModel) else self.m.logits(X))[:, None]


def time_to_motifs(models, splits, dataset, n_disc, n_scan):
    te = splits.test; half = len(te) // 2
    orig = te.subset(np.arange(half))
    scan = orig.subset(np.flatnonzero(orig.y == 1)[:n_scan]).with_reverse_complements()
    disc = simulate(dataset, 2 * n_disc, random_state=1234)
    disc = disc.subset(np.flatnonzero(disc.y == 1)[:n_disc])
    print(f"\n== time from trained model to motifs + ranked instances ({dataset}: {len(disc)} discovery positives, "
          f"{len(scan)} scan sequences) ==")
    argminn_readout(models['argminn'], scan.X[:2], device='cpu')                   # warm-up (imports, first calls)
    ro = argminn_readout(models['argminn'], scan.X, device='cpu')
    print(f"ARGMINN read-out: {ro.seconds['total']:.3f} s  (filter PFMs {ro.seconds['motifs']:.3f} s, "
          f"tracing {ro.seconds['instances']:.3f} s; {len(ro.pfms)} filters, {len(ro.instances)} instances)")
    for kind in ('argminn', 'cnn'):
        ph = posthoc_pipeline(models[kind], disc.X, scan.X, random_state=0, device='cpu', batch_size=32)
        s = ph.seconds
        print(f"post-hoc pipeline on the {kind.upper() if kind == 'cnn' else 'ARGMINN'}: {s['total']:.1f} s  "
              f"(DeepLIFTShap {s['importance']:.1f} s, MoDISco {s['modisco']:.1f} s, FIMO {s['fimo']:.2f} s; "
              f"{len(ph.modisco)} motifs, {len(ph.instances)} instances)")
        print(f"  ratio post-hoc / ARGMINN read-out: {s['total'] / ro.seconds['total']:.0f}x")


def throughput(models, n, batch_seqs, n_refs=10, repeats=3):
    """Same model, same references, same pairs per batch. Two settings, so that both tools apply the same rules:
    'routed': functional ReLUs run through hookable modules (ours by default; tangermeme given our LogitModel),
    so both apply DeepLIFT's rescale rule there; 'as is': neither does (ours with route_functional=False,
    tangermeme on the bare model). Best of `repeats` timings each."""
    import tangermeme.deep_lift_shap as tdls
    X = simulate('spi1', n, random_state=7).X
    R = dinucleotide_shuffle(X, n_shuffles=n_refs, random_state=8)
    Xt, Rt = torch.tensor(X), torch.tensor(R)
    print(f"\n== DeepLIFTShap throughput: {n} sequences x {n_refs} references, {batch_seqs * n_refs} pairs per batch, "
          f"best of {repeats} ==")

    def best_of(f):
        ts = []
        for _ in range(repeats):
            t = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t)
        return min(ts), out

    for kind, m in models.items():
        with torch.no_grad():
            fx = m.logits(Xt).numpy(); fr = m.logits(Rt.reshape(-1, *X.shape[1:])).numpy().reshape(n, n_refs).mean(1)
        for setting, route in (('routed', True), ('as is', False)):
            deep_lift_shap(m, X[:4], references=R[:4], device='cpu', route_functional=route)       # warm-up
            t_ours, ours = best_of(lambda: deep_lift_shap(m, X, references=R, batch_size=batch_seqs, device='cpu',
                                                          route_functional=route))
            with warnings.catch_warnings(), contextlib.ExitStack() as stack:
                warnings.simplefilter('ignore')
                target = m
                if route:
                    target = LogitModel(m.eval()); stack.enter_context(target.attached(Xt[:1]))
                w = Out2D(target).eval()
                tdls.deep_lift_shap(w, Xt[:4], references=Rt[:4], hypothetical=True, device='cpu', batch_size=batch_seqs * n_refs)
                t_tm, theirs = best_of(lambda: tdls.deep_lift_shap(w, Xt, references=Rt, hypothetical=True, device='cpu',
                                                                   batch_size=batch_seqs * n_refs).numpy())
            d_tm = np.abs((theirs * X).sum((1, 2)) - (fx - fr)).max()
            print(f"{type(m).__name__:11s} {setting:6s}: ours {n / t_ours:6.1f} seq/s, tangermeme {n / t_tm:6.1f} seq/s, "
                  f"ratio ours/tangermeme {t_tm / t_ours:.2f}x | max |sum - (f(x) - mean f(ref))| ours "
                  f"{np.abs(ours.delta).max():.1e}, tangermeme {d_tm:.1e} | max |hyp ours - hyp tangermeme| "
                  f"{np.abs(ours.hypothetical - theirs).max():.1e}")


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--dataset', default='spi1'); ap.add_argument('--n-discovery', type=int, default=1280)
    ap.add_argument('--n-scan', type=int, default=128); ap.add_argument('--n-throughput', type=int, default=256)
    ap.add_argument('--batch-seqs', type=int, default=32); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--train-epochs', type=int, default=None)
    ap.add_argument('--skip-pipeline', action='store_true'); ap.add_argument('--skip-throughput', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s), CPU")
    splits = make_splits(a.dataset, batches_per_epoch=100, eval_batches=10, random_state=0)
    models = {k: trained(a.dataset, k, splits, a.train_epochs) for k in ('argminn', 'cnn')}
    if not a.skip_pipeline: time_to_motifs(models, splits, a.dataset, a.n_discovery, a.n_scan)
    if not a.skip_throughput: throughput(models, a.n_throughput, a.batch_seqs)
