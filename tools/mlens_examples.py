"""Run ML-Ensemble 0.2.3's own code examples on mlcore.

The examples are ML-Ensemble users' code: the examples of its docstrings, its
tutorials and its benchmark scripts, stored one per file in
``tools/mlens_examples/`` (each names its source on its first line). This
tool runs each with only the import prefix ``mlens`` changed to ``mlcore``,
each in its own process, and prints a table: example, source, ``ran`` or
``failed`` with the first line of the error.

What the examples need from outside is supplied at run time, not edited
into them (the same for both runs):

* data sets that scikit-learn no longer ships or that need a download
  (``load_boston``, ``fetch_mldata``, ``fetch_openml``, the UCI files a
  benchmark opens with ``np.DataSource``) return small synthetic data of
  the same shape and kind;
* names removed from third-party packages (``sklearn.externals.joblib``)
  and the ``@profile`` decorator that ``python -m memory_profiler``
  supplies;
* a ``# inventory: small A -> B`` line in an example replaces the text
  ``A`` by ``B`` before it runs, to shrink benchmark sizes (a benchmark on
  40,000 rows would take minutes each).

When ML-Ensemble itself is installed (``pip install mlens==0.2.3``), each
example also runs unchanged on it (with the names it needs on today's Python
and NumPy patched in, as the parity tests do), which tells examples broken by
today's scikit-learn or by their own bugs from gaps in mlcore. Every example
runs in its own process, in a temporary directory (also its
``SCIKIT_LEARN_DATA``) that is removed afterwards.

Usage::

    python tools/mlens_examples.py                 # run all, print the table
    python tools/mlens_examples.py doc_0 bench     # those whose id contains doc_0 or bench
    python tools/mlens_examples.py --mlcore-only   # not on ML-Ensemble too
    python tools/mlens_examples.py --collect       # rewrite the docstring examples
                                                   # from the installed mlens

``--collect`` imports nothing from ML-Ensemble: it reads the docstrings of
the installed package's source files with :mod:`ast`.
"""
import argparse
import ast
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "mlens_examples")
TIMEOUT = 300

# The public modules whose docstrings hold examples (ML-Ensemble's tests and
# its vendored third-party code are left out).
DOC_MODULES = ["ensemble/super_learner.py", "ensemble/blend.py",
               "ensemble/subsemble.py", "ensemble/sequential.py",
               "ensemble/temporal.py", "index/base.py", "index/fold.py",
               "index/blend.py", "index/subsemble.py", "index/temporal.py",
               "metrics/utils.py", "preprocessing/preprocess.py",
               "utils/dummy.py", "utils/utils.py"]

# Run before each example, in its process: the data shims described above.
PRELUDE = r'''
import numpy as _np
import sklearn.datasets as _ds
from sklearn.utils import Bunch as _Bunch


def _regression(n, p, seed=0):
    rng = _np.random.RandomState(seed)
    X = rng.uniform(0, 10, (n, p))
    y = X @ rng.uniform(-1, 1, p) + rng.normal(0, 1, n) + 20
    return X, y


def load_boston(return_X_y=False):
    X, y = _regression(506, 13)
    return (X, y) if return_X_y else _Bunch(data=X, target=y)


def _digits(n=2000):
    X, y = _ds.load_digits(return_X_y=True)
    reps = -(-n // len(y))
    return _np.tile(X, (reps, 1))[:n], _np.tile(y, reps)[:n].astype(str)


def fetch_mldata(name, *args, **kwargs):
    X, y = _digits()
    return _Bunch(data=X, target=y)


def fetch_openml(*args, return_X_y=False, **kwargs):
    X, y = _digits()
    return (X, y) if return_X_y else _Bunch(data=X, target=y)


_ds.load_boston = load_boston
_ds.fetch_mldata = fetch_mldata
_ds.fetch_openml = fetch_openml


class _UCISource:
    """np.DataSource for the UCI poker-hand files: 1000 synthetic hands
    (5 cards of suit 1-4 and rank 1-13, then a class 0-9)."""

    def open(self, path, *args, **kwargs):
        import io
        rng = _np.random.RandomState(len(path))
        cards = _np.column_stack([rng.randint(1, 5, 1000) if j % 2 == 0
                                  else rng.randint(1, 14, 1000)
                                  for j in range(10)])
        label = rng.randint(0, 10, 1000)
        rows = _np.column_stack([cards, label])
        return io.StringIO("\n".join(",".join(map(str, r)) for r in rows))


_np.DataSource = _UCISource

import builtins as _builtins
import sys as _sys
import types as _types
import joblib as _joblib
if not hasattr(_builtins, "profile"):
    _builtins.profile = lambda func: func
_externals = _types.ModuleType("sklearn.externals.joblib")
_externals.__dict__.update(_joblib.__dict__)
_sys.modules.setdefault("sklearn.externals.joblib", _externals)
import matplotlib as _mpl
_mpl.use("Agg")
'''

