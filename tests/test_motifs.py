"MEME/JASPAR round trips and scanning checks for argminn_nb.motifs."
import io
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from argminn_nb.motifs import Motif, read_meme, write_meme, read_jaspar, write_jaspar, builtin_motifs, scan_motifs
from argminn_nb.dna import random_sequences


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.just(4), st.integers(1, 25)), elements=st.floats(0.01, 1)))
def test_meme_round_trip(counts):
    m = Motif.from_counts('m1', counts, alt_name='ALT', nsites=30)
    back = read_meme(io.StringIO(write_meme([m]))).motifs[0]
    assert back.name == 'm1' and back.alt_name == 'ALT' and back.nsites == 30
    assert np.allclose(back.pfm, m.pfm, atol=1e-5)


def test_jaspar_round_trip(tmp_path):
    ms = list(builtin_motifs(['GATA1', 'CTCF']).values())
    write_jaspar(ms, tmp_path / 'x.jaspar')
    back = read_jaspar(tmp_path / 'x.jaspar')
    assert [b.pfm.shape for b in back] == [m.pfm.shape for m in ms]
    for b, m in zip(back, ms):
        assert np.allclose(b.pfm, m.pfm, atol=1e-4)


def test_builtin_file_reads_with_memelite():
    import memelite.io
    from argminn_nb.motifs import builtin_motif_path
    ml = memelite.io.read_meme(str(builtin_motif_path()))
    ours = builtin_motifs()
    assert len(ml) == len(ours)
    for key, pwm in ml.items():
        assert np.allclose(pwm, ours[key.split()[0]].pfm, atol=1e-5)


def _slow_scores(x_codes, pwm):
    "Per-window normalised score with plain loops: the reference for the convolution."
    W = pwm.shape[1]; lo, hi = pwm.min(0).sum(), pwm.max(0).sum()
    out = []
    for i in range(len(x_codes) - W + 1):
        out.append((sum(pwm[x_codes[i + j], j] for j in range(W)) - lo) / (hi - lo))
    return np.clip(out, 0, 1)


def test_scan_matches_loop():
    X = random_sequences(3, 60, random_state=2)
    codes = X.argmax(1)
    for m in builtin_motifs(['GATA1', 'REST_right']).values():
        S = scan_motifs(X, m)
        for i in range(3):
            ref_f = _slow_scores(codes[i], m.pwm())
            ref_r = _slow_scores(codes[i], m.reverse_complement().pwm())
            assert np.allclose(S[i, 0, 0, :len(ref_f)], ref_f, atol=1e-5)
            assert np.allclose(S[i, 0, 1, :len(ref_r)], ref_r, atol=1e-5)
            assert np.isnan(S[i, 0, :, len(ref_f):]).all()


def test_bad_meme(tmp_path):
    p = tmp_path / 'bad.meme'
    p.write_text('MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n0.9 0.9 0 0\n')
    with pytest.raises(ValueError, match='column 1 sums to 1.8'):
        read_meme(p)
    with pytest.raises(FileNotFoundError):
        read_meme(tmp_path / 'missing.meme')


def test_meme_matrix_needs_its_own_motif_line():
    "A matrix after a mangled MOTIF line is an error, not a second motif under the previous name (found by the MEME fuzz test)."
    import io
    text = ('MEME version 4\n\nALPHABET= ACGT\n\nMOTIF M1\nletter-probability matrix: alength= 4 w= 1\n 0.1 0.2 0.3 0.4\n\n'
            'OTIF M2\nletter-probability matrix: alength= 4 w= 1\n 1 0 0 0\n')
    with pytest.raises(ValueError, match='line 10: matrix without a MOTIF line'):
        read_meme(io.StringIO(text))
