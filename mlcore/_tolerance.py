"""Failing learners tolerated, and fits held to a time budget.

With ``raise_on_exception=False`` a layer wraps each of its subtasks in a
:class:`Guarded`: a :class:`mlcore.exceptions.LearnerError` that the
subtask raises (an exception of the learner, or output of the wrong shape
or with non-finite values) comes back as a :class:`Failure` result, so that
the pool runs on and the layer can drop the learner afterwards. Other
errors (a full disk, an interrupt) still stop the pool.

With ``max_fit_time``, a subtask that took longer than its learner's budget
comes back as a :class:`Failure` as well (or raises
:class:`mlcore.exceptions.LearnerTimeoutError` when failures are not
tolerated). A running fit cannot be interrupted in a thread, so on
sequential and thread backends the budget is checked when the fit ends, and
the learner's fits that have not started yet are skipped. On process
backends (loky, multiprocessing) the engine also watches running fits
(:func:`run_watched`) and stops the worker of a fit that runs over, with
the processes the fit started.

A full fit (fold 0 without held-out rows) predicts nothing at fit time:
when failures are tolerated its output is checked on a sample of its
training rows, so that a learner whose full fit cannot predict is dropped
at fit time. The budget and this check run in a :class:`Held` below the
fit store's wrapper (:func:`store_wrap`), so that a fit that failed either
is never stored.

Time is read from :data:`mlcore._scheduler.clock`, which tests replace with
a clock they drive.
"""
import copy
import numbers
import os
import signal
import threading
import uuid
from collections import namedtuple
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from . import _scheduler
from ._subtasks import where
from .exceptions import LearnerError, LearnerTimeoutError

# The result of a subtask that failed, ran over its budget, or was skipped
# because its learner had already failed (``reason`` None).
Failure = namedtuple("Failure", "key kind name partition fold reason")


def check_budget(value, owner="max_fit_time"):
    """``value`` if it is a valid time budget: None, a positive number of
    seconds, or a dict of them keyed by learner name; else raise."""
    if value is None:
        return None
    if isinstance(value, dict):
        for name, seconds in value.items():
            if not isinstance(name, str):
                raise TypeError("%s keys must be learner names (str), got %r"
                                % (owner, name))
            check_budget(seconds, "%s[%r]" % (owner, name))
        return value
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number of seconds, a dict of them by "
                        "learner name, or None; got %r" % (owner, value))
    if not (np.isfinite(value) and value > 0):
        raise ValueError("%s must be a positive, finite number of seconds, "
                         "got %r" % (owner, value))
    return value


def budget_for(value, key, name):
    """The budget of learner ``key`` (``name`` without its preprocessing
    case) under ``max_fit_time`` ``value``: seconds, or None."""
    if isinstance(value, dict):
        return value.get(key, value.get(name))
    return value


def _seconds(s):
    return "%g s" % s


class Dropped(object):
    """The learners of one pool that failed, shared by the pool's subtasks
    that run in this process (a copy sent to a worker process starts
    empty)."""

    def __init__(self):
        self.names = set()
        self.lock = threading.Lock()

    def add(self, name):
        with self.lock:
            self.names.add(name)

    def __contains__(self, name):
        with self.lock:
            return name in self.names

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()


class _OverBudget(Exception):
    """Raised by :class:`Held` for a fit that took ``took`` seconds, over
    its budget; :class:`Guarded` turns it into its failure. Not a
    LearnerError, and raised before the fit returns, so that a fit store
    wrapping the fit never stores it."""

    def __init__(self, took):
        super().__init__(took)
        self.took = took