# Run before each example on ML-Ensemble itself: its run-time patches.
MLENS_PRELUDE = r'''
import sys as _sys
_sys.path.insert(0, %r)
from tests._mlens import import_mlens as _import_mlens
_import_mlens()
''' % os.path.dirname(HERE)

_IMPORT = re.compile(r"\b(from|import)(\s+)mlens\b")
_SMALL = re.compile(r"^#\s*inventory:\s*small\s+(.+?)\s+->\s+(.+?)\s*$", re.M)


def _shrink(source):
    """The example with its declared size reductions applied."""
    for old, new in _SMALL.findall(source):
        source = source.replace(old, new)
    return source


def to_mlcore(source):
    """The example with ``mlens`` imports changed to ``mlcore``, and its
    declared size reductions applied."""
    return _IMPORT.sub(lambda m: m.group(1) + m.group(2) + "mlcore",
                       _shrink(source))


def _source_line(path):
    with open(path) as fh:
        first = fh.readline().strip()
    return first[1:].strip() if first.startswith("#") else "?"


def run_one(path, on="mlcore", python=sys.executable):
    """Run one example in a fresh process, on mlcore (imports changed) or
    on ML-Ensemble (``on="mlens"``, unchanged).

    Returns
    -------
    (ok, first error line)
    """
    with open(path) as fh:
        code = fh.read()
    if on == "mlcore":
        code, prelude = to_mlcore(code), PRELUDE
    else:
        code, prelude = _shrink(code), PRELUDE + MLENS_PRELUDE
    with tempfile.TemporaryDirectory(prefix="mlcore-example-") as tmp:
        script = os.path.join(tmp, "example.py")
        with open(script, "w") as fh:
            fh.write(_script(prelude, code))
        env = dict(os.environ, MPLBACKEND="Agg", SCIKIT_LEARN_DATA=tmp,
                   MLENS_TMPDIR=tmp)
        try:
            proc = subprocess.run([python, script], cwd=tmp, env=env,
                                  capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, "timed out after %d s" % TIMEOUT
    if proc.returncode == 0:
        return True, ""
    return False, _error_line(proc)


_EXCEPTION = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt|Warning)\b")


def _error_line(proc):
    """The last exception line of a failed run (an example may send its
    traceback to stdout by replacing sys.stderr; notes may follow it)."""
    for stream in (proc.stderr, proc.stdout):
        for line in reversed(stream.strip().splitlines()):
            if _EXCEPTION.match(line.strip()):
                return line.strip()
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "exit code %d" % proc.returncode


def _script(prelude, code):
    """``prelude`` then ``code``, with the example's ``__future__``
    imports kept first, where Python requires them."""
    future = re.compile(r"^from __future__ import .*$", re.M)
    return "\n".join(future.findall(code) + [prelude, future.sub("", code)])


def _examples(selectors):
    names = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".py"))
    if selectors:
        names = [n for n in names if any(s in n for s in selectors)]
    return [os.path.join(EXAMPLES, n) for n in names]


