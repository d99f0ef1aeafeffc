"""ARGMINN and CNN baseline: shapes, configuration errors, and the properties SPEC §4/§10 insist on."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from argminn_nb.dna import one_hot_encode, random_sequences, reverse_complement
from argminn_nb.models import (ARGMINN, ARGMINNTrace, CNNBaseline, LogitsAndActivations, MemoryAttentionLayer,
                               positional_encoding, filter_weights)


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
    m = ARGMINN(dropout=0.1)                                 # the paper's rate (the default is the code's 0)
    ps = [mod.p for mod in m.modules() if isinstance(mod, nn.Dropout)]
    assert len(ps) == 2 * 4 and all(p == 0.1 for p in ps)   # 4 dropouts per layer, 2 layers
    assert all(mod.p == 0.3 for mod in ARGMINN(dropout=0.3).modules() if isinstance(mod, nn.Dropout))
    assert all(mod.p == 0.0 for mod in ARGMINN().modules() if isinstance(mod, nn.Dropout))


def test_normalisation_of_activations_is_the_scanner_batchnorm_only():
    assert not any(isinstance(mod, nn.BatchNorm1d) for mod in ARGMINN(batch_norm=False).modules())
    m = ARGMINN()                                            # default: the authors' scanner BatchNorm
    bns = [(n, mod) for n, mod in m.named_modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    assert [n for n, _ in bns] == ['scanner_norm'] and bns[0][1].num_features == 8


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
    m = ARGMINN(random_state=0, n_layers=3, **{**ARGMINN.LEGACY_OPTIONS, 'dropout': 0.1}).train(train)   # the paper's text
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
    assert filter_weights(c)[0].shape == (8, 4, 10)
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


def test_filter_weights_error():
    with pytest.raises(ValueError, match='has no motif scanner'):
        filter_weights(nn.Linear(3, 3))


# --- options that follow the authors' code (scanner BatchNorm, q·V scores, token projection, final LayerNorm) ---

def explicit_argminn_options(m, X):
    """ARGMINN with every option written out: BatchNorm on the scanner's ReLU output feeding the tokens, an optional
    token projection, scores against keys or values, an optional LayerNorm on the memory before the head."""
    A = torch.relu(m.scanner(X)); N, nf, P = A.shape
    H = m.scanner_norm(A) if m.config['batch_norm'] else A
    T = torch.cat([H.transpose(1, 2), positional_encoding(P, m.pe_dim).expand(N, P, m.pe_dim)], 2)
    if m.config['token_proj']: T = m.token_projection(T)
    mem = torch.ones(N, m.m0.shape[0]); att = []
    for l in m.layers:
        h, dh = l.n_heads, l.d_head
        q = l.query(mem).view(N, h, dh)
        V = l.value(T).view(N, P, h, dh)
        S = l.key(T).view(N, P, h, dh) if m.config['scores'] == 'key' else V
        a = torch.softmax(l.score_dropout(torch.einsum('nhd,nphd->nhp', q, S) / math.sqrt(dh)), -1)
        x = l.out_norm(l.out_dropout(l.out(torch.einsum('nhp,nphd->nhd', a, V).reshape(N, -1))))
        mem = mem + l.mlp_norm(l.mlp_dropout(l.mlp(x))); att.append(a)
    if m.config['final_norm']: mem = m.memory_norm(mem)
    return torch.sigmoid(m.head(mem).squeeze(-1)), torch.stack(att, 1), A


OPTION_SETS = [dict(batch_norm=True), dict(scores='value'), dict(token_proj=32), dict(final_norm=True),
               dict(batch_norm=True, scores='value', token_proj=32, final_norm=True, n_layers=4, mlp_hidden=32, dropout=0.0)]

@pytest.mark.parametrize('opts', OPTION_SETS)
@pytest.mark.parametrize('train', [False, True])
def test_options_match_explicit_form(X, opts, train):
    base = dict(ARGMINN.LEGACY_OPTIONS)
    m = ARGMINN(random_state=0, **{**base, **opts})
    if opts.get('batch_norm'):                       # running statistics that are far from the identity
        with torch.no_grad(): m.scanner_norm.running_mean.fill_(0.3); m.scanner_norm.running_var.fill_(0.05)
    m.train(train)
    with torch.random.fork_rng():
        torch.manual_seed(1); tr = m(X, return_trace=True)
    if opts.get('batch_norm') and train:             # the first pass updated the running statistics: start again
        with torch.no_grad(): m.scanner_norm.running_mean.fill_(0.3); m.scanner_norm.running_var.fill_(0.05)
    with torch.random.fork_rng():
        torch.manual_seed(1); p, att, A = explicit_argminn_options(m, X)
    torch.testing.assert_close(tr.probs, p, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tr.attention, att, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tr.activations, A)    # the trace holds the pre-BatchNorm activations


@pytest.mark.parametrize('opts', OPTION_SETS + [dict(pe_dim=0, n_heads=2), dict(pe_dim=0, token_proj=8)])
def test_factorised_tokens_gradients_match_explicit_form(X, opts):
    """The layers read the tokens factorised (`Tokens`: per-sequence filter channels + a shared positional table);
    every parameter's gradient equals the explicit (N, P, T) token form's (both with the same dropout draws)."""
    m = ARGMINN(random_state=0, **{**ARGMINN.LEGACY_OPTIONS, **opts}).train()
    params = [p for p in m.parameters()]
    with torch.random.fork_rng():
        torch.manual_seed(1); p1 = m(X)
    g1 = torch.autograd.grad(p1.sum(), params, allow_unused=True)
    if m.pe_dim:
        with torch.random.fork_rng():
            torch.manual_seed(1); p2 = explicit_argminn_options(m, X)[0]
        g2 = torch.autograd.grad(p2.sum(), params, allow_unused=True)
    else:                                            # no positional encoding: the dense tokens are the channels (projected)
        class Dense(ARGMINN):
            def tokens(self, H): return super().tokens(H).dense()
        d = Dense(random_state=0, **{**ARGMINN.LEGACY_OPTIONS, **opts}).train(); d.load_state_dict(m.state_dict())
        with torch.random.fork_rng():
            torch.manual_seed(1); p2 = d(X)
        g2 = torch.autograd.grad(p2.sum(), list(d.parameters()), allow_unused=True)
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)
    names = [n for n, _ in m.named_parameters()]
    for n, a, b in zip(names, g1, g2):
        if a is None or b is None: assert a is None and b is None, n; continue
        if n.endswith('key.bias'): continue         # exactly 0 (softmax ignores a constant score): rounding noise on both sides
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda s: f'{n}: {s}')


def test_saved_options_roundtrip(tmp_path, X):
    from argminn_nb.models import load_model, save_model
    for opts in OPTION_SETS:
        m = ARGMINN(random_state=0, **opts).eval()
        save_model(m, tmp_path / 'm.pt'); m2 = load_model(tmp_path / 'm.pt', device='cpu')
        assert {k: m2.config[k] for k in opts} == opts
        with torch.no_grad(): torch.testing.assert_close(m(X), m2(X))


def _fixed_loader(n_batches=3, seed=0):
    from argminn_nb.simulate import SimLoader
    return list(SimLoader('spi1', batch_size=32, batches_per_epoch=n_batches, random_state=seed))


def test_training_regularisers_read_pre_batchnorm_activations():
    """The overlap loss that `fit` records for a BatchNorm model equals L_o of relu(scanner(X)), not of the BatchNorm
    output (lr = 0, so the weights stay put and the recorded loss can be recomputed)."""
    from argminn_nb.losses import filter_overlap_loss
    from argminn_nb.train import fit
    batches = _fixed_loader()
    m = ARGMINN(random_state=0, batch_norm=True)
    with torch.no_grad(): m.scanner_norm.weight.fill_(3.0); m.scanner_norm.bias.fill_(2.0)   # BN output >> pre-BN
    res = fit(m, batches, None, epochs=1, lr=0.0, overlap_schedule=1.0, l1_schedule=1e-3, warmup_until_auroc=None,
              early_stopping=False, device='cpu', verbose=False)
    with torch.no_grad():
        pre = [filter_overlap_loss(torch.relu(m.scanner(X)), m.scanner.weight).item() for X, _ in batches]
        post = [filter_overlap_loss(torch.relu(m.scanner_norm.train()(torch.relu(m.scanner(X)))), m.scanner.weight).item()
                for X, _ in batches]
    recorded = res.history.train_overlap.iloc[0]
    assert recorded == pytest.approx(np.mean(pre), rel=1e-5)
    assert abs(np.mean(post) - recorded) > 0.1 * recorded        # the post-BN value is something else entirely


def test_tracing_reads_pre_batchnorm_activations():
    """A hand-set scanner that fires only on a planted k-mer, behind a BatchNorm whose running statistics shift every
    position above zero: tracing must still call only the planted position, with the pre-BN activation."""
    from argminn_nb.interpret import filter_activity, trace_instances
    from argminn_nb.toys import handset_argminn
    kmer = 'GATTACAGGA'
    W = np.zeros((2, 4, 10), np.float32); W[0] = one_hot_encode(kmer)[0]
    plain = handset_argminn(W, [-9.5, -100.0], attend=[0], n_heads=2)
    m = ARGMINN(n_filters=2, filter_width=10, n_heads=2, pe_dim=16, batch_norm=True, random_state=0)
    state = {k: v for k, v in plain.state_dict().items()}
    missing = m.load_state_dict(state, strict=False).missing_keys
    assert all(k.startswith('scanner_norm.') for k in missing)
    with torch.no_grad():
        m.scanner_norm.running_mean.fill_(-1.0); m.scanner_norm.running_var.fill_(1.0)   # post-BN >= 1 everywhere
        m.scanner_norm.weight.fill_(1.0); m.scanner_norm.bias.zero_()
    m.eval()
    X = random_sequences(4, 200, random_state=3); X[:2, :, 100:110] = one_hot_encode(kmer)[0]
    with torch.no_grad():
        post = m.scanner_norm(torch.relu(m.scanner(torch.as_tensor(X))))
    assert (post > 0.9).all()                                         # what the BatchNorm output looks like
    hits = trace_instances(m, X, attention_threshold=0.0)
    assert set(hits['filter']) == {0} and set(hits.start) == {100} and set(hits.seq) == {0, 1}
    assert np.allclose(hits.activation, 0.5)                          # pre-BN: one-hot match minus 9.5
    act = filter_activity(m, X)
    assert act.silent_on_data.tolist() == [False, True]               # filter 1 never fires before the BatchNorm
