"""Where mlcore keeps data: memory-mapped inputs, output arrays, the
estimation cache of fitted objects, and the private temporary folders that
hold them.

Process workers on this machine get arrays by reference through files in a
cache directory (``.npy`` files for dense arrays, joblib dumps whose
component arrays memory-map for sparse ones and anything else). Fitted
estimators and preprocessing pipelines travel through the estimation cache:
pickle files in a directory, or ``(key, object)`` pairs appended to a list
in memory. Temporary directories are created with mode 0700 and removed
only by the process that created them; a directory given by the user is
never removed, and no file is ever written through a symbolic link.
"""
import os
import pickle
import re
import shutil
import tempfile
import warnings
import weakref

import joblib
import numpy as np
import scipy.sparse as sp

from . import config
from .exceptions import ParallelProcessingWarning


def is_pathlike(obj):
    return isinstance(obj, (str, os.PathLike))


def _ext(path):
    return os.path.splitext(os.fspath(path))[1].lower().lstrip(".")


def load(path):
    """Load an array from disk into a usable array.

    ``.npy`` files are memory-mapped read-only; ``.npz`` files must hold a
    single array or a :func:`scipy.sparse.save_npz` matrix; ``.mmap`` and
    ``.pkl`` files are joblib dumps (as written by ML-Ensemble), loaded with
    memory-mapping; anything else is read as text with
    :func:`numpy.genfromtxt` (comma-separated for ``.csv``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("No such input file: %r" % path)
    ext = _ext(path)
    if ext == "npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if ext == "npz":
        with np.load(path, allow_pickle=False) as archive:
            keys = sorted(archive.files)
            if {"format", "shape"}.issubset(keys):
                pass  # written by scipy.sparse.save_npz
            elif len(keys) == 1:
                return archive[keys[0]]
            else:
                raise ValueError("%r holds %d arrays (%s); save a single array "
                                 "or a scipy.sparse matrix (save_npz)"
                                 % (path, len(keys), ", ".join(keys)))
        return sp.load_npz(path)
    if ext in ("mmap", "pkl", "joblib"):
        return load_mmap(path)
    try:
        return np.genfromtxt(path, delimiter="," if ext == "csv" else None)
    except Exception as exc:
        raise OSError("Could not read an array from %r: %s" % (path, exc)) from exc


def load_mmap(f):
    """Reopen a file written by :func:`dump_array` read-only and
    memory-mapped."""
    f = os.fspath(f)
    ext = _ext(f)
    if ext == "npy":
        return np.load(f, mmap_mode="r", allow_pickle=False)
    if ext == "npz":
        return load(f)
    try:
        return joblib.load(f, mmap_mode="r")
    except Exception as exc:
        try:
            return np.load(f, mmap_mode="r", allow_pickle=False)
        except Exception:
            raise OSError("Could not load %r as a joblib dump or a .npy file: "
                          "%s" % (f, exc)) from exc


def dump_array(array, name, path):
    """Persist an array in a cache directory for memory-mapping.

    Parameters
    ----------
    array : ndarray, scipy.sparse matrix, str or os.PathLike
        The data. A path to an ``.npy`` or ``.mmap`` file is returned as is
        (it is already memory-mappable); any other path is loaded first
        (see :func:`load`) and then dumped.
    name : str
        Base name of the file, e.g. ``'X'``.
    path : str or os.PathLike
        Cache directory.

    Returns
    -------
    f : str
        The file to memory-map with :func:`load_mmap`: ``<path>/<name>.npy``
        for dense arrays of a plain dtype (written with :func:`numpy.save`,
        memory order kept), ``<path>/<name>.pkl`` (a joblib dump whose
        component arrays memory-map) for sparse matrices and anything else.
    """
    if is_pathlike(array):
        if _ext(array) in ("npy", "mmap"):
            if not os.path.exists(os.fspath(array)):
                raise FileNotFoundError("No such input file: %r"
                                        % os.fspath(array))
            return os.fspath(array)
        array = load(array)
    path = os.fspath(path)
    if isinstance(array, np.ndarray) and not array.dtype.hasobject:
        f = os.path.join(path, "%s.npy" % name)
        if os.path.lexists(f):  # also a dangling symlink: never write through it
            os.unlink(f)
        np.save(f, array, allow_pickle=False)
        return f
    f = os.path.join(path, "%s.pkl" % name)
    if os.path.lexists(f):
        os.unlink(f)
    joblib.dump(array, f)
    return f


def remove_tree(path):
    """Remove a cache directory created by mlcore; warn if that fails."""
    if path is None or not os.path.exists(path):
        return
    errors = []

    def onerror(func, p, exc_info):
        errors.append((p, exc_info[1]))

    shutil.rmtree(path, onerror=onerror)
    if os.path.exists(path):
        warnings.warn("Could not remove the cache directory %s: %s. Remove it "
                      "by hand." % (path, errors[:1]), ParallelProcessingWarning)


def remove_own_tree(path, pid):
    """Finalizer of an engine-made cache: only the process that made it
    removes it (a forked child exiting must not delete its parent's live
    cache)."""
    if os.getpid() == pid:
        remove_tree(path)


def set_cache(job, path, threading, distributed=False):
    """Choose the estimation cache of ``job``.

    ``path=None`` gives a ``dict`` for in-memory engines (``threading``:
    shared-memory backends, and distributed ones in hand-back mode) and a
    fresh private temporary directory otherwise. A ``dict`` (also an empty
    one) is used as the in-memory cache. A ``str``/``os.PathLike`` is used
    as a persistent on-disk cache (created if missing) and is never
    deleted; ``distributed`` engines refuse one (nothing goes to disk).
    """
    if distributed and is_pathlike(path):
        raise ValueError(
            "A distributed backend keeps no cache on disk (its workers may "
            "not share a filesystem with this process): pass path=None or a "
            "dict, got path=%r" % (os.fspath(path),))
    if path is None:
        if threading:
            job.dir = dict()
            return job
        tmp = os.path.abspath(tempfile.mkdtemp(prefix=config.get_prefix(),
                                               dir=config.get_tmpdir()))
        job.dir = tmp
        job.tmp = weakref.finalize(job, remove_own_tree, tmp, os.getpid())
        return job
    if isinstance(path, dict):
        if not threading:
            raise ValueError(
                "An in-memory cache (dict) needs a backend that shares memory "
                "('threading' or 'sequential'); with process-based backends "
                "pass a directory path, or path=None for a temporary one.")
        job.dir = path
        return job
    if is_pathlike(path):
        path = os.fspath(path)
        if not path:
            raise ValueError("path is an empty string; pass None for a "
                             "temporary cache")
        path = os.path.abspath(path)  # workers may run in another directory
        os.makedirs(path, exist_ok=True)
        job.dir = path
        return job
    raise TypeError("path must be None, a dict (in-memory cache) or a "
                    "directory path, got %s" % type(path).__name__)


def cache_save(cache, key, obj):
    if isinstance(cache, str):
        path = os.path.join(cache, key + ".pkl")
        tmp = path + ".part"
        # cloudpickle (a joblib dependency; older joblib vendored it): a
        # process worker must also be able to save an estimator whose class
        # was defined in the caller's __main__ (a script, a notebook), which
        # plain pickle refuses there; importable classes are pickled by
        # reference, as pickle does.
        try:
            import cloudpickle as pickler
        except ImportError:  # pragma: no cover
            try:
                from joblib.externals import cloudpickle as pickler
            except ImportError:
                pickler = pickle
        with open(tmp, "wb") as f:
            pickler.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers never see a half-written file
    else:
        cache.append((key, obj))  # list.append is atomic under the GIL


def cache_load(cache, key):
    if isinstance(cache, str):
        path = os.path.join(cache, key + ".pkl")
        with open(path, "rb") as f:
            return pickle.load(f)
    for k, obj in reversed(cache):
        if k == key:
            return obj
    raise KeyError(key)


def nbytes(X):
    """Bytes held by the arrays of X (dense or scipy.sparse), else 0."""
    if sp.issparse(X):
        return sum(getattr(X, a).nbytes for a in ("data", "indices", "indptr",
                                                  "row", "col", "offsets")
                   if isinstance(getattr(X, a, None), np.ndarray))
    return X.nbytes if isinstance(X, np.ndarray) else 0


def _is_mapped(a):
    if a is None:
        return True
    if sp.issparse(a):
        return isinstance(getattr(a, "data", None), np.memmap)
    return isinstance(a, np.memmap)


def share(a, name, cache):
    """For an on-disk cache, put an in-memory array (the shuffled input)
    into the cache as a memory-mapped file, so that process workers get it by
    reference instead of by pickling it once per subtask."""
    if not isinstance(cache, str) or _is_mapped(a):
        return a
    if not (isinstance(a, np.ndarray) or sp.issparse(a)):
        return a
    return load_mmap(dump_array(a, name, cache))


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def open_output(directory, name, shape, dtype, fortran=False):
    """A new memory-mapped ``.npy`` output array for task ``name`` in
    ``directory``, under a file name that no existing entry (a dangling
    symbolic link included) has."""
    base = _SAFE_NAME.sub("_", str(name)) or "task"
    f = os.path.join(directory, "%s_out_array.npy" % base)
    k = 0
    while os.path.lexists(f):
        k += 1
        f = os.path.join(directory, "%s_out_array.%d.npy" % (base, k))
    try:
        return np.lib.format.open_memmap(f, mode="w+", dtype=dtype,
                                         shape=shape, fortran_order=fortran)
    except Exception as exc:
        size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        raise OSError("Cannot create the prediction array of task %r, "
                      "shape %r, dtype %s (%.1f MB) in %s: %s"
                      % (name, shape, dtype, size / 2 ** 20, directory,
                         exc)) from exc
