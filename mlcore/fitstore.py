"""A persistent, content-addressed store of fitted learners and
preprocessing pipelines, shared by the fits of any ensemble given the same
``memory=``.

Each fit of a learner on the training rows of one fold (full fits
included), and each fit of a preprocessing case, is filed under a key
computed from everything that decides its outcome: the estimator's class and
parameters (with the version of the package that defines the class), the
exact fit of the preprocessing it follows (the fitted steps' whole state:
whatever changed that fit changes the keys of every learner after it), the
rows it is fitted on and the rows it predicts, a fingerprint of the values
and memory layout of ``X``, ``y`` and the fit parameters
(``sample_weight``) and of the ``groups`` of the call, the settings of the
layer's output (class probabilities, classes, dtype), the scorer, the
native thread counts (BLAS, OpenMP) and scikit-learn configuration in force
where the fit runs (another thread count can change a fit's last bits),
and the versions of mlcore, Python, numpy and scipy. A later fit that needs
the same fit reads it back, with its out-of-fold predictions, instead of
running it. Adding, removing or changing a learner therefore refits only
that learner and the layers after it (their input changed), and changing
the meta learner refits only the meta learner.

Classes and functions are keyed by module and qualified name with the
version of their package when that name imports them from a package with a
``__version__``; any other (defined in a script or notebook, in a function,
or in a module without a version) is keyed by its code as well, and a
function's key holds the values of the global names its code reads (a
module constant, a helper function, a few levels deep), its own attributes,
and the attributes its code may read from the modules without a version
that it reaches (through submodules, and through imports in its body).
What the key cannot see is not part of it: the edited code of a class of a
versioned package whose version did not change, a versioned package
changed at run time, or a learner with ``random_state=None`` (its fit is
random, the store returns the fit it made first). Values whose state has
no stable fingerprint (a ``numpy.random.RandomState``, an object without
attributes), and code that reads values by a string at run time
(``globals()``, ``eval``, ``sys.modules``, ...), make a learner unstorable:
it is fitted as usual and a :class:`~mlcore.exceptions.FitStoreWarning`
says why. A fit read back holds the functions stored with it: one of a
script (``__main__``) as a copy, with the values of the globals it read
when it was stored.

Entries are pickles. Loading one runs code that its writer chose, so a store
is exactly as trusted as the code that wrote it: never point ``memory=`` at a
directory that others can write to. Each entry is one file, written to a
temporary file in the same directory and renamed into place
(:func:`os.replace`), so processes and threads sharing a store only ever see
whole entries. A header of any length records the format, mlcore's version,
the key and the length and digest of the pickled payload; an entry that is
truncated, of another version or whose payload does not match its digest is
never loaded: the fit runs again and replaces it. Every file the store
writes starts with the same magic bytes, and the store lists, replaces and
removes no file without them. A store that cannot be written to is read,
with one warning per ensemble fit.
"""
import dis
import enum
import hashlib
import inspect
import json
import logging
import os
import pickle
import random
import re
import stat
import struct
import sys
import tempfile
import threading
import time
import types
import warnings
from collections import namedtuple
from functools import partial

import numpy as np
import scipy.sparse as sp

from ._subtasks import SubResult
from .exceptions import FitStoreWarning

__all__ = ["FitStore", "FitStoreEntry", "check_memory"]

# The store's own folder inside ``memory``'s location: pruning and clearing
# only ever look inside it.
FOLDER = "mlcore_fits"
# Every file the store writes starts with the magic, then the header's
# length (8 bytes, little-endian) and the header (JSON), then the payload.
_MAGIC = b"MLCOREFIT\n"
_LENGTH = struct.Struct("<Q")
_FORMAT = 2
_SUFFIX = ".fit"
_TMP_PREFIX = ".tmp-"
_TMP_SUFFIX = ".part"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

FitStoreEntry = namedtuple(
    "FitStoreEntry", "key path size last_used kind name estimator "
                     "mlcore_version current")
FitStoreEntry.__doc__ = """One stored fit, as :meth:`FitStore.entries` lists
it.

``size`` is in bytes, ``last_used`` a POSIX time (the file's modification
time: written or last read), ``kind`` ``'learner'`` or ``'pipeline'``,
``name`` the learner or preprocessing case it was fitted for, ``estimator``
its class name; ``current`` is False for entries of another mlcore version
or store format and for entries whose header cannot be read (both are
removed by :meth:`FitStore.prune`)."""


def _mlcore_version():
    return sys.modules["mlcore"].__version__


def _scipy_version():
    import scipy
    return scipy.__version__


def _pickler():
    """cloudpickle where available (a process worker must be able to store
    an estimator whose class lives in the caller's ``__main__``), else
    pickle; both write files that :func:`pickle.loads` reads."""
    try:
        import cloudpickle
        return cloudpickle
    except ImportError:  # pragma: no cover
        try:
            from joblib.externals import cloudpickle
            return cloudpickle
        except ImportError:
            return pickle


