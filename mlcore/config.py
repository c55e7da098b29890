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
:func:`get_start_method`  ``MLCORE_START_METHOD`` the platform's default
:func:`get_ivals`         ``MLCORE_IVALS``        ``(0.01, 120)``
========================  ======================  =========================

Setters check their value and raise a ValueError that says what is
accepted: ``n_jobs`` is a non-zero int (``set_n_jobs("2")`` is refused; the
environment variable is text and is read as an int), ``dtype`` is float32
or float64 (the kernels' types), ``backend`` a joblib backend name known
when it is set, ``start_method`` one of
:func:`multiprocessing.get_all_start_methods`.

ML-Ensemble's ``mlens.config`` functions are here with the same
signatures, also :func:`print_settings` and :func:`clear_cache`;
``set_start_method`` applies to ``backend='multiprocessing'`` (ML-Ensemble
set ``JOBLIB_START_METHOD``; loky workers always start their own way), and
``set_ivals`` is accepted for compatibility only.

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
:func:`clear_cache` removes, when called, the caches that processes on this
machine left behind when they were killed, and never the cache of a running
process.
"""
import contextlib
import multiprocessing
import numbers
import os
import re
import shutil
import socket
import sys
import tempfile
import threading

import numpy as np

__all__ = [
    "get_backend", "set_backend",
    "get_n_jobs", "set_n_jobs",
    "get_tmpdir", "set_tmpdir",
    "get_prefix", "set_prefix",
    "get_dtype", "set_dtype",
    "get_start_method", "set_start_method",
    "get_ivals", "set_ivals",
    "config_context", "get_config",
    "print_settings", "clear_cache",
    "reset",
]

_DEFAULTS = {
    "backend": "threading",
    "n_jobs": -1,
    "tmpdir": None,  # resolved lazily to tempfile.gettempdir()
    "prefix": ".mlcore_cache_",
    "dtype": "float32",
    "start_method": None,  # resolved lazily to the platform's default
    "ivals": (0.01, 120.0),
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
        return _ENV_READERS.get(name, str)(env)
    return None


def _env_int(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError("MLCORE_N_JOBS: n_jobs must be an int (-1 for all "
                         "cores), got %r" % (text,)) from None


def _env_ivals(text):
    try:
        interval, limit = (float(v) for v in text.split("_"))
    except ValueError:
        raise ValueError("MLCORE_IVALS must read '<interval>_<limit>' in "
                         "seconds (e.g. '0.01_120'), got %r" % (text,)) \
            from None
    return interval, limit


# How the text of an environment variable becomes a setting's value (the
# others are text already).
_ENV_READERS = {"n_jobs": _env_int, "ivals": _env_ivals}


def _lookup(name):
    value = _configured(name)
    return _DEFAULTS[name] if value is None else value


def _check_backend(backend):
    if not isinstance(backend, str) or not backend:
        raise ValueError("backend must be a non-empty str, got %r" % (backend,))
    from ._joblib import backend_kind
    backend_kind(backend)  # "Unknown backend ..." for a name joblib lacks
    return backend


def _check_n_jobs(n_jobs):
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(
            n_jobs, numbers.Integral):
        raise ValueError("n_jobs must be an int (-1 for all cores), got %r%s"
                         % (n_jobs, " (a str: pass int(...))"
                            if isinstance(n_jobs, str) else ""))
    if n_jobs == 0:
        raise ValueError("n_jobs must be a non-zero int (-1 for all cores), "
                         "got 0")
    return int(n_jobs)


# The prediction dtypes the kernels run on.
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise ValueError("dtype must be a numpy floating dtype, float32 or "
                         "float64, got %r" % (dtype,))
    if dt not in _DTYPES:
        raise ValueError("dtype must be float32 or float64 (the dtypes the "
                         "kernels run on), got %r" % (dtype,))
    return dt


def _check_start_method(method):
    methods = multiprocessing.get_all_start_methods()
    if method not in methods:
        raise ValueError("start_method must be one of %s on this platform, "
                         "got %r" % (methods, method))
    return method


def _check_ivals(ivals):
    try:
        interval, limit = ivals
        interval, limit = float(interval), float(limit)
    except (TypeError, ValueError):
        raise ValueError("ivals must be (interval, limit) in seconds, got %r"
                         % (ivals,)) from None
    if not 0 < interval <= limit:
        raise ValueError("ivals needs 0 < interval <= limit, got %r"
                         % (ivals,))
    return interval, limit


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


def get_start_method():
    """Start method of the worker processes of ``backend='multiprocessing'``:
    the one set, else the one given to
    :func:`multiprocessing.set_start_method`, else the platform's
    default."""
    value = _configured("start_method")
    if value is not None:
        return _check_start_method(value)
    return (multiprocessing.get_start_method(allow_none=True)
            or multiprocessing.get_all_start_methods()[0])


def set_start_method(method):
    """Set the start method of the worker processes of
    ``backend='multiprocessing'`` (``'fork'``, ``'spawn'``,
    ``'forkserver'``, as the platform offers).

    The signature is ML-Ensemble's; unlike ML-Ensemble, the process-wide
    :mod:`multiprocessing` default and ``JOBLIB_START_METHOD`` are left
    alone. loky workers (``backend='loky'``) start their own way.
    """
    _overrides["start_method"] = _check_start_method(method)


def get_ivals():
    """``(interval, limit)`` of :func:`set_ivals`."""
    return _check_ivals(_lookup("ivals"))


def set_ivals(interval, limit):
    """Kept for ML-Ensemble compatibility; it has no effect.

    ML-Ensemble polled a process worker's cache file every ``interval``
    seconds, for at most ``limit`` seconds, until the file could be read.
    mlcore's workers hand their results back when they finish, so nothing
    waits on a file. The values are checked (``0 < interval <= limit``) and
    :func:`get_ivals` returns them.
    """
    _overrides["ivals"] = _check_ivals((interval, limit))


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
    "start_method": _check_start_method,
    "ivals": _check_ivals,
}


def get_config():
    """The current value of every setting, as a dict (``backend``,
    ``n_jobs``, ``tmpdir``, ``prefix``, ``dtype``, ``start_method``,
    ``ivals``)."""
    return {"backend": get_backend(), "n_jobs": get_n_jobs(),
            "tmpdir": get_tmpdir(), "prefix": get_prefix(),
            "dtype": get_dtype(), "start_method": get_start_method(),
            "ivals": get_ivals()}


def print_settings(file=None):
    """Print the settings on one line (to stderr unless ``file`` is given),
    as ML-Ensemble printed them at import; mlcore prints nothing by
    itself."""
    cfg = get_config()
    print("[mlcore] backend: %s | n_jobs: %d | dtype: %s | start method: %s "
          "| tmpdir: %s | prefix: %s"
          % (cfg["backend"], cfg["n_jobs"], cfg["dtype"].name,
             cfg["start_method"], cfg["tmpdir"], cfg["prefix"]),
          file=sys.stderr if file is None else file)


def cache_tag():
    """The part of a temporary cache's name after the prefix that says
    which process made it: ``<host>-<pid>-``."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64]
    return "%s-%d-" % (host or "host", os.getpid())


def _cache_owner(rest):
    """``(host, pid)`` of a cache named ``prefix + rest``, or None when the
    name does not say (a cache of another program, or of an older
    mlcore)."""
    parts = rest.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clear_cache(tmp=None, file=None):
    """Remove the temporary caches that killed mlcore processes left behind.

    ML-Ensemble's ``clear_cache(tmp)`` removed every directory in ``tmp``
    whose name began with the prefix, the live caches of other running
    processes included. This removes a directory only when mlcore can tell
    that nothing uses it: directly in ``tmp``, named with the prefix and the
    host and process id of the process that made it (see
    :func:`cache_tag`), owned by the calling user, made on this host by a
    process that is no longer running. Anything else is kept. (Processors
    remove their own caches when they finish, also on errors and at exit;
    a cache is left only when its process was killed.)

    Parameters
    ----------
    tmp : str or os.PathLike, optional
        The directory to look in (default: :func:`get_tmpdir`).
    file : file object, optional
        Where to report what was removed (default: stderr); nothing is
        printed when nothing was removed.

    Returns
    -------
    list of str
        The directories removed.
    """
    tmp = get_tmpdir() if tmp is None else os.fspath(tmp)
    prefix, host = get_prefix(), cache_tag().rsplit("-", 3)[0]
    removed = []
    with os.scandir(tmp) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix) or \
                    not entry.is_dir(follow_symlinks=False) or \
                    entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            owner = _cache_owner(entry.name[len(prefix):])
            if owner is None or owner[0] != host or _running(owner[1]):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    if removed:
        print("[mlcore] removed %d cache(s) left by killed processes: %s"
              % (len(removed), ", ".join(removed)),
              file=sys.stderr if file is None else file)
    return removed


@contextlib.contextmanager
def config_context(**settings):
    """Settings for the code inside a ``with`` block, in this thread only.

    Parameters
    ----------
    **settings
        Any of ``backend``, ``n_jobs``, ``tmpdir``, ``prefix``, ``dtype``,
        ``start_method``, ``ivals``, validated as by the ``set_*``
        functions. A value of None leaves the
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
