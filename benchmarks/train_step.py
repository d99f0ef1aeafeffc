"""Where an ARGMINN training step's time goes, and how fast it is now (batch 128 x 500 bp, CPU by default).

Prints, in one run, milliseconds per training step (forward, BCE + filter-overlap + L1 loss, backward, Adam step) for:

* the reference step: the implementation before the speed work, rebuilt here from the package's own pieces —
  explicit (N, P, n_filters + pe_dim) tokens, the overlap loss differentiated by autograd through PyTorch's
  convolution-backward kernels, the per-filter argmax loop, the unfused Adam;
* the package's step as `fit` runs it (factorised tokens, the overlap loss with its gradients as forward
  convolutions, `amax` argmax, fused Adam), with and without the scanner BatchNorm;
* the same step under `torch.compile` (compile time reported separately; skipped with --no-compile);
* sparse attention: the package step with `attention='sparsemax'` and `'entmax15'` (its own exact kernels, module
  `attention`), and with the `entmax` package's functions swapped in (a full sort per row), each at initialisation
  (diffuse scores: the candidate set is large) and with the query scaled up 8x (peaked scores, as after training);
  the softmax step with the attention-entropy loss on (λ_e = 1e-2);
* the CNN baseline (BCE only);
* a simulated training batch (`SimLoader`, tal_gata), and `fit` itself over --fit-steps steps (checks, logging and
  data included), from which the time of 4,000 steps (the paper's 40 epochs x 100 batches) is projected.

Before timing, the reference and package steps are checked to agree (loss and every parameter gradient).
With --shared, one extra process spins on a core while the package step is timed on all threads and on
`default_threads()` (what the command line picks), to show what a busy machine costs.

usage: python benchmarks/train_step.py [--threads 2] [--steps 30] [--fit-steps 200] [--no-compile] [--shared] [--device cpu]
"""
import argparse
import logging
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from argminn_nb.core import adam, default_threads, get_device
from argminn_nb.losses import RegularizedLoss, overlap_kernel
from argminn_nb.models import ARGMINN, CNNBaseline
from argminn_nb.simulate import SimLoader
from argminn_nb.train import fit


class DenseTokenARGMINN(ARGMINN):
    "ARGMINN fed explicit (N, P, T) tokens, as before the factorisation (same parameters, same outputs)."
    def tokens(self, H):
        return super().tokens(H).dense()


def protector_loop(A):
    "Argmax over filters by comparing the F (N, P) slices in turn (the reference implementation)."
    A = A.detach()
    best, idx, nz = A[:, 0], torch.zeros(A.shape[0], A.shape[2], dtype=torch.long, device=A.device), A[:, 0] != 0
    for f in range(1, A.shape[1]):
        a = A[:, f]; up = a > best
        best = torch.where(up, a, best); idx = torch.where(up, f, idx); nz = nz | (a != 0)
    return idx, nz


def overlap_autograd(A, W):
    "The normalised overlap loss, one conv1d differentiated by autograd (the reference implementation)."
    nf, _, w = W.shape
    Y = F.conv1d(A, overlap_kernel(W), padding=w - 1)
    idx, nz = protector_loop(A)
    per_seq = (Y.gather(1, idx[:, None]).squeeze(1) * nz).sum(1)
    return per_seq.mean() / (A.shape[2] * nf * (2 * w - 1)) / W.abs().sum().clamp_min(torch.finfo(W.dtype).tiny)


def make_step(model, reference=False, lam_o=1e3, lam_l=1e-2, lam_e=0.0):
    "A closure running one training step on (X, y); returns the loss."
    opt = torch.optim.Adam(model.parameters(), 1e-3) if reference else adam(model.parameters(), lr=1e-3)
    lf = RegularizedLoss(overlap_schedule=lam_o, l1_schedule=lam_l, regularize=getattr(model, 'scanner_regularized', False),
                         entropy_schedule=lam_e)

    def loss(X, y):
        if not lf.regularize: return F.binary_cross_entropy_with_logits(model.logits(X), y)
        if lam_e:
            z, A, att = model.logits(X, return_attention=True)
            return lf(z, y, A, model.scanner.weight, 0, attention=att).total
        z, A = model.logits(X, return_activations=True)
        if reference:
            W = model.scanner.weight
            return F.binary_cross_entropy_with_logits(z, y) + lam_o * overlap_autograd(A, W) + lam_l * W.abs().sum()
        return lf(z, y, A, model.scanner.weight, 0).total

    def step(X, y, f=loss):
        l = f(X, y); opt.zero_grad(set_to_none=True); l.backward(); opt.step()
        return l
    return step, loss


