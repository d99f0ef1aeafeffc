"""Variant scoring throughput (`argminn variants`, `variants.variant_effects`), side by side in one run.

2,000 random SNVs on a random 1 Mb genome, 500 bp windows, ARGMINN (randomly initialised, or a trained one with --model,
e.g. the main job's argminn_out/run/model.pt) and the CNN: SNVs per second for (a) the windows alone, (b) predictions only
(reference + alternative logits), (c) everything `variant_effects` does for ARGMINN (predictions, activations, instances
traced in both windows, lost/gained) with the paper's tracing rule, the package's rule without its confirmation, and the
package's rule (each instance at the variant confirmed by a forward pass), and (d) the CNN (predictions and activations;
no tracing). Target: >= 5,000 SNVs/s for ARGMINN on 2 CPU cores. A random network's attention is diffuse, so the
package's relative-attention rule finds many candidate instances in it; a trained network is the realistic case.

usage: python benchmarks/variants.py [--threads 2] [--n 2000] [--model MODEL.pt]
"""
import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from argminn_nb.dna import decode, random_sequences
from argminn_nb.genome import Genome
from argminn_nb.inference import batched
from argminn_nb.models import load_model, make_model
from argminn_nb.tracing import DEFAULT_RULE, PAPER_RULE, _logits
from argminn_nb.variants import variant_effects, variant_windows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--n', type=int, default=2000)
    ap.add_argument('--model', default=None, help='a trained ARGMINN (default: a randomly initialised one)')
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
        rules = {'paper rule': PAPER_RULE, 'package rule, unconfirmed': replace(DEFAULT_RULE, min_drop=None), 'package rule': DEFAULT_RULE}
        for kind in ('argminn', 'cnn'):
            m = (load_model(a.model, device='cpu') if kind == 'argminn' and a.model else make_model(kind, random_state=0)).eval()
            t = time.perf_counter()
            batched(m, w.ref, _logits, batch_size=256); batched(m, w.alt, _logits, batch_size=256)
            rows.append((f'{kind}: predictions only', time.perf_counter() - t))
            for rname, rule in (rules.items() if kind == 'argminn' else [('', None)]):
                t = time.perf_counter(); variant_effects(m, w, rule=rule, batch_size=256)
                rows.append((f'{kind}: variant_effects' + (f' ({rname})' if rname else ''), time.perf_counter() - t))
    print(f"{a.n} SNVs, 500 bp windows, {a.threads} threads, ARGMINN {'from ' + a.model if a.model else 'randomly initialised'}")
    print(f"{'step':58s} {'seconds':>8s} {'SNVs/s':>9s}")
    for name, s in rows: print(f"{name:58s} {s:8.2f} {a.n / s:9,.0f}")
    tot = rows[0][1] + dict(rows)['argminn: variant_effects (package rule)']
    print(f"\nARGMINN end to end (windows + variant_effects, package rule): {a.n / tot:,.0f} SNVs/s (target >= 5,000)")


if __name__ == '__main__':
    main()
