"""Simulator throughput: argminn_nb.simulate vs a straightforward per-sequence Python generator.

Both make balanced `spi1` / `tal_gata` sequences (500 bp, GC 0.5) with the spurious-match filter on
(normalised PWM score > 0.9, both strands, every motif of the dataset). Prints sequences/s and the ratio,
measured side by side in one run. Target: >= 20,000 sequences/s for spi1 on 2 CPU cores.
usage: python benchmarks/simulate.py [--n 20000] [--n-ref 200] [--threads 2]
"""
import argparse
import random
import time

import numpy as np
import torch

from argminn_nb.simulate import simulate, get_config


def reference_generate(dataset: str, n: int, seed: int = 0):
    "One sequence at a time, plain Python: sample, plant, scan every window, re-draw until clean."
    cfg = get_config(dataset)
    rnd = random.Random(seed)
    L, c0 = cfg.length, (cfg.length - cfg.center) // 2
    motifs = cfg.motifs
    pwms = {k: (m.pwm(), m.reverse_complement().pwm()) for k, m in motifs.items()}
    bounds = {k: (p[0].min(0).sum(), p[0].max(0).sum()) for k, p in pwms.items()}
    out = []
    for s in range(n):
        label = s % 2
        arrs = cfg.positives if label else cfg.negatives
        arr = rnd.choices([a for _, a in arrs], weights=[w for w, _ in arrs])[0]
        seq = [rnd.randrange(4) for _ in range(L)]
        planted, inst = set(), []
        names = list(arr.motifs)
        if arr.shuffle_order: rnd.shuffle(names)
        gaps = [rnd.choice(g) for g in arr.gaps]
        total = sum(motifs[m].width for m in names) + sum(gaps)
        pos = c0 + rnd.randrange(cfg.center - total + 1) if names else 0
        for j, name in enumerate(names):
            pfm = motifs[name].pfm
            bases = [rnd.choices(range(4), weights=pfm[:, k])[0] for k in range(pfm.shape[1])]
            if rnd.random() < 0.5: bases = [3 - b for b in bases[::-1]]
            seq[pos:pos + len(bases)] = bases
            planted.update(range(pos, pos + len(bases))); inst.append((name, pos))
            pos += len(bases) + (gaps[j] if j < len(gaps) else 0)
        while True:                                   # spurious-match filter, window by window
            dirty = False
            for name, (f, r) in pwms.items():
                lo, hi = bounds[name]; W = f.shape[1]
                for i in range(L - W + 1):
                    if (name, i) in inst: continue
                    for p in (f, r):
                        if (sum(p[seq[i + k], k] for k in range(W)) - lo) / (hi - lo) > cfg.spurious_threshold:
                            for k in range(i, i + W):
                                if k not in planted: seq[k] = rnd.randrange(4); dirty = True
            if not dirty: break
        out.append(seq)
    return out


def rate(f, n):
    t = time.perf_counter(); f(); return n / (time.perf_counter() - t)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=20000); ap.add_argument('--n-ref', type=int, default=200)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; n={a.n} (vectorised), n={a.n_ref} (reference)")
    print(f"{'dataset':10s} {'argminn_nb seq/s':>17s} {'reference seq/s':>16s} {'ratio':>8s}")
    for ds in ('spi1', 'tal_gata'):
        simulate(ds, 1000, random_state=0)        # warm-up
        fast = max(rate(lambda: simulate(ds, a.n, random_state=r), a.n) for r in range(a.repeats))
        ref = rate(lambda: reference_generate(ds, a.n_ref), a.n_ref)
        print(f"{ds:10s} {fast:17,.0f} {ref:16,.0f} {fast / ref:7.0f}x")
