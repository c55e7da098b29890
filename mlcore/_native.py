"""Private copies of the native modules whose random generator is
process-wide, one per thread that fits with them.

scikit-learn's liblinear and libsvm wrappers (``sklearn.svm._liblinear``,
``_libsvm`` and ``_libsvm_sparse``) each hold one Mersenne Twister
(``mt_rand`` in ``sklearn/svm/src/newrand/newrand.h``), reseeded at the
start of every fit and drawn from without the GIL. Two fits in threads of
one process interleave their draws, and their results stop being
reproducible. A shared library loaded from another file is another
instance, with global variables of its own: this module loads copies of
these extension modules (from a private temporary folder, removed as soon
as they are loaded; a loaded library needs no file) and binds one to each
thread that fits with them, so seeded fits run side by side and each
gives what it gives alone.

scikit-learn reaches the modules through attributes of
``sklearn.svm._base`` (``liblinear``, ``libsvm``, ``libsvm_sparse``), for
every estimator built on them (LinearSVC, LinearSVR, LogisticRegression
with ``solver='liblinear'``, the libsvm estimators). While at least one
thread is bound, those attributes are dispatchers that give each bound
thread its copy and any other thread the original module; the originals
are put back when the last thread lets go. Copies are kept for the life
of the process (a library cannot be unloaded) and reused, one set per
thread at a time.

Threads that a fit starts itself are not bound: they use the original
module, as they always did. Where copies cannot be made (a platform other
than Linux, where this is tested; a folder whose files cannot be mapped
executable; a scikit-learn laid out differently), :func:`available` says
so and the scheduler runs such fits one at a time instead.
"""
import contextlib
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import threading

from . import config

# Attributes of sklearn.svm._base that reach the modules of each resource
# named by mlcore._scheduler.exclusive_key.
MODULES = {"liblinear": ("liblinear",),
           "libsvm": ("libsvm", "libsvm_sparse")}

# Off by default: the copies replace attributes of a private scikit-learn
# module while they are bound, and on a busy 2-core machine the speed-up
# could not be shown (new / old median 0.91-1.00, spread 0.46-2.87). When
# False, the scheduler runs such fits one at a time. Set True to opt in.
enabled = False

_LOCK = threading.Lock()
_LOCAL = threading.local()
_FREE = {}        # key -> [copy set ({attribute: module}) not bound now]
_MADE = {}        # key -> copy sets made
_UNAVAILABLE = {}  # key -> why copies cannot be made
_ORIGINALS = {}   # attribute -> original module, while dispatchers are in
_BOUND = [0]      # bindings alive in all threads


def _base():
    import sklearn.svm._base as base
    return base


def _originals(key):
    """``{attribute: module}`` of ``key`` in ``sklearn.svm._base``, as
    scikit-learn set them (the originals while dispatchers are in)."""
    base = _base()
    out = {}
    for attr in MODULES[key]:
        module = _ORIGINALS.get(attr, getattr(base, attr, None))
        path = getattr(module, "__file__", None)
        if path is None or not path.endswith(tuple(
                importlib.machinery.EXTENSION_SUFFIXES)):
            raise ImportError("sklearn.svm._base.%s is not an extension "
                              "module (%r)" % (attr, module))
        out[attr] = module
    return out


def _load_copy(module, folder):
    """A new instance of the extension ``module``, loaded from a copy of
    its file in ``folder``; not put in ``sys.modules``."""
    path = os.path.join(folder, os.path.basename(module.__file__))
    shutil.copyfile(module.__file__, path)
    # the module's own name: its init function is found by that name
    spec = importlib.util.spec_from_file_location(module.__name__, path)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    return copy