def _result(ok, error):
    return "ran" if ok else "failed: " + error


def run_all(selectors, with_mlens=True):
    """Run the selected examples and print the table; return the number
    that failed on mlcore."""
    with_mlens = with_mlens and importlib.util.find_spec("mlens") is not None
    rows = []
    for path in _examples(selectors):
        name = os.path.basename(path)[:-3]
        ours = run_one(path)
        theirs = run_one(path, on="mlens") if with_mlens else None
        rows.append((name, _source_line(path), ours, theirs))
        print("%-36s mlcore %s%s" % (name, _result(*ours)[:100], "" if theirs
              is None else " | mlens " + _result(*theirs)[:60]), flush=True)
    failed = sum(1 for r in rows if not r[2][0])
    print("\n%d examples: %d ran on mlcore, %d failed" % (
        len(rows), len(rows) - failed, failed))
    if with_mlens:
        print("on ML-Ensemble 0.2.3 itself: %d ran" % sum(
            1 for r in rows if r[3][0]))
    print("\n| example | source | mlcore |%s\n|---|---|---|%s" % (
        " mlens 0.2.3 |" if with_mlens else "", "---|" if with_mlens else ""))
    for name, source, ours, theirs in rows:
        cells = [name, source, _result(*ours)]
        if theirs is not None:
            cells.append(_result(*theirs))
        print("| %s |" % " | ".join(c.replace("|", "/") for c in cells))
    return failed


# --------------------------------------------------------------- collecting

def _doctest_blocks(doc):
    """The examples of a docstring: runs of ``>>>`` / ``...`` lines, a new
    example starting at an import that follows output or prose."""
    blocks, current, after_text = [], [], False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>") or (current and stripped.startswith("...")
                                          and not after_text):
            code = stripped[4:] if len(stripped) > 3 else ""
            starts_import = re.match(r"(import|from)\s", code)
            if current and after_text and starts_import:
                blocks.append(current)
                current = []
            # continuation lines keep their indentation after the prompt
            current.append(stripped[4:] if stripped[:3] in (">>>", "...")
                           else stripped)
            after_text = False
        elif current and stripped:
            after_text = True
    if current:
        blocks.append(current)
    return blocks


def collect(package_dir):
    """Write the docstring examples of ML-Ensemble's source under
    ``package_dir`` to ``tools/mlens_examples/doc_NN_<name>.py``."""
    for old in os.listdir(EXAMPLES):
        if old.startswith("doc_"):
            os.remove(os.path.join(EXAMPLES, old))
    count = 0
    for module in DOC_MODULES:
        with open(os.path.join(package_dir, module)) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)) or \
                    node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node, clean=True) or ""
            for j, block in enumerate(_doctest_blocks(doc), 1):
                count += 1
                name = "doc_%02d_%s%s.py" % (count, node.name,
                                             "_%d" % j if j > 1 else "")
                path = os.path.join(EXAMPLES, name)
                with open(path, "w") as fh:
                    fh.write("# docstring of mlens.%s.%s (mlens 0.2.3), "
                             "example %d\n" % (module[:-3].replace("/", "."),
                                               node.name, j))
                    fh.write("\n".join(block).rstrip() + "\n")
    print("wrote %d docstring examples to %s" % (count, EXAMPLES))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("select", nargs="*",
                        help="run only examples whose file name contains one "
                             "of these")
    parser.add_argument("--mlcore-only", action="store_true",
                        help="do not run the examples on ML-Ensemble too")
    parser.add_argument("--collect", action="store_true",
                        help="rewrite the docstring examples from the "
                             "installed mlens package")
    args = parser.parse_args(argv)
    if args.collect:
        spec = importlib.util.find_spec("mlens")
        if spec is None:
            parser.error("mlens is not installed: pip install mlens==0.2.3")
        collect(os.path.dirname(spec.origin))
        return 0
    return 1 if run_all(args.select, not args.mlcore_only) else 0


if __name__ == "__main__":
    sys.exit(main())
