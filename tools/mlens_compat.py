"""Import ML-Ensemble (``mlens`` 0.2.3) on NumPy 2 / Python 3.10+.

ML-Ensemble is unmaintained: it uses names NumPy 2 and Python 3.10 removed
(``np.int``, ``np.float``, ``np.object``, ``collections.Sequence``). For the
comparison tests and benchmarks only, :func:`import_mlens` puts those aliases
back before importing it. Nothing here is used by mlcore itself, and no mlens
code is vendored: install it with ``pip install mlens==0.2.3``.
"""
import collections
import collections.abc
import importlib
import os

_NUMPY_ALIASES = {"int": int, "float": float, "object": object}
_ABC_NAMES = ("Sequence", "Iterable", "Mapping", "MutableMapping",
              "Callable", "Hashable", "Sized", "Container")


def patch_aliases():
    """Restore the aliases mlens 0.2.3 needs (idempotent)."""
    import numpy as np
    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)
    for name in _ABC_NAMES:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def import_mlens(module="mlens"):
    """Import ``module`` (e.g. ``"mlens.ensemble"``) with the aliases patched.

    Raises ImportError when mlens is not installed. ``MLENS_VERBOSE=N``
    (set here unless the caller set it) silences the banner mlens prints on
    import.
    """
    patch_aliases()
    os.environ.setdefault("MLENS_VERBOSE", "N")
    return importlib.import_module(module)