class FitStore(object):
    """A directory of stored fits: what an ensemble's ``memory=`` uses.

    Parameters
    ----------
    location : str or os.PathLike
        A directory (created when needed). The entries live in its
        subdirectory ``mlcore_fits``; nothing else in ``location`` is ever
        read, written or removed. A leading ``~`` and environment variables
        (``$NAME``, ``${NAME}``) are expanded.

    Raises
    ------
    ValueError
        For a location that names an environment variable that is not set
        or ``~user`` of an unknown user.

    Notes
    -----
    Entries are pickled estimators: loading one can run arbitrary code, so a
    store is as trusted as the code that wrote it. Share a store only
    between programs that trust each other.

    Examples
    --------
    >>> store = FitStore("fits")                      # doctest: +SKIP
    >>> store.size(), len(store.entries())            # doctest: +SKIP
    >>> store.prune(max_bytes=2 ** 30)                # doctest: +SKIP
    """

    def __init__(self, location):
        if isinstance(location, FitStore):
            location = location.location  # already expanded
        elif not isinstance(location, (str, os.PathLike)) or not os.fspath(
                location):
            raise TypeError("a fit store's location is a directory path, got "
                            "%r" % (location,))
        else:
            location = _expanded(os.fspath(location))
        # absolute: process workers may run in another working directory
        self.location = os.path.abspath(location)
        self.path = os.path.join(self.location, FOLDER)

    def __repr__(self):
        return "FitStore(%r)" % self.location

    def __eq__(self, other):
        return isinstance(other, FitStore) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    # -- entries --------------------------------------------------------------
    def _file(self, key):
        return os.path.join(self.path, key + _SUFFIX)

    def load(self, key):
        """The payload stored under ``key``, or None when there is none or
        the entry is truncated, damaged or of another version."""
        try:
            fd = os.open(self._file(key), os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except OSError:
            return None
        payload = _payload(data, key)
        if payload is None:
            return None
        try:
            obj = pickle.loads(payload)
        except Exception:  # an unloadable class, say: fit again
            return None
        try:
            os.utime(self._file(key))  # last used, for prune
        except OSError:
            pass
        return obj

    def save(self, key, obj, info):
        """Store ``obj`` under ``key`` atomically; ``info`` (a dict of
        strings) goes into the header. Failures (a full disk, a read-only
        store, a file that the store did not write in the entry's place)
        warn and leave no partial file: the fit itself stands."""
        tmp = None
        try:
            payload = _pickler().dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            header = dict(info, format=_FORMAT, mlcore=_mlcore_version(),
                          key=key, size=len(payload),
                          digest=hashlib.blake2b(payload).hexdigest())
            header = json.dumps(header, sort_keys=True).encode()
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX,
                                       dir=self.path)
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + _LENGTH.pack(len(header)) + header)
                f.write(payload)
            path = self._file(key)
            if os.path.lexists(path) and not _written_here(path):
                raise FileExistsError(
                    "%s is in the place of the entry and was not written by "
                    "the fit store; it is left as it is" % path)
            os.replace(tmp, path)
            tmp = None
        except Exception as exc:
            warnings.warn("Could not store the fit of %s %r in %s: %s: %s. "
                          "The fit is used but will run again next time."
                          % (info.get("kind"), info.get("name"), self.path,
                             type(exc).__name__, exc), FitStoreWarning)
        finally:
            if tmp is not None and os.path.lexists(tmp):
                os.unlink(tmp)  # our own partial file

    def write_problem(self):
        """Why no entry can be written to the store (a string), or None:
        the store's folder is made if needed and a temporary file is
        written to it and removed."""
        tmp = None
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX,
                                       dir=self.path)
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC)  # one of the store's files, as listed
        except OSError as exc:
            return "%s: %s" % (type(exc).__name__, exc)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:  # a partial file: prune removes it
                    pass
        return None

    # -- listing and pruning --------------------------------------------------
    def _own_files(self):
        """(name, path) of the files of the store's folder that this module
        wrote: entries and temporary files, by their names and by the
        magic bytes they start with. Nothing else is listed, sized or
        removed (a temporary file that a writer has not yet written to is
        kept too: nothing tells it from a file of the user's)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as exc:  # not readable
            raise type(exc)(exc.errno, "the fit store cannot list its "
                            "folder %s: %s" % (self.path, exc.strerror or exc)
                            ) from exc
        out = []
        for name in names:
            entry = name.endswith(_SUFFIX) and _is_key(name[:-len(_SUFFIX)])
            tmp = name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX)
            path = os.path.join(self.path, name)
            if (entry or tmp) and _written_here(path):
                out.append((name, path))
        return out

    def entries(self):
        """Every stored fit, least recently used first.

        Returns
        -------
        list of FitStoreEntry
            Read from the entries' headers only (their payloads are not
            loaded or checked).
        """
        out = []
        for name, path in self._own_files():
            if name.startswith(_TMP_PREFIX):
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:  # removed meanwhile
                continue
            header = _read_header(path) or {}
            current = (header.get("format") == _FORMAT and
                       header.get("mlcore") == _mlcore_version())
            out.append(FitStoreEntry(
                name[:-len(_SUFFIX)], path, st.st_size, st.st_mtime,
                header.get("kind"), header.get("name"),
                header.get("estimator"), header.get("mlcore"), current))
        out.sort(key=lambda e: (e.last_used, e.key))
        return out

    def size(self):
        """Bytes taken by the store's entries (and by temporary files of
        writes in progress or interrupted)."""
        total = 0
        for _, path in self._own_files():
            try:
                total += os.stat(path).st_size
            except FileNotFoundError:
                pass
        return total

    def prune(self, max_bytes=None, older_than=None):
        """Remove stale entries, then old ones, then the least recently used
        ones until the store fits in ``max_bytes``.

        Parameters
        ----------
        max_bytes : int, optional
            Largest size (bytes) the entries may take afterwards.
        older_than : float, optional
            Also remove entries not used for this many seconds.

        Returns
        -------
        list of FitStoreEntry
            The entries removed. Entries of another mlcore version or format
            and unreadable ones are always removed, and so are temporary
            files left by interrupted writes more than an hour old (or
            older than ``older_than``).

        Raises
        ------
        OSError
            Of the kind the system gave (``PermissionError`` for a store
            that is read-only to this user), naming the file that could not
            be removed and why.
        """
        now = time.time()
        self._remove_orphans(now, 3600.0 if older_than is None else
                             min(older_than, 3600.0))
        entries = self.entries()
        doomed = [e for e in entries if not e.current or (
            older_than is not None and now - e.last_used > older_than)]
        kept = [e for e in entries if e not in doomed]
        if max_bytes is not None:
            if max_bytes < 0:
                raise ValueError("max_bytes must be >= 0, got %r" % max_bytes)
            total = sum(e.size for e in kept)
            for e in list(kept):  # least recently used first
                if total <= max_bytes:
                    break
                doomed.append(e)
                total -= e.size
        for e in doomed:
            _unlink(e.path)
        return doomed

    def clear(self):
        """Remove every entry (and temporary file) of the store.

        Returns
        -------
        int
            The number of entries removed.

        Raises
        ------
        OSError
            As :meth:`prune` raises it.
        """
        n = 0
        for name, path in self._own_files():
            n += not name.startswith(_TMP_PREFIX)
            _unlink(path)
        return n

    def _remove_orphans(self, now, age):
        for name, path in self._own_files():
            if name.startswith(_TMP_PREFIX):
                try:
                    if now - os.stat(path).st_mtime > age:
                        _unlink(path)
                except FileNotFoundError:
                    pass


# $NAME and ${NAME}, as os.path.expandvars reads them
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def _expanded(location):
    """``location`` with environment variables (``$NAME``, ``${NAME}``)
    and a leading ``~`` expanded, as a shell would: ``memory="~/fits"``
    is the folder ``fits`` of the home directory, never a folder named
    ``~``. A variable that is not set, or ``~user`` of an unknown user, is
    refused rather than taken as a folder's name."""
    if isinstance(location, bytes):
        location = os.fsdecode(location)
    for name in _VARIABLE.findall(location):
        if name.strip("{}") not in os.environ:
            raise ValueError(
                "memory=%r names the environment variable %s, which is not "
                "set: set it, or give the directory's path" % (location, name))
    out = os.path.expanduser(os.path.expandvars(location))
    if out.startswith("~"):
        raise ValueError("memory=%r starts with '~' but names no user's home "
                         "directory: give the directory's path (./%s for a "
                         "folder of that name)" % (location, location))
    return out


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:  # removed by another process meanwhile
        pass
    except OSError as exc:  # a read-only store, say
        raise type(exc)(exc.errno, _cannot("remove", path, exc)) from exc