class Held(object):
    """A layer subtask function (``func``) as a :class:`Guarded` runs it:
    a run over ``budget`` seconds raises :class:`_OverBudget`, and with
    ``check`` the output of a full fit is checked
    (:func:`mlcore._subtasks.check_full_fit`), both before the result is
    returned, so that a fit store between the guard and this wrapper
    stores only fits that passed.

    Its signature is that of ``func`` (``__wrapped__``), which the fit
    store binds the subtask's arguments with. Equal wrappers (same
    function, budget and check) compare and hash equal, so that caches of
    signatures keyed by the function stay one entry per setting.
    """

    def __init__(self, func, budget, check):
        self.func, self.budget, self.check = func, budget, check

    @property
    def __wrapped__(self):
        return self.func

    def _id(self):
        return (self.func, self.budget, self.check)

    def __eq__(self, other):
        return isinstance(other, Held) and other._id() == self._id()

    def __hash__(self):
        return hash(self._id())

    def __call__(self, *args, **kwargs):
        t0 = _scheduler.clock()
        result = self.func(*args, **kwargs)
        took = _scheduler.clock() - t0
        if self.budget is not None and took > self.budget:
            raise _OverBudget(took)
        if self.check:
            check_result(self.func, args, kwargs, result)
        return result


def check_result(func, args, kwargs, result):
    """Check the output of the full fit that ``func(*args, **kwargs)``
    (a learner fit) returned as ``result``; LearnerError if it is bad."""
    from ._subtasks import check_full_fit
    from .fitstore import _arguments
    check_full_fit(result, **_arguments(func, args, kwargs))


class Guarded(object):
    """A layer subtask whose learner failures become :class:`Failure`
    results (``tolerant``) and whose run is held to ``budget`` seconds.

    Parameters
    ----------
    func : callable
        The subtask function (a module-level function of
        :mod:`mlcore._subtasks`).
    key, kind, name, partition, fold
        What it fits, for the :class:`Failure` and the messages.
    tolerant : bool
        Return a Failure for a LearnerError instead of raising it.
    budget : float or None
        Seconds the subtask may take (its fit and the prediction of its
        held-out rows).
    dropped : Dropped
        The failed learners of the pool: a subtask of one of them is not
        started.
    full : bool
        The subtask is the full fit of its partition (on all its rows).
    check : bool
        Check the output of the full fit on a sample of its training rows
        (see :func:`mlcore._subtasks.check_full_fit`): a full fit predicts
        nothing at fit time, so a learner whose full fit predicts badly
        would otherwise only fail at predict time.

    Attributes
    ----------
    base : callable
        ``func``.
    func : callable
        What runs: ``func`` itself, or wrapped in a :class:`Held` when the
        subtask has a budget or a check, and in a fit store's wrapper in a
        fit with ``memory=`` (see :func:`store_wrap`).
    """

    def __init__(self, func, key, kind, name, partition, fold, tolerant,
                 budget, dropped, full=False, check=False):
        self.base = func
        self.func = Held(func, budget, check) if (
            budget is not None or check) else func
        self.key, self.kind, self.name = key, kind, name
        self.partition, self.fold, self.full = partition, fold, full
        self.tolerant, self.budget, self.dropped = tolerant, budget, dropped
        self.check = check

    @property
    def where(self):
        return where(self.partition, self.fold, self.full)

    def failure(self, reason):
        return Failure(self.key, self.kind, self.name, self.partition,
                       self.fold, reason)

    def over_budget(self, how):
        """The Failure of a run over the budget (``how``: what happened),
        or LearnerTimeoutError when failures are not tolerated."""
        message = ("%s %r ran over the time budget of %s on %s (%s)"
                   % (self.kind, self.name, _seconds(self.budget), self.where,
                      how))
        if not self.tolerant:
            raise LearnerTimeoutError(message)
        return self.failure(message)

    def __call__(self, *args, **kwargs):
        if self.name in self.dropped:
            return self.failure(None)  # its learner failed: not started
        try:
            result = self.func(*args, **kwargs)
            if self.check and _replayed(result):
                # read back from a fit store: the check of Held did not
                # run (the entry may come from a fit that did not check)
                check_result(self.base, args, kwargs, result)
        except _OverBudget as exc:
            self.dropped.add(self.name)
            return self.over_budget("took %.3g s" % exc.took)
        except LearnerError as exc:
            if not self.tolerant:
                raise
            self.dropped.add(self.name)
            return self.failure(str(exc))
        return result


def _replayed(result):
    """Whether ``result`` was read back from a fit store."""
    from .fitstore import StoredResult
    return isinstance(result, StoredResult)


