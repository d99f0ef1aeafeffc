"""`argminn sweep` execution, side by side in one run: 8 tiny single-thread jobs here (no Ray), on a local Ray with 1
worker (Ray's scheduling overhead per job) and with 2 workers (the speed-up). Targets: overhead <= 2 s per job; 2 workers
>= 1.6x faster than 1 on a quiet 2-core machine.

usage: python benchmarks/sweep.py [--jobs 8] [--batches 30]
"""
import argparse
import tempfile
import time
from pathlib import Path

from argminn_nb.sweep import run_sweep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--jobs', type=int, default=8); ap.add_argument('--batches', type=int, default=30)
    a = ap.parse_args(argv)
    spec = dict(data=[dict(dataset='spi1')], fit=dict(epochs=2, batches_per_epoch=a.batches, eval_batches=1),
                seeds=list(range(a.jobs)), run=dict(interpret=False))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for label, kw in (('here (no Ray)', dict(workers=1)), ('Ray, 1 worker', dict(workers=1, address='local')),
                          ('Ray, 2 workers', dict(workers=2))):
            t = time.perf_counter()
            if kw.get('address') == 'local':                 # a local Ray with one worker: the same jobs, Ray's overhead added
                import ray
                ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level='ERROR')
                try: res = run_sweep(spec, Path(d) / label.replace(' ', '_'), workers=1, address='auto', verbose=False)
                finally: ray.shutdown()
            else: res = run_sweep(spec, Path(d) / label.replace(' ', '_'), verbose=False, **kw)
            rows.append((label, time.perf_counter() - t, int((res.summary.status == 'done').sum())))
    base = rows[0][1]
    print(f"{a.jobs} jobs (spi1, 2 epochs x {a.batches} batches, 1 thread each)")
    print(f"{'execution':18s} {'wall s':>8s} {'per job s':>10s} {'vs here':>8s}  done")
    for label, s, done in rows: print(f"{label:18s} {s:8.1f} {s / a.jobs:10.2f} {base / s:7.2f}x  {done}/{a.jobs}")
    print(f"\nRay's overhead per job: {(rows[1][1] - base) / a.jobs:.2f} s (target <= 2 s); "
          f"2 workers vs 1: {rows[1][1] / rows[2][1]:.2f}x (target >= 1.6x)")


if __name__ == '__main__':
    main()
