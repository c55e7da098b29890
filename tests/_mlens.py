"""Run ML-Ensemble 0.2.3 (``mlens``) on today's Python and NumPy, for the
parity tests.

ML-Ensemble's last release predates Python 3.10 and NumPy 2: it imports the
abstract base classes from ``collections`` and uses the NumPy aliases of the
builtin types (``np.int``, ``np.float``, ...), all since removed. This module
puts those names back, at run time and only in the test process, so that the
unmodified package from PyPI can be imported and compared with mlcore. No
ML-Ensemble code is vendored here: :func:`import_mlens` imports the installed
package.

Importing ML-Ensemble also has side effects on the process and the machine:
it sets ``JOBLIB_START_METHOD`` in the environment, prints its settings, and
deletes every directory named ``.mlens_tmp_cache_*`` under the temporary
directory (other programs' caches included). :func:`import_mlens` points it
at a directory of its own, removed at exit, and puts the environment back.
"""
import atexit
import collections
import collections.abc
import importlib
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile

import numpy as np

# Names ML-Ensemble imports from ``collections`` (moved to
# ``collections.abc`` in Python 3.3, removed from ``collections`` in 3.10).
_ABC_NAMES = ("Sequence", "Iterable", "Mapping", "MutableMapping", "Hashable",
              "Callable", "Sized", "Container", "Set", "MutableSet",
              "MutableSequence", "Iterator", "Generator")

# NumPy's aliases of builtin types, removed in NumPy 1.24.
_NUMPY_ALIASES = {"int": int, "float": float, "object": object, "bool": bool,
                  "str": str, "long": int, "complex": complex,
                  "unicode": str}


def _getargspec(func):
    """``inspect.getargspec`` (removed in Python 3.11), built on
    ``getfullargspec``: ML-Ensemble's bundled joblib calls it."""
    spec = inspect.getfullargspec(func)
    return spec.args, spec.varargs, spec.varkw, spec.defaults


def patch_runtime():
    """Restore the names ML-Ensemble 0.2.3 needs; idempotent.

    Only names that are missing are added, so nothing that exists is
    changed.
    """
    for name in _ABC_NAMES:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = _getargspec


def import_mlens():
    """Import ML-Ensemble after :func:`patch_runtime`, with its side
    effects confined (see the module docstring).

    Returns
    -------
    module or None
        The ``mlens`` package, or None when it is not installed.
    """
    if "mlens" in sys.modules:
        return sys.modules["mlens"]
    if importlib.util.find_spec("mlens") is None:
        return None
    patch_runtime()
    cache = tempfile.mkdtemp(prefix="mlcore-mlens-parity-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    settings = {"MLENS_TMPDIR": cache, "MLENS_VERBOSE": "N",
                "MLENS_BACKEND": "threading"}
    keys = list(settings) + ["JOBLIB_START_METHOD"]
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(settings)
    try:
        return importlib.import_module("mlens")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
