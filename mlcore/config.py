"""Global configuration of mlcore.

Every setting has four sources, in this order of precedence:

1. a :func:`config_context` block (innermost first), in the thread that
   entered it,
2. a value set in code with the matching ``set_*`` function (process-wide),
3. an environment variable ``MLCORE_*``, read when the setting is used,
4. the built-in default.

========================  ======================  =========================
setting                   environment variable    default
========================  ======================  =========================
:func:`get_backend`       ``MLCORE_BACKEND``      ``'threading'``
:func:`get_n_jobs`        ``MLCORE_N_JOBS``       ``-1`` (all cores)
:func:`get_tmpdir`        ``MLCORE_TMPDIR``       :func:`tempfile.gettempdir`
:func:`get_prefix`        ``MLCORE_PREFIX``       ``'.mlcore_cache_'``
:func:`get_dtype`         ``MLCORE_DTYPE``        ``float32``
========================  ======================  =========================

The ensembles (:mod:`mlcore.ensemble`) read ``backend`` and ``n_jobs`` when
their own parameter is None (the default), at every fit and predict, and
``dtype`` for the arrays of their layers when ``add(..., dtype=)`` is not
given; their dtype is float64 unless a dtype is set in one of the first
three ways (float32 is the engine's own default, as in ML-Ensemble).

A :func:`config_context` is seen by the thread that entered it, as
scikit-learn's is: the settings of one thread's block never leak into
another thread's fit. The ensembles read the settings in the thread that
calls ``fit``/``predict``, so a block around those calls applies to all
their work.

Unlike ML-Ensemble, importing mlcore never scans or deletes anything in the
temporary directory: each processor removes its own cache, and only its own.
"""
import contextlib
import os
import tempfile
import threading

import numpy as np

__all__ = [
    "get_backend", "set_backend",
    "get_n_jobs", "set_n_jobs",
    "get_tmpdir", "set_tmpdir",
    "get_prefix", "set_prefix",
    "get_dtype", "set_dtype",
    "config_context", "get_config",
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
_local = threading.local()


def _contexts():
    """This thread's stack of config_context settings."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _configured(name):
    """The value of setting ``name`` from a context, code or the
    environment; None when it is left at its default."""
    for settings in reversed(_contexts()):
        if name in settings:
            return settings[name]
    if name in _overrides:
        return _overrides[name]
    env = os.environ.get("MLCORE_" + name.upper())
    if env is not None and env != "":
        return env
    return None


def _lookup(name):
    value = _configured(name)
    return _DEFAULTS[name] if value is None else value


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
    _overrides["tmpdir"] = _check_tmpdir(tmpdir)


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


def _check_tmpdir(tmpdir):
    tmpdir = os.fspath(tmpdir)
    if not os.path.isdir(tmpdir):
        raise ValueError("tmpdir %r is not an existing directory" % (tmpdir,))
    return tmpdir


_CHECKS = {
    "backend": _check_backend,
    "n_jobs": _check_n_jobs,
    "tmpdir": _check_tmpdir,
    "prefix": _check_prefix,
    "dtype": _check_dtype,
}


def get_config():
    """The current value of every setting, as a dict (``backend``,
    ``n_jobs``, ``tmpdir``, ``prefix``, ``dtype``)."""
    return {"backend": get_backend(), "n_jobs": get_n_jobs(),
            "tmpdir": get_tmpdir(), "prefix": get_prefix(),
            "dtype": get_dtype()}


@contextlib.contextmanager
def config_context(**settings):
    """Settings for the code inside a ``with`` block, in this thread only.

    Parameters
    ----------
    **settings
        Any of ``backend``, ``n_jobs``, ``tmpdir``, ``prefix``, ``dtype``,
        validated as by the ``set_*`` functions. A value of None leaves the
        setting as it is outside the block.

    Examples
    --------
    >>> from mlcore import config_context
    >>> with config_context(n_jobs=2, dtype="float32"):
    ...     get_n_jobs(), get_dtype()
    (2, dtype('float32'))

    Blocks nest (the innermost wins) and the previous settings come back
    when a block is left, also by an exception. Other threads, including
    threads started inside the block, do not see its settings.
    """
    unknown = sorted(set(settings) - set(_CHECKS))
    if unknown:
        raise TypeError("config_context got unknown settings %s; the "
                        "settings are %s" % (unknown, sorted(_CHECKS)))
    checked = {k: _CHECKS[k](v) for k, v in settings.items() if v is not None}
    stack = _contexts()
    stack.append(checked)
    try:
        yield
    finally:
        # the last block, unless blocks were left out of order (generators)
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is checked:
                del stack[i]
                break


def reset():
    """Forget every value set in code; environment variables apply again.
    Active :func:`config_context` blocks are not affected."""
    _overrides.clear()
