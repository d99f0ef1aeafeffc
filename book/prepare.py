"""Build the book's sources from `nbs/`: python book/prepare.py (then jupyter-book build book/).

The notebooks are the source of the package, its tests and its book. A reader of the book wants the
prose, the examples and their outputs, and for each exported function its signature and parameters —
not nbdev's directives or the test cells. This script copies every notebook listed in `_toc.yml` (and
the files next to them) into `book/nbs/`, and on the way:

- removes `#| hide` and directive-only cells (`#| default_exp`) from every notebook;
- in the API reference (notebooks with `#| default_exp`) also removes export cells of imports only and
  test cells (a cell that asserts or calls `test_eq` and the like, and shows nothing), which still run
  under `nbdev_test`; a test cell that the prose before it introduces ("Same seed, same run:") is
  collapsed behind a toggle instead, so that the sentence does not point at nothing;
- collapses the source of `#| export` cells behind a toggle and puts after each the documentation of
  what it exports: signature, docstring and a parameter table of the docments read by
  `fastcore.docments` (nbdev's `show_doc` writes Quarto markup and leaves the docments inline);
- strips `#|` directive lines from every code cell still shown.

`nbs/` is never modified; `book/nbs/` is generated (git-ignored) and rebuilt from scratch each time.
"""
from __future__ import annotations

import ast
import copy
import importlib
import inspect
import io
import json
import shutil
import sys
import textwrap
import tokenize
import types
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


def is_test_cell(src: str) -> bool:
    "The cell checks something: an `assert` or a `test_*` call anywhere in it."
    try: tree = ast.parse(strip_directives(src))
    except SyntaxError: return False
    return any(_is_check(n) for n in ast.walk(tree))


def classify(cell, api: bool = True, before: dict | None = None) -> str:
    "'remove', 'export' (exported code: its documentation follows it), 'collapse' (source behind a toggle) or 'show'. "
    "Removed: `#| hide` and directive-only cells, and in the API reference (`api`) export cells of imports only and cells "
    "that check and show nothing, unless the cell `before` them is prose that introduces them (ends with ':'): collapsed."
    if cell['cell_type'] != 'code': return 'show'
    src, d = _src(cell), directives(_src(cell))
    if 'hide' in d or 'default_exp' in d or 'exporti' in d: return 'remove'
    if not strip_directives(src).strip(): return 'remove'
    if not api: return 'show'
    if 'export' in d or 'exports' in d:
        try: body = ast.parse(strip_directives(src)).body
        except SyntaxError: return 'export'
        return 'remove' if all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body) else 'export'
    if is_test_cell(src) and not cell.get('outputs'):
        introduced = before is not None and before['cell_type'] == 'markdown' and _src(before).rstrip().endswith(':')
        return 'collapse' if introduced else 'remove'
    return 'show'


def _tagged(cell, tag: str):
    "`cell` with `tag` added to its metadata tags."
    cell.setdefault('metadata', {})['tags'] = sorted(set(cell['metadata'].get('tags', [])) | {tag})
    return cell


def exported_names(src: str) -> list[str]:
    "Public functions and classes an export cell defines, in order."
    try: tree = ast.parse(strip_directives(src))
    except SyntaxError: return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith('_')]


def _signature(obj, name: str, width: int = 88) -> str:
    "`name(params)` without annotations (the table has the types); one parameter per line when it is long."
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return f'{name}(...)'
    params = [str(p.replace(annotation=inspect.Parameter.empty)) for p in sig.parameters.values() if p.name not in ('self', 'cls')]
    one = f'{name}({", ".join(params)})'
    return one if len(one) <= width else f'{name}(\n' + ''.join(f'    {p},\n' for p in params) + ')'


def _cell(s) -> str:
    "Text as table-cell Markdown (pipes escaped, so `int | None` stays in one cell)."
    return '' if s is None else str(s).replace('|', '\\|').replace('\n', ' ')


def _anno(a) -> str:
    "An annotation as written (a string under `from __future__ import annotations`); '' when there is none."
    if a is inspect.Parameter.empty: return ''
    if isinstance(a, str): return a
    return getattr(a, '__forward_arg__', None) or inspect.formatannotation(a)