def time_steps(step, batches, device, warmup=3):
    for X, y in batches[:warmup]: step(X, y)
    ts = []
    for X, y in batches[warmup:]:
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter(); step(X, y)
        if device.type == 'cuda': torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts))


def sharpened(model, factor=8.0):
    "The model with its query projections scaled up, so attention scores are peaked as after training."
    with torch.no_grad():
        for layer in model.layers: layer.query.weight.mul_(factor); layer.query.bias.mul_(factor)
    return model


def sparse_rows(batches, device, fast_ms):
    "Step times with sparse attention maps (package kernels and the `entmax` package's), diffuse and peaked."
    from argminn_nb.attention import attention_map
    out = []
    try:
        import entmax
        pkg = {'sparsemax': lambda s: entmax.sparsemax(s, dim=-1), 'entmax15': lambda s: entmax.entmax15(s, dim=-1)}
    except ImportError: pkg = {}
    for name in ('sparsemax', 'entmax15'):
        for peaked in (False, True):
            m = ARGMINN(attention=name, random_state=0).to(device).train()
            if peaked: sharpened(m)
            ms = time_steps(make_step(m)[0], batches, device)
            out.append((f"ARGMINN {name}, {'peaked' if peaked else 'initial'} scores", ms, f'{ms / fast_ms:.2f}x softmax'))
            if name in pkg:
                for layer in m.layers: layer.normalize = pkg[name]
                ms = time_steps(make_step(m)[0], batches, device)
                out.append((f"  same with the entmax package's {name}", ms, f'{ms / fast_ms:.2f}x softmax'))
    m = ARGMINN(random_state=0).to(device).train()
    ms = time_steps(make_step(m, lam_e=1e-2)[0], batches, device)
    out.append(('ARGMINN softmax + attention-entropy loss', ms, f'{ms / fast_ms:.2f}x softmax'))
    return out


def check_equal(batch, device):
    "Loss and gradients of the reference and the package step on the same batch (float32; largest relative gap)."
    X, y = batch
    out = []
    for ref in (True, False):
        m = (DenseTokenARGMINN if ref else ARGMINN)(random_state=0).to(device).train()
        _, loss = make_step(m, ref)
        l = loss(X, y); l.backward()
        out.append((float(l.detach()), {k: p.grad.clone() for k, p in m.named_parameters()}))
    (l0, g0), (l1, g1) = out
    gap = max(float((g0[k] - g1[k]).norm() / g0[k].norm().clamp_min(1e-12)) for k in g0
              if g0[k].norm() > 1e-6)          # skip the key biases: their exact gradient is 0, both sides rounding noise
    return abs(l0 - l1) / abs(l0), gap


