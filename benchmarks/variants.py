"""Variant scoring throughput (`argminn variants`, `variants.variant_effects`), side by side in one run.

2,000 random SNVs on a random 1 Mb genome, a (randomly initialised) paper-default ARGMINN and the CNN, 500 bp windows:
SNVs per second for (a) the windows alone, (b) predictions only (reference + alternative logits), (c) everything
`variant_effects` does for ARGMINN (predictions, activations, instances traced in both windows, lost/gained), and (d) the
CNN (predictions and activations; no tracing). Target: >= 5,000 SNVs/s for ARGMINN on 2 CPU cores.

usage: python benchmarks/variants.py [--threads 2] [--n 2000]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from argminn_nb.dna import decode, random_sequences
from argminn_nb.genome import Genome
from argminn_nb.inference import batched
from argminn_nb.models import make_model
from argminn_nb.tracing import _logits
from argminn_nb.variants import variant_effects, variant_windows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--n', type=int, default=2000)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        seq = decode(random_sequences(1, 1_000_000, random_state=0))[0]
        (Path(d) / 'g.fa').write_text('>chr1\n' + '\n'.join(seq[i:i + 80] for i in range(0, len(seq), 80)) + '\n')
        g = Genome(Path(d) / 'g.fa')
        pos = np.sort(rng.choice(np.arange(1000, len(seq) - 1000), a.n, replace=False)) + 1
        ref = [seq[p - 1] for p in pos]
        alt = ['ACGT'[('ACGT'.index(r) + 1 + rng.integers(3)) % 4] for r in ref]
        v = pd.DataFrame(dict(chrom='chr1', pos=pos, id=[f'v{i}' for i in range(a.n)], ref=ref, alt=alt))
        rows = []
        t = time.perf_counter(); w = variant_windows(v, g, 500); rows.append(('windows (genome -> one-hot)', time.perf_counter() - t))
        for kind in ('argminn', 'cnn'):
            m = make_model(kind, random_state=0).eval()
            t = time.perf_counter()
            batched(m, w.ref, _logits, batch_size=256); batched(m, w.alt, _logits, batch_size=256)
            rows.append((f'{kind}: predictions only', time.perf_counter() - t))
            t = time.perf_counter(); variant_effects(m, w, batch_size=256); rows.append((f'{kind}: variant_effects', time.perf_counter() - t))
    print(f"{a.n} SNVs, 500 bp windows, {a.threads} threads")
    print(f"{'step':36s} {'seconds':>8s} {'SNVs/s':>9s}")
    for name, s in rows: print(f"{name:36s} {s:8.2f} {a.n / s:9,.0f}")
    tot = rows[0][1] + rows[2][1]
    print(f"\nARGMINN end to end (windows + variant_effects): {a.n / tot:,.0f} SNVs/s (target >= 5,000)")


if __name__ == '__main__':
    main()
