"Property and bad-input tests for argminn_nb.dna (the notebook holds the worked examples)."
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from argminn_nb.dna import (one_hot_encode, decode, reverse_complement, dinucleotide_shuffle, dinucleotide_counts,
                            gc_content, check_one_hot, random_sequences)

dna = st.text(alphabet='ACGTacgt', min_size=1, max_size=200)
dna_n = st.text(alphabet='ACGTNacgtn', min_size=1, max_size=200)


@given(dna)
def test_one_hot_round_trip(s):
    X = one_hot_encode(s)
    assert X.shape == (1, 4, len(s)) and X.dtype == np.float32
    assert (X.sum(1) == 1).all()
    assert decode(X) == [s.upper()]


@given(dna_n)
def test_ambiguous_columns_are_zero_or_uniform(s):
    X = one_hot_encode(s)
    is_n = np.array([c in 'Nn' for c in s])
    assert (X[0][:, is_n] == 0).all()
    U = one_hot_encode(s, ambiguous='uniform')
    assert np.allclose(U[0][:, is_n], 0.25)
    assert decode(X) == [s.upper()]


@given(dna_n)
def test_reverse_complement_is_an_involution(s):
    assert reverse_complement(reverse_complement(s)) == s
    X = one_hot_encode(s)
    assert np.array_equal(reverse_complement(reverse_complement(X)), X)
    assert decode(reverse_complement(X)) == [reverse_complement(s.upper())]
    T = torch.from_numpy(X)
    assert torch.equal(reverse_complement(T), torch.from_numpy(reverse_complement(X)))


@settings(max_examples=60, deadline=None)
@given(dna_n, st.integers(0, 2**32 - 1))
def test_shuffle_preserves_dinucleotide_counts(s, seed):
    sh = dinucleotide_shuffle(s, random_state=seed)
    assert len(sh) == len(s)
    assert (dinucleotide_counts(sh.upper()) == dinucleotide_counts(s.upper())).all()
    X = one_hot_encode(s)
    Y = dinucleotide_shuffle(X, n_shuffles=2, random_state=seed)
    for j in range(2):
        assert (dinucleotide_counts(Y[:, j]) == dinucleotide_counts(X)).all()


def test_shuffle_is_seeded_and_random():
    X = random_sequences(3, 300, random_state=0)
    a = dinucleotide_shuffle(X, random_state=1)
    assert np.array_equal(a, dinucleotide_shuffle(X, random_state=1))
    assert not np.array_equal(a, dinucleotide_shuffle(X, random_state=2))
    assert not np.array_equal(a, X)


def test_shuffle_of_tensor_stays_tensor():
    X = torch.from_numpy(random_sequences(2, 50, random_state=0))
    Y = dinucleotide_shuffle(X, random_state=0)
    assert isinstance(Y, torch.Tensor) and Y.shape == X.shape


@pytest.mark.parametrize('bad, msg', [
    (['ACGT', 'AC-T'], "'-' in sequence 1 at position 2"),
    (['ACGT', 'ACG'], 'unequal lengths'),
    ([], 'empty batch'),
    (['', ''], 'sequence 0 is empty'),
    ('ACGT\n', "'\\n' in sequence 0 at position 4"),
])
def test_bad_strings(bad, msg):
    with pytest.raises(ValueError) as e:
        one_hot_encode(bad)
    assert msg in str(e.value)


def test_non_string_item():
    with pytest.raises(TypeError, match='sequence 1 is a int'):
        one_hot_encode(['ACGT', 5])


@pytest.mark.parametrize('shape, msg', [((3, 100, 4), 'looks like (N, L, 4)'), ((100, 4), '2-D shape'),
                                        ((2, 5, 100), '4 channels'), ((2, 4, 0), 'zero-length')])
def test_layout_errors(shape, msg):
    with pytest.raises(ValueError) as e:
        check_one_hot(np.zeros(shape, np.float32))
    assert msg in str(e.value)


@given(st.floats(0, 1))
@settings(max_examples=20, deadline=None)
def test_random_sequences_gc(gc):
    X = random_sequences(50, 400, gc=gc, random_state=0)
    assert abs(np.nanmean(gc_content(X)) - gc) < 0.02


def _distinct_arrangements(letters):
    "Every distinct ordering of a multiset of letters (recursive, for short sequences)."
    if not letters: yield ''; return
    for a in sorted(set(letters)):
        rest = list(letters); rest.remove(a)
        for tail in _distinct_arrangements(rest): yield a + tail


@pytest.mark.parametrize('s', ['AACGACAGCCA', 'TGCATTGACGT'])
def test_shuffle_is_uniform_over_every_sequence_with_the_same_dinucleotides(s):
    """Kandel et al.: the construction draws uniformly from all sequences with the same first base and the same
    dinucleotide counts. Enumerate them all, draw many shuffles at once, and test the frequencies (chi-square)."""
    from scipy.stats import chisquare
    target = dinucleotide_counts(s)
    support = {t for t in _distinct_arrangements(list(s)) if t[0] == s[0] and (dinucleotide_counts(t) == target).all()}
    n = 150 * len(support)
    draws = dinucleotide_shuffle(s, n_shuffles=n, random_state=11)
    freq = {}
    for t in draws: freq[t] = freq.get(t, 0) + 1
    assert set(freq) == support                       # every valid sequence is reachable, nothing else is produced
    assert chisquare([freq[t] for t in sorted(support)]).pvalue > 1e-3


def test_batched_shuffles_are_each_exact_and_independent():
    X = random_sequences(6, 80, random_state=3)
    X[2, :, 10:15] = 0                                # an ambiguous stretch: a fifth letter, kept ambiguous
    Y = dinucleotide_shuffle(X, n_shuffles=4, random_state=5)
    for j in range(4):
        assert (dinucleotide_counts(Y[:, j]) == dinucleotide_counts(X)).all()
        assert np.array_equal(Y[:, j, :, 0], X[:, :, 0]) and np.array_equal(Y[:, j, :, -1], X[:, :, -1])
    assert (Y[2].sum(1) == 0).sum() == 4 * 5          # the ambiguous columns are still there, in each shuffle
    assert len({Y[0, j].tobytes() for j in range(4)}) == 4


def test_shuffles_do_not_depend_on_batching():
    """Each shuffle has its own random stream keyed from random_state in sequence order, so shuffling a set in two
    calls with the same generator gives exactly the shuffles of one call (DeepLIFTShap references batch by batch)."""
    X = random_sequences(9, 120, random_state=4)
    whole = dinucleotide_shuffle(X, n_shuffles=4, random_state=np.random.default_rng(2))
    rng = np.random.default_rng(2)
    parts = np.concatenate([dinucleotide_shuffle(X[:5], n_shuffles=4, random_state=rng),
                            dinucleotide_shuffle(X[5:], n_shuffles=4, random_state=rng)])
    assert np.array_equal(whole, parts)
