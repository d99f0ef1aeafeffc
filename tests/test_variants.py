"""`argminn variants` end to end: a VCF on a genome and paired sequences, bad records as one-line errors or skipped."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from argminn_nb.dna import decode, random_sequences, write_fasta
from argminn_nb.models import make_model, save_model
from argminn_nb.motifs import builtin_motifs, write_meme


def cli(*args):
    return subprocess.run([sys.executable, '-m', 'argminn_nb.cli', *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp('var')
    seq = decode(random_sequences(1, 3000, random_state=0))[0]
    (d / 'g.fa').write_text('>chr1\n' + seq + '\n')
    save_model(make_model('argminn', random_state=0), d / 'M.pt')
    write_meme(builtin_motifs().values(), d / 'motifs.meme')
    recs = [(600, seq[599], 'A' if seq[599] != 'A' else 'C'), (1200, seq[1199], seq[1199] + 'GG'), (1800, seq[1799:1802], seq[1799])]
    (d / 'v.vcf').write_text('##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n'
                             + ''.join(f'chr1\t{p}\tv{i}\t{r}\t{a}\n' for i, (p, r, a) in enumerate(recs)))
    return d, seq


def test_vcf_on_genome(setup, tmp_path):
    d, _ = setup
    r = cli('variants', d / 'M.pt', '--vcf', d / 'v.vcf', '--genome', d / 'g.fa', '--out', tmp_path / 'o', '--threads', '1', '-q',
            '--motifs', d / 'motifs.meme')
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / 'o' / 'variants.tsv', sep='\t')
    assert t.id.tolist() == ['v0', 'v1', 'v2'] and {'p_ref', 'p_alt', 'delta_logit', 'lost', 'gained'} <= set(t.columns)
    assert (tmp_path / 'o' / 'variants.html').exists() and len((tmp_path / 'o' / 'variants.bed').read_text().splitlines()) == 3
    assert '3 variants scored' in r.stdout


def test_bad_vcf_records(setup, tmp_path):
    d, seq = setup
    bad = tmp_path / 'bad.vcf'
    bad.write_text('#CHROM\tPOS\tID\tREF\tALT\n' f'chr1\t600\tok\t{seq[599]}\tT\n' 'chr9\t10\tx\tA\tT\n'
                   f'chr1\t700\ty\t{seq[699]}\tA,G\n' f'chr1\t800\tz\t{seq[799]}\t<DEL>\n'
                   f"chr1\t900\tw\t{'A' if seq[899] != 'A' else 'C'}\tG\n")
    r = cli('variants', d / 'M.pt', '--vcf', bad, '--genome', d / 'g.fa', '--out', tmp_path / 'o', '--threads', '1', '-q')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'bad.vcf, line 3: chromosome not in the genome' in r.stderr, r.stderr
    r = cli('variants', d / 'M.pt', '--vcf', bad, '--genome', d / 'g.fa', '--out', tmp_path / 'o', '--threads', '1', '-q', '--skip-invalid')
    assert r.returncode == 0, r.stderr
    assert '1 variants scored' in r.stdout and '4 skipped' in r.stdout


def test_paired_sequences(setup, tmp_path):
    d, seq = setup
    ref = [seq[:500], seq[500:1000]]
    alt = [ref[0][:250] + ('A' if ref[0][250] != 'A' else 'C') + ref[0][251:], ref[1][:100] + ('G' if ref[1][100] != 'G' else 'T') + ref[1][101:]]
    write_fasta(tmp_path / 'r.fa', ref, ['a', 'b']); write_fasta(tmp_path / 'a.fa', alt, ['a', 'b'])
    r = cli('variants', d / 'M.pt', '--ref', tmp_path / 'r.fa', '--alt', tmp_path / 'a.fa', '--out', tmp_path / 'o', '--threads', '1', '-q',
            '--motifs', d / 'motifs.meme')
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / 'o' / 'variants.tsv', sep='\t')
    assert t.pos.tolist() == [251, 101]
    write_fasta(tmp_path / 'short.fa', [ref[0][:400], ref[1]], ['a', 'b'])
    r = cli('variants', d / 'M.pt', '--ref', tmp_path / 'r.fa', '--alt', tmp_path / 'short.fa', '--out', tmp_path / 'p', '-q')
    assert r.returncode == 2 and 'must have one length' in r.stderr, r.stderr
    r = cli('variants', d / 'M.pt', '--vcf', d / 'v.vcf', '--out', tmp_path / 'q', '-q')
    assert r.returncode == 2 and '--vcf needs --genome' in r.stderr