def spinner():
    "A process that keeps one core busy until killed."
    return subprocess.Popen([sys.executable, '-c', 'while True: pass'])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: all available cores)')
    ap.add_argument('--steps', type=int, default=30, help='timed steps per variant (median reported)')
    ap.add_argument('--fit-steps', type=int, default=200, help='steps of the timed fit() run (0: skip)')
    ap.add_argument('--no-compile', action='store_true', help='skip the torch.compile variant')
    ap.add_argument('--shared', action='store_true', help='also time the step with another process busy on one core')
    ap.add_argument('--device', default=None, help="'cpu', 'cuda' or None (auto)")
    a = ap.parse_args(argv)
    device = get_device(a.device)
    if a.threads: torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    loader = SimLoader('tal_gata', random_state=0)
    t = time.perf_counter()
    batches = [(X.to(device), y.to(device)) for _, (X, y) in zip(range(a.steps + 3), loader)]
    data_ms = 1000 * (time.perf_counter() - t) / len(batches)
    rel_loss, rel_grad = check_equal(batches[0], device)
    print(f"device {device} ({threads} threads); batch 128 x 500 bp (tal_gata); overlap + L1 on (λ_o = 1e3, λ_l = 1e-2)")
    print(f"reference vs package step on one batch: loss differs by {rel_loss:.1e} (relative), "
          f"gradients by at most {rel_grad:.1e} (relative norm)")

    rows = []
    def add(name, ms, note='', ratio=True):
        rows.append((name, ms, note, ratio))
    ref_ms = time_steps(make_step(DenseTokenARGMINN(random_state=0).to(device).train(), True)[0], batches, device)
    add('ARGMINN reference (before)', ref_ms)
    fast_ms = time_steps(make_step(ARGMINN(random_state=0).to(device).train())[0], batches, device)
    add('ARGMINN package (eager)', fast_ms)
    add('ARGMINN package, no BatchNorm', time_steps(make_step(ARGMINN(batch_norm=False, random_state=0).to(device).train())[0],
                                                   batches, device))
    add('ARGMINN package, no overlap loss (L1 only)',
        time_steps(make_step(ARGMINN(random_state=0).to(device).train(), lam_o=0.0)[0], batches, device))
    if not a.no_compile:
        m = ARGMINN(random_state=0).to(device).train()
        step, loss = make_step(m)
        logging.getLogger('torch._dynamo').setLevel(logging.ERROR)      # graph-break notices (a data-dependent tie check)
        try:
            cl = torch.compile(loss, dynamic=False)
            t = time.perf_counter(); step(*batches[0], f=cl); compile_s = time.perf_counter() - t
            add('ARGMINN package, torch.compile', time_steps(lambda X, y: step(X, y, f=cl), batches, device),
                f'first step (compiling) {compile_s:.0f} s')
        except Exception as e:                       # no compiler toolchain: say so, keep the eager figures
            add('ARGMINN package, torch.compile', float('nan'), f'unavailable: {type(e).__name__}: {str(e)[:80]}')
    for name, ms, note in sparse_rows(batches, device, fast_ms): add(name, ms, note)
    add('ARGMINN package (eager), timed again', time_steps(make_step(ARGMINN(random_state=0).to(device).train())[0], batches, device),
        'softmax, after the sparse rows: the spread between the two softmax rows is the noise of this run')
    add('CNN baseline (BCE only)', time_steps(make_step(CNNBaseline(random_state=0).to(device).train())[0], batches, device))
    add('simulated batch (SimLoader)', data_ms, 'generated between steps', ratio=False)
    if a.fit_steps:
        m = ARGMINN(random_state=0)
        t = time.perf_counter()
        fit(m, SimLoader('tal_gata', batches_per_epoch=a.fit_steps, random_state=0), None, epochs=1, overlap_schedule=1e3,
            l1_schedule=1e-2, early_stopping=False, warmup_until_auroc=None, device=device, verbose=False)
        fit_ms = 1000 * (time.perf_counter() - t) / a.fit_steps
        add('fit() per step, data included', fit_ms, f'4,000 steps: {4 * fit_ms:.0f} s (target <= 60 s)', ratio=False)

    print(f"\n{'variant':46s} {'ms/step':>8s} {'vs reference':>13s}  note")
    for name, ms, note, ratio in rows:
        r = f"{ref_ms / ms:12.2f}x" if ratio and ms == ms else ' ' * 13
        print(f"{name:46s} {ms:8.1f} {r}  {note}")
    print(f"\n4,000 steps of the step alone: reference {4 * ref_ms:.0f} s, package {4 * fast_ms:.0f} s")

    if a.shared and device.type == 'cpu':
        busy = spinner()
        try:
            time.sleep(1.0)
            auto = default_threads()
            res = {}
            for n in sorted({threads, auto}, reverse=True):
                torch.set_num_threads(n)
                res[n] = time_steps(make_step(ARGMINN(random_state=0).train())[0], batches, device)
        finally:
            busy.kill(); torch.set_num_threads(threads)
        print(f"\nwith one other process busy: default_threads() picks {auto}")
        for n, ms in res.items():
            print(f"  {n} thread(s): {ms:.1f} ms/step ({ms / fast_ms:.1f}x the quiet machine's {fast_ms:.1f} ms)")


if __name__ == '__main__':
    main()