def _cannot(what, path, exc):
    return ("the fit store cannot %s %s: %s. Pruning and clearing a store "
            "need write access to its folder %s" % (
                what, path, exc.strerror or exc, os.path.dirname(path)))


def _is_key(name):
    return len(name) == 40 and all(c in "0123456789abcdef" for c in name)


def _written_here(path):
    """Whether ``path`` is a regular file (not a link) that starts with the
    store's magic bytes: one that the store wrote."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode) and \
            f.read(len(_MAGIC)) == _MAGIC


_PREFIX = len(_MAGIC) + _LENGTH.size


def _header_length(prefix, size):
    """The header length that an entry's first bytes give, or None when
    they are not an entry's or the header would not fit in ``size``
    bytes."""
    if len(prefix) < _PREFIX or not prefix.startswith(_MAGIC):
        return None
    n = _LENGTH.unpack_from(prefix, len(_MAGIC))[0]
    return n if n <= size - _PREFIX else None


def _parse_header(raw):
    try:
        header = json.loads(raw.decode())
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _split_header(data):
    """(header dict, payload bytes) of an entry's bytes, or None."""
    n = _header_length(data[:_PREFIX], len(data))
    if n is None:
        return None
    header = _parse_header(data[_PREFIX:_PREFIX + n])
    return None if header is None else (header, data[_PREFIX + n:])


def _read_header(path):
    """The header of the entry ``path`` (its payload is not read), or
    None."""
    try:
        with open(path, "rb") as f:
            n = _header_length(f.read(_PREFIX), os.fstat(f.fileno()).st_size)
            if n is None:
                return None
            return _parse_header(f.read(n))
    except OSError:
        return None


def _payload(data, key):
    """The payload of an entry's bytes if the entry is whole, of this format
    and version, filed under ``key`` and matches its digest; else None."""
    split = _split_header(data)
    if split is None:
        return None
    header, payload = split
    if (header.get("format") != _FORMAT
            or header.get("mlcore") != _mlcore_version()
            or header.get("key") != key
            or header.get("size") != len(payload)
            or header.get("digest") != hashlib.blake2b(payload).hexdigest()):
        return None
    return payload


def check_memory(memory):
    """The :class:`FitStore` of an ensemble's ``memory`` parameter.

    Parameters
    ----------
    memory : None, str, os.PathLike, joblib.Memory or FitStore
        As scikit-learn's ``Pipeline`` takes it: a directory (``~`` and
        environment variables expanded), or a ``joblib.Memory`` whose
        ``location`` is used (a ``Memory`` without a location, like None,
        stores nothing).

    Returns
    -------
    FitStore or None

    Raises
    ------
    ValueError
        For an empty path, a path with an environment variable that is not
        set, and a location that is a file or a broken symbolic link (or
        lies in one) or whose folder ``mlcore_fits`` is one: the store
        could write nothing there.
    """
    if memory is None:
        return None
    if isinstance(memory, FitStore):
        return _checked(memory)
    if isinstance(memory, (str, os.PathLike)):
        if not os.fspath(memory):
            raise ValueError("memory is an empty path; pass None to store no "
                             "fits, or a directory")
        return _checked(FitStore(memory))
    location = getattr(memory, "location", False)
    if location is not False and hasattr(memory, "cache"):  # joblib.Memory
        return None if location is None else _checked(FitStore(location))
    raise TypeError("memory must be None, a directory path, a joblib.Memory "
                    "or a mlcore.fitstore.FitStore, got %s"
                    % type(memory).__name__)


def _no_broken_link(path, what):
    if os.path.islink(path) and not os.path.exists(path):
        raise ValueError(
            "%s is a broken symbolic link (to %r, which does not exist): "
            "create its target, remove the link or use another directory"
            % (what, os.readlink(path)))


def _checked(store):
    """``store``, once its location is known to be a directory or to be
    one that can be created."""
    where = store.location
    while not os.path.lexists(where) and os.path.dirname(where) != where:
        where = os.path.dirname(where)  # the nearest existing ancestor
    _no_broken_link(where, "memory=%r" % store.location
                    if where == store.location else
                    "%r, a folder of memory=%r," % (where, store.location))
    _no_broken_link(store.path, "%r, where the fit store keeps its entries,"
                    % store.path)
    if not os.path.isdir(where):
        raise ValueError(
            "memory=%r is %s: it must be a directory (created when needed) "
            "or a joblib.Memory" % (store.location, "a file"
                                    if where == store.location
                                    else "inside the file %r" % where))
    if os.path.lexists(store.path) and not os.path.isdir(store.path):
        raise ValueError(
            "%r, where the fit store keeps its entries (the folder %s of "
            "memory's directory), is not a directory: move it away or use "
            "another directory" % (store.path, FOLDER))
    return store


###############################################################################
# Fingerprints

