"""Filter-overlap loss: the fast convolution form against a plain-loop transcription of paper Eq. 2.

The loop reference below is the definition, written as directly as possible (one term per
sequence n, position i, other filter b and shift s). Values AND gradients (w.r.t. the
activations and the weights) must match the vectorised `filter_overlap_loss`.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

from argminn_nb.losses import (ConstantSchedule, LogRampSchedule, PaperL1Schedule, PaperOverlapSchedule,
                               ReferenceL1Schedule, ReferenceOverlapSchedule, RegularizedLoss, as_schedule,
                               default_schedules, filter_overlap_loss, is_ramping, l1_penalty, overlap_kernel,
                               protection_mask)

@pytest.fixture(autouse=True)
def float64():
    "The comparisons are near-exact arithmetic on small inputs: run this module's tests in float64, then restore."
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def overlap_loss_loop(A, W):
    """Paper Eq. 2 per sequence, by plain loops. All-zero columns protect nothing; ties -> lowest index."""
    N, nf, P = A.shape
    w = W.shape[2]
    out = []
    for n in range(N):
        tot = A.new_zeros(())
        for i in range(P):
            col = [A[n, f, i].item() for f in range(nf)]
            if all(v == 0 for v in col): continue
            a = col.index(max(col))                       # first maximal index
            for b in range(nf):
                if b == a: continue
                for j in range(i - (w - 1), i + w):
                    if j < 0 or j >= P: continue
                    wa = W[a][:, max(0, j - i): w - max(0, i - j)].abs().sum()   # columns [max(0,j-i), w-1-max(0,i-j)]
                    wb = W[b][:, max(0, i - j): w - max(0, j - i)].abs().sum()   # columns [max(0,i-j), w-1-max(0,j-i)]
                    tot = tot + A[n, b, j] * wa * wb
        out.append(tot)
    return torch.stack(out)


def reduce_loop(per_seq, A, W, reduction):
    if reduction == 'none': return per_seq
    if reduction == 'sum': return per_seq.sum()
    if reduction == 'mean': return per_seq.mean()
    nf, _, w = W.shape
    return per_seq.mean() / (A.shape[2] * nf * (2 * w - 1)) / W.abs().sum()


def random_case(seed, N, nf, P, w, zero_cols=True, ties=True, sparse=0.5):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(N, nf, P, generator=g).abs() * (torch.rand(N, nf, P, generator=g) > sparse)
    if zero_cols and P > 2:
        A[:, :, 0] = 0; A[:, :, P // 2] = 0                     # whole zero columns, incl. the first position
    if ties and nf > 1:
        A[:, :, -1] = 1.5                                       # every filter tied at the last position
        A[0, :2, min(1, P - 1)] = 2.0                           # a two-way tie near the start
    W = torch.randn(nf, 4, w, generator=g)
    return A, W


def check_values_and_grads(A, W, reduction):
    A1, W1 = A.clone().requires_grad_(), W.clone().requires_grad_()
    A2, W2 = A.clone().requires_grad_(), W.clone().requires_grad_()
    fast = filter_overlap_loss(A1, W1, reduction)
    ref = reduce_loop(overlap_loss_loop(A2, W2), A2, W2, reduction)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    g = torch.Generator().manual_seed(123)
    up = torch.randn(fast.shape, generator=g) if fast.ndim else torch.tensor(1.0)
    fast = fast + 0 * (A1.sum() + W1.sum()); ref = ref + 0 * (A2.sum() + W2.sum())   # a graph even when the loss is 0
    gA1, gW1 = torch.autograd.grad((fast * up).sum(), (A1, W1), allow_unused=True)
    gA2, gW2 = torch.autograd.grad((ref * up).sum(), (A2, W2), allow_unused=True)
    gA1 = torch.zeros_like(A) if gA1 is None else gA1; gA2 = torch.zeros_like(A) if gA2 is None else gA2
    gW1 = torch.zeros_like(W) if gW1 is None else gW1; gW2 = torch.zeros_like(W) if gW2 is None else gW2
    torch.testing.assert_close(gA1, gA2, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gW1, gW2, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('reduction', ['none', 'sum', 'mean', 'normalized'])
@pytest.mark.parametrize('shape', [(2, 4, 30, 5), (3, 3, 12, 4), (1, 8, 40, 10), (2, 2, 3, 6),   # P < w
                                   (2, 5, 1, 3), (1, 1, 10, 4), (2, 3, 10, 1)])                    # P = 1, one filter, w = 1
def test_matches_loop(shape, reduction):
    N, nf, P, w = shape
    for seed in range(3):
        A, W = random_case(seed, N, nf, P, w)
        check_values_and_grads(A, W, reduction)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(N=st.integers(1, 3), nf=st.integers(1, 5), P=st.integers(1, 25), w=st.integers(1, 7),
       seed=st.integers(0, 10_000), sparse=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       reduction=st.sampled_from(['none', 'normalized']))
def test_matches_loop_property(N, nf, P, w, seed, sparse, reduction):
    A, W = random_case(seed, N, nf, P, w, sparse=sparse)
    check_values_and_grads(A, W, reduction)


def test_integer_ties_and_zero_weights():
    """Activations on a small integer grid (many ties), some filters with all-zero weights."""
    g = torch.Generator().manual_seed(7)
    A = torch.randint(0, 3, (3, 4, 20), generator=g).double()
    W = torch.randn(4, 4, 5, generator=g); W[2] = 0
    check_values_and_grads(A, W, 'none')
    check_values_and_grads(A, W, 'normalized')


def test_all_zero_activations_and_weights():
    A = torch.zeros(2, 3, 10)
    W = torch.randn(3, 4, 4)
    assert filter_overlap_loss(A, W, 'none').abs().max() == 0
    assert torch.isfinite(filter_overlap_loss(torch.rand(2, 3, 10), torch.zeros(3, 4, 4), 'normalized'))
    assert filter_overlap_loss(torch.rand(2, 3, 10), torch.zeros(3, 4, 4), 'normalized') == 0


def test_zero_column_not_credited_to_filter_0():
    # Position 0 is all zero; only filter 1 fires at position 1. Crediting the zero column to filter 0
    # would charge filter 1's activation at position 1 against filter 0; it must not.
    A = torch.zeros(1, 2, 4); A[0, 1, 1] = 1.0
    W = torch.ones(2, 4, 3)
    assert filter_overlap_loss(A, W, 'none').item() == 0
    M = protection_mask(A)
    assert M[0, :, 0].sum() == 0 and M[0, 1, 1] == 1


def test_ties_lowest_index():
    A = torch.tensor([[[1.0, 2.0], [1.0, 2.0], [0.5, 2.0]]])
    M = protection_mask(A)
    assert M[0, :, 0].tolist() == [1, 0, 0] and M[0, :, 1].tolist() == [1, 0, 0]


def protector_loop(A):
    "Protecting filter of every column by plain loops: first maximal index; columns of zeros protect nothing."
    N, nf, P = A.shape
    M = torch.zeros_like(A)
    for n in range(N):
        for i in range(P):
            col = [A[n, f, i].item() for f in range(nf)]
            if any(v != 0 for v in col): M[n, col.index(max(col)), i] = 1
    return M


@pytest.mark.parametrize('relu', [True, False])
def test_protection_mask_matches_loop_with_ties(relu):
    """Small integer activations, so ties are everywhere (and, without ReLU, negative maxima next to zeros)."""
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        A = torch.randint(-2, 3, (3, 5, 9), generator=g).double()
        if relu: A = A.relu()
        assert torch.equal(protection_mask(A), protector_loop(A))
    A = torch.rand(4, 6, 30, generator=g)                # continuous values: no ties, the fast path
    assert torch.equal(protection_mask(A), protector_loop(A))


def test_argmax_not_differentiated():
    """Gradient w.r.t. the protecting filter's own activation at i is only through its role as 'b' elsewhere."""
    A = torch.zeros(1, 2, 1, requires_grad=True)
    with torch.no_grad(): A[0, 0, 0] = 2.0; A[0, 1, 0] = 1.0
    W = torch.ones(2, 4, 2)
    loss = filter_overlap_loss(A, W, 'none').sum()
    loss.backward()
    # single position: protector a=0, b=1 at shift 0 -> loss = A[1] * 8 * 8; d/dA[0] = 0
    assert loss.item() == pytest.approx(64.0)
    assert A.grad[0, 0, 0] == 0 and A.grad[0, 1, 0] == pytest.approx(64.0)


