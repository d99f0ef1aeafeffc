"""The GPU path, checked in one short run (<= 8 minutes on one GPU), written to benchmarks/results/gpu_check.json.

On CUDA: the main job's training step (batch 128 x 500 bp, ARGMINN with the package defaults) timed on the GPU and on the
CPU for the ratio, one paper-schedule epoch (100 batches) with its validation, peak GPU memory, the step under bfloat16
autocast (timing only: the training loop does not use autocast), a short fit on the GPU compared with the same fit on the
CPU (the validation accuracy after 3 epochs), and a few test-size notebooks with CUDA visible. Without CUDA it says so and
writes nothing.

usage: python benchmarks/gpu_check.py [--notebooks nbs/api/05_models.ipynb,...]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch


def step_ms(model, batches, device, autocast=False, n=20):
    from argminn_nb.core import adam
    from argminn_nb.losses import RegularizedLoss
    opt = adam(model.parameters(), lr=1e-3); lf = RegularizedLoss(overlap_schedule=1e3, l1_schedule=1e-2)
    def step(X, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            z, A, att = model.logits(X, return_attention=True)
            loss = lf(z.float(), y, A.float(), model.scanner.weight, 0, attention=att.float()).total
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    for X, y in batches[:3]: step(X, y)
    if device.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for X, y in batches[3:3 + n]: step(X, y)
    if device.type == 'cuda': torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t) / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--notebooks', default='nbs/api/05_models.ipynb,nbs/api/07_train.ipynb,nbs/api/08a_tracing.ipynb')
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print('no CUDA device: nothing to check (run this on a GPU machine)'); return 1
    from argminn_nb.models import ARGMINN
    from argminn_nb.simulate import SimLoader, make_splits
    from argminn_nb.train import fit
    cuda, cpu = torch.device('cuda'), torch.device('cpu')
    out = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__)
    batches = [b for _, b in zip(range(25), SimLoader('spi1', random_state=0))]
    gpu_b = [(X.to(cuda), y.to(cuda)) for X, y in batches]
    torch.cuda.reset_peak_memory_stats()
    out['step_ms_gpu'] = step_ms(ARGMINN(random_state=0).to(cuda).train(), gpu_b, cuda)
    out['peak_memory_mb_step'] = torch.cuda.max_memory_allocated() / 2 ** 20
    out['step_ms_gpu_bf16_autocast'] = step_ms(ARGMINN(random_state=0).to(cuda).train(), gpu_b, cuda, autocast=True)
    torch.set_num_threads(min(16, torch.get_num_threads()))
    out['step_ms_cpu'] = step_ms(ARGMINN(random_state=0).train(), batches, cpu, n=10)
    out['gpu_speedup'] = out['step_ms_cpu'] / out['step_ms_gpu']
    sp = make_splits('spi1', batches_per_epoch=100, eval_batches=10, random_state=0)
    for dev in (cuda, cpu):
        t = time.perf_counter()
        r = fit(ARGMINN(random_state=0), sp.train, sp.val, epochs=3, device=dev, random_state=0, verbose=False, warmup_until_auroc=None)
        out[f'fit_3_epochs_s_{dev.type}'] = time.perf_counter() - t
        out[f'fit_3_epochs_val_accuracy_{dev.type}'] = float(r.history.val_accuracy.iloc[-1])
    out['epoch_s_gpu'] = out['fit_3_epochs_s_cuda'] / 3
    out['peak_memory_mb_fit'] = torch.cuda.max_memory_allocated() / 2 ** 20
    nbs = {}
    for nb in [n for n in a.notebooks.split(',') if n]:
        t = time.perf_counter()
        r = subprocess.run([str(Path(sys.executable).parent / 'nbdev_test'), '--path', nb, '--flags', ''], capture_output=True, text=True)
        nbs[nb] = dict(passed=r.returncode == 0, seconds=time.perf_counter() - t, tail=(r.stdout + r.stderr)[-300:])
    out['notebooks'] = nbs
    path = Path(__file__).parent / 'results' / 'gpu_check.json'
    path.parent.mkdir(exist_ok=True); path.write_text(json.dumps(out, indent=1) + '\n')
    print(json.dumps(out, indent=1))
    return 0 if all(v['passed'] for v in nbs.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