class Unstable(Exception):
    """A value whose fingerprint would not be the same in every run.

    ``reason`` is what the innermost value was, however many times the
    message was reworded on the way out (:meth:`within`)."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = message if reason is None else reason

    def within(self, message):
        """This failure, said as ``message % self`` (a wider context)."""
        return Unstable(message % self, self.reason)


def _digest(*parts):
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _layout(a):
    """What of an array's memory layout changes what is computed from it:
    numpy and BLAS sum C- and F-ordered data in other orders, which round
    differently in the last bits."""
    if a.flags.c_contiguous:
        return "C"
    return "F" if a.flags.f_contiguous else ("strides", a.strides)


def _array_digest(a):
    """Digest of a numeric array's dtype, shape, memory layout and values,
    read in bounded chunks (a memory map is not copied whole)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((a.dtype.str, a.shape, _layout(a))).encode())
    if a.flags.c_contiguous:
        h.update(memoryview(a).cast("B") if a.size else b"")
        return h.hexdigest()
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    step = max(1, (1 << 23) // max(1, flat.shape[1] * a.itemsize))
    for start in range(0, flat.shape[0], step):
        h.update(np.ascontiguousarray(flat[start:start + step]).data)
    return h.hexdigest()


def fingerprint(data):
    """A digest of the values of ``data``: an array (a memory map), a
    scipy.sparse matrix, a DataFrame, a dict of such, or None. The memory
    layout of an array is part of it."""
    if data is None:
        return "none"
    if isinstance(data, dict):
        return _digest("dict", sorted((str(k), fingerprint(v))
                                      for k, v in data.items()))
    if sp.issparse(data):
        parts = [getattr(data, n) for n in ("data", "indices", "indptr",
                                            "row", "col", "offsets")
                 if isinstance(getattr(data, n, None), np.ndarray)]
        return _digest("sparse", data.format, data.shape,
                       *[_array_digest(np.asarray(p)) for p in parts])
    if isinstance(data, np.ndarray) and not data.dtype.hasobject:
        return _array_digest(np.asarray(data))
    import joblib  # object arrays, frames: joblib hashes their pickle
    return "joblib:" + joblib.hash(data)


###############################################################################
# Tokens: what an estimator, a parameter value or a fitted object is

# The modules of Python's standard library: their code is that of the
# Python version, which is part of every key.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}

# How many functions and classes deep a token follows the global names
# that code reads (a method calling a helper that reads a constant: 2).
_MAX_DEPTH = 8


def _version(module):
    """The version that stands for the code of the module named ``module``:
    its package's ``__version__`` (Python's for the standard library), or
    None."""
    root = str(module).split(".")[0]
    if root in _STDLIB:
        return "python-%d.%d.%d" % sys.version_info[:3]
    version = getattr(sys.modules.get(root), "__version__", None)
    return None if version is None else str(version)


def _named(obj):
    """Whether the class or function ``obj`` is what importing its module
    and qualified name gives, in a package with a version: its name and
    that version then stand for its code. A class defined in a function
    (``<locals>`` in its qualified name), in a script or a notebook
    (``__main__``, redefined from cell to cell) or in a module without a
    version is not named: its code goes into its token."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or _version(module) is None:
        return False
    found = sys.modules.get(module)
    for part in getattr(obj, "__qualname__", "<?>").split("."):
        found = getattr(found, part, None)
    return found is obj


class _Walk(object):
    """Where a token is being computed: the ids of the values it is inside
    of (``path``, to stop at cycles), how many functions and classes deep
    it is, whether values are described by their whole state (see
    :func:`state_token`), and the tokens of the functions and classes
    described so far (``memo``: each is read once)."""

    __slots__ = ("path", "depth", "state", "memo")

    def __init__(self, state, path=(), depth=0, memo=None):
        self.path, self.depth, self.state = path, depth, state
        self.memo = {} if memo is None else memo

    def into(self, value):
        return _Walk(self.state, self.path + (id(value),), self.depth,
                     self.memo)

    def stateful(self):
        """The walk into values that are used as they are (clone copies
        them): their whole state counts."""
        return self if self.state else _Walk(True, self.path, self.depth,
                                             self.memo)

    def code_of(self, obj, describe):
        """``describe(obj, walk)`` for a function or class whose code is
        read, once per token, at most ``_MAX_DEPTH`` deep."""
        found = self.memo.get(id(obj))
        if found is not None:
            return found[1]
        if self.depth >= _MAX_DEPTH:
            raise Unstable("code that reaches %r through more than %d levels "
                           "of functions and classes" % (obj, _MAX_DEPTH))
        walk = _Walk(True, self.path + (id(obj),), self.depth + 1, self.memo)
        out = describe(obj, walk)
        self.memo[id(obj)] = (obj, out)  # obj kept: its id is not reused
        return out


def _class_token(cls, walk=None):
    """A class by its module and qualified name, with the version of the
    package that defines it (an upgrade of scikit-learn changes what its
    fits give); a class that is not named (see :func:`_named`) also by its
    code: its own attributes (methods by their code) and its bases."""
    module = getattr(cls, "__module__", None) or "?"
    name = ("class", module, getattr(cls, "__qualname__", cls.__name__),
            _version(module))
    if _named(cls):
        return name
    walk = walk or _Walk(True)
    if id(cls) in walk.path:  # its own code refers to it
        return ("recursive",) + name
    return name + walk.code_of(cls, _class_code)


def _class_code(cls, walk):
    own = tuple((attr, _attribute_token(value, walk))
                for attr, value in sorted(vars(cls).items())
                if _behaves(attr, value))
    return tuple(_class_token(b, walk) for b in cls.__bases__), own


_C_ATTRIBUTES = (types.WrapperDescriptorType, types.MethodDescriptorType,
                 types.GetSetDescriptorType, types.MemberDescriptorType,
                 types.ClassMethodDescriptorType, types.BuiltinFunctionType)
_METHODS = (types.FunctionType, staticmethod, classmethod, property)


def _behaves(attr, value):
    """Whether the class attribute ``attr`` can change what instances do:
    not its documentation, its module's name or the bookkeeping of
    ``abc``; of the dunder attributes only methods."""
    if attr in ("__doc__", "__module__", "__qualname__", "__dict__",
                "__weakref__", "_abc_impl"):
        return False
    dunder = attr.startswith("__") and attr.endswith("__")
    return not dunder or isinstance(value, _METHODS)


def _attribute_token(value, walk):
    if isinstance(value, (staticmethod, classmethod)):
        return (type(value).__name__, _token(value.__func__, walk))
    if isinstance(value, property):
        return ("property",) + tuple(_token(f, walk) for f in (
            value.fget, value.fset, value.fdel))
    if isinstance(value, _C_ATTRIBUTES):  # compiled code: named by its type
        return ("compiled", type(value).__name__,
                getattr(value, "__qualname__", None))
    return _token(value, walk)


_SCALARS = (type(None), bool, int, float, complex, str, bytes,
            type(Ellipsis))


def token(value):
    """A stable, hashable description of an estimator or parameter value,
    as :func:`sklearn.base.clone` reproduces it for a fit.

    Estimators are described by their class and ``get_params(deep=False)``
    (nested estimators recursively; an estimator that ``clone`` returns
    with its state, as ``FrozenEstimator``, by its whole state), arrays by
    their values and memory layout, functions by their name, code and the
    values of the global names their code reads, classes that are not
    importable by name from a package with a version by their code;
    anything else by its class and attributes. Raises :class:`Unstable`
    for values whose state cannot be described (a
    ``numpy.random.RandomState``, objects that keep state outside their
    attributes), and for reference cycles.
    """
    return _token(value, _Walk(False))


def state_token(value):
    """The token of a fitted object as it is, to be used without a clone
    (a fitted preprocessing pipeline): estimators are described by their
    whole state, fitted attributes included, and the parts of it that have
    no token (a compiled tree) by the digest of their pickle."""
    return _token(value, _Walk(True))


# Random generators: their state changes as they are used.
_GENERATORS = (np.random.RandomState, np.random.Generator, random.Random)


def _token(value, walk):
    if isinstance(value, _SCALARS):
        return (type(value).__name__, repr(value))
    if isinstance(value, enum.Enum):  # a member, by name: its class holds it
        return ("enum", _class_token(type(value), walk), value.name)
    if id(value) in walk.path:
        if isinstance(value, (type, types.FunctionType)):
            return ("recursive", value.__module__, value.__qualname__)
        raise Unstable("a reference cycle")
    walk = walk.into(value)
    if isinstance(value, _GENERATORS):
        raise Unstable("a %s, whose state changes as it is used (pass an "
                       "int seed instead)" % type(value).__name__)
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, value.tobytes())
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, (np.ndarray,)) or sp.issparse(value):
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            return ("objarray", value.shape, _layout(value),
                    tuple(_token(v, walk)
                          for v in value.ravel(order="K").tolist()))
        return ("array", fingerprint(value))
    found = _container_token(value, walk)
    if found is not None:
        return found
    if isinstance(value, type):
        return _class_token(value, walk)
    if hasattr(value, "get_params"):
        return _estimator_token(value, walk)
    return _callable_token(value, walk)


def _container_token(value, walk):
    """The token of a list, tuple, set, dict, slice or range; else None."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_token(v, walk) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_token(v, walk) for v in value),
                                    key=repr)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((_token(k, walk), _token(v, walk))
                                      for k, v in value.items()), key=repr)))
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, range):
        return ("range", value.start, value.stop, value.step)
    return None


