"""Results as data: every experiment notebook that prints a `RESULTS-JSON {...}` line in its committed outputs has
the same numbers in the committed `nbs/experiments/results/<notebook>.json`, and every results file has its notebook."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXP = ROOT / 'nbs' / 'experiments'
MARK = 'RESULTS-JSON '


def _printed_results(nb_path: Path):
    "The JSON object the notebook printed after MARK in its committed outputs (None if it printed none)."
    nb = json.loads(nb_path.read_text())
    found = []
    for cell in nb['cells']:
        for out in cell.get('outputs', []):
            text = ''.join(out.get('text', '')) if out.get('output_type') == 'stream' else ''
            found += [line[len(MARK):] for line in text.splitlines() if line.startswith(MARK)]
    if len(found) > 1: raise AssertionError(f"{nb_path.name} printed {len(found)} {MARK!r} lines; expected one")
    return json.loads(found[0]) if found else None


NOTEBOOKS = sorted(EXP.glob('*.ipynb'))


@pytest.mark.parametrize('nb_path', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_results_file_matches_notebook(nb_path):
    printed = _printed_results(nb_path)
    f = EXP / 'results' / f'{nb_path.stem}.json'
    if printed is None:
        assert not f.exists(), f"{f.name} exists but {nb_path.name} prints no {MARK.strip()} line in its committed outputs"
        return
    assert f.exists(), f"{nb_path.name} printed its results but {f.relative_to(ROOT)} is not committed"
    assert json.loads(f.read_text()) == printed, f"{f.name} differs from what {nb_path.name} printed: re-run the notebook"


def test_every_results_file_has_a_notebook():
    for f in (EXP / 'results').glob('*.json'):
        assert (EXP / f'{f.stem}.ipynb').exists(), f"{f.name} has no notebook {f.stem}.ipynb"


def test_marker_parsing(tmp_path):
    nb = {'cells': [{'cell_type': 'code', 'outputs': [{'output_type': 'stream', 'name': 'stdout',
                                                     'text': ['x\n', MARK + '{"a": {"b": 0.5}}\n']}]}]}
    p = tmp_path / 'n.ipynb'; p.write_text(json.dumps(nb))
    assert _printed_results(p) == {'a': {'b': 0.5}}
    nb['cells'][0]['outputs'][0]['text'].append(MARK + '{}\n'); p.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match='expected one'): _printed_results(p)
