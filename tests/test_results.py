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


def test_defaults_are_what_the_committed_experiments_chose():
    "ARGMINN's defaults and the tracing rule are the picks of experiments 07 and 10 (their committed JSON), not a copy of them."
    from argminn_nb.models import ARGMINN
    from argminn_nb.tracing import DEFAULT_RULE
    res = Path(__file__).resolve().parents[1] / 'nbs' / 'experiments' / 'results'
    by_label = {}
    for v in json.loads((res / '07_argminn_ablation.json').read_text()).values():
        if v['stage'] == 1: by_label.setdefault(v['label'], []).append(v['val_acc_mean'])
    best = max(by_label, key=lambda k: sum(by_label[k]) / len(by_label[k]))     # stage 1's pick on validation accuracy
    cfg = ARGMINN().config
    assert best == ('BatchNorm, dropout ' + ('0' if cfg['dropout'] == 0 else f"{cfg['dropout']:g}")) and cfg['batch_norm']
    chosen = json.loads((res / '10_attention_ablation.json').read_text())['chosen']['rule']
    r = DEFAULT_RULE
    assert chosen == f"{'rel' if r.attention == 'relative' else r.attention}{r.threshold:g}|{r.activation}|{r.min_drop:g}", chosen