def _clone_keeps_state(cls):
    """Whether :func:`sklearn.base.clone` returns instances of ``cls`` with
    their state (``FrozenEstimator``) rather than rebuilt from their
    parameters."""
    method = getattr(cls, "__sklearn_clone__", None)
    if method is None:
        return False
    from sklearn.base import BaseEstimator
    return method is not getattr(BaseEstimator, "__sklearn_clone__", None)


def _estimator_token(value, walk):
    cls = _class_token(type(value), walk)
    if walk.state or _clone_keeps_state(type(value)):
        attrs = getattr(value, "__dict__", None)
        if attrs is None or _slotted(type(value)):
            return ("fitted", cls, _pickled(value))
        return ("fitted", cls, _token(dict(attrs), walk.stateful()))
    return ("estimator", cls, _token(value.get_params(deep=False), walk))


def _pickled(value):
    """The digest of ``value``'s pickle: the token of a fitted object's
    part that has no other (its pickle is what the store keeps of it)."""
    import joblib
    try:
        return ("pickled", type(value).__name__, joblib.hash(value))
    except Exception as exc:
        raise Unstable("a %s, which cannot be pickled (%s)"
                       % (type(value).__name__, exc)) from None


def _callable_token(value, walk):
    # The objects below are used as they are (clone copies them): the
    # state of what they hold counts.
    live = walk.stateful()
    if isinstance(value, partial):
        return ("partial", _token(value.func, live), _token(value.args, live),
                _token(value.keywords, live))
    if isinstance(value, types.MethodType):
        return ("method", _token(value.__self__, live),
                _token(value.__func__, live))
    if isinstance(value, types.FunctionType):
        return _function_token(value, walk)
    if isinstance(value, (types.BuiltinFunctionType, np.ufunc)):
        return ("builtin", getattr(value, "__module__", None),
                getattr(value, "__qualname__", value.__name__))
    if isinstance(value, types.ModuleType):
        if _version(value.__name__) is None:
            raise Unstable("the module %s, which has no version: the key "
                           "cannot tell which of its values are used"
                           % value.__name__)
        return ("module", value.__name__, _version(value.__name__))
    if isinstance(value, (logging.Logger, logging.LoggerAdapter)):
        return ("logger", value.name if isinstance(value, logging.Logger)
                else value.logger.name)  # messages change no result
    attrs = getattr(value, "__dict__", None)
    if attrs is None or _slotted(type(value)):
        if walk.state:
            return _pickled(value)
        raise Unstable("a %s, whose state is not all in its attributes"
                       % type(value).__name__)
    return ("object", _class_token(type(value), walk),
            _token(dict(attrs), live))


def _slotted(cls):
    """Whether instances of ``cls`` keep state in slots (not in their
    ``__dict__``)."""
    return any(vars(k).get("__slots__") for k in cls.__mro__
               if k is not object)


def _function_token(f, walk):
    """A function by its name, code, defaults and closure; a function that
    is not named (see :func:`_named`) also by the values of the global
    names its code reads (a module constant, a helper function)."""
    if _named(f):
        return _function_code(f, walk.stateful())
    return walk.code_of(f, _function_and_globals)


