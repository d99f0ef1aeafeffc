"""Explainer benchmark: MEMs vs scramblers on the same predictor.

Prints, side by side, the training time per epoch and the explanations per second at inference for an
s-MEM, an n-MEM, an inclusion and an occlusion scrambler (same trunk, same predictor, same data; each scrambler also with Linder et
al.'s settings, `LINDER_SCRAMBLER`, whose K = 32 samples per sequence make an epoch costlier), plus
the MEM with the exact O(L^2) mask kernel vs the banded one, and one row per training variant of the
s-MEM (logit bound, prediction loss, loss scale, mask target: these change the loss, not the work, so
they should cost the same) and the per-epoch monitor of `fit_explainer` (the training time includes the monitor's readings). Two more s-MEM rows: the reference (as
before the speed work: the predictor's 320 samples per step in one batch, unfused Adam) and bfloat16
autocast (`fit_explainer(mixed_precision=True)`, the default on CUDA only); the last column is each
s-MEM row's speed-up over the reference.

usage: python benchmarks/explainers.py [--n-train 256] [--n-explain 512] [--length 500] [--threads 1] [--device cpu]
Timing does not depend on how well the predictor is trained, so an untrained `ResidualClassifier` is used
unless --predictor points to a saved state dict.
"""
import argparse
import time

import numpy as np
import pandas as pd
import torch

from argminn_nb.dna import random_sequences
from argminn_nb import mems
from argminn_nb.mems import LINDER_SCRAMBLER, MEM, Scrambler, explain, fit_explainer
from argminn_nb.models import ResidualClassifier


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-train', type=int, default=256, help='training sequences (one epoch is timed)')
    ap.add_argument('--n-explain', type=int, default=512, help='sequences explained at inference')
    ap.add_argument('--length', type=int, default=500, help='sequence length (bp)')
    ap.add_argument('--batch-size', type=int, default=32, help='training batch size (paper: 32)')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--device', default=None, help="'cpu', 'cuda' or None (auto)")
    ap.add_argument('--predictor', default=None, help='optional saved ResidualClassifier state dict')
    ap.add_argument('--repeats', type=int, default=2, help='timed repeats of inference (best kept)')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device) if a.device else torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    pred = ResidualClassifier(random_state=0)
    if a.predictor: pred.load_state_dict(torch.load(a.predictor, map_location='cpu'))
    pred.to(device).eval()
    X_tr = random_sequences(a.n_train, a.length, random_state=1)
    X_ex = random_sequences(a.n_explain, a.length, random_state=2)
    explainers = {
        's-MEM (banded), reference': lambda: MEM('sufficient', band='auto', random_state=0),
        's-MEM (banded)': lambda: MEM('sufficient', band='auto', random_state=0),
        's-MEM (banded), bf16 autocast': lambda: MEM('sufficient', band='auto', random_state=0),
        's-MEM (banded), tanh bound': lambda: MEM('sufficient', band='auto', clamp='tanh', random_state=0),
        's-MEM (banded), BCE loss': lambda: MEM('sufficient', band='auto', pred_loss='bce', random_state=0),
        's-MEM (banded), loss summed over K': lambda: MEM('sufficient', band='auto', pred_scale='sum', random_state=0),
        's-MEM (banded), mask target 0.05': lambda: MEM('sufficient', band='auto', mask_target=0.05, random_state=0),
        's-MEM (banded), per-epoch monitor': lambda: MEM('sufficient', band='auto', random_state=0),
        'n-MEM (banded)': lambda: MEM('necessary', band='auto', random_state=0),
        's-MEM (exact L^2)': lambda: MEM('sufficient', random_state=0),
        'inclusion scrambler': lambda: Scrambler('inclusion', random_state=0),
        'occlusion scrambler': lambda: Scrambler('occlusion', random_state=0),
        'inclusion scrambler, Linder et al.': lambda: Scrambler('inclusion', **LINDER_SCRAMBLER['inclusion'], random_state=0),
        'occlusion scrambler, Linder et al.': lambda: Scrambler('occlusion', **LINDER_SCRAMBLER['occlusion'], random_state=0),
    }
    rows = []
    for name, make in explainers.items():
        ex = make()
        reference = name.endswith('reference')
        chunk, opt = ResidualClassifier.cpu_chunk, mems.adam
        if reference: ResidualClassifier.cpu_chunk, mems.adam = 10 ** 9, torch.optim.Adam
        try:
            fit = fit_explainer(ex, pred, X_tr, epochs=1, batch_size=a.batch_size, device=device, random_state=0,
                                mixed_precision=True if 'bf16' in name else None,
                                monitor=X_ex[:32] if 'monitor' in name else None,   # 32 sequences, 20 draws each
                                **(LINDER_SCRAMBLER['fit'] if 'Linder' in name else {}))
        finally: ResidualClassifier.cpu_chunk, mems.adam = chunk, opt
        explain(ex, X_ex[:64], device=device)                                  # warm-up
        best = np.inf
        for _ in range(a.repeats):
            if device.type == 'cuda': torch.cuda.synchronize()
            t0 = time.perf_counter(); explain(ex, X_ex, device=device)
            if device.type == 'cuda': torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        rows.append({'explainer': name, 'parameters': sum(p.numel() for p in ex.parameters()),
                     f'train s/epoch ({a.n_train} seqs)': round(float(fit.seconds), 2),
                     'train ms/sequence': round(1000 * float(fit.seconds) / a.n_train, 1),
                     'explanations/s': round(a.n_explain / best, 1)})
    ref = rows[0][f'train s/epoch ({a.n_train} seqs)']
    for r in rows:   # the reference is an s-MEM: the ratio compares like with like only on the s-MEM (banded) rows
        same = r['explainer'].startswith('s-MEM (banded)')
        r['train speed-up vs reference'] = f"{ref / r[f'train s/epoch ({a.n_train} seqs)']:.2f}x" if same else ''

    print(f"device: {device} ({torch.get_num_threads()} thread(s)); sequences of {a.length} bp; batch {a.batch_size}; "
          f"K = 10 samples per sequence in training (32 for Linder et al.'s scramblers); predictor: ResidualClassifier "
          f"({sum(p.numel() for p in pred.parameters())} parameters)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == '__main__':
    main()
