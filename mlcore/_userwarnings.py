"""Warnings for the user that reach the user's call, wherever they are
issued.

mlcore's warnings for the user (a learner dropped from its layer, say) are
issued deep inside the engine: in the thread that runs a layer, in a
worker thread of an outer pool (an ensemble fitted inside an
``Evaluator``), or in a worker process, whose warnings would otherwise only
be printed there (or lost), out of reach of the caller's filters,
``warnings.catch_warnings`` and ``pytest.warns``. So that they all reach
the caller, and point at the user's line that led to them:

* :func:`warn` issues a warning with the ``stacklevel`` of the innermost
  frame outside mlcore and scikit-learn (:func:`user_stacklevel`); in a
  worker thread of a pool it is deferred instead: noted in the pool's list
  (:func:`deferred_to`), which the dispatching thread issues when the pool
  returns;
* in a worker process every warning of a subtask is recorded
  (:func:`recorded`) and sent back with its result, and issued again in
  the dispatching thread (:func:`reissued`).
"""
import contextlib
import os
import pickle
import sys
import threading
import warnings

_DEFERRED = threading.local()


def _library_folders():
    """The folders of mlcore and of scikit-learn, whose wrappers
    (``set_output``, ``Pipeline``) a user's call may pass through."""
    folders = [os.path.dirname(os.path.abspath(__file__))]
    try:
        import sklearn
        folders.append(os.path.dirname(os.path.abspath(sklearn.__file__)))
    except ImportError:  # pragma: no cover
        pass
    return tuple(folder + os.sep for folder in folders)


_LIBRARIES = []


def user_stacklevel():
    """The ``stacklevel`` that makes a ``warnings.warn`` of the calling
    function point at the innermost frame outside mlcore and
    scikit-learn: the user's call (``fit``, ``fit_transform``, a
    ``Pipeline``'s ``fit``) that led to it, however deep it is issued."""
    if not _LIBRARIES:
        _LIBRARIES.append(_library_folders())
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(
            frame.f_code.co_filename).startswith(_LIBRARIES[0]):
        frame, level = frame.f_back, level + 1
    return level


def warn(message, category):
    """Warn the user: now, pointing at the user's call, or, in a worker
    thread of a pool, when the pool returns to the dispatching thread."""
    deferred = getattr(_DEFERRED, "to", None)
    if deferred is not None:
        deferred.append((category, str(message)))
        return
    warnings.warn(message, category, stacklevel=user_stacklevel())


@contextlib.contextmanager
def deferred_to(deferred):
    """Context in which :func:`warn` notes its warnings in the list
    ``deferred`` (None: no change)."""
    if deferred is None:
        yield
        return
    previous, _DEFERRED.to = getattr(_DEFERRED, "to", None), deferred
    try:
        yield
    finally:
        _DEFERRED.to = previous


class Warned(object):
    """The result of a subtask run in another process, with the warnings
    it raised there: ``(category, message text)`` pairs."""

    def __init__(self, result, warned):
        self.result, self.warned = result, warned


def _portable(w):
    """``(category, text)`` of a recorded warning, that pickles: a
    category that cannot travel becomes a UserWarning naming it."""
    text = str(w.message)
    try:
        pickle.loads(pickle.dumps(w.category))
    except Exception:
        return UserWarning, "%s: %s" % (w.category.__name__, text)
    return w.category, text


def recorded(func, args, kwargs):
    """``func(*args, **kwargs)`` in a worker process, with the warnings it
    raised: a :class:`Warned` if there were any, else its result."""
    with warnings.catch_warnings(record=True) as caught:
        result = func(*args, **kwargs)
    if not caught:
        return result
    return Warned(result, [_portable(w) for w in caught])


def reissued(results, deferred):
    """``results`` of a pool without the :class:`Warned` wrappers of
    subtasks run in other processes; their warnings, and those deferred
    by its worker threads (``deferred``), are issued (see :func:`warn`)."""
    for category, text in deferred:
        warn(text, category)
    del deferred[:]
    if not any(isinstance(res, Warned) for res in results):
        return results
    out = []
    for res in results:
        if isinstance(res, Warned):
            for category, text in res.warned:
                warn(text, category)
            res = res.result
        out.append(res)
    return out
