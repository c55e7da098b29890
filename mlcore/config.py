"""Global configuration of mlcore.

Every setting has three sources, in this order of precedence:

1. a value set in code with the matching ``set_*`` function,
2. an environment variable ``MLCORE_*``, read when the setting is used,
3. the built-in default.

========================  ======================  =========================
setting                   environment variable    default
========================  ======================  =========================
:func:`get_backend`       ``MLCORE_BACKEND``      ``'threading'``
:func:`get_n_jobs`        ``MLCORE_N_JOBS``       ``-1`` (all cores)
:func:`get_tmpdir`        ``MLCORE_TMPDIR``       :func:`tempfile.gettempdir`
:func:`get_prefix`        ``MLCORE_PREFIX``       ``'.mlcore_cache_'``
:func:`get_dtype`         ``MLCORE_DTYPE``        ``float32``
========================  ======================  =========================

Unlike ML-Ensemble, importing mlcore never scans or deletes anything in the
temporary directory: each processor removes its own cache, and only its own.
"""
import os
import tempfile

import numpy as np

__all__ = [
    "get_backend", "set_backend",
    "get_n_jobs", "set_n_jobs",
    "get_tmpdir", "set_tmpdir",
    "get_prefix", "set_prefix",
    "get_dtype", "set_dtype",
    "reset",
]

_DEFAULTS = {
    "backend": "threading",
    "n_jobs": -1,
    "tmpdir": None,  # resolved lazily to tempfile.gettempdir()
    "prefix": ".mlcore_cache_",
    "dtype": "float32",
}

_overrides = {}


def _lookup(name):
    if name in _overrides:
        return _overrides[name]
    env = os.environ.get("MLCORE_" + name.upper())
    if env is not None and env != "":
        return env
    return _DEFAULTS[name]


def _check_backend(backend):
    if not isinstance(backend, str) or not backend:
        raise ValueError("backend must be a non-empty str, got %r" % (backend,))
    return backend


def _check_n_jobs(n_jobs):
    try:
        value = int(n_jobs)
    except (TypeError, ValueError):
        raise ValueError("n_jobs must be an int (-1 for all cores), got %r"
                         % (n_jobs,)) from None
    if value == 0 or isinstance(n_jobs, bool) or value != float(n_jobs):
        raise ValueError("n_jobs must be a non-zero int (-1 for all cores), "
                         "got %r" % (n_jobs,))
    return value


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError("dtype must be a numpy floating dtype, got %r"
                         % (dtype,)) from None
    if dt.kind != "f":
        raise ValueError("dtype must be a numpy floating dtype, got %r"
                         % (dtype,))
    return dt


def _check_prefix(prefix):
    if not isinstance(prefix, str) or not prefix or os.sep in prefix:
        raise ValueError("prefix must be a non-empty str without path "
                         "separators, got %r" % (prefix,))
    return prefix


def get_backend():
    """Default joblib backend for processors (``'threading'``)."""
    return _check_backend(_lookup("backend"))


def set_backend(backend):
    """Set the default backend: ``'threading'``, ``'loky'``,
    ``'multiprocessing'``, ``'sequential'`` or any backend registered with
    :func:`joblib.register_parallel_backend`."""
    _overrides["backend"] = _check_backend(backend)


def get_n_jobs():
    """Default number of workers (``-1``: one per core)."""
    return _check_n_jobs(_lookup("n_jobs"))


def set_n_jobs(n_jobs):
    """Set the default number of workers. ``0`` is rejected."""
    _overrides["n_jobs"] = _check_n_jobs(n_jobs)


def get_tmpdir():
    """Directory in which processors create their temporary caches."""
    value = _lookup("tmpdir")
    return tempfile.gettempdir() if value is None else os.fspath(value)


def set_tmpdir(tmpdir):
    """Set the directory for temporary caches (it must exist)."""
    tmpdir = os.fspath(tmpdir)
    if not os.path.isdir(tmpdir):
        raise ValueError("tmpdir %r is not an existing directory" % (tmpdir,))
    _overrides["tmpdir"] = tmpdir


def get_prefix():
    """Name prefix of temporary cache directories."""
    return _check_prefix(_lookup("prefix"))


def set_prefix(prefix):
    """Set the name prefix of temporary cache directories."""
    _overrides["prefix"] = _check_prefix(prefix)


def get_dtype():
    """Default floating dtype of prediction arrays (``float32``)."""
    return _check_dtype(_lookup("dtype"))


def set_dtype(dtype):
    """Set the default floating dtype of prediction arrays."""
    _overrides["dtype"] = _check_dtype(dtype)


def reset():
    """Forget every value set in code; environment variables apply again."""
    _overrides.clear()