def test_kernel_symmetry_and_diagonal():
    W = torch.randn(5, 4, 7)
    C = overlap_kernel(W)
    assert C.shape == (5, 5, 13)
    assert torch.all(C[torch.arange(5), torch.arange(5)] == 0)
    # swapping the roles of a and b mirrors the shift: C[a, b, s] == C[b, a, -s]
    torch.testing.assert_close(C, C.transpose(0, 1).flip(-1))
    # shift 0 is the full overlap: product of the filters' total L1 norms
    tot = W.abs().sum((1, 2))
    torch.testing.assert_close(C[0, 1, 6], tot[0] * tot[1])


def test_bad_input():
    with pytest.raises(ValueError, match='reduction must be one of'):
        filter_overlap_loss(torch.rand(1, 2, 5), torch.rand(2, 4, 3), 'avg')
    with pytest.raises(ValueError, match=r'activations must have shape \(N, n_filters, positions\)'):
        filter_overlap_loss(torch.rand(2, 5), torch.rand(2, 4, 3))
    with pytest.raises(ValueError, match='n_filters=2'):
        filter_overlap_loss(torch.rand(1, 2, 5), torch.rand(3, 4, 3))
    with pytest.raises(ValueError, match='weight must have shape'):
        overlap_kernel(torch.rand(4, 3))


