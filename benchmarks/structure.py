"Structure figures of argminn_nb/ (issue 37 targets): functions over 80 lines, constructors over 12 parameters, modules over 550 lines, export-cell sizes. python benchmarks/structure.py"
import ast, json, statistics, sys
from pathlib import Path
root = Path(sys.argv[1] if len(sys.argv) > 1 else '.')
funcs, ctors, mods = [], [], []
for p in sorted((root / 'argminn_nb').glob('*.py')):
    if p.name.startswith('_'): continue
    text = p.read_text(); mods.append((len(text.splitlines()), p.name))
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            funcs.append((n, f'{p.stem}.{node.name}'))
            a = node.args; np_ = len(a.posonlyargs + a.args + a.kwonlyargs) - (1 if a.args and a.args[0].arg == 'self' else 0)
            if node.name == '__init__': ctors.append((np_, f'{p.stem}.{node.name}'))
        if isinstance(node, ast.ClassDef):
            fields = [s for s in node.body if isinstance(s, ast.AnnAssign) and 'init=False' not in ast.unparse(s)]
            if fields and any(isinstance(d, (ast.Name, ast.Call)) and 'dataclass' in ast.unparse(d) for d in node.decorator_list):
                ctors.append((len(fields), f'{p.stem}.{node.name} (dataclass)'))
cells = []
for nb in sorted((root / 'nbs' / 'api').glob('*.ipynb')):
    for c in json.loads(nb.read_text())['cells']:
        s = ''.join(c['source'])
        if c['cell_type'] == 'code' and s.lstrip().startswith('#| export') or s.lstrip().startswith('#|export'):
            cells.append((len(s.splitlines()), nb.name))
print('functions > 80 lines:', sorted([f for f in funcs if f[0] > 80], reverse=True))
print('constructors > 12 params:', sorted([c for c in ctors if c[0] > 12], reverse=True))
print('modules > 550 lines:', sorted([m for m in mods if m[0] > 550], reverse=True))
print(f'export cells: {len(cells)}, median {statistics.median(c[0] for c in cells)} lines, >=100: {sum(c[0] >= 100 for c in cells)}, largest {max(cells)}')