def _function_code(f, walk, read=None):
    """A function's name, code, defaults and closure; ``read`` describes
    the values of its closure (:func:`_token` by default)."""
    read = read or _token
    cells = tuple(read(c.cell_contents, walk) for c in f.__closure__ or ())
    return ("function", f.__module__, f.__qualname__,
            _code_token(f.__code__), _token(f.__defaults__, walk),
            _token(f.__kwdefaults__, walk), cells)


def _function_and_globals(f, walk):
    """A function of the user's own: its code, the values of the global
    names and closure it reads, the modules it imports (with the
    attributes it may read from them) and its own attributes
    (``f.factor = 2.0``), which its code may read too."""
    code = _code_names(f.__code__)
    _refuse_dynamic(f, code)
    scope = f.__globals__

    def read(value, walk):
        return _global_token(value, code.attrs, walk)

    return _function_code(f, walk, read) + (
        tuple((name, read(scope[name], walk))
              for name in sorted(code.names) if name in scope),
        tuple((name, read(module, walk)) for name, module in
              _imported(f, code.imports)),
        _token(dict(vars(f)), walk))


def _global_token(value, attrs, walk):
    """The token of a value that code reads (a global, a closure, an
    imported module). Of a module without a version (the user's own), the
    attributes that the code may read from it (``attrs``: every attribute
    name the code uses) count, and so do those of its submodules that it
    may reach through them (``mypkg.config.SCALE``)."""
    if isinstance(value, types.ModuleType):
        return _module_token(value, attrs, walk, ())
    try:
        return _token(value, walk)
    except Unstable as exc:
        raise exc.within("%s, read by a function") from None


def _module_token(module, attrs, walk, inside):
    name = module.__name__
    version = _version(name)
    if version is not None:
        return ("module", name, version)
    if name in inside:  # a package and its submodule import each other
        return ("recursive-module", name)
    found = []
    for attr in sorted(attrs):
        try:
            value = getattr(module, attr)
        except AttributeError:
            continue
        if isinstance(value, types.ModuleType):
            found.append((attr, _module_token(value, attrs, walk,
                                              inside + (name,))))
            continue
        try:
            found.append((attr, _token(value, walk)))
        except Unstable as exc:
            raise exc.within("%%s, read by a function from %s" % name) \
                from None
    return ("module", name, tuple(found))


def _imported(f, imports):
    """(name, module) of the modules that ``import`` statements in the
    code of ``f`` import, and of the packages they sit in (``import
    mypkg.config`` binds ``mypkg``); a module of a versioned package is
    given as its name and version."""
    import importlib.util
    package = f.__globals__.get("__package__") or \
        f.__globals__.get("__name__", "").rpartition(".")[0]
    out = []
    for name, level, fromlist in sorted(imports, key=repr):
        if not isinstance(level, int):
            raise Unstable("an import that the key cannot read (in %s)"
                           % f.__qualname__)
        try:
            full = importlib.util.resolve_name("." * level + name, package) \
                if level else name
        except (ImportError, ValueError) as exc:
            raise Unstable("an import of %s that fails (%s)" % (name, exc)) \
                from None
        parts = full.split(".")
        for n in range(1, len(parts) + 1):
            out.append((".".join(parts[:n]), _loaded(".".join(parts[:n]), f)))
        module = out[-1][1]
        for attr in fromlist or ():
            # ``from mypkg import config`` imports the submodule config
            if isinstance(module, types.ModuleType) and \
                    not hasattr(module, attr):
                sub = full + "." + attr
                out.append((sub, _loaded(sub, f)))
    return out


def _loaded(module, f):
    """The module named ``module`` as ``f``'s import will find it, or its
    name and version when it is of a versioned package."""
    version = _version(module)
    if version is not None:
        return "%s %s" % (module, version)
    found = sys.modules.get(module)
    if found is None:
        raise Unstable("an import of %s (in %s), a module without a version "
                       "that is not imported yet: import it before the fit"
                       % (module, f.__qualname__))
    return found


def _dynamic():
    """What reads global names or modules by a string at run time: the
    builtins ``globals``, ``vars``, ``eval``, ``exec`` and ``__import__``,
    ``sys.modules``, ``importlib.import_module`` and frame inspection.
    The values that such code reads have no names the key can follow; a
    ``__main__`` function that uses them would also lose them in its
    stored copy, which holds only the globals its code names.
    ``{id: object}``."""
    if not _DYNAMIC:
        import builtins
        import importlib
        values = [getattr(builtins, n) for n in _DYNAMIC_BUILTINS] + [
            importlib.import_module, sys._getframe, inspect.currentframe,
            inspect.stack, sys.modules]
        _DYNAMIC.update((id(v), v) for v in values)
    return _DYNAMIC


_DYNAMIC = {}
_DYNAMIC_BUILTINS = ("globals", "vars", "eval", "exec", "__import__")
# the same, as attributes of their modules
_DYNAMIC_ATTRS = {"builtins": frozenset(_DYNAMIC_BUILTINS),
                  "sys": frozenset(("modules", "_getframe")),
                  "importlib": frozenset(("import_module",)),
                  "inspect": frozenset(("currentframe", "stack"))}


def _refuse_dynamic(f, code):
    """Raise :class:`Unstable` when the code of ``f`` can read values by a
    string (see :func:`_dynamic`)."""
    scope = f.__globals__
    builtins = scope.get("__builtins__", {})
    builtins = getattr(builtins, "__dict__", builtins)
    reached = [scope[n] if n in scope else builtins.get(n)
               for n in code.names]
    reached += [c.cell_contents for c in f.__closure__ or ()]
    reached += [sys.modules.get(part) for name, level, _ in code.imports
                if level == 0 for part in (name, name.split(".")[0])]
    dynamic = _dynamic()
    for value in reached:
        if dynamic.get(id(value), _NOT_A_CONSTANT) is value:
            what = getattr(value, "__name__", "sys.modules")
        elif isinstance(value, types.ModuleType) and \
                code.attrs & _DYNAMIC_ATTRS.get(value.__name__, set()):
            what = "%s.%s" % (value.__name__, min(
                code.attrs & _DYNAMIC_ATTRS[value.__name__]))
        else:
            continue
        raise Unstable("code that reads values by their names at run time "
                       "(%s, in %s), which the key cannot follow"
                       % (what, f.__qualname__))
    # getattr(mypkg.config, name): any attribute of a module of the user's
    mine = [v.__name__ for v in reached if isinstance(v, types.ModuleType)
            and _version(v.__name__) is None]
    if mine and "getattr" in code.names and "getattr" not in scope:
        raise Unstable("code that reads values by their names at run time "
                       "(getattr, in %s, which reads the module %s of no "
                       "versioned package), which the key cannot follow"
                       % (f.__qualname__, min(mine)))


