"""Build the book's sources from `nbs/`: python book/prepare.py (then jupyter-book build book/).

The notebooks are the source of the package, its tests and its book. A reader of the book wants the
prose, the examples and their outputs, and for each exported function its signature and parameters —
not nbdev's directives or the test cells. This script copies every notebook listed in `_toc.yml` (and
the files next to them) into `book/nbs/`, and on the way:

- removes directive-only cells (`#| default_exp`, `#| hide`, export cells of imports only) and test
  cells (a cell that asserts or calls `test_eq` and the like, and shows nothing), which still run under
  `nbdev_test`;
- collapses the source of `#| export` cells behind a toggle and puts after each the documentation of
  what it exports: signature, docstring and a parameter table from the docments (`fastcore.docments`);
- strips `#|` directive lines from every code cell still shown.

`nbs/` is never modified; `book/nbs/` is generated (git-ignored) and rebuilt from scratch each time.
"""
from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
import shutil
import sys
from pathlib import Path

import yaml

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
SRC, OUT = ROOT / 'nbs', BOOK / 'nbs'
TEST_CALLS = ('test_eq', 'test_ne', 'test_close', 'test_fail', 'test_is', 'test_shuffled', 'test_stdout', 'test_warns')


def _src(cell) -> str: return ''.join(cell.get('source', ''))


def directives(src: str) -> list[str]:
    "The `#| name` directives of a cell (leading comment lines only)."
    out = []
    for line in src.splitlines():
        s = line.strip()
        if s.startswith('#|'): out.append(s[2:].strip().split(':')[0].split()[0] if s[2:].strip() else '')
        elif s: break
    return out


def strip_directives(src: str) -> str:
    "The source without its `#|` lines."
    return '\n'.join(l for l in src.splitlines() if not l.strip().startswith('#|')).strip('\n')


def _is_check(n) -> bool:
    if isinstance(n, ast.Assert): return True
    if isinstance(n, ast.Call):
        f = n.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, 'attr', '')) in TEST_CALLS
    return False


def is_test_cell(src: str, strict: bool = False) -> bool:
    "The cell checks something: an `assert` or `test_*` call anywhere in it (`strict`: every statement is one)."
    try: tree = ast.parse(strip_directives(src))
    except SyntaxError: return False
    if strict: return bool(tree.body) and all(_is_check(n.value if isinstance(n, ast.Expr) else n) for n in tree.body)
    return any(_is_check(n) for n in ast.walk(tree))


def classify(cell, api: bool = True) -> str:
    "'remove' (directives, imports or tests only), 'export' (exported code), or 'show'. Outside the API reference a "
    "test cell must consist of checks alone (an experiment's computing cell may assert along the way)."
    if cell['cell_type'] != 'code': return 'show'
    src, d = _src(cell), directives(_src(cell))
    if 'hide' in d or 'default_exp' in d or 'exporti' in d: return 'remove'
    if 'export' in d or 'exports' in d:
        try: body = ast.parse(strip_directives(src)).body
        except SyntaxError: return 'export'
        return 'remove' if all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body) else 'export'
    if not strip_directives(src).strip(): return 'remove'
    if is_test_cell(src, strict=not api) and not cell.get('outputs'): return 'remove'   # checks and shows nothing
    return 'show'


def exported_names(src: str) -> list[str]:
    "Public functions and classes an export cell defines, in order."
    try: tree = ast.parse(strip_directives(src))
    except SyntaxError: return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith('_')]


def _signature(obj, name: str) -> str:
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return f'{name}(...)'
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values() if p.name != 'self']
    return f'{name}({", ".join(str(p) for p in params)})'


def _cell(v) -> str:
    "A value as table-cell Markdown (pipes escaped, so `int | None` stays in one cell)."
    if v is inspect.Parameter.empty or v is None: return ''
    s = v if isinstance(v, str) else getattr(v, '__name__', repr(v))
    return s.replace('|', '\\|').replace('\n', ' ')