def field_docments(cls) -> dict:
    "`# comment` after each annotated field of a class body (NamedTuples: `fastcore.docments` reads only `__init__`)."
    try: src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError): return {}
    comments = {t.start[0]: t.string.lstrip('#').strip() for t in tokenize.generate_tokens(io.StringIO(src).readline)
                if t.type == tokenize.COMMENT}
    body = ast.parse(src).body[0].body
    return {n.target.id: comments.get(n.end_lineno) for n in body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def param_table(obj) -> str:
    "Parameter table: each parameter's name, annotation, default and docment (the `# comment` after it), then returns."
    from fastcore.docments import docments
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return ''
    try: docs = dict(docments(obj))
    except Exception: docs = {}
    if inspect.isclass(obj) and hasattr(obj, '_fields'): docs = {**field_docments(obj), **{k: v for k, v in docs.items() if v}}
    star = {inspect.Parameter.VAR_POSITIONAL: '*', inspect.Parameter.VAR_KEYWORD: '**'}
    rows = []
    for p in sig.parameters.values():
        if p.name in ('self', 'cls'): continue
        default = '' if p.default is inspect.Parameter.empty else _cell(f'`{p.default!r}`')
        rows.append(f"| `{star.get(p.kind, '')}{p.name}` | {_cell(_anno(p.annotation))} | {default} | {_cell(docs.get(p.name))} |")
    ret = '' if inspect.isclass(obj) else _anno(sig.return_annotation)
    if ret or docs.get('return'): rows.append(f"| **returns** | {_cell(ret)} | | {_cell(docs.get('return'))} |")
    if not rows: return ''
    return '\n'.join(['| parameter | type | default | details |', '| --- | --- | --- | --- |'] + rows)


def doc_markdown(obj, name: str, level: int = 3) -> str:
    "Signature, docstring and parameter table of one function or class (then a class's own documented methods and properties)."
    cls = inspect.isclass(obj)
    parts = [f'{"#" * level} `{name}`', '', f'```python\n{"class " if cls else ""}{_signature(obj, name)}\n```', '']
    doc = inspect.cleandoc(obj.__doc__ or '')                                          # its own, not a base class's
    if doc and not (cls and doc.startswith(f'{obj.__name__}(')): parts += [doc, '']   # not a generated dataclass/NamedTuple doc
    tbl = param_table(obj)
    if tbl: parts += [tbl, '']
    if cls:
        props = [(m, inspect.cleandoc(f.__doc__)) for m, f in vars(obj).items()
                 if isinstance(f, property) and not m.startswith('_') and f.__doc__]
        if props: parts += ['Properties: ' + '; '.join(f'`{m}`: {d}' for m, d in props), '']
        for m, f in vars(obj).items():
            if m.startswith('_') or not isinstance(f, (classmethod, staticmethod, types.FunctionType)) or not f.__doc__: continue
            parts += [doc_markdown(getattr(obj, m), f'{name}.{m}', level + 1), '']
    return '\n'.join(parts).rstrip() + '\n'


def process(nb: dict, module: str | None) -> dict:
    "A copy of notebook `nb` as the book shows it (see the module docstring); `module`: the one it exports to, if any."
    mod = importlib.import_module(f'argminn_nb.{module}') if module else None
    cells = []
    for i, cell in enumerate(nb['cells']):
        kind = classify(cell, api=module is not None, before=nb['cells'][i - 1] if i else None)
        if kind == 'remove': continue
        c = copy.deepcopy(cell)
        if c['cell_type'] == 'code': c['source'] = strip_directives(_src(cell))
        if kind == 'collapse': c = _tagged(c, 'hide-input')
        if kind == 'export':
            cells.append(_tagged(c, 'hide-input'))
            docs = [doc_markdown(getattr(mod, n), n) for n in exported_names(_src(cell)) if mod is not None and hasattr(mod, n)]
            if docs: cells.append({'cell_type': 'markdown', 'id': f"{cell.get('id', len(cells))}-doc", 'metadata': {},
                                  'source': '\n'.join(docs)})
            continue
        cells.append(c)
    return {**nb, 'cells': cells}


def default_exp(nb: dict) -> str | None:
    "The module a notebook exports to (its `#| default_exp`), or None for a story chapter."
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