# Instructions that read a global name, and that read an attribute.
_GLOBAL_OPS = frozenset(("LOAD_GLOBAL", "LOAD_NAME",
                         "LOAD_FROM_DICT_OR_GLOBALS"))
_ATTR_OPS = frozenset(("LOAD_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR",
                       "IMPORT_FROM"))

_CodeNames = namedtuple("_CodeNames", "names attrs imports")


def _code_names(code):
    """The global names, attribute names and imports (``(module, level,
    fromlist)``) that ``code`` and the code nested in it (comprehensions,
    inner functions) read."""
    names, attrs, imports = set(), set(), set()
    consts = [None, None]  # the two values last loaded: an import's args
    for ins in dis.get_instructions(code):
        if ins.opname in _GLOBAL_OPS:
            names.add(ins.argval)
        elif ins.opname in _ATTR_OPS:
            attrs.add(ins.argval)
        elif ins.opname == "IMPORT_NAME":
            fromlist = consts[1] if isinstance(consts[1], tuple) else None
            imports.add((ins.argval, consts[0], fromlist))
        consts = [consts[1], ins.argval if ins.opname == "LOAD_CONST"
                  else _NOT_A_CONSTANT]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner = _code_names(const)
            names |= inner.names
            attrs |= inner.attrs
            imports |= inner.imports
    return _CodeNames(names, attrs, imports)


_NOT_A_CONSTANT = object()


def _code_token(code):
    consts = tuple(_code_token(c) if isinstance(c, types.CodeType)
                   else token(c) for c in code.co_consts)
    return ("code", code.co_code, consts, code.co_names, code.co_varnames,
            code.co_argcount, code.co_kwonlyargcount, code.co_flags)


###############################################################################
# The fit path: keys in the driver, lookups and writes where the fit runs

_LOCAL = threading.local()


def current():
    """The :class:`Session` of the fit running in this thread, or None."""
    return getattr(_LOCAL, "session", None)


class using(object):
    """Context manager: the fits dispatched from this thread use ``store``
    (None: no store, also inside an outer ensemble's fit that has one).

    ``sample_weight`` and ``groups`` are the ensemble's fit parameters,
    part of every key."""

    def __init__(self, store, sample_weight=None, groups=None):
        self.session = None if store is None else Session(
            store, sample_weight, groups)

    def __enter__(self):
        self._previous = current()
        _LOCAL.session = self.session
        return self.session

    def __exit__(self, *exc):
        _LOCAL.session = self._previous


# Arguments of the layer subtasks that do not change what a fit gives:
# where its results go, labels for messages, and the training inputs, which
# enter the key by their fingerprints instead.
_NOT_IN_KEY = {"key", "name", "case", "estimator", "steps", "pipeline", "X",
               "y", "train", "test", "P", "out_rows", "col", "scorer",
               "fit_params", "cache", "partition", "fold"}


class Session(object):
    """The fits of one ensemble call on a store: computes keys in the
    driver (with each input's fingerprint computed once) and wraps the
    subtasks that fit, so that they run only when their key is not stored.

    Attributes
    ----------
    hits, misses : int
        Fits read from the store and fits that ran, so far.
    """

    def __init__(self, store, sample_weight=None, groups=None):
        self.store = store
        self.hits = self.misses = 0
        self._memo = {}
        self._warned, self._case_reasons = set(), set()
        self._writable = None  # not yet tried
        # numpy and scipy: their code runs in every fit (sums, BLAS calls)
        self._base = (_FORMAT, _mlcore_version(), sys.version_info[:2],
                      np.__version__, _scipy_version(),
                      fingerprint(sample_weight), fingerprint(groups))

    def writable(self):
        """Whether fits can be written to the store; tried once per call:
        a store that cannot be written to (a read-only folder or disk)
        warns once, and its entries are still read."""
        if self._writable is None:
            problem = self.store.write_problem()
            self._writable = problem is None
            if problem is not None:
                warnings.warn("The fit store %s cannot be written to (%s): "
                              "its entries are read, but the fits of this "
                              "call that it lacks are not stored"
                              % (self.store.path, problem), FitStoreWarning)
        return self._writable

    def _once(self, how, obj):
        """``how(obj)``, computed once per object of this call (the same
        input, rows and estimators come with every fold's fit)."""
        found = self._memo.get((how, id(obj)))
        if found is None or found[0] is not obj:
            # the object is kept with its result, so its id is not reused
            found = self._memo[how, id(obj)] = (obj, how(obj))
        return found[1]

    def _fingerprint(self, data):
        return self._once(fingerprint, data)

    def _rows(self, rows):
        if rows is None or isinstance(rows, slice):
            return token(rows)
        return self._fingerprint(rows)

    def wrap(self, jobs):
        """``jobs`` (joblib-style triples) with every learner and
        preprocessing fit that can be stored wrapped in :class:`Stored`."""
        from ._subtasks import _fit_learner, _fit_pipeline
        kinds = {_fit_learner: "learner", _fit_pipeline: "pipeline"}
        out = []
        for func, args, kwargs in jobs:
            kind = kinds.get(func)
            if kind is not None:
                stored = self._stored(func, kind, args, kwargs)
                func = func if stored is None else stored
            out.append((func, args, kwargs))
        return out

    def _stored(self, func, kind, args, kwargs):
        a = _arguments(func, args, kwargs)
        name = a.get("name", a.get("case"))
        try:
            key = self._key(kind, a)
        except Unstable as exc:
            self._warn_unstable(kind, name, exc)
            return None
        est = a.get("estimator", a.get("steps"))
        info = {"kind": kind, "name": str(name),
                "estimator": type(est).__name__ if kind == "learner"
                else "+".join(type(s).__name__ for s in est)}
        return Stored(func, self.store, key, info, self.writable())

    def _warn_unstable(self, kind, name, exc):
        """One warning per learner or case of the call. The learners after
        a case whose steps have no stable token cannot be stored either:
        the case's warning says so for them."""
        if getattr(exc, "in_case", False) and \
                exc.reason in self._case_reasons:
            return  # the preprocessing case it follows warned of it
        if name in self._warned:
            return
        self._warned.add(name)
        if kind != "learner":
            self._case_reasons.add(exc.reason)
        warnings.warn("%s %r is fitted without the fit store%s: %s" % (
            "learner" if kind == "learner" else "preprocessing case", name,
            "" if kind == "learner" else ", and so are the learners after "
            "it", exc), FitStoreWarning)

    def _key(self, kind, a):
        parts = [self._base, kind, self._fingerprint(a["X"]),
                 self._fingerprint(a.get("y")), self._rows(a.get("train")),
                 self._rows(a.get("test")),
                 {k: self._fingerprint(v) for k, v in
                  sorted((a.get("fit_params") or {}).items())}]
        try:
            if kind == "learner":
                parts += [self._once(token, a["estimator"]),
                          self._once(token, a.get("scorer"))]
            else:
                parts.append(self._once(token, a["steps"]))
        except Unstable as exc:
            raise exc.within("one of its parameters holds %s") from None
        if kind == "learner":
            try:
                parts.append(self._pipeline(a))
            except Unstable as exc:
                err = exc.within("the fitted preprocessing it follows "
                                 "holds %s")
                err.in_case = True
                raise err from None
        extra = {k: v for k, v in a.items() if k not in _NOT_IN_KEY}
        try:
            parts.append(token(extra))
        except Unstable as exc:
            raise exc.within("a setting of its layer holds %s") from None
        return _digest(*parts)

    def _pipeline(self, a):
        """What a learner's key says of the preprocessing it follows: the
        exact fit of its steps, their whole fitted state (with their
        classes' and functions' code). Whatever changes that fit (other
        rows or data, other steps or parameters, a step prefitted on other
        data, a refit of a random step after its entry was lost) changes
        the key of every learner after it; a fit read back from the store
        has the state it was stored with."""
        pipe = a.get("pipeline")
        if isinstance(pipe, str):  # a key of the estimation cache
            from ._store import cache_load
            pipe = cache_load(a["cache"], pipe)
        if not pipe:
            return None
        return self._once(state_token, pipe)

    def record(self, results):
        """Count the hits and misses among a pool's ``results``."""
        for res in results:
            if isinstance(res, StoredResult):
                self.hits += 1
            elif isinstance(res, SubResult):
                self.misses += 1


