"""The book: every notebook is a chapter, every chapter is built, and each chapter's HTML shows its figures.

The HTML comes from `ARGMINN_BOOK_HTML` (CI builds the book just before the tests and sets it); without it
the book's sources are prepared (`book/prepare.py`) and it is built into a temporary folder (about a minute).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / 'book'
sys.path.insert(0, str(BOOK))
from prepare import toc_files  # noqa: E402  (the chapters, as the book's pre-build step reads them)


def notebook_figures(nb_path: Path) -> int:
    "Figures a reader should see: image outputs plus images linked from markdown cells."
    nb = json.loads(nb_path.read_text())
    n = 0
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            n += len(re.findall(r'!\[[^\]]*\]\((?!https?://)[^)]+\)', src))
        for o in c.get('outputs', []):
            if any(k.startswith('image/') for k in o.get('data', {})): n += 1
    return n


@pytest.fixture(scope='module')
def html_dir(tmp_path_factory) -> Path:
    env = os.environ.get('ARGMINN_BOOK_HTML')
    if env: return Path(env)
    out = tmp_path_factory.mktemp('book')
    exe = Path(sys.executable).parent / 'jupyter-book'
    r = subprocess.run([sys.executable, str(BOOK / 'prepare.py')], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([str(exe) if exe.exists() else 'jupyter-book', 'build', str(BOOK), '--path-output', str(out), '-q'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out / '_build' / 'html'


def test_every_notebook_is_a_chapter():
    listed = {f + '.ipynb' for f in toc_files()}
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / 'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts}
    assert on_disk - listed == set(), f"notebooks missing from book/_toc.yml: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), f"_toc.yml lists missing notebooks: {sorted(listed - on_disk)}"


def test_story_order():
    "Introduction, quick start, then the experiments, then the API reference."
    files = toc_files()
    assert files[0] == 'nbs/index' and files[1].startswith('nbs/tutorials/')
    first_api = min(i for i, f in enumerate(files) if f.startswith('nbs/api/') and not f.endswith('03_simulate'))
    assert all(i < first_api for i, f in enumerate(files) if f.startswith('nbs/experiments/'))


@pytest.mark.parametrize('chapter', toc_files())
def test_chapter_html_shows_its_figures(html_dir, chapter):
    html = html_dir / (chapter + '.html')
    assert html.exists(), f"{html} was not built"
    text = html.read_text()
    expected = notebook_figures(ROOT / (chapter + '.ipynb'))
    if chapter.startswith(('nbs/experiments/', 'nbs/tutorials/')) or chapter == 'nbs/index':
        assert expected > 0, f"{chapter} is a story chapter without a single figure"
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    local = [s for s in imgs if not s.startswith(('http://', 'https://'))]
    assert len(local) >= expected, f"{chapter}: {expected} figures in the notebook, {len(local)} images in its HTML"
    for src in local:
        if src.startswith('data:'): continue
        assert (html.parent / src).resolve().exists(), f"{chapter}: image {src} is missing from the build"


def test_experiment_pages_open_in_colab(html_dir):
    for chapter in toc_files():
        if not chapter.startswith(('nbs/experiments/', 'nbs/tutorials/')): continue
        text = (html_dir / (chapter + '.html')).read_text()
        assert 'colab.research.google.com/github/' in text and chapter + '.ipynb' in text, chapter


def api_chapters() -> list[str]: return [c for c in toc_files() if c.startswith('nbs/api/')]


def plain(html: str) -> str:
    "The page's text without tags (code is highlighted token by token), entities decoded."
    import html as h
    return h.unescape(re.sub(r'<[^>]+>', '', html))


def test_api_pages_show_signatures_not_directives(html_dir):
    "Every API page documents its exports (signature + parameter table) and shows no `#|` directive."
    for chapter in api_chapters():
        text = (html_dir / (chapter + '.html')).read_text()
        assert '#|' not in text, f"{chapter}: a directive line reached the book"
        assert '<th class="head"><p>parameter</p></th>' in text, f"{chapter}: no parameter table"
    core = plain((html_dir / 'nbs/api/00_core.html').read_text())
    assert 'seed_of(random_state, high=' in core and 'seeds are drawn from [0, high)' in core   # signature and a docment
    assert 'int | np.random.Generator | np.random.SeedSequence | None' in core   # a union type kept in one table cell
    assert 'NoneType' not in core and '**kwargs' in core          # no type guessed from a default of None; starred names
    models = plain((html_dir / 'nbs/api/05_models.html').read_text())
    assert '(N, C, P) what differs between sequences' in models and 'Tokens.from_dense' in models  # NamedTuple fields, classmethods


def test_api_pages_hide_test_cells(html_dir):
    "A cell that only checks (and shows nothing) is not in the book; it still runs under nbdev_test."
    core = plain((html_dir / 'nbs/api/00_core.html').read_text())
    assert 'test_fail(lambda: as_rng(' not in core and 'from fastcore.test import' not in core
    assert 'test_fail(lambda: as_rng("seed")' in (ROOT / 'nbs/api/00_core.ipynb').read_text().replace('\\"', '"')


def test_launch_buttons_open_the_real_notebook(html_dir):
    text = (html_dir / 'nbs/api/00_core.html').read_text()
    assert 'colab.research.google.com/github/argminn-nb/argminn-nb/blob/main/nbs/api/00_core.ipynb' in text
    assert '/book/nbs/' not in text


def test_prepare_classifies_cells():
    "The pre-build step on a hand-made notebook: directives, imports and checks go, examples and prose stay."
    import prepare
    code = lambda s, outputs=(): {'cell_type': 'code', 'id': 'x', 'metadata': {}, 'source': s, 'outputs': list(outputs),
                                  'execution_count': None}
    out = [{'output_type': 'execute_result', 'data': {'text/plain': '3'}, 'metadata': {}, 'execution_count': 1}]
    cases = {'#| default_exp core': 'remove', '#| hide\nimport os': 'remove', '#| export\nimport numpy as np': 'remove',
             '#| export\ndef f(x): return x': 'export', 'test_eq(f(1), 1)': 'remove', 'y = f(2)\nassert y == 2': 'remove',
             'f(3)': 'show'}
    for src, kind in cases.items(): assert prepare.classify(code(src)) == kind, src
    assert prepare.classify(code('y = f(2); assert y == 2\ny', out)) == 'show'          # it shows something
    assert prepare.classify(code('y = train(); assert y > 0'), api=False) == 'show'     # an experiment's computing cell
    assert prepare.classify(code('assert len(results) == 4'), api=False) == 'show'      # experiments keep their checks
    assert prepare.classify(code('#| hide\nassert ok'), api=False) == 'remove'
    assert prepare.classify({'cell_type': 'markdown', 'source': '# t', 'metadata': {}}) == 'show'
    nb = {'cells': [code('#| export\ndef seed_of(): ...'), code('#| export\n#| hide_line\nprint(1)', out)], 'metadata': {},
          'nbformat': 4, 'nbformat_minor': 5}
    got = prepare.process(nb, 'core')
    assert [c['cell_type'] for c in got['cells']] == ['code', 'markdown', 'code']
    assert 'hide-input' in got['cells'][0]['metadata']['tags'] and '### `seed_of`' in got['cells'][1]['source']
    assert got['cells'][2]['source'] == 'print(1)'                                      # directive lines stripped
    md = lambda s: {'cell_type': 'markdown', 'id': 'm', 'metadata': {}, 'source': s}
    nb = {**nb, 'cells': [md('Same seed, same run:'), code('test_eq(f(1), f(1))'), md('Nothing to see.'), code('test_eq(1, 1)')]}
    got = prepare.process(nb, 'core')['cells']                  # a check the prose introduces is collapsed, not removed
    assert [c['cell_type'] for c in got] == ['markdown', 'code', 'markdown'] and got[1]['metadata']['tags'] == ['hide-input']
