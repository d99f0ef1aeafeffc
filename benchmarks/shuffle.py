"""Dinucleotide shuffles per second: argminn_nb.dna.dinucleotide_shuffle vs tangermeme.ersatz.dinucleotide_shuffle.

Same one-hot sequences (random, 500 bp by default), the same number of shuffles per sequence (10: the
DeepLIFTShap references of the post-hoc pipeline), one thread. Before timing, both outputs are checked to
keep every dinucleotide count of their sequence. Ours draws uniformly from all sequences with the same
first base and dinucleotide counts (Altschul–Erickson/Kandel); tangermeme's follows DeepLIFT's
(random transitions, which keeps the counts too). Each is timed on its best of --repeats runs.

usage: python benchmarks/shuffle.py [--n 256] [--length 500] [--shuffles 10] [--repeats 3]
"""
import argparse
import time

import numpy as np
import torch

from argminn_nb.dna import dinucleotide_counts, dinucleotide_shuffle, random_sequences


def best_time(f, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=256, help='sequences')
    ap.add_argument('--length', type=int, default=500, help='sequence length (bp)')
    ap.add_argument('--shuffles', type=int, default=10, help='shuffles per sequence')
    ap.add_argument('--repeats', type=int, default=3, help='timed repeats (best kept)')
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    X = random_sequences(a.n, a.length, random_state=0)
    total = a.n * a.shuffles
    want = dinucleotide_counts(X)
    rows = []
    t, Y = best_time(lambda: dinucleotide_shuffle(X, n_shuffles=a.shuffles, random_state=1), a.repeats)
    assert all((dinucleotide_counts(Y[:, j]) == want).all() for j in range(a.shuffles))
    rows.append(('argminn_nb.dna.dinucleotide_shuffle', total / t))
    try:
        from tangermeme.ersatz import dinucleotide_shuffle as tm_shuffle
    except ImportError:
        tm_shuffle = None
    if tm_shuffle is not None:
        Xt = torch.from_numpy(X)
        t, Yt = best_time(lambda: tm_shuffle(Xt, n=a.shuffles, random_state=1), a.repeats)   # (N, n, 4, L)
        Yt = Yt.numpy()
        assert all((dinucleotide_counts(Yt[:, j]) == want).all() for j in range(a.shuffles))
        rows.append(('tangermeme.ersatz.dinucleotide_shuffle', total / t))
    print(f"{a.n} sequences x {a.shuffles} shuffles of {a.length} bp, 1 thread; every shuffle checked to keep its "
          f"dinucleotide counts")
    ours = rows[0][1]
    for name, rate in rows:
        print(f"{name:42s} {rate:10,.0f} shuffles/s   ours / this: {ours / rate:5.2f}x")


if __name__ == '__main__':
    main()
