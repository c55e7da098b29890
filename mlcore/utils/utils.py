"""Saving, printing and timing helpers (``mlens.utils.utils``).

The helpers ML-Ensemble's tutorials and benchmark scripts use:
:func:`pickle_save`/:func:`pickle_load`, :func:`print_time`,
:func:`safe_print`, the clock :func:`time` and the CPU and memory logger
:class:`~mlcore.utils.monitor.CMLog`. They are importable from
:mod:`mlcore.utils` and, for ML-Ensemble code, from this module.
"""
import os
import pickle
import sys
from time import perf_counter

from .monitor import CMLog

__all__ = ["pickle_save", "pickle_load", "time", "print_time", "safe_print",
           "CMLog"]

time = perf_counter
"""The clock :func:`print_time` measures with (``time.perf_counter``);
``t0 = time()`` starts an interval."""


def _pickled(name):
    """The file name with a ``.pkl`` suffix added unless it has one."""
    name = os.fspath(name)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    return name if name.endswith(".pkl") else name + ".pkl"


def pickle_save(obj, name):
    """Pickle ``obj`` to the file ``name`` (``.pkl`` is appended if missing).

    The object is written to a new temporary file next to the target, which
    then replaces the target in one step: if pickling fails (an object that
    cannot be pickled, a full disk) an existing file of that name is left
    as it was, and no partial file remains.

    Parameters
    ----------
    obj : object
        Any picklable object, e.g. a fitted ensemble.
    name : str or path-like
        The file to write. An existing file is replaced.

    Returns
    -------
    str
        The path written.

    See Also
    --------
    pickle_load, joblib.dump
        ``joblib.dump`` stores large numpy arrays more efficiently.
    """
    path = _pickled(name)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%d.%s.tmp" % (
        os.path.basename(path), os.getpid(), os.urandom(4).hex()))
    # O_EXCL: never write into a file mlcore did not just create; mode 0o666
    # lets the process umask decide the permissions, as open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def pickle_load(name):
    """Load a pickled object from the file ``name`` (``.pkl`` is appended if
    missing).

    Unpickling runs code chosen by whoever wrote the file: only load files
    you trust.

    Parameters
    ----------
    name : str or path-like

    Returns
    -------
    object
    """
    with open(_pickled(name), "rb") as f:
        return pickle.load(f)


def safe_print(*objects, **kwargs):
    """``print`` that also takes a stream name and flushes on request.

    Parameters
    ----------
    *objects
        What to print, as for :func:`print`.
    file : file-like or {'stdout', 'stderr'}, default=sys.stdout
        The stream, or the name of one of the ``sys`` streams.
    flush : bool, default=False
        Flush the stream after printing.
    **kwargs
        ``sep`` and ``end``, as for :func:`print`.
    """
    file = kwargs.pop("file", None)
    if file is None:
        file = sys.stdout
    elif isinstance(file, str):
        if file not in ("stdout", "stderr"):
            raise ValueError("safe_print: file must be a stream, 'stdout' or "
                             "'stderr', got %r" % (file,))
        file = getattr(sys, file)
    flush = kwargs.pop("flush", False)
    print(*objects, file=file, **kwargs)
    if flush:
        file.flush()


def print_time(t0, message="", **kwargs):
    """Print the time elapsed since ``t0`` as ``message | HH:MM:SS``.

    Parameters
    ----------
    t0 : float
        The start, a reading of :func:`time`.
    message : str, default=''
        Printed before the elapsed time, followed by ``' | '``.
    **kwargs
        Passed to :func:`safe_print` (``file``, ``flush``, ``end``).

    Examples
    --------
    >>> print_time(time() - 3725.5, "Benchmark done")  # doctest: +SKIP
    Benchmark done | 01:02:05
    """
    elapsed = max(time() - t0, 0.0)
    minutes, seconds = divmod(int(elapsed), 60)
    hours, minutes = divmod(minutes, 60)
    prefix = message + " | " if message else ""
    safe_print("%s%02d:%02d:%02d" % (prefix, hours, minutes, seconds),
               **kwargs)
