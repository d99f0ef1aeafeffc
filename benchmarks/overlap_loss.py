"""Cost of the filter-overlap loss in an ARGMINN training step (batch 128, L = 500, CPU by default).

Prints, in one run, milliseconds per full training step (forward, loss, backward, Adam step) for:

* ARGMINN without L_o (BCE + L1 only),
* with the vectorised L_o (`argminn_nb.losses.filter_overlap_loss`, one conv1d),
* with a materialised L_o in the style of the authors' code (an (N, P, F, 2w-1) gather tensor),
* with a plain loop over positions (vectorised over batch, filters and shifts at each position),
* with the fully plain loop of the tests (sequences × positions × filters × shifts; timed on a few
  sequences and extrapolated to the batch, since a real step would take minutes),
* with the vectorised L_o on an ARGMINN with the scanner BatchNorm (`ARGMINN(batch_norm=True)`; L_o and L1
  read the pre-BatchNorm activations) and on the authors' code configuration (`AUTHORS_CODE_OPTIONS`),

plus the training throughput in sequences/s and the ratios side by side. Before timing, the
three L_o implementations are checked to agree (value and weight gradient) on the benchmark batch.

usage: python benchmarks/overlap_loss.py [--threads 1] [--steps 10] [--loop-steps 3] [--device cpu]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from argminn_nb.core import get_device
from argminn_nb.losses import filter_overlap_loss, l1_penalty, overlap_kernel, protection_mask
from argminn_nb.models import ARGMINN, AUTHORS_CODE_OPTIONS
from argminn_nb.simulate import SimLoader


def overlap_loop_positions(A, W):
    "L_o per sequence with a Python loop over positions i (everything else vectorised at each i)."
    N, nf, P = A.shape
    w = W.shape[2]
    C = overlap_kernel(W)                                   # (F, F, 2w-1): C[a, b, k], k = s + w - 1
    M = protection_mask(A.detach())                         # (N, F, P) one-hot argmax, 0 where nothing fires
    a_idx = M.argmax(1)                                     # (N, P)
    prot = M.sum(1)                                         # (N, P) 1 if protected
    total = A.new_zeros(N)
    for i in range(P):
        lo, hi = max(0, i - (w - 1)), min(P - 1, i + w - 1)
        win = A[:, :, lo:hi + 1]                            # (N, F, S') activations of every filter b at j
        Ci = C[a_idx[:, i]][:, :, lo - i + w - 1: hi - i + w]   # (N, F, S') weights for protector a(i)
        total = total + prot[:, i] * (win * Ci).sum((1, 2))
    return total


def overlap_materialised(A, W):
    "L_o per sequence by materialising the (N, P, F, 2w-1) window tensor (the published code's approach)."
    N, nf, P = A.shape
    w = W.shape[2]
    C = overlap_kernel(W)
    M = protection_mask(A.detach())
    a_idx, prot = M.argmax(1), M.sum(1)                      # (N, P)
    shifts = torch.arange(-(w - 1), w, device=A.device)
    j = torch.arange(P, device=A.device)[:, None] + shifts[None]          # (P, S)
    valid = (j >= 0) & (j < P)
    Ap = F.pad(A, (0, 1))                                                 # index P is a zero column
    win = Ap[:, :, torch.where(valid, j, P)]                              # (N, F, P, S)
    Cw = C[a_idx]                                                         # (N, P, F, S)
    return (win.permute(0, 2, 1, 3) * Cw).sum((2, 3)).mul(prot).sum(1)


def overlap_scalar_loop(A, W):
    "Eq. 2 per sequence written as plain loops over sequences, positions, other filters and shifts (as in tests)."
    N, nf, P = A.shape
    w = W.shape[2]
    out = []
    for n in range(N):
        tot = A.new_zeros(())
        for i in range(P):
            col = A[n, :, i].tolist()
            if all(v == 0 for v in col): continue
            a = col.index(max(col))
            for b in range(nf):
                if b == a: continue
                for j in range(max(0, i - (w - 1)), min(P, i + w)):
                    wa = W[a][:, max(0, j - i): w - max(0, i - j)].abs().sum()
                    wb = W[b][:, max(0, i - j): w - max(0, j - i)].abs().sum()
                    tot = tot + A[n, b, j] * wa * wb
        out.append(tot)
    return torch.stack(out)


def normalise(per_seq, A, W):
    nf, _, w = W.shape
    return per_seq.mean() / (A.shape[2] * nf * (2 * w - 1)) / W.abs().sum()


IMPLS = {
    'vectorised': lambda A, W: filter_overlap_loss(A, W, 'normalized'),
    'materialised': lambda A, W: normalise(overlap_materialised(A, W), A, W),
    'loop': lambda A, W: normalise(overlap_loop_positions(A, W), A, W),
}


def step_time(model, opt, X, y, impl, steps, device):
    times = []
    for k in range(steps + 2):                                            # 2 warm-up steps
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter()
        z, A = model.logits(X, return_activations=True)
        loss = F.binary_cross_entropy_with_logits(z, y) + 1e-3 * l1_penalty(model.scanner.weight)
        if impl is not None: loss = loss + 1.0 * IMPLS[impl](A, model.scanner.weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == 'cuda': torch.cuda.synchronize()
        if k >= 2: times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * times[len(times) // 2]                                   # median, ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1; the machine is shared)')
    ap.add_argument('--steps', type=int, default=10, help='timed steps per configuration')
    ap.add_argument('--loop-steps', type=int, default=3, help='timed steps for the slow loop version')
    ap.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'auto'")
    ap.add_argument('--scalar-seqs', type=int, default=1, help='sequences timed with the fully plain loop (extrapolated to 128)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = get_device(None if a.device == 'auto' else a.device)

    X, y = next(iter(SimLoader('spi1', batch_size=128, batches_per_epoch=1, random_state=0)))
    X, y = X.to(device), y.to(device)
    model = ARGMINN(random_state=0, **ARGMINN.LEGACY_OPTIONS).to(device)   # the paper's text
    # a few plain steps so activations look like a model in training, not an initialisation
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_time(model, opt, X, y, None, 3, device)

    # correctness on this batch: values and weight gradients agree
    ref = {}
    for name, fn in IMPLS.items():
        Wt = model.scanner.weight.detach().clone().requires_grad_()
        with torch.no_grad(): A = torch.relu(model.scanner(X))
        val = fn(A, Wt); (g,) = torch.autograd.grad(val, Wt)
        ref[name] = (val.detach(), g)
    for name in ('materialised', 'loop'):
        torch.testing.assert_close(ref[name][0], ref['vectorised'][0], rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(ref[name][1], ref['vectorised'][1], rtol=1e-3, atol=1e-9)

    res = {}
    for name, impl, steps in [('ARGMINN without L_o', None, a.steps), ('with vectorised L_o', 'vectorised', a.steps),
                              ('with materialised L_o (published-code style)', 'materialised', a.steps),
                              ('with plain-loop L_o (loop over positions)', 'loop', a.loop_steps)]:
        res[name] = step_time(model, opt, X, y, impl, steps, device)

    # the same step with the scanner BatchNorm, and with every option of the authors' code (same batch, same impl)
    for label, opts in (('with vectorised L_o, scanner BatchNorm', dict(batch_norm=True)),
                        ("with vectorised L_o, authors' code options", AUTHORS_CODE_OPTIONS)):
        m2 = ARGMINN(random_state=0, **{**ARGMINN.LEGACY_OPTIONS, **opts}).to(device)
        o2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
        step_time(m2, o2, X, y, None, 3, device)
        res[label] = step_time(m2, o2, X, y, 'vectorised', a.steps, device)

    # the fully plain loop is far too slow for a batch of 128: time it (forward + backward) on a few sequences
    # of the same batch and extrapolate to 128, on top of the step without L_o
    k = a.scalar_seqs
    with torch.no_grad(): A = torch.relu(model.scanner(X[:k]))
    A = A.detach().requires_grad_(); Wt = model.scanner.weight.detach().clone().requires_grad_()
    t = time.perf_counter()
    val = overlap_scalar_loop(A, Wt)
    val.sum().backward()
    scalar_ms = 1000 * (time.perf_counter() - t) * X.shape[0] / k
    with torch.no_grad():
        torch.testing.assert_close(val.detach(), overlap_loop_positions(A.detach(), Wt.detach()), rtol=1e-4, atol=1e-6)
    res[f'with fully plain-loop L_o (extrapolated from {k} seq.)'] = res['ARGMINN without L_o'] + scalar_ms

    base, vec = res['ARGMINN without L_o'], res['with vectorised L_o']
    print(f"device={device}, threads={torch.get_num_threads()}, batch={X.shape[0]}, L={X.shape[2]}, "
          f"torch {torch.__version__}; median over {a.steps} steps ({a.loop_steps} for the loop)")
    print(f"L_o value check: vectorised = materialised = loop = {ref['vectorised'][0].item():.6g} (grads agree)")
    print(f"{'configuration':56s} {'ms/step':>10s} {'seq/s':>8s} {'vs no L_o':>10s} {'vs vectorised':>14s} {'L_o part (ms)':>14s}")
    for name, ms in res.items():
        print(f"{name:56s} {ms:10.1f} {X.shape[0] / ms * 1000:8.1f} {ms / base:9.2f}x {ms / vec:13.2f}x {ms - base:14.1f}")
    lo = vec - base
    print(f"vectorised L_o adds {100 * (vec / base - 1):.0f}% to a training step ({lo:.1f} ms). On the L_o part alone it is "
          f"{(res['with materialised L_o (published-code style)'] - base) / lo:.0f}x faster than the materialised form, "
          f"{(res['with plain-loop L_o (loop over positions)'] - base) / lo:.0f}x faster than the loop over positions, and "
          f"{scalar_ms / lo:.0f}x faster than the fully plain loop")
    print(f"training throughput with vectorised L_o: {X.shape[0] / vec * 1000:.0f} sequences/s")


if __name__ == '__main__':
    main()