def store_wrap(store, jobs):
    """``jobs`` as a fit store (``store``, a :class:`mlcore.fitstore.Session`)
    runs them: the store wraps the fits it can store. It recognises a fit
    by its function, so the function of a :class:`Guarded` job is handed
    to it unwrapped, and the store's wrapper goes between the guard and
    the :class:`Held` of its budget and check: failures (and fits over
    budget) raise through the store's wrapper, which stores only fits
    that returned."""
    guards = [func if isinstance(func, Guarded) else None
              for func, _, _ in jobs]
    plain = store.wrap([(func if guard is None else guard.base, args, kwargs)
                        for guard, (func, args, kwargs) in zip(guards, jobs)])
    out = []
    for guard, job, wrapped in zip(guards, jobs, plain):
        if guard is None or wrapped[0] is guard.base:
            out.append(job if guard is not None else wrapped)
            continue
        stored = wrapped[0]
        stored.func = guard.func  # the Held, or the function itself
        guard = copy.copy(guard)
        guard.func = stored
        out.append((guard, job[1], job[2]))
    return out


def guard_of(func):
    """The :class:`Guarded` inside the wrappers of a subtask, or None."""
    while func is not None:
        if isinstance(func, Guarded):
            return func
        func = getattr(func, "func", None)
    return None


def has_budget(jobs):
    """Whether some of joblib-style ``jobs`` run under a time budget."""
    for func, _, _ in jobs:
        guard = guard_of(func)
        if guard is not None and guard.budget is not None:
            return True
    return False


###############################################################################
# Process workers: stop the worker of a fit that runs over its budget

class _Watched(object):
    """A subtask run on a process worker: returns ``(index, result)``, and
    while it runs, an empty file ``w.<token>.<index>.<pid>`` in ``folder``
    (when given) tells the driver's :class:`_Watchdog` which worker runs
    it."""

    def __init__(self, func, folder, token, index):
        self.func, self.folder = func, folder
        self.token, self.index = token, index

    def __call__(self, *args, **kwargs):
        path = None
        if self.folder is not None:
            path = os.path.join(self.folder, "w.%s.%d.%d" % (
                self.token, self.index, os.getpid()))
            try:
                open(path, "x").close()
            except OSError:  # the watchdog cannot see it; the fit still runs
                path = None
        try:
            return self.index, self.func(*args, **kwargs)
        finally:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _is_child(pid):
    """Whether ``pid`` is a child of this process (where /proc tells;
    elsewhere assumed), so that a record left by a dead worker whose pid
    was reused never makes the watchdog kill another process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")
    except OSError:
        return False
    # the command name (in parentheses) may hold spaces: split after it
    fields = stat[stat.rfind(")") + 2:].split()
    return len(fields) > 1 and int(fields[1]) == os.getpid()


class _Pid(object):
    """A process by its id, as loky's ``kill_process_tree`` takes it. The
    worker's pool reaps it: ``join`` does not wait."""

    def __init__(self, pid):
        self.pid = pid

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)

    def join(self, timeout=None):
        pass


def _kill_tree(pid):
    """SIGKILL process ``pid`` and its descendants (the processes its fit
    started: a subprocess, a pool of its own), the descendants first, with
    loky's ``kill_process_tree`` (psutil where installed, else ``pgrep``);
    False if the process had ended already."""
    from joblib.externals.loky.backend.utils import kill_process_tree
    try:
        os.kill(pid, 0)
    except OSError:  # it ended meanwhile
        return False
    try:
        kill_process_tree(_Pid(pid))
    except Exception:  # a descendant it may not signal: the worker at least
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return False
    return True