def _new_copies(key):
    """A set of copies of the modules of ``key``: ``{attribute: copy}``."""
    originals = _originals(key)
    # named as the engine's caches, so that clear_cache removes it if this
    # process is killed before it does
    folder = tempfile.mkdtemp(prefix=config.get_prefix() + config.cache_tag(),
                              dir=config.get_tmpdir())
    try:
        return {attr: _load_copy(module, folder)
                for attr, module in originals.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def available(key, count=1):
    """Whether fits that use resource ``key`` can run on private copies
    (see :func:`private`). Makes sets of copies, in this thread, until
    ``count`` exist (the number of threads that will bind them); a failure
    to make the first is remembered, and the answer is then False."""
    if not enabled or key not in MODULES:
        return False
    with _LOCK:
        if key in _UNAVAILABLE:
            return False
        missing = count - _MADE.get(key, 0)
    if not sys.platform.startswith("linux"):
        with _LOCK:
            _UNAVAILABLE[key] = ("copies of loaded libraries are not used "
                                 "on %s" % sys.platform)
        return False
    for _ in range(missing):
        try:
            copies = _new_copies(key)
        except Exception as exc:  # e.g. a tmpdir mounted noexec
            with _LOCK:
                if not _MADE.get(key):
                    _UNAVAILABLE[key] = "%s: %s" % (type(exc).__name__, exc)
                    return False
            break  # threads without a copy of their own wait (private)
        with _LOCK:
            _MADE[key] = _MADE.get(key, 0) + 1
            _FREE.setdefault(key, []).append(copies)
    return True


class _Dispatcher(object):
    """Stands for the module ``sklearn.svm._base.<attr>``: attributes come
    from the copy bound to the calling thread, else from the original."""

    def __init__(self, attr, original):
        self._attr, self._original = attr, original

    def __getattr__(self, name):
        bound = getattr(_LOCAL, "bound", None)
        module = bound.get(self._attr) if bound else None
        return getattr(self._original if module is None else module, name)

    def __repr__(self):
        return "<mlcore dispatcher for %r>" % (self._original,)


def _install():
    """Put the dispatchers in (under _LOCK, first binding)."""
    base = _base()
    for attrs in MODULES.values():
        for attr in attrs:
            module = getattr(base, attr, None)
            if module is not None and not isinstance(module, _Dispatcher):
                _ORIGINALS[attr] = module
                setattr(base, attr, _Dispatcher(attr, module))


def _restore():
    """Put the original modules back (under _LOCK, last binding gone)."""
    base = _base()
    for attr, module in list(_ORIGINALS.items()):
        if isinstance(getattr(base, attr, None), _Dispatcher):
            setattr(base, attr, module)
        del _ORIGINALS[attr]


def _take(key):
    """A free set of copies of ``key``'s modules, or a new one."""
    with _LOCK:
        free = _FREE.get(key)
        if free:
            return free.pop()
    copies = _new_copies(key)
    with _LOCK:
        _MADE[key] = _MADE.get(key, 0) + 1
    return copies


@contextlib.contextmanager
def private(key):
    """Context in which this thread's fits use private copies of the
    modules of resource ``key`` (:func:`available` must have said yes).

    Re-entrant: a thread already bound for ``key`` keeps its copies. If a
    further set of copies cannot be made, the fits of this thread wait for
    the other unbound ones and run on the original modules, one at a time.
    """
    bound = getattr(_LOCAL, "bound", None)
    if bound is None:
        bound = _LOCAL.bound = {}
    attrs = MODULES[key]
    if attrs[0] in bound:
        yield
        return
    try:
        copies = _take(key)
    except Exception:
        with _serial_lock(key):
            yield
        return
    with _LOCK:
        if _BOUND[0] == 0:
            _install()
        _BOUND[0] += 1
    bound.update(copies)
    try:
        yield
    finally:
        for attr in attrs:
            bound.pop(attr, None)
        with _LOCK:
            _BOUND[0] -= 1
            if _BOUND[0] == 0:
                _restore()
            _FREE.setdefault(key, []).append(copies)


_SERIAL = {}


def _serial_lock(key):
    with _LOCK:
        return _SERIAL.setdefault(key, threading.Lock())