def test_l1():
    W = torch.tensor([[-1.0, 2.0], [0.5, 0.0]])
    assert l1_penalty(W).item() == 3.5


def test_schedules():
    po, pl = PaperOverlapSchedule(), PaperL1Schedule()
    assert [po(e) for e in range(10)] == [0.0] * 10
    np.testing.assert_allclose(np.log10([po(e) for e in range(10, 30)]), np.linspace(0.5, 4, 20))
    np.testing.assert_allclose(np.log10([pl(e) for e in range(10, 30)]), np.linspace(-4, -3, 20))
    assert po(39) == pytest.approx(1e4) and pl(100) == pytest.approx(1e-3)
    assert ReferenceOverlapSchedule()(30) == pytest.approx(1e5) and ReferenceL1Schedule()(30) == pytest.approx(1e-2)
    s = LogRampSchedule(1, 100, warmup=1, ramp=3)
    assert [s(e) for e in range(5)] == pytest.approx([0, 1, 10, 100, 100])
    assert LogRampSchedule(1, 5, warmup=0, ramp=1)(0) == 5
    assert ConstantSchedule(2)(99) == 2.0 and as_schedule(3)(1) == 3.0 and as_schedule(lambda e: e)(4) == 4
    with pytest.raises(TypeError): as_schedule('x')
    assert is_ramping([po], 0, 40) and not is_ramping([po], 29, 40) and not is_ramping([], 0, 40)
    o, l = default_schedules('normalized')
    assert isinstance(o, ReferenceOverlapSchedule) and isinstance(l, ReferenceL1Schedule)
    o, l = default_schedules('mean', warmup=2, ramp=3)
    assert isinstance(o, PaperOverlapSchedule) and o.warmup == 2 and o.ramp == 3


def test_regularized_loss_bundle():
    torch.manual_seed(0)
    z, y = torch.randn(6), torch.tensor([0., 1, 0, 1, 1, 0])
    A, W = torch.rand(6, 3, 20), torch.randn(3, 4, 5)
    f = RegularizedLoss(overlap_schedule=2.0, l1_schedule=0.5, reduction='mean')
    t = f(z, y, A, W, epoch=0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    torch.testing.assert_close(t.prediction, bce)
    torch.testing.assert_close(t.overlap, filter_overlap_loss(A, W, 'mean'))
    torch.testing.assert_close(t.total, bce + 2 * t.overlap + 0.5 * W.abs().sum())
    assert (t.lambda_o, t.lambda_l) == (2.0, 0.5)
    t0 = RegularizedLoss(regularize=False)(z, y)
    torch.testing.assert_close(t0.total, bce)
