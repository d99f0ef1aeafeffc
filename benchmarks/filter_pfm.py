"""Benchmark: filter -> PFM for all 8 filters of an ARGMINN (width 10), exact and sampled (10^6 w-mers).

Target (issue 5): all 8 filters in <= 10 s on 2 CPU cores. Prints one line per method and the agreement
between them. Usage: python benchmarks/filter_pfm.py [--threads 2] [--repeats 3] [--checkpoint PATH]
(--checkpoint: a state dict / fit checkpoint of a trained ARGMINN; default: a fresh, randomly initialised one.)
"""
import argparse
import time

import numpy as np
import torch

from argminn_nb.interpret import filter_pfms
from argminn_nb.models import ARGMINN


def load(path):
    model = ARGMINN(random_state=0)
    if path:
        ck = torch.load(path, map_location='cpu', weights_only=False)
        model.load_state_dict(ck.get('model_state', ck.get('state_dict', ck)) if isinstance(ck, dict) else ck)
    return model.eval()


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t)
    return out, min(ts), float(np.median(ts))


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--checkpoint', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load(a.checkpoint)
    F = model.n_filters
    ex, t_ex, m_ex = timed(lambda: filter_pfms(model), a.repeats)
    sa, t_sa, m_sa = timed(lambda: filter_pfms(model, method='sample', n_samples=1_000_000, random_state=0), a.repeats)
    live = ~ex.dead & ~sa.dead
    diff = np.abs(ex.pfms[live] - sa.pfms[live]).max() if live.any() else float('nan')
    print(f"model: ARGMINN, {F} filters of width {model.filter_width} ({'trained: ' + a.checkpoint if a.checkpoint else 'random init'}); "
          f"torch threads {a.threads}")
    print(f"exact (meet-in-the-middle enumeration of all 4^10 w-mers): {F} filters in {t_ex * 1e3:.2f} ms (min of {a.repeats}; "
          f"median {m_ex * 1e3:.2f} ms)")
    print(f"sampled (10^6 uniform random w-mers, batched):            {F} filters in {t_sa:.2f} s (min of {a.repeats}; "
          f"median {m_sa:.2f} s)")
    print(f"fraction of w-mers reaching 50% of the maximum: exact {np.round(ex.fraction, 5).tolist()}; "
          f"sampled {np.round(sa.fraction, 5).tolist()}")
    print(f"max |PFM exact - PFM sampled| over live filters: {diff:.3f}; dead filters: exact {int(ex.dead.sum())}, "
          f"sampled {int(sa.dead.sum())}")
    print(f"target <= 10 s for all filters: exact {'PASS' if t_ex <= 10 else 'FAIL'}, sampled {'PASS' if t_sa <= 10 else 'FAIL'}")
