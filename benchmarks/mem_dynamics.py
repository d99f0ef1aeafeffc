"""MEM training dynamics: one change at a time, read every epoch.

Trains an s-MEM or n-MEM against a known predictor (two 10-mers, A AND B, with a soft presence so that it
has gradients; 500 bp sequences, each k-mer planted with probability 1/2 at a random place) and prints, per
epoch, the prediction term, the mean mask, the mean |raw mask logit|, and on 32 fixed sequences carrying
both k-mers: the set size at mask >= 0.5, its number of regions, its measured sufficiency (s-MEM) or
necessity (n-MEM) with 20 reference draws, and the precision and recall of the planted bases. The
variants are the readings of the paper's loss that the API page of the MEMs compares (section
"Training dynamics"), and the defaults with a decaying learning rate (`lr_decay`); the paper's lambdas
(s 2 / 0.5, n 5 / 0.01) throughout unless a variant says. The last six variants are scramblers (inclusion,
occlusion) with the MEMs paper's settings, which the package uses, and with those of Linder et al.'s code
(`LINDER_SCRAMBLER`), which the API page lists.

usage: python benchmarks/mem_dynamics.py [--variants 'all' | 'name;name'] [--n-train 512] [--epochs 15] [--threads 2]
About 50 s per variant on 2 CPU threads (K = 32 samples: about 3x that); the API page's tables are the last
epoch of each.
"""
import argparse

import numpy as np
import pandas as pd
import torch

from argminn_nb.dna import one_hot_encode
from dataclasses import asdict

from argminn_nb.mems import LINDER_SCRAMBLER, MEM, PAPER_FIT, PAPER_RECIPE, Scrambler, fit_explainer
from argminn_nb.toys import KmerRule

KA, KB = 'GGAAGTGACC', 'CCGCGATCGG'
ST = dict(clamp='straight-through')
OLD = dict(pred_loss='abs', pred_scale='mean', drift_penalty=0.0, **ST)      # the package before this comparison
VARIANTS = {   # name: (kind, MEM arguments, fit_explainer arguments)
    's: paper recipe as written': ('sufficient', asdict(PAPER_RECIPE), PAPER_FIT),
    's: |Y^-f|, ST bound, warm-up': ('sufficient', OLD, {}),
    's: |Y^-f|, tanh bound, warm-up': ('sufficient', {**OLD, 'clamp': 'tanh'}, {}),
    's: |Y^-f| summed over K, paper recipe': ('sufficient', {**asdict(PAPER_RECIPE), 'pred_scale': 'sum'}, PAPER_FIT),
    's: |Y^-f| summed over K, ST bound, no warm-up': ('sufficient', {**OLD, 'pred_scale': 'sum'}, dict(warmup=0.0)),
    's: |Y^-f|, mask target 0.05': ('sufficient', {**OLD, 'mask_target': 0.05}, {}),
    's: |Y^-f|, drift penalty 1': ('sufficient', {**OLD, 'drift_penalty': 1.0}, {}),
    's: BCE': ('sufficient', {**OLD, 'pred_loss': 'bce'}, {}),
    's: BCE, drift penalty 0.1 (default)': ('sufficient', {}, {}),
    'n: |Y^-f|, ST bound, warm-up': ('necessary', OLD, {}),
    'n: |Y^-f|, lambda1 = 1': ('necessary', {**OLD, 'lambda1': 1.0}, {}),
    'n: |Y^-f|, drift penalty 1': ('necessary', {**OLD, 'drift_penalty': 1.0}, {}),
    'n: BCE': ('necessary', {**OLD, 'pred_loss': 'bce'}, {}),
    'n: summed over K': ('necessary', {**OLD, 'pred_scale': 'sum'}, {}),
    'n: summed over K, no warm-up': ('necessary', {**OLD, 'pred_scale': 'sum'}, dict(warmup=0.0)),
    'n: summed over K, drift penalty 1 (default)': ('necessary', {}, {}),
    'n: summed over K, drift penalty 1, no warm-up': ('necessary', {}, dict(warmup=0.0)),
    'n: summed over K, drift penalty 1, BCE': ('necessary', {'pred_loss': 'bce'}, {}),
    's: default, lr decay over the last 30%': ('sufficient', {}, dict(lr_decay=0.3)),
    'n: default, lr decay over the last 30%': ('necessary', {}, dict(lr_decay=0.3)),
    # scramblers: the MEMs paper's settings (the package default) vs those of Linder et al.'s code
    'inclusion: MEMs paper (default)': ('inclusion', {}, {}),
    'inclusion: Linder et al.': ('inclusion', LINDER_SCRAMBLER['inclusion'], LINDER_SCRAMBLER['fit']),
    "inclusion: Linder et al., the package's optimiser and warm-up": ('inclusion', LINDER_SCRAMBLER['inclusion'], {}),
    'occlusion: MEMs paper (default)': ('occlusion', {}, {}),
    'occlusion: Linder et al.': ('occlusion', LINDER_SCRAMBLER['occlusion'], LINDER_SCRAMBLER['fit']),
    "occlusion: Linder et al., the package's optimiser and warm-up": ('occlusion', LINDER_SCRAMBLER['occlusion'], {}),
}
DROP = ['epoch', 'reg', 'con', 'total', 'reg_weight', 'seconds', 'lr']


def toy(n, L=500, seed=0, both=False):
    "n random sequences; each k-mer planted w.p. 1/2 (always, with `both`) at a random place; the planted bases."
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))].transpose(0, 2, 1).copy()
    T = np.zeros((n, L), bool)
    for i in range(n):
        flags = (1, 1) if both else rng.integers(0, 2, 2)
        starts = rng.choice(np.arange(0, L - 10, 20), 2, replace=False) + rng.integers(0, 10, 2)
        for f, k, s in zip(flags, (KA, KB), starts):
            if f: X[i, :, s:s + 10] = one_hot_encode(k)[0]; T[i, s:s + 10] = True
    return X, T


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--variants', default='all', help="'all' or names separated by ';' (see VARIANTS)")
    ap.add_argument('--n-train', type=int, default=512)
    ap.add_argument('--epochs', type=int, default=15)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    pred = KmerRule({'A': KA, 'B': KB}, 'AND', hard=False, sharpness=100.0)
    X_tr, _ = toy(a.n_train, seed=1)
    X_mon, T_mon = toy(32, seed=2, both=True)
    names = list(VARIANTS) if a.variants == 'all' else [v.strip() for v in a.variants.split(';')]
    last = []
    for name in names:
        kind, mk, fk = VARIANTS[name]
        ex = (Scrambler(kind, random_state=0, **mk) if kind in ('inclusion', 'occlusion')
              else MEM(kind, band='auto', random_state=0, **mk))
        f = fit_explainer(ex, pred, X_tr, epochs=a.epochs, random_state=0, monitor=X_mon, monitor_truth=T_mon, **fk)
        h = f.history
        print(f'===== {name}: {f.seconds:.0f} s, size stabilised: {f.stabilised()}')
        print(h.drop(columns=['reg', 'con', 'total', 'reg_weight'], errors='ignore').round(3).to_string(index=False), flush=True)
        last.append({'variant': name, **h.iloc[-1].drop(DROP, errors='ignore').to_dict(), 's/epoch': h.seconds.mean(),
                     'size, last 5': f"{h.size_bp.iloc[-5:].min():.0f}-{h.size_bp.iloc[-5:].max():.0f}",
                     'stabilised': f.stabilised()})
    print('\nlast epoch of each variant:')
    print(pd.DataFrame(last).round(3).to_string(index=False))


if __name__ == '__main__':
    main()
