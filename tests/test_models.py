"""ARGMINN and CNN baseline: shapes, configuration errors, and the properties SPEC §4/§10 insist on."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from argminn_nb.dna import one_hot_encode, random_sequences, reverse_complement
from argminn_nb.models import (ARGMINN, ARGMINNTrace, CNNBaseline, LogitsAndActivations, MemoryAttentionLayer,
                               positional_encoding, scanner_weights)


@pytest.fixture(scope='module')
def X():
    return torch.as_tensor(random_sequences(5, 120, random_state=0))


def test_shapes_and_trace(X):
    m = ARGMINN(random_state=0).eval()
    with torch.no_grad():
        p = m(X); z = m.logits(X); tr = m(X, return_trace=True)
    assert p.shape == (5,) and z.shape == (5,)
    assert isinstance(tr, ARGMINNTrace)
    assert tr.activations.shape == (5, 8, 111) and tr.attention.shape == (5, 2, 4, 111)
    torch.testing.assert_close(tr.probs, torch.sigmoid(z))
    torch.testing.assert_close(tr.attention.sum(-1), torch.ones(5, 2, 4))
    la = m.logits(X, return_activations=True)
    assert isinstance(la, LogitsAndActivations)
    torch.testing.assert_close(la.activations, tr.activations)


@pytest.mark.parametrize('kw', [dict(n_filters=4, pe_dim=8, n_heads=3), dict(n_filters=6, pe_dim=0, n_heads=2, n_layers=3),
                                dict(filter_width=5, memory_dim=32, mlp_hidden=16, n_heads=1)])
def test_configurations(X, kw):
    m = ARGMINN(**kw).eval()
    tr = m(X, return_trace=True)
    w = kw.get('filter_width', 10)
    assert tr.activations.shape == (5, kw.get('n_filters', 8), 120 - w + 1)
    assert tr.attention.shape == (5, kw.get('n_layers', 2), kw['n_heads'], 120 - w + 1)


def test_config_errors():
    with pytest.raises(ValueError, match='not divisible by n_heads=5'):
        ARGMINN(n_heads=5)
    with pytest.raises(ValueError, match='not divisible by n_heads=7'):
        MemoryAttentionLayer(24, n_heads=7)
    with pytest.raises(ValueError, match='pe_dim'):
        ARGMINN(pe_dim=3)
    with pytest.raises(ValueError, match='dropout'):
        ARGMINN(dropout=1.0)
    with pytest.raises(ValueError, match='n_layers must be >= 1'):
        ARGMINN(n_layers=0)
    with pytest.raises(ValueError, match='must be even'):
        positional_encoding(10, 3)


def test_input_errors():
    m = ARGMINN()
    with pytest.raises(ValueError, match=r'looks like \(N, L, 4\)'):
        m(torch.zeros(2, 100, 4))
    with pytest.raises(ValueError, match=r'\(N, 4, L\)'):
        m(torch.zeros(4, 100))
    with pytest.raises(ValueError, match='L >= 10'):
        m(torch.zeros(2, 4, 9))
    c = CNNBaseline()
    with pytest.raises(ValueError, match='seq_len=500'):
        c(torch.zeros(2, 4, 400))
    with pytest.raises(ValueError, match=r'looks like \(N, L, 4\)'):
        c(torch.zeros(2, 500, 4))


def test_numpy_input_accepted(X):
    m = ARGMINN(random_state=0).eval()
    with torch.no_grad():
        torch.testing.assert_close(m(X.numpy()), m(X))


def test_m0_fixed_ones_buffer():
    m = ARGMINN(memory_dim=64)
    assert 'm0' in dict(m.named_buffers()) and 'm0' not in dict(m.named_parameters())
    assert torch.equal(m.m0, torch.ones(64))
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    X = torch.as_tensor(random_sequences(4, 60, random_state=1))
    m(X).sum().backward(); opt.step()
    assert torch.equal(m.m0, torch.ones(64))


def test_dropout_is_really_there():
    m = ARGMINN()
    ps = [mod.p for mod in m.modules() if isinstance(mod, nn.Dropout)]
    assert len(ps) == 2 * 4 and all(p == 0.1 for p in ps)   # 4 dropouts per layer, 2 layers
    assert all(mod.p == 0.3 for mod in ARGMINN(dropout=0.3).modules() if isinstance(mod, nn.Dropout))


def test_no_undocumented_normalisation_of_activations():
    m = ARGMINN()
    assert not any(isinstance(mod, nn.BatchNorm1d) for mod in m.modules())


def test_attention_scored_on_keys_not_values(X):
    m = ARGMINN(random_state=0).eval()
    with torch.no_grad():
        a0 = m(X, return_trace=True).attention
        for layer in m.layers: layer.value.weight.mul_(-2.0); layer.value.bias.add_(1.0)
        a1 = m(X, return_trace=True).attention
        torch.testing.assert_close(a0[:, 0], a1[:, 0])          # layer 1: only keys + query matter
        m.layers[0].key.weight.mul_(-2.0)
        a2 = m(X, return_trace=True).attention
    assert (a2[:, 0] - a0[:, 0]).abs().max() > 1e-4


def explicit_argminn(m, X):
    """ARGMINN written out as in SPEC §4: explicit K = W_K tokens, V = W_V tokens from the ORIGINAL tokens in
    every layer, scores against the keys, dropout on the scores, softmax, weights applied to the values."""
    A = torch.relu(m.scanner(X)); N, nf, P = A.shape
    T = torch.cat([A.transpose(1, 2), positional_encoding(P, m.pe_dim).expand(N, P, m.pe_dim)], 2)
    mem = torch.ones(N, m.m0.shape[0]); att = []
    for l in m.layers:
        h, dh = l.n_heads, l.d_head
        q = l.query(mem).view(N, h, dh)
        K = l.key(T).view(N, P, h, dh); V = l.value(T).view(N, P, h, dh)
        a = torch.softmax(l.score_dropout(torch.einsum('nhd,nphd->nhp', q, K) / math.sqrt(dh)), -1)
        ctx = torch.einsum('nhp,nphd->nhd', a, V).reshape(N, -1)
        x = l.out_norm(l.out_dropout(l.out(ctx)))
        mem = mem + l.mlp_norm(l.mlp_dropout(l.mlp(x))); att.append(a)
    return torch.sigmoid(m.head(mem).squeeze(-1)), torch.stack(att, 1)


@pytest.mark.parametrize('train', [False, True])
def test_matches_explicit_keys_values_form(X, train):
    m = ARGMINN(random_state=0, n_layers=3).train(train)
    with torch.random.fork_rng():
        torch.manual_seed(1); tr = m(X, return_trace=True)
    with torch.random.fork_rng():
        torch.manual_seed(1); p, att = explicit_argminn(m, X)
    torch.testing.assert_close(tr.probs, p, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tr.attention, att, rtol=1e-5, atol=1e-6)
    # gradients agree as well
    params = list(m.parameters())
    g1 = torch.autograd.grad(tr.probs.sum(), params)
    g2 = torch.autograd.grad(p.sum(), params)
    for a, b in zip(g1, g2): torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_memory_update_residual():
    layer = MemoryAttentionLayer(8, memory_dim=16, n_heads=2, dropout=0.0).eval()
    upd, w = layer(torch.randn(2, 7, 8), torch.ones(2, 16))
    assert upd.shape == (2, 16) and w.shape == (2, 2, 7)
    # the update is LayerNorm-ed: zero mean, unit variance per row (affine params at init)
    torch.testing.assert_close(upd.mean(-1), torch.zeros(2), atol=1e-5, rtol=0)


def test_positional_encoding_formula():
    P = positional_encoding(50, 16)
    for i in (0, 3, 49):
        for j in range(8):
            assert P[i, 2 * j].item() == pytest.approx(np.sin(i / 10000 ** (2 * j / 16)), abs=1e-6)
            assert P[i, 2 * j + 1].item() == pytest.approx(np.cos(i / 10000 ** (2 * j / 16)), abs=1e-6)


def test_reproducible_init_and_global_rng_untouched():
    s = torch.random.get_rng_state()
    a, b = ARGMINN(random_state=5), ARGMINN(random_state=5)
    assert torch.equal(torch.random.get_rng_state(), s)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()): assert torch.equal(v, w), k
    c = ARGMINN(random_state=6)
    assert not torch.equal(a.scanner.weight, c.scanner.weight)
    assert torch.equal(CNNBaseline(random_state=1).scanner.weight, CNNBaseline(random_state=1).scanner.weight)


def test_state_dict_roundtrip(tmp_path, X):
    m = ARGMINN(random_state=0).eval()
    torch.save(m.state_dict(), tmp_path / 'm.pt')
    m2 = ARGMINN().eval(); m2.load_state_dict(torch.load(tmp_path / 'm.pt'))
    with torch.no_grad(): torch.testing.assert_close(m(X), m2(X))


def test_planted_kmer_hand_set_filter():
    kmer = 'ACGTTGCAAC'
    m = ARGMINN(random_state=0).eval()
    with torch.no_grad():
        m.scanner.weight.zero_(); m.scanner.bias.fill_(-100.0)
        m.scanner.weight[3] = torch.as_tensor(one_hot_encode(kmer)[0]); m.scanner.bias[3] = -9.5
    X = random_sequences(3, 80, random_state=2)
    X[:, :, 30:40] = one_hot_encode(kmer)[0]
    with torch.no_grad():
        A = m(X, return_trace=True).activations
        Arc = m(reverse_complement(X), return_trace=True).activations
    nz = torch.nonzero(A)
    assert (nz[:, 1] == 3).all() and (nz[:, 2] == 30).all() and len(nz) >= 3
    assert A[:, 3, 30].allclose(torch.full((3,), 0.5))
    # the reverse complement does not contain the (non-palindromic) k-mer at all
    assert Arc[:, 3].max() == 0 or torch.nonzero(Arc)[:, 2].ne(40).all()


def test_cnn_structure(X):
    c = CNNBaseline()
    assert [blk['conv'].kernel_size[0] for blk in c.conv_layers] == [10, 5, 5]
    assert all(blk['conv'].out_channels == 8 for blk in c.conv_layers)
    assert all(isinstance(blk['bn'], nn.BatchNorm1d) for blk in c.conv_layers)
    assert c.pool.kernel_size == 40 and c.pool.stride == 40
    lin = [l for l in c.dense if isinstance(l, nn.Linear)]
    assert [l.out_features for l in lin] == [10, 5] and lin[0].in_features == 8 * (483 // 40)
    assert c.head.out_features == 1 and c.scanner is c.conv_layers[0]['conv']
    assert scanner_weights(c).shape == (8, 4, 10)
    c120 = CNNBaseline(seq_len=120).eval()
    with torch.no_grad():
        la = c120.logits(X, return_activations=True)
        assert la.logits.shape == (5,) and la.activations.shape == (5, 8, 111) and (la.activations >= 0).all()
        torch.testing.assert_close(c120(X), torch.sigmoid(la.logits))


def test_cnn_eval_deterministic_train_batchnorm(X):
    c = CNNBaseline(seq_len=120, random_state=0)
    c.eval()
    with torch.no_grad():
        p1 = c(X); p2 = c(X[:2])
    torch.testing.assert_close(p1[:2], p2)          # eval mode: a sequence's output does not depend on its batch


def test_scanner_weights_error():
    with pytest.raises(ValueError, match='no `scanner` Conv1d'):
        scanner_weights(nn.Linear(3, 3))