def param_table(obj) -> str:
    "Parameter table from the docments (`# comment` after each parameter): name, type, default, details."
    from fastcore.docments import docments
    try: d = docments(obj, full=True)
    except Exception: return ''
    rows = []
    for name, p in d.items():
        if name in ('self', 'cls'): continue
        if name == 'return':
            if p['anno'] not in (inspect.Parameter.empty, None) or p['docment']:
                rows.append(f"| **returns** | {_cell(p['anno'])} | | {_cell(p['docment'])} |")
            continue
        default = '' if p['default'] is inspect.Parameter.empty else f"`{p['default']!r}`".replace('|', '\\|')
        rows.append(f"| `{name}` | {_cell(p['anno'])} | {default} | {_cell(p['docment'])} |")
    if not rows: return ''
    return '\n'.join(['| parameter | type | default | details |', '| --- | --- | --- | --- |'] + rows)


def doc_markdown(obj, name: str, level: int = 3) -> str:
    "Signature, docstring and parameter table of one function or class (and of a class's documented methods)."
    kind = 'class' if inspect.isclass(obj) else 'function'
    sig = f'class {_signature(obj, name)}' if kind == 'class' else _signature(obj, name)
    parts = [f'{"#" * level} `{name}`', '', f'```python\n{sig}\n```', '']
    doc = inspect.getdoc(obj)
    if doc: parts += [doc, '']
    tbl = param_table(obj)
    if tbl: parts += [tbl, '']
    if inspect.isclass(obj):
        for m, f in vars(obj).items():
            if m.startswith('_') or not callable(f) or not inspect.getdoc(f): continue
            parts += [doc_markdown(f, f'{name}.{m}', level + 1), '']
    return '\n'.join(parts).rstrip() + '\n'


def process(nb: dict, module: str | None) -> dict:
    "A copy of notebook `nb` as the book shows it (see the module docstring); `module`: the one it exports to, if any."
    mod = importlib.import_module(f'argminn_nb.{module}') if module else None
    cells = []
    for cell in nb['cells']:
        kind = classify(cell, api=module is not None)
        if kind == 'remove': continue
        c = copy.deepcopy(cell)
        if c['cell_type'] == 'code': c['source'] = strip_directives(_src(cell))
        if kind == 'export':
            c.setdefault('metadata', {})['tags'] = sorted(set(c['metadata'].get('tags', [])) | {'hide-input'})
            cells.append(c)
            docs = [doc_markdown(getattr(mod, n), n) for n in exported_names(_src(cell)) if mod is not None and hasattr(mod, n)]
            if docs: cells.append({'cell_type': 'markdown', 'id': f"{cell.get('id', len(cells))}-doc", 'metadata': {},
                                  'source': '\n'.join(docs)})
            continue
        cells.append(c)
    return {**nb, 'cells': cells}


def default_exp(nb: dict) -> str | None:
    for c in nb['cells']:
        if c['cell_type'] == 'code':
            for line in _src(c).splitlines():
                if line.strip().startswith('#| default_exp'): return line.split('default_exp', 1)[1].strip()
    return None


def toc_files() -> list[str]:
    toc = yaml.safe_load((BOOK / '_toc.yml').read_text())
    files = [toc['root']]
    for part in toc.get('parts', []):
        for ch in part.get('chapters', []):
            files.append(ch['file']); files += [s['file'] for s in ch.get('sections', [])]
    return files


def main() -> int:
    if OUT.is_symlink() or OUT.is_file(): OUT.unlink()
    elif OUT.exists(): shutil.rmtree(OUT)
    shutil.copytree(SRC, OUT, ignore=shutil.ignore_patterns('*.ipynb', '.ipynb_checkpoints', '__pycache__'))
    n = 0
    for f in toc_files():
        rel = Path(f).with_suffix('.ipynb')
        if rel.parts[0] != 'nbs': raise SystemExit(f"_toc.yml entry {f} is not under nbs/")
        nb = json.loads((ROOT / rel).read_text())
        out = BOOK / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(process(nb, default_exp(nb)), indent=1, ensure_ascii=False) + '\n')
        n += 1
    print(f"book/prepare.py: {n} notebooks written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == '__main__': sys.exit(main())