_SIGNATURES = {}


def _arguments(func, args, kwargs):
    """``{name: value}`` of a call of ``func``, defaults included."""
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(func)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


class _Written(object):
    """Stands in for a layer's output array during a fit: writes go through,
    and the block written is kept for the store."""

    def __init__(self, P):
        self.P, self.block = P, None

    def __setitem__(self, index, value):
        self.P[index] = value
        self.block = value

    def __getattr__(self, name):
        return getattr(self.P, name)


def _where_it_runs():
    """What of the thread a fit runs in changes its bits, beside its
    inputs: the sizes of the native thread pools (BLAS and OpenMP split
    sums over their threads, see :func:`mlcore.threadpools.native_threads`)
    and scikit-learn's configuration (``transform_output``,
    ``assume_finite``, ``working_memory``, ...). Read where the fit runs:
    the limits that mlcore, joblib or the caller's ``threadpool_limits``
    put on a worker are those in force there."""
    from .threadpools import native_threads
    try:
        from sklearn import get_config
        config = get_config()
    except ImportError:  # pragma: no cover
        config = None
    return native_threads(), token(config)


class StoredResult(SubResult):
    """A subtask's result read from the fit store."""
    __slots__ = ()


class Stored(object):
    """A layer subtask that fits only when its key is not in the store.

    Runs where the subtask runs (a worker thread or process): a stored
    entry is loaded, checked and replayed (the fitted object goes to the
    estimation cache, the predictions into the output array, as the fit
    would have put them); otherwise the subtask runs and its fitted object,
    predictions and result are stored.
    """

    # ``func``, as the engine's other subtask wrappers call the subtask
    # (error messages find the learner and fold through it). No instance
    # __dict__: functools.update_wrapper, which the caller's context
    # wrapper applies, would copy these attributes onto that wrapper.
    __slots__ = ("func", "store", "key", "info", "write")

    def __init__(self, func, store, key, info, write=True):
        self.func, self.store, self.key, self.info = func, store, key, info
        self.write = write  # False: the store is read-only

    def __call__(self, *args, **kwargs):
        a = _arguments(self.func, args, kwargs)
        key = _digest(self.key, _where_it_runs())
        entry = self.store.load(key)
        if entry is not None:
            try:
                return self._replay(entry, a)
            except Exception:  # an entry of an older layout: fit again
                pass
        written = None
        if a.get("P") is not None:
            written = a["P"] = _Written(a["P"])
        res = self.func(**a)
        if self.write:
            self._save(key, res, a, written)
        return res

    def _save(self, key, res, a, written):
        from ._store import cache_load
        est = res.estimator
        if est is None:
            est = cache_load(a["cache"], res.key)
        pred = res.prediction
        into_P = pred is None and written is not None and \
            written.block is not None
        if into_P:
            pred = written.block
        fields = dict(res._asdict(), estimator=est, prediction=pred)
        self.store.save(key, {"result": fields, "into_P": into_P},
                        self.info)

    def _replay(self, entry, a):
        from ._store import cache_save
        fields = dict(entry["result"])
        fields.update(key=a["key"], partition=a["partition"],
                      fold=a["fold"], name=a.get("name", a.get("case")))
        res = StoredResult(**fields)
        pred = fields["prediction"]
        if entry["into_P"]:
            a["P"][a["out_rows"], a["col"]:a["col"] + pred.shape[1]] = pred
            res = res._replace(prediction=None)
        if not a["handback"]:
            cache_save(a["cache"], a["key"], res.estimator)
            res = res._replace(estimator=None)
        return res
