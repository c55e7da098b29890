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
    :func:`numpy.genfromtxt`, comma-separated when the first line holds a
    comma and else separated by whitespace (as ``numpy.savetxt`` writes by
    default, also to files named ``.csv``).
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
        return np.genfromtxt(path, delimiter=_delimiter(path))
    except Exception as exc:
        raise OSError("Could not read an array from %r: %s" % (path, exc)) from exc


def _delimiter(path):
    """``','`` if the first line of the text file ``path`` holds a comma,
    else None (any whitespace)."""
    with open(path, "rb") as fh:
        return "," if b"," in fh.readline() else None


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
        f, fh = _create_new(path, name, ".npy")
        with fh:
            np.save(fh, array, allow_pickle=False)
        return f
    f, fh = _create_new(path, name, ".pkl")
    with fh:
        joblib.dump(array, fh)
    return f


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _create_new(directory, name, ext):
    """``(path, binary file)`` of a new file ``<name><ext>`` in ``directory``
    (``<name>.<k><ext>`` when that name is taken), created with
    ``O_EXCL``: an existing file, a symbolic link (dangling or not) or a
    file that appears meanwhile is never opened, truncated or removed."""
    base = os.path.join(directory, name)
    k = 0
    while True:
        f = base + ext if k == 0 else "%s.%d%s" % (base, k, ext)
        try:
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                         0o600)
        except FileExistsError:
            k += 1
            continue
        return f, os.fdopen(fd, "wb")


def _tracker():
    """joblib/loky's resource tracker module, or None."""
    try:
        from joblib.externals.loky.backend import resource_tracker
    except ImportError:  # pragma: no cover - a joblib without loky
        return None
    return resource_tracker


def _trackable(path):
    # The tracker's protocol is ASCII text: a folder with another name
    # cannot be registered (it would fail with UnicodeEncodeError).
    return isinstance(path, str) and path.isascii() and "\n" not in path \
        and ":" not in path


def track_folder(path):
    """Register a folder mlcore created with joblib/loky's resource tracker,
    a separate process that removes it if this process dies without doing
    so itself (SIGKILL, a crash). Returns whether it was registered."""
    tracker = _tracker()
    if tracker is None or not _trackable(path):
        return False
    try:
        tracker.register(path, "folder")
    except Exception:  # no tracker process can be started: best effort
        return False
    return True


def untrack_folder(path):
    tracker = _tracker()
    if tracker is not None and _trackable(path):
        try:
            tracker.unregister(path, "folder")
        except Exception:  # pragma: no cover - the tracker went away
            pass


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


def remove_own_tree(path, pid, tracked=False):
    """Finalizer of an engine-made cache: only the process that made it
    removes it (a forked child exiting must not delete its parent's live
    cache), and then tells the resource tracker it is gone."""
    if os.getpid() == pid:
        remove_tree(path)
        if tracked and not os.path.exists(path):
            untrack_folder(path)


def make_temp_dir(owner, parent, prefix):
    """A new private (0700) directory in ``parent``, registered with the
    resource tracker, and a finalizer that removes it when ``owner`` goes
    away (or at exit, or when called)."""
    tmp = os.path.abspath(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        tracked = track_folder(tmp)
    except BaseException:
        remove_tree(tmp)
        raise
    return tmp, own_finalizer(owner, tmp, tracked)


def own_finalizer(owner, tmp, tracked=None):
    """The finalizer removing the engine-made directory ``tmp`` with
    ``owner`` (see :func:`remove_own_tree`)."""
    if tracked is None:
        tracked = _trackable(tmp)
    return weakref.finalize(owner, remove_own_tree, tmp, os.getpid(),
                            tracked)


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
        job.dir, job.tmp = make_temp_dir(
            job, config.get_tmpdir(), config.get_prefix() + config.cache_tag())
        job.scratch = job.dir
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
        if not threading:
            # The inputs and outputs shared with process workers go to a
            # fresh private subdirectory, removed with the job: the user's
            # own files in ``path`` (an X.npy, say) are never replaced.
            job.scratch, job.tmp = make_temp_dir(job, path, SCRATCH_PREFIX)
        return job
    raise TypeError("path must be None, a dict (in-memory cache) or a "
                    "directory path, got %s" % type(path).__name__)


# Name prefix of the temporary subdirectory of a user's cache directory.
SCRATCH_PREFIX = ".mlcore_scratch_"


def cache_save(cache, key, obj):
    """Store ``obj`` under ``key``: a pickle file ``<key>.pkl`` in a cache
    directory, or a ``(key, obj)`` pair appended to an in-memory cache.

    The file is written under a fresh name (``O_EXCL``) and then renamed
    into place, so readers never see a half-written file and nothing is
    written through a symbolic link. An ``OSError`` (a full disk, say)
    names the key and the file, keeps its ``errno`` and leaves no partial
    file behind.
    """
    if not isinstance(cache, str):
        cache.append((key, obj))  # list.append is atomic under the GIL
        return
    path = os.path.join(cache, key + ".pkl")
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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=key + ".", suffix=".part",
                                   dir=cache)
        with os.fdopen(fd, "wb") as f:
            pickler.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers never see a half-written file
    except OSError as exc:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)  # our own partial file
        raise OSError(exc.errno, "Cannot save %r to the estimation cache "
                      "(%s)" % (key, exc.strerror or exc), path) from exc


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
    f, fh = _create_new(directory, "%s_out_array" % base, ".npy")
    fh.close()  # ours now: open_memmap below only truncates our own file
    try:
        return np.lib.format.open_memmap(f, mode="w+", dtype=dtype,
                                         shape=shape, fortran_order=fortran)
    except Exception as exc:
        os.unlink(f)
        size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        raise OSError("Cannot create the prediction array of task %r, "
                      "shape %r, dtype %s (%.1f MB) in %s: %s"
                      % (name, shape, dtype, size / 2 ** 20, directory,
                         exc)) from exc
