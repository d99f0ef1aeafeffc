"""Run every test of the project and print one closing line `N passed, N failed`.

Notebooks: each notebook in nbs/ is executed as `nbdev_test` does (cells flagged with
`tst_flags` from settings.ini skipped, IN_TEST set) and counts as one test.
pytest: every test in tests/ counts as one test.
Usage: python tests/run_all.py [--nb-only | --py-only] [--workers N] [NOTEBOOK_GLOB]
"""
import argparse
import fnmatch
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


_NB_RUNNER = """
import sys
from pathlib import Path
from nbdev.config import get_config
from nbdev.test import test_nb
cfg = get_config()
ok, _ = test_nb(Path(sys.argv[1]), skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
sys.exit(0 if ok else 1)
"""


def _run_nb(fn: str):
    "Run one notebook as nbdev_test does, in its own process (IPython replaces __main__)."
    t = time.time()
    r = subprocess.run([sys.executable, '-c', _NB_RUNNER, fn], cwd=ROOT / 'nbs', capture_output=True, text=True)
    if r.returncode: sys.stderr.write(r.stderr[-20000:])
    return fn, r.returncode == 0, time.time() - t


def run_notebooks(pattern=None, workers=2):
    from nbdev.doclinks import nbglob
    os.chdir(ROOT)
    files = sorted(str(f) for f in nbglob(as_path=True))
    if pattern: files = [f for f in files if fnmatch.fnmatch(str(Path(f).relative_to(ROOT)), pattern)]
    files = [f for f in files if not (Path(f).parent / '.notest').exists()]
    results = []
    with ThreadPoolExecutor(max_workers=workers) as ex:
        for fn, ok, dt in ex.map(_run_nb, files):
            print(f"{'PASS' if ok else 'FAIL'} {Path(fn).relative_to(ROOT / 'nbs')} ({dt:.0f}s)", flush=True)
            results.append(ok)
    return sum(results), len(results) - sum(results)


def run_pytest():
    xml = ROOT / '.pytest-results.xml'
    r = subprocess.run([sys.executable, '-m', 'pytest', str(ROOT / 'tests'), '-q', '-p', 'no:cacheprovider',
                        f'--junitxml={xml}'], cwd=ROOT)
    if not xml.exists(): return 0, 1
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
    n, f, e, s = (int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped'))
    xml.unlink()
    bad = f + e
    if r.returncode not in (0, 1) and bad == 0: bad = 1          # collection/usage errors
    return n - f - e - s, bad


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('pattern', nargs='?', default=None)
    ap.add_argument('--nb-only', action='store_true'); ap.add_argument('--py-only', action='store_true')
    ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault('MPLBACKEND', 'Agg')
    os.environ.setdefault('NUMBA_CACHE_DIR', str(ROOT / '.numba_cache'))
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    p = f = 0
    if not a.py_only:
        np_, nf = run_notebooks(a.pattern, a.workers); p += np_; f += nf
        print(f"notebooks: {np_} passed, {nf} failed", flush=True)
    if not a.nb_only:
        pp, pf = run_pytest(); p += pp; f += pf
        print(f"pytest: {pp} passed, {pf} failed", flush=True)
    print(f"{p} passed, {f} failed")
    sys.exit(1 if f else 0)