class _Watchdog(threading.Thread):
    """Polls the running-subtask files of one round and kills (SIGKILL) the
    worker of a subtask that has run longer than its budget, with the
    processes it started (see :func:`_kill_tree`), as measured by
    :data:`mlcore._scheduler.clock` from when the file was first seen.
    ``killed`` maps the subtask's index to the worker's pid."""

    # How often the files are looked at (seconds of real time): how late a
    # fit over its budget can be stopped, not what counts as over.
    interval = 0.05

    def __init__(self, folder, token, budgets):
        super().__init__(name="mlcore-watchdog", daemon=True)
        self.folder, self.token, self.budgets = folder, token, budgets
        self.seen, self.killed = {}, {}
        self._stop_event = threading.Event()

    def running(self):
        """``{index: pid}`` of the subtasks of this round that run now."""
        out = {}
        prefix = "w.%s." % self.token
        try:
            names = os.listdir(self.folder)
        except OSError:
            return out
        for name in names:
            if not name.startswith(prefix):
                continue
            try:
                index, pid = (int(x) for x in name[len(prefix):].split("."))
            except ValueError:
                continue
            out[index] = pid
        return out

    def check(self):
        for index, pid in self.running().items():
            if index in self.killed or index not in self.budgets:
                continue
            start = self.seen.setdefault(index, _scheduler.clock())
            if _scheduler.clock() - start > self.budgets[index] and \
                    _is_child(pid):
                if _kill_tree(pid):
                    self.killed[index] = pid

    def run(self):
        while not self._stop_event.wait(self.interval):
            self.check()

    def stop(self):
        self._stop_event.set()
        self.join()


def _remove_records(folder, pids):
    """Remove the running-subtask files that killed workers left."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        parts = name.split(".")
        try:
            pid = int(parts[-1] if name.startswith("w.") else parts[0])
        except ValueError:
            continue
        if pid in pids and (name.startswith("w.") or
                            name.endswith(".running")):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _detached(exc):
    """A copy of ``exc`` (a broken pool's error) to raise in its place.

    loky's executor keeps the error it broke with (until the next pool
    replaces it); with the traceback of its trip through this module, that
    would keep the subtasks' arguments (memory maps of the engine's deleted
    temporary files) alive after the fit.
    """
    exc.__traceback__ = None
    exc.__context__ = None
    new = copy.copy(exc)
    new.__cause__ = exc.__cause__
    return new


def run_watched(make_parallel, jobs, folder, reset):
    """Run ``jobs`` on process workers, stopping the worker of a subtask
    that runs over its budget; results in job order.

    Parameters
    ----------
    make_parallel : callable
        A new joblib ``Parallel`` returning results as they complete
        (``return_as='generator_unordered'``).
    jobs : list of (callable, tuple, dict)
    folder : str
        Where the workers note what they run (the engine's records).
    reset : callable
        Called after a worker was stopped: the pool it belonged to is
        broken, and the engine must start a new one for its next call.

    Notes
    -----
    A stopped worker breaks the pool, and the subtasks that were running
    beside it are lost: they run again in a new pool, without the subtasks
    of the learner that ran over (a :class:`Failure` each; with failures
    not tolerated, LearnerTimeoutError is raised once the pool is gone).
    """
    guards = [guard_of(func) for func, _, _ in jobs]
    results = [None] * len(jobs)
    pending = list(range(len(jobs)))
    while pending:
        token = uuid.uuid4().hex[:12]
        budgets = {i: guards[i].budget for i in pending
                   if guards[i] is not None and guards[i].budget is not None}
        round_jobs = [(_Watched(jobs[i][0], folder if i in budgets else None,
                                token, i), jobs[i][1], jobs[i][2])
                      for i in pending]
        dog = _Watchdog(folder, token, budgets)
        done = {}
        if budgets:
            dog.start()
        try:
            for index, result in make_parallel()(round_jobs):
                done[index] = result
        except BrokenProcessPool as exc:
            broken = _detached(exc)
            if not dog.killed:
                reset()
                raise broken  # a worker died on its own
        finally:
            if budgets:
                dog.stop()
        for index, result in done.items():
            results[index] = result
        if not dog.killed:
            break
        reset()
        _remove_records(folder, set(dog.killed.values()))
        over = set()
        for index in sorted(dog.killed):
            over.add(guards[index].name)
            results[index] = guards[index].over_budget(
                "its worker process was stopped")
        left = []
        for i in pending:
            if i in done or i in dog.killed:
                continue
            if guards[i] is not None and guards[i].name in over:
                results[i] = guards[i].failure(None)
            else:
                left.append(i)
        pending = left
    return results
