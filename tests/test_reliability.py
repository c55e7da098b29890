"""Reliability and security of the backend and the kernels (issue 5).

Sections
--------
1. Fault injection through a protocol-following task (``FoldTask``): errors
   in fit and predict subtasks, KeyboardInterrupt in the driver, a killed
   loky worker, a failing disk, processes that exit without ``clear()``, and
   another process's live cache.
2. Bad input to the backend and to the kernels (``test_bad_input_*``).
3. Kernels under stress: hypothesis comparisons against numpy/scipy
   references (``test_kernel_fuzz_*``) and 16 threads calling the kernels at
   once (``test_kernel_concurrent_*``).
4. Security: no shell-outs, private 0700 caches, user caches never removed,
   cache files read only from the processor's own cache.
5. Determinism across backends and ``n_jobs``.
6. Regression tests for the bugs this suite found.

Profiles
--------
The default run takes well under 90 s on 2 cores. ``HYPOTHESIS_PROFILE=stress``
(registered in conftest.py) raises every kernel fuzz test to 10000 examples
and, like ``MLCORE_STRESS=1``, repeats the fault scenarios and the
concurrency rounds many times.

Every helper that runs in a worker is a module-level function, so that loky
and multiprocessing can pickle it by reference.
"""
import errno
import gc
import io
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import tokenize
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import mlcore
from mlcore import config, kernels
from mlcore.backend import (ParallelEvaluation, ParallelProcessing, delayed,
                            dump_array)
from mlcore.exceptions import ParallelProcessingError

pytestmark = [
    # NaN and inf are fed on purpose; numpy's notices about them are noise.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
]

STRESS = (os.environ.get("HYPOTHESIS_PROFILE") == "stress"
          or os.environ.get("MLCORE_STRESS", "") not in ("", "0"))
REPEAT = 10 if STRESS else 1          # repetitions of each fault scenario
CONCURRENT_ROUNDS = 400 if STRESS else 25

BACKENDS = ("threading", "sequential", "loky", "multiprocessing")
PROCESS_BACKENDS = ("loky", "multiprocessing")
N_JOBS = 2
HAS_NOTES = sys.version_info >= (3, 11)
REPO = Path(__file__).resolve().parents[1]

try:
    from joblib.externals.loky.process_executor import \
        BrokenProcessPool as _BrokenPool
except ImportError:  # pragma: no cover
    from concurrent.futures.process import BrokenProcessPool as _BrokenPool


###############################################################################
# A task that follows the protocol of mlcore.backend (task_protocol.md 1a/1b)

class LearnerError(ValueError):
    """Stands for whatever an estimator raises; its exact type must reach
    the caller of the processor."""


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def _rows(X, idx):
    return X.tocsr()[idx] if sp.issparse(X) else X[idx]


def _fit_weights(X, y):
    # Deterministic and BLAS-free, so results are bit-identical everywhere.
    Xc = np.array(_dense(X), dtype=np.float64)
    yc = np.array(y, dtype=np.float64)
    return (Xc * yc[:, None]).sum(axis=0) / ((Xc * Xc).sum(axis=0) + 1.0)


def _predict_rows(X, w):
    return (np.array(_dense(X), dtype=np.float64) * w).sum(axis=1)


def _inject(fail, job, fold, driver_pid):
    """Trigger the fault ``fail = (kind, job, fold)`` where it applies."""
    if fail is None:
        return
    kind, when, at = fail
    if when != job or at != fold:
        return
    if kind == "raise":
        if job == "fit":
            raise LearnerError("did not converge: singular design matrix")
        raise ZeroDivisionError("float division by zero")
    if os.getpid() == driver_pid:  # never kill the test process itself
        raise RuntimeError("fault %r must run in a worker process" % kind)
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "exit":
        os._exit(3)
    raise AssertionError("unknown fault %r" % (kind,))


def _reraise_as_learner(exc, name, fold, job):
    """What a learner does with an estimator error: the same type, with a
    message naming the learner and the fold."""
    return type(exc)("learner %r, fold %d, job %r: %s" % (name, fold, job, exc))


def _save(cache, key, w):
    if isinstance(cache, str):
        np.save(os.path.join(cache, "%s.npy" % key), w)
    else:
        cache.append((key, w))


def _fit_subtask(name, fold, X, y, P, train, test, col, cache, fail,
                 driver_pid):
    try:
        _inject(fail, "fit", fold, driver_pid)
        w = _fit_weights(_rows(X, train), y[train])
        if test is not None and len(test):
            P[test, col] = _predict_rows(_rows(X, test), w)
        _save(cache, "%s.%d" % (name, fold), w)
    except Exception as exc:
        raise _reraise_as_learner(exc, name, fold, "fit") from exc


def _predict_subtask(name, fold, X, P, rows, col, w, fail, driver_pid):
    try:
        _inject(fail, "predict", fold, driver_pid)
        if len(rows):
            P[rows, col] = _predict_rows(_rows(X, rows), w)
    except Exception as exc:
        raise _reraise_as_learner(exc, name, fold, "predict") from exc


def _collect(cache, key):
    if isinstance(cache, str):
        return np.load(os.path.join(cache, "%s.npy" % key))
    return dict(cache)[key]


class FoldTask(object):
    """A K-fold "learner": fold 0 fits on all rows, folds 1..K fit on the
    other folds and write cross-validated predictions of their fold into
    ``P[:, col]``; predict writes ``P[:, col]`` chunk by chunk. Columns
    ``[0, n_feature_prop)`` are left to the engine's feature propagation.
    """

    __no_output__ = False

    def __init__(self, name="learner", n_folds=3, fail=None,
                 dtype=np.float64, shuffle=False, random_state=None,
                 setup_error=None, call_error=None, propagate_features=None):
        self.name = name
        self.n_folds = n_folds
        self.fail = fail
        self.dtype = dtype
        self.shuffle = shuffle
        self.random_state = random_state
        self.setup_error = setup_error
        self.call_error = call_error
        self.propagate_features = propagate_features
        self.n_feature_prop = (0 if propagate_features is None
                               else len(propagate_features))

    def setup(self, X, y, job):
        if self.setup_error is not None:
            raise self.setup_error
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError("learner %r: expected a 2-D X, got %s"
                             % (self.name, "shape %r" % (shape,) if shape
                                is not None else type(X).__name__))
        if job == "fit" and (y is None or getattr(y, "shape", None)
                             != (shape[0],)):
            raise ValueError("learner %r: expected y of shape (%d,), got %r"
                             % (self.name, shape[0], getattr(y, "shape", y)))
        self.n = shape[0]

    def shape(self, job):
        return (self.n, self.n_feature_prop + 1)

    def _folds(self):
        return np.array_split(np.arange(self.n), self.n_folds)

    def __call__(self, args, parallel):
        job = args["job"]
        X, P = args["main"]["X"], args["main"]["P"]
        col = self.n_feature_prop
        pid = os.getpid()
        folds = self._folds()
        if job == "fit":
            y = args["main"]["y"]
            everything = np.arange(self.n)
            specs = [(0, everything, None)] + [
                (k, np.setdiff1d(everything, f), f)
                for k, f in enumerate(folds, 1)]
            parallel(delayed(_fit_subtask)(self.name, k, X, y, P, tr, te, col,
                                           args["dir"], self.fail, pid)
                     for k, tr, te in specs)
            if self.call_error is not None:
                raise self.call_error
            self.coef_ = _collect(args["dir"], "%s.0" % self.name)
        else:
            parallel(delayed(_predict_subtask)(self.name, k, X, P, rows, col,
                                               self.coef_, self.fail, pid)
                     for k, rows in enumerate(folds, 1))
            if self.call_error is not None:
                raise self.call_error


def reference_fit(X, y, n_folds=3, random_state=None):
    """What FoldTask's fit must produce, in the caller's row order."""
    n = X.shape[0]
    perm = (np.arange(n) if random_state is None
            else np.random.RandomState(random_state).permutation(n))
    Xs, ys = X[perm], y[perm]
    P = np.zeros(n)
    everything = np.arange(n)
    for f in np.array_split(everything, n_folds):
        tr = np.setdiff1d(everything, f)
        P[f] = _predict_rows(Xs[f], _fit_weights(Xs[tr], ys[tr]))
    out = np.empty(n)
    out[perm] = P
    return out[:, None]


def make_data(n=30, p=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n, p)), rng.standard_normal(n)


###############################################################################
# Fixtures and checks

@pytest.fixture(autouse=True)
def _reset_config():
    config.reset()
    yield
    config.reset()


@pytest.fixture
def cache_root(tmp_path):
    """A private tmpdir for engine caches; config.reset() afterwards."""
    root = tmp_path / "mlcore_tmp"
    root.mkdir()
    config.set_tmpdir(root)
    yield root
    config.reset()


def tree(path):
    """Every file and directory under path, relative to it."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        rel = os.path.relpath(dirpath, path)
        out.extend(os.path.normpath(os.path.join(rel, x))
                   for x in dirnames + filenames)
    return sorted(out)


def mapped_files_under(path):
    """Files under path that this process still has memory-mapped."""
    path = os.path.join(os.fspath(path), "")
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split(None, 5)[-1].strip() for line in f
                           if path in line})
    except OSError:  # pragma: no cover - not Linux
        return []


def assert_clean(root, before=()):
    gc.collect()
    assert tree(root) == sorted(before), "left behind in %s" % root
    assert mapped_files_under(root) == []


def check_reusable(pp, X, y):
    """A failed processor must run the next call normally."""
    P = pp.map([FoldTask("again")], "fit", X, y, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    pp.clear()


###############################################################################
# 1. Fault injection

FAULTS = [
    pytest.param(("raise", "fit", 2), LearnerError, id="fit-raises"),
    pytest.param(("raise", "fit", 0), LearnerError, id="full-fit-raises"),
    pytest.param(("raise", "predict", 3), ZeroDivisionError,
                 id="predict-raises"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fail, exc_type", FAULTS)
def test_fault_subtask_raises(cache_root, backend, fail, exc_type):
    X, y = make_data()
    _, job, fold = fail
    for _ in range(REPEAT):
        pp = ParallelProcessing(backend, N_JOBS)
        if job == "predict":
            good = FoldTask("bad")
            pp.map([good], "fit", X, y)
            good.fail = fail
            tasks = [good]
        else:
            tasks = [FoldTask("bad", fail=fail)]
        with pytest.raises(exc_type) as info:
            pp.map(tasks, job, X, y if job == "fit" else None,
                   return_preds=True)
        exc = info.value
        assert type(exc) is exc_type
        # The learner's message (naming learner and fold) arrives intact ...
        assert "learner 'bad', fold %d, job %r" % (fold, job) in str(exc)
        # ... and the engine adds the task on Python >= 3.11.
        if HAS_NOTES:
            notes = getattr(exc, "__notes__", [])
            assert any("task 'bad'" in n and repr(job) in n for n in notes), \
                notes
        del exc, info
        assert pp.job is None
        assert_clean(cache_root)
        check_reusable(pp, X, y)
        assert_clean(cache_root)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["setup", "call"])
def test_fault_keyboard_interrupt_in_driver(cache_root, backend, where):
    X, y = make_data()
    # The class, not an instance: a stored instance would keep its traceback
    # (and with it the frames holding the input memmaps) alive.
    kw = {"setup_error" if where == "setup" else "call_error":
          KeyboardInterrupt}
    pp = ParallelProcessing(backend, N_JOBS)
    with pytest.raises(KeyboardInterrupt) as info:
        # "call": the pool is alive (subtasks ran) when the interrupt comes.
        pp.map([FoldTask("first"), FoldTask("ki", **kw)], "fit", X, y)
    if HAS_NOTES:
        assert any("task 'ki'" in n for n in getattr(info.value,
                                                      "__notes__", []))
    del info
    assert pp.job is None
    assert_clean(cache_root)
    check_reusable(pp, X, y)
    assert_clean(cache_root)


@pytest.mark.parametrize("how", ["kill", "exit"])
def test_fault_loky_worker_dies(cache_root, how):
    X, y = make_data()
    for _ in range(REPEAT):
        pp = ParallelProcessing("loky", N_JOBS)
        with pytest.raises(_BrokenPool) as info:
            pp.map([FoldTask("victim", fail=(how, "fit", 1))], "fit", X, y)
        # TerminatedWorkerError for a SIGKILL and os._exit alike
        assert "terminated" in str(info.value).lower() or \
            "exit" in str(info.value).lower()
        del info
        assert pp.job is None
        assert_clean(cache_root)
        check_reusable(pp, X, y)
        assert_clean(cache_root)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _partial_write_then_enospc(file, *args, **kwargs):
    with open(file, "wb") as f:  # half a file, as a full disk leaves it
        f.write(b"\x93NUMPY")
    _enospc()


_real_open_memmap = np.lib.format.open_memmap


def _create_memmap_enospc(filename, mode="r+", *args, **kwargs):
    if mode == "w+":  # creating P; np.load(mmap_mode=...) reads through here
        _enospc()
    return _real_open_memmap(filename, mode, *args, **kwargs)


DISK_FAULTS = {
    "mkdtemp": ("tempfile.mkdtemp", _enospc),
    "save-X": ("numpy.save", _partial_write_then_enospc),
    "open_memmap-P": ("numpy.lib.format.open_memmap", _create_memmap_enospc),
    "joblib.dump-sparse": ("joblib.dump", _enospc),
}


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("fault", sorted(DISK_FAULTS))
def test_fault_disk_full(cache_root, monkeypatch, backend, fault):
    X, y = make_data()
    if fault == "joblib.dump-sparse":
        X = sp.csr_matrix(X)
    target, replacement = DISK_FAULTS[fault]
    pp = ParallelProcessing(backend, N_JOBS)
    with monkeypatch.context() as m:
        m.setattr(target, replacement)
        with pytest.raises(OSError) as info:
            pp.map([FoldTask("disk")], "fit", X, y, return_preds=True)
    exc = info.value
    # The reason is there: in the error itself or in its cause.
    reasons = [exc, exc.__cause__]
    assert any(getattr(e, "errno", None) == errno.ENOSPC for e in reasons)
    if fault == "open_memmap-P":
        assert "task 'disk'" in str(exc) and "MB" in str(exc)
    del exc, info
    assert pp.job is None
    assert_clean(cache_root)
    check_reusable(pp, make_data()[0], make_data()[1])
    assert_clean(cache_root)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_fault_unwritable_tmpdir(cache_root):  # pragma: no cover - root here
    X, y = make_data()
    os.chmod(cache_root, 0o500)
    try:
        with pytest.raises(OSError):
            ParallelProcessing("loky", N_JOBS).map([FoldTask()], "fit", X, y)
    finally:
        os.chmod(cache_root, 0o700)
    assert_clean(cache_root)


def test_fault_missing_tmpdir(tmp_path, monkeypatch):
    missing = tmp_path / "does" / "not" / "exist"
    monkeypatch.setenv("MLCORE_TMPDIR", str(missing))
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    with pytest.raises(OSError):
        pp.map([FoldTask()], "fit", X, y)
    assert not missing.exists()
    assert pp.job is None


def test_fault_cache_removal_fails_warns(cache_root, monkeypatch):
    """If the cache cannot be removed the user is told where it is."""
    import shutil
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask()], "fit", X, y)
    d = pp.job.dir
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    with pytest.warns(mlcore.ParallelProcessingWarning, match=re.escape(d)):
        pp.clear()
    monkeypatch.undo()
    shutil.rmtree(d)


class _Indexer(object):
    def fit(self, X, y, job):
        self.n = X.shape[0]


class EvalCaller(object):
    """An Evaluator-like caller of ParallelEvaluation: caller(parallel,
    args, case) dispatching fold subtasks through the same parallel."""

    def __init__(self, fail=None):
        self.indexer = _Indexer()
        self.fail = fail

    def __call__(self, parallel, args, case):
        X, y = args["main"]["X"], args["main"]["y"]
        folds = np.array_split(np.arange(self.indexer.n), 3)
        everything = np.arange(self.indexer.n)
        parallel(delayed(_fit_subtask)("evaluated", k, X, y,
                                       np.zeros((len(everything), 1)),
                                       np.setdiff1d(everything, f), f, 0,
                                       args["dir"], self.fail, os.getpid())
                 for k, f in enumerate(folds, 1))
        self.scores_ = sorted(x for x in (os.listdir(args["dir"])
                                          if isinstance(args["dir"], str)
                                          else dict(args["dir"])))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fault_evaluation_subtask_raises(cache_root, backend):
    X, y = make_data()
    pe = ParallelEvaluation(backend, N_JOBS)
    with pytest.raises(LearnerError, match="learner 'evaluated', fold 2"):
        pe.process(EvalCaller(fail=("raise", "fit", 2)), "evaluate", X, y)
    assert pe.job is None
    assert_clean(cache_root)
    caller = EvalCaller()
    with pe:  # reusable, and the context manager clears it
        pe.process(caller, "evaluate", X, y)
    assert len(caller.scores_) == 3
    assert_clean(cache_root)
    # Without a context manager: removed when the processor goes away.
    pe = ParallelEvaluation(backend, N_JOBS)
    pe.process(EvalCaller(), "evaluate", X, y)
    del pe
    assert_clean(cache_root)


# -- processes that end without clear() ---------------------------------------

_CHILD = textwrap.dedent(r"""
    import os, sys
    import numpy as np
    from mlcore import config
    from mlcore.backend import ParallelProcessing, delayed

    def sub(X, P, k):
        P[k::2, 0] = X[k::2, 0] + 1.0

    class Task:
        name = "t"; __no_output__ = False; dtype = np.float64
        def setup(self, X, y, job): self.n = X.shape[0]
        def shape(self, job): return (self.n, 1)
        def __call__(self, args, parallel):
            X, P = args["main"]["X"], args["main"]["P"]
            parallel(delayed(sub)(X, P, k) for k in range(2))

    backend, mode = sys.argv[1], sys.argv[2]
    X = np.arange(12.0).reshape(6, 2)
    pp = ParallelProcessing(backend, 2)
    P = pp.map([Task()], "fit", X, np.arange(6.0), return_preds=True)
    assert (P[:, 0] == X[:, 0] + 1).all()
    d = pp.job.dir
    print("CACHE", d, os.path.isdir(d), flush=True)
    if mode == "del":
        del pp
        print("AFTER_DEL", os.path.isdir(d), flush=True)
    elif mode == "raise":
        raise SystemExit("error: exiting with a live processor")
    elif mode == "exception":
        raise RuntimeError("unhandled")
    elif mode == "wait":
        sys.stdin.readline()   # hold the cache until told to go on
        ok = os.path.isdir(d) and sorted(os.listdir(d))[:1] == ["X.npy"]
        P2 = pp.get_preds()
        assert (P2 == P).all()
        print("STILL_OK", ok, flush=True)
    # "exit" and everything else: just end the script without clear()
""")


def _child_env(root):
    env = dict(os.environ)
    env["MLCORE_TMPDIR"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                       if p])
    env.pop("MLCORE_PREFIX", None)
    return env


def _run_child(root, backend, mode):
    r = subprocess.run([sys.executable, "-c", _CHILD, backend, mode],
                       env=_child_env(root), capture_output=True, text=True,
                       timeout=120)
    m = re.search(r"^CACHE (\S+) True$", r.stdout, re.M)
    assert m, (r.stdout, r.stderr)
    return r, m.group(1)


@pytest.mark.parametrize("backend, mode", [
    ("loky", "exit"), ("loky", "del"), ("loky", "raise"),
    ("loky", "exception"), ("multiprocessing", "exit"),
    ("multiprocessing", "del")])
def test_fault_process_exits_without_clear(cache_root, backend, mode):
    r, d = _run_child(cache_root, backend, mode)
    assert os.path.dirname(d) == str(cache_root)
    assert not os.path.exists(d), "cache %s outlived its process" % d
    if mode == "del":
        assert "AFTER_DEL False" in r.stdout  # removed at once, not at exit
    if mode in ("exit", "del"):
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    else:
        assert r.returncode == 1
    assert "Could not remove" not in r.stderr and "leak" not in r.stderr
    assert_clean(cache_root)


def _snapshot(path):
    out = {}
    for rel in tree(path):
        full = os.path.join(path, rel)
        if os.path.isfile(full):
            with open(full, "rb") as f:
                out[rel] = (f.read(), os.stat(full).st_mtime_ns)
        else:
            out[rel] = None
    return out


def test_fault_other_process_cache_untouched(cache_root):
    """mlcore never touches caches it did not create: not on import, not
    on any call, not at exit (ML-Ensemble's clear_cache removed them)."""
    fake = cache_root / ".mlcore_cache_other_process"
    (fake / "task_0").mkdir(parents=True)
    np.save(fake / "X.npy", np.arange(5.0))
    (fake / "task_0" / "est.0.pkl").write_bytes(b"not mine")
    old = fake / "stale_out_array.npy"
    old.write_bytes(b"x")
    os.utime(old, (1, 1))  # ancient: no age-based sweeping either
    fake_snapshot = _snapshot(fake)

    live = subprocess.Popen([sys.executable, "-c", _CHILD, "loky", "wait"],
                            env=_child_env(cache_root), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = live.stdout.readline()
        m = re.match(r"CACHE (\S+) True", line)
        assert m, (line, live.stderr.read() if live.poll() is not None else "")
        live_dir = m.group(1)
        live_snapshot = _snapshot(live_dir)

        # 1. importing mlcore elsewhere
        env = _child_env(cache_root)
        subprocess.run([sys.executable, "-c", "import mlcore, mlcore.config, "
                        "mlcore.backend, mlcore.kernels"], env=env,
                       check=True, timeout=60)
        # 2. other processes that run, fail, exit without clear()
        _run_child(cache_root, "loky", "exception")
        # 3. every call here, successful or not, on every backend
        X, y = make_data()
        for backend in BACKENDS:
            with ParallelProcessing(backend, N_JOBS) as pp:
                pp.stack([FoldTask("a"), FoldTask("b")], "fit", X, y)
                with pytest.raises(LearnerError):
                    pp.map([FoldTask(fail=("raise", "fit", 1))], "fit", X, y)
            pp = ParallelProcessing(backend, N_JOBS)
            pp.map([FoldTask()], "fit", X, y)
            del pp
            gc.collect()
        assert _snapshot(fake) == fake_snapshot
        assert _snapshot(live_dir) == live_snapshot
        assert sorted(os.listdir(cache_root)) == sorted(
            [fake.name, os.path.basename(live_dir)])
        out, err = live.communicate("go\n", timeout=60)
        assert "STILL_OK True" in out, (out, err)
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    assert not os.path.exists(live_dir)     # its owner removed it at exit
    assert _snapshot(fake) == fake_snapshot  # still nobody else's business


###############################################################################
# 2. Bad input
#
# Each case gets either a clear exception of the documented type or correct
# handling; a crash or a wrong result fails. test_bad_input_* counts them.

def _arr(*shape, dtype=np.float64, order="C"):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    return np.asarray(a, dtype=dtype, order=order)


def _with_nonfinite(dtype=np.float64):
    X = _arr(8, 3, dtype=dtype)
    X[0, 0], X[1, 1], X[2, 2], X[3, 0] = np.nan, np.inf, -np.inf, -0.0
    return X


# -- backend ------------------------------------------------------------------

def _map(backend, X, y=None, job="fit", **kw):
    pp = ParallelProcessing(backend, N_JOBS)
    try:
        task = FoldTask("t", **kw)
        if job != "fit":
            pp.map([task], "fit", np.zeros((X.shape[0], X.shape[1])),
                   np.zeros(X.shape[0]))
        return pp.map([task], job, X, y, return_preds=True)
    finally:
        pp.clear()


def _nonfinite_passthrough(backend):
    """NaN/inf pass through the engine and feature propagation untouched."""
    X = _with_nonfinite()
    y = np.arange(8.0)
    P = _map(backend, X, y, propagate_features=[0, 1, 2])
    assert P[:, :3].tobytes() == X.tobytes()   # NaN, inf, -0.0 bit-exact
    X32 = _with_nonfinite(np.float32)
    P = _map(backend, X32, y, propagate_features=[2, 0], dtype=np.float32)
    np.testing.assert_array_equal(P[:, :2], X32[:, [2, 0]])


def _nonfinite_predict(backend):
    X = _with_nonfinite()
    P = _map(backend, X, job="predict", propagate_features=[1])
    np.testing.assert_array_equal(P[:, 0], X[:, 1])


def _variant_layouts(backend):
    """Fortran order, '>f8', float32 and strided views give the same
    predictions as the plain C array."""
    X, y = make_data()
    ref = _map(backend, X, y, propagate_features=[3, 1])
    for variant in (np.asfortranarray(X), X.astype(">f8"),
                    np.repeat(X, 2, axis=0)[::2], np.hstack([X, X])[:, :4]):
        np.testing.assert_array_equal(
            _map(backend, variant, y, propagate_features=[3, 1]), ref)


def _object_dtype(backend):
    X, y = make_data()
    P = _map(backend, X.astype(object), y)
    np.testing.assert_array_equal(P, reference_fit(X, y))


def _empty(backend):
    P = _map(backend, np.zeros((0, 3)), np.zeros(0))
    assert P.shape == (0, 1)
    P = _map(backend, np.zeros((0, 3)), job="predict", propagate_features=[1])
    assert P.shape == (0, 2)


def _sparse_input(backend):
    X, y = make_data()
    X[X < 0] = 0
    P = _map(backend, sp.coo_matrix(X), y)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    P = _map(backend, sp.coo_matrix(X), y, propagate_features=[2, 0])
    assert sp.isspmatrix_csr(P) and P.has_canonical_format
    np.testing.assert_array_equal(P.toarray()[:, :2], X[:, [2, 0]])


def _raises(exc, match=None):
    def check(fn):
        with pytest.raises(exc, match=match):
            fn()
    return check


def _task_rejects_ndim(backend):
    # The engine passes X through; the learner rejects it, the error
    # arrives intact and the cache is removed.
    for X in (np.arange(5.0), np.zeros((4, 2, 2)), np.float64(3.0)):
        with pytest.raises(ValueError, match="expected a 2-D X"):
            _map(backend, X, None)


BACKEND_CASES = {
    "nan-inf-pass-through": _nonfinite_passthrough,
    "nan-inf-predict": _nonfinite_predict,
    "fortran-bigendian-strided": _variant_layouts,
    "object-dtype": _object_dtype,
    "empty-0-rows": _empty,
    "sparse-coo-input": _sparse_input,
    "wrong-ndim": _task_rejects_ndim,
    "X-y-length-mismatch": lambda b: _raises(
        ValueError, "different numbers of rows")(
            lambda: _map(b, np.zeros((5, 2)), np.zeros(4))),
    "caller-not-iterable": lambda b: _raises(TypeError, "iterable")(
        lambda: ParallelProcessing(b, N_JOBS).map(FoldTask(), "fit",
                                                  *make_data())),
    "caller-is-None": lambda b: _raises(TypeError, "iterable")(
        lambda: ParallelProcessing(b, N_JOBS).map(None, "fit", *make_data())),
    "unknown-job": lambda b: _raises(ValueError, "job must be one of")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fitt",
                                                  *make_data())),
    "job-not-str": lambda b: _raises(ValueError, "job must be one of")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], 1,
                                                  *make_data())),
    "path-wrong-type": lambda b: _raises(TypeError, "path must be")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(), path=3)),
    "path-empty-str": lambda b: _raises(ValueError, "empty string")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(), path="")),
    "return_preds-int": lambda b: _raises(TypeError, "return_preds")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(),
                                                  return_preds=1)),
    "missing-input-file": lambda b: _raises(FileNotFoundError)(
        lambda: ParallelProcessing(b, N_JOBS).map(
            [FoldTask()], "fit", "/nonexistent/mlcore/X.npy")),
    "task-negative-shape": lambda b: _raises(ValueError, "negative")(
        lambda: ParallelProcessing(b, N_JOBS).map(
            [_NegativeShapeTask()], "fit", *make_data())),
    "get_preds-before-run": lambda b: _raises(ParallelProcessingError)(
        lambda: ParallelProcessing(b, N_JOBS).get_preds()),
}


class _NegativeShapeTask(FoldTask):
    def shape(self, job):
        return (-1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BACKEND_CASES))
def test_bad_input_backend(cache_root, backend, case):
    BACKEND_CASES[case](backend)
    assert_clean(cache_root)


@pytest.mark.parametrize("args, match", [
    (("nope",), "Unknown backend"),
    (("", 1), "Unknown backend"),
    ((None,), None),  # None = the configured default: fine
    ((3,), "backend must be"),
    (("loky", 0), "n_jobs"),
    (("loky", 1.5), "n_jobs"),
    (("loky", "two"), "n_jobs"),
    (("threading", True), "n_jobs"),
], ids=["unknown", "empty", "default", "int", "n_jobs-0", "n_jobs-float",
        "n_jobs-str", "n_jobs-bool"])
def test_bad_input_processor_args(args, match):
    for cls in (ParallelProcessing, ParallelEvaluation):
        if match is None:
            cls(*args)
        else:
            with pytest.raises(ValueError, match=match):
                cls(*args)


@pytest.mark.parametrize("value, match", [
    ("nope", "Unknown backend"),
    ("0", "n_jobs"),
    ("int8", "floating dtype"),
    ("a/b", "prefix"),
], ids=["MLCORE_BACKEND", "MLCORE_N_JOBS", "MLCORE_DTYPE", "MLCORE_PREFIX"])
def test_bad_input_environment(monkeypatch, value, match):
    var = {"Unknown backend": "MLCORE_BACKEND", "n_jobs": "MLCORE_N_JOBS",
           "floating dtype": "MLCORE_DTYPE", "prefix": "MLCORE_PREFIX"}[match]
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=match):
        pp = ParallelProcessing(None if var == "MLCORE_BACKEND" else "loky")
        pp.map([FoldTask(dtype=None)], "fit", *make_data(),
               return_preds=True)


# -- kernels -------------------------------------------------------------------

X5 = _arr(5, 3)
_I32_BEYOND = np.array([0, 2 ** 31 + 5], dtype=np.int64)

KERNEL_CASES = {
    # take_rows
    "take-index-too-large": (IndexError, lambda: kernels.take_rows(X5, [5])),
    "take-index-huge": (IndexError, lambda: kernels.take_rows(X5, [2 ** 62])),
    "take-index-too-negative": (IndexError,
                                lambda: kernels.take_rows(X5, [-6])),
    "take-index-int64-beyond-int32": (
        IndexError, lambda: kernels.take_rows(X5, _I32_BEYOND)),
    "take-index-int64-min": (
        IndexError, lambda: kernels.take_rows(X5, np.array(
            [np.iinfo(np.int64).min]))),
    "take-index-uint64-max": (IndexError, lambda: kernels.take_rows(
        X5, np.array([2 ** 64 - 1], dtype=np.uint64))),
    "take-index-float": (TypeError, lambda: kernels.take_rows(X5, [0.0])),
    "take-index-bool-mask": (TypeError, lambda: kernels.take_rows(
        X5, np.ones(5, bool))),
    "take-index-2d": (ValueError, lambda: kernels.take_rows(X5, [[0]])),
    "take-index-object": (TypeError, lambda: kernels.take_rows(
        X5, np.array([0, None], dtype=object))),
    "take-index-sparse": (TypeError, lambda: kernels.take_rows(
        X5, sp.csr_matrix([[0, 1]]))),
    "take-X-0d": (ValueError, lambda: kernels.take_rows(np.float64(1), [0])),
    "take-X-3d": (ValueError, lambda: kernels.take_rows(np.zeros((2, 2, 2)),
                                                        [0])),
    "take-X-sparse": (TypeError, lambda: kernels.take_rows(
        sp.csr_matrix(X5), [0])),
    "take-out-wrong-shape": (ValueError, lambda: kernels.take_rows(
        X5, [0, 1], out=np.empty((3, 3)))),
    "take-out-wrong-dtype": (TypeError, lambda: kernels.take_rows(
        X5, [0], out=np.empty((1, 3), np.float32))),
    "take-out-read-only": (ValueError, lambda: kernels.take_rows(
        X5, [0], out=_readonly(np.empty((1, 3))))),
    "take-out-overlaps-X": (ValueError, lambda: kernels.take_rows(
        X5, [0, 1], out=X5[3:])),
    "take-out-not-array": (TypeError, lambda: kernels.take_rows(
        X5, [0], out=[[0, 0, 0]])),
    # shuffle_rows
    "shuffle-length-mismatch": (ValueError, lambda: kernels.shuffle_rows(
        X5, np.zeros(4), 0)),
    "shuffle-bad-random_state": (ValueError, lambda: kernels.shuffle_rows(
        X5, None, "seed")),
    "shuffle-bool-random_state": (ValueError, lambda: kernels.shuffle_rows(
        X5, None, True)),
    "shuffle-X-3d": (ValueError, lambda: kernels.shuffle_rows(
        np.zeros((2, 2, 2)), None, 0)),
    # propagate_features
    "prop-column-out-of-range": (IndexError, lambda: kernels.propagate_features(
        X5, [3], 0, np.zeros((5, 2)))),
    "prop-column-huge": (IndexError, lambda: kernels.propagate_features(
        X5, np.array([2 ** 40]), 0, np.zeros((5, 2)))),
    "prop-column-negative": (IndexError, lambda: kernels.propagate_features(
        X5, [-4], 0, np.zeros((5, 2)))),
    "prop-offset-negative": (ValueError, lambda: kernels.propagate_features(
        X5, [0], -1, np.zeros((5, 2)))),
    "prop-offset-too-large": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 1, np.zeros((5, 2)))),
    "prop-offset-huge": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 2 ** 62, np.zeros((1, 2)))),
    "prop-offset-float": (TypeError, lambda: kernels.propagate_features(
        X5, [0], 0.0, np.zeros((5, 2)))),
    "prop-offset-bool": (TypeError, lambda: kernels.propagate_features(
        X5, [0], False, np.zeros((5, 2)))),
    "prop-too-many-columns": (ValueError, lambda: kernels.propagate_features(
        X5, [0, 1, 2], 0, np.zeros((5, 2)))),
    "prop-P_in-1d": (ValueError, lambda: kernels.propagate_features(
        np.zeros(5), [0], 0, np.zeros((5, 2)))),
    "prop-P_out-1d": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 0, np.zeros(5))),
    "prop-P_out-read-only": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 0, _readonly(np.zeros((5, 2))))),
    "prop-P_out-is-P_in": (ValueError, lambda: _propagate_into_itself()),
    "prop-P_out-overlaps": (ValueError, lambda: _overlapping_propagation()),
    "prop-sparse-input": (TypeError, lambda: kernels.propagate_features(
        sp.csr_matrix(X5), [0], 0, np.zeros((5, 2)))),
    "prop-P_out-list": (TypeError, lambda: kernels.propagate_features(
        X5, [0], 0, [[0.0, 0.0]] * 5)),
    # propagate_features_sparse
    "sparse-prop-dense-input": (TypeError,
                                lambda: kernels.propagate_features_sparse(
                                    X5, [0], 0, np.zeros((5, 2)))),
    "sparse-prop-column-out-of-range": (
        IndexError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [7], 0, np.zeros((5, 2)))),
    "sparse-prop-offset-too-large": (
        ValueError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [0], 3, np.zeros((3, 2)))),
    "sparse-prop-too-many-columns": (
        ValueError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [0, 1, 2], 0, np.zeros((5, 2)))),
    # to_csr
    "to_csr-dense": (TypeError, lambda: kernels.to_csr(X5)),
    "to_csr-list": (TypeError, lambda: kernels.to_csr([[1, 0]])),
    # rebase
    "rebase-too-many-rows": (ValueError, lambda: kernels.rebase(
        np.arange(5), 6)),
    "rebase-negative-rows": (ValueError, lambda: kernels.rebase(
        np.arange(5), -1)),
    "rebase-offset-past-end": (ValueError, lambda: kernels.rebase(
        np.arange(5), 3, offset=3)),
    "rebase-negative-offset": (ValueError, lambda: kernels.rebase(
        np.arange(5), 3, offset=-1)),
    "rebase-float-rows": (TypeError, lambda: kernels.rebase(
        np.arange(5), 2.0)),
    "rebase-bool-rows": (TypeError, lambda: kernels.rebase(
        np.arange(5), True)),
}


def _readonly(a):
    a.setflags(write=False)
    return a


def _propagate_into_itself():
    A = _arr(5, 3)
    return kernels.propagate_features(A, [2], 0, A)


def _overlapping_propagation():
    buf = np.zeros((5, 6))
    return kernels.propagate_features(buf[:, :3], [0], 0, buf[:, 2:])


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_bad_input_kernel_raises(case):
    exc, fn = KERNEL_CASES[case]
    snapshot = X5.copy()
    with pytest.raises(exc):
        fn()
    np.testing.assert_array_equal(X5, snapshot)  # inputs never modified


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes()
            == np.ascontiguousarray(b).tobytes())


def _nan_payload(dtype):
    """A NaN with an unusual payload, and a negative one: a copy must keep
    the bits, not just produce 'some NaN'."""
    if np.dtype(dtype).itemsize == 8:
        return np.array([0x7FF8DEADBEEF0001, 0xFFF0000000000001],
                        np.uint64).view(np.float64).astype(dtype)
    return np.array([0x7FC0BEEF, 0xFF800001], np.uint32).view(
        np.float32).astype(dtype)


def _special_values(dtype):
    v = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1.0, -1.0],
                 dtype=np.float64).astype(dtype)
    return np.concatenate([v, _nan_payload(dtype)])


def _kernel_ok_cases():
    cases = {}
    for dt in ("<f8", "<f4", ">f8", ">f4"):
        v = _special_values(dt)
        X = np.stack([v, v[::-1], np.roll(v, 3)], axis=1)  # (10, 3)
        idx = np.array([9, 0, -1, 3, 3, 5])
        for order in ("C", "F"):
            Xo = np.asarray(X, order=order)
            cases["take-nonfinite-%s-%s" % (dt, order)] = (
                lambda Xo=Xo, idx=idx: kernels.take_rows(Xo, idx),
                lambda Xo=Xo, idx=idx: Xo[idx])
            cases["take-1d-nonfinite-%s-%s" % (dt, order)] = (
                lambda Xo=Xo, idx=idx: kernels.take_rows(Xo[:, 1], idx),
                lambda Xo=Xo, idx=idx: Xo[:, 1][idx])
        for out_dt in ("<f8", "<f4"):
            def run(X=X, out_dt=out_dt):
                P = np.full((6, 3), 7.0, dtype=out_dt)
                return kernels.propagate_features(X, [2, 0], 4, P)

            def ref(X=X, out_dt=out_dt):
                P = np.full((6, 3), 7.0, dtype=out_dt)
                P[:, :2] = X[4:, [2, 0]]
                return P
            cases["prop-nonfinite-%s-to-%s" % (dt, out_dt)] = (run, ref)
    big = np.arange(20.0).reshape(10, 2)
    for name, idx in {
            "int8": np.array([1, -1], np.int8),
            "uint8": np.array([9, 0], np.uint8),
            "int16": np.array([3], np.int16),
            "uint64": np.array([2, 9], np.uint64),
            "int64-small-values": np.array([0, 9, -10], np.int64),
            "int32": np.array([4, -3], np.int32),
            ">i8": np.array([1, 2], ">i8"),
            "list": [1, 2, -1],
            "empty-list": [],
            "non-contiguous": (np.arange(20) // 2)[::4]}.items():
        cases["take-index-%s" % name] = (
            lambda idx=idx: kernels.take_rows(big, idx),
            lambda idx=idx: big[np.asarray(idx, dtype=np.int64)])
    obj = np.array([["a", 1], [None, 2.5], [3, "z"]], dtype=object)
    cases["take-object-dtype"] = (lambda: kernels.take_rows(obj, [2, 0]),
                                  lambda: obj[[2, 0]])
    cases["take-0-rows"] = (lambda: kernels.take_rows(np.zeros((0, 4)), []),
                            lambda: np.zeros((0, 4)))
    cases["take-0-columns"] = (lambda: kernels.take_rows(np.zeros((3, 0)),
                                                         [2, 1]),
                               lambda: np.zeros((2, 0)))
    cases["shuffle-0-rows"] = (
        lambda: kernels.shuffle_rows(np.zeros((0, 2)), np.zeros(0), 0)[0],
        lambda: np.zeros((0, 2)))
    cases["prop-0-rows"] = (
        lambda: kernels.propagate_features(np.zeros((0, 3)), [1], 0,
                                           np.zeros((0, 2))),
        lambda: np.zeros((0, 2)))
    cases["prop-int-into-float"] = (
        lambda: kernels.propagate_features(np.arange(6).reshape(3, 2), [1], 1,
                                           np.zeros((2, 2), np.float32)),
        lambda: np.array([[3, 0], [5, 0]], np.float32))
    # An axis longer than int32 (a broadcast view: no memory used) with
    # int64 indices beyond the int32 range, on the compiled path.
    huge = np.broadcast_to(np.arange(3.0), (2 ** 31 + 10, 3))
    far = np.array([2 ** 31 + 9, 2 ** 31, 1, -1], dtype=np.int64)
    cases["take-int64-index-beyond-int32-on-huge-axis"] = (
        lambda: kernels.take_rows(huge, far),
        lambda: np.tile(np.arange(3.0), (4, 1)))
    huge1 = np.broadcast_to(np.float32(7), (2 ** 32 + 3,))
    cases["take-1d-uint64-index-beyond-uint32"] = (
        lambda: kernels.take_rows(huge1, np.array([2 ** 32 + 2], np.uint64)),
        lambda: np.array([7], np.float32))
    cases["rebase-0-rows"] = (lambda: kernels.rebase(np.arange(5.0), 0),
                              lambda: np.arange(5.0)[5:])
    return cases


KERNEL_OK = _kernel_ok_cases()


@pytest.mark.parametrize("case", sorted(KERNEL_OK))
def test_bad_input_kernel_handles(case):
    run, ref = KERNEL_OK[case]
    got, want = run(), ref()
    if got.dtype == object:
        assert got.shape == want.shape and (got == want).all()
    else:
        assert _bits_equal(got, want), (got, want)


def _messy_coo(dtype=np.float64, sparray=False):
    """Unsorted entries with duplicates (some cancelling to an explicit
    zero), NaN and inf."""
    row = np.array([3, 0, 3, 1, 0, 3, 2, 0, 2])
    col = np.array([2, 1, 2, 0, 1, 0, 4, 4, 4])
    val = np.array([1.0, 2.0, 4.0, np.nan, -2.0, np.inf, 1.5, -0.0, -1.5])
    cls = sp.coo_array if sparray else sp.coo_matrix
    return cls((val.astype(dtype), (row, col)), shape=(4, 5))


def _unsorted_csr(sparray=False, index_dtype=np.int32):
    indptr = np.array([0, 3, 3, 6, 7], dtype=index_dtype)
    indices = np.array([4, 0, 4, 2, 1, 2, 0], dtype=index_dtype)
    data = np.array([1.0, 2.0, 3.0, np.nan, -1.0, 0.5, np.inf])
    cls = sp.csr_array if sparray else sp.csr_matrix
    M = cls((data, indices, indptr), shape=(4, 5))
    assert not M.has_canonical_format
    return M


def _unsorted_csc():
    indptr = np.array([0, 2, 2, 4, 5, 7])
    indices = np.array([3, 0, 1, 1, 2, 3, 0])
    data = np.array([1.0, np.nan, 2.0, 3.0, -0.0, np.inf, 4.0])
    M = sp.csc_matrix((data, indices, indptr), shape=(4, 5))
    assert not M.has_canonical_format
    return M


def _scipy_canonical(M):
    R = M.tocsr(copy=True)
    R.sum_duplicates()
    return R


def _same_csr(got, want):
    assert got.format == "csr" and got.shape == want.shape
    assert got.dtype == want.dtype
    assert _is_canonical(got)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # NaN == NaN here


def _is_canonical(M):
    indptr, indices = np.asarray(M.indptr), np.asarray(M.indices)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
            or indptr[-1] != len(indices) or len(M.data) != len(indices):
        return False
    for r in range(M.shape[0]):
        seg = indices[indptr[r]:indptr[r + 1]]
        if np.any(np.diff(seg) <= 0) or np.any(seg < 0) \
                or np.any(seg >= M.shape[1]):
            return False
    return True


SPARSE_INPUTS = {
    "coo-duplicates": lambda: _messy_coo(),
    "coo-duplicates-float32": lambda: _messy_coo(np.float32),
    "coo_array-duplicates": lambda: _messy_coo(sparray=True),
    "csr-unsorted-duplicates": lambda: _unsorted_csr(),
    "csr_array-unsorted": lambda: _unsorted_csr(sparray=True),
    "csr-unsorted-int64-indices": lambda: _unsorted_csr(
        index_dtype=np.int64),
    "csc-from-coo": lambda: _messy_coo().tocsc(),
    "csc-unsorted": lambda: _unsorted_csc(),
    "lil": lambda: _messy_coo().tolil(),
    "dok": lambda: _messy_coo().todok(),
    "bsr": lambda: _messy_coo().tobsr(),
    "dia": lambda: _messy_coo().todia(),
    "empty-0x0": lambda: sp.csr_matrix((0, 0)),
    "empty-nnz": lambda: sp.coo_matrix((4, 5)),
}


@pytest.mark.parametrize("case", sorted(SPARSE_INPUTS))
def test_bad_input_sparse_to_csr(case):
    M = SPARSE_INPUTS[case]()
    before = M.copy()
    got = kernels.to_csr(M)
    _same_csr(got, _scipy_canonical(M))
    assert sp.issparse(got)
    assert isinstance(got, sp.sparray) == isinstance(M, sp.sparray)
    # input untouched (to_csr never sorts or sums the caller's matrix)
    np.testing.assert_array_equal(before.toarray(), M.toarray())
    if M.format == "csr":
        np.testing.assert_array_equal(before.indices, M.indices)


@pytest.mark.parametrize("case", sorted(k for k in SPARSE_INPUTS
                                        if not k.startswith("empty-0x0")))
def test_bad_input_sparse_propagation(case):
    M = SPARSE_INPUTS[case]()
    n_in, p = M.shape
    for cols, offset, P_out in (([4, 0, 2], 1, np.zeros((3, 5))),
                                ([1, 1], 0, sp.coo_matrix(np.eye(4, 3))),
                                ([-1], 2, np.ones((2, 1), np.float32)),
                                ([], 0, np.zeros((4, 2)))):
        got = kernels.propagate_features_sparse(M, cols, offset, P_out)
        A = _scipy_canonical(M)
        n, k = P_out.shape[0], len(cols)
        left = A[offset:offset + n][:, np.asarray(cols, dtype=np.intp)]
        right = sp.csr_matrix(P_out)[:, k:]
        want = sp.hstack([left, right], format="csr",
                         dtype=np.result_type(M.dtype, P_out.dtype))
        want.sum_duplicates()
        _same_csr(got, want)


###############################################################################
# 3. Kernels under stress: hypothesis against the references

from hypothesis.extra import numpy as hnp  # noqa: E402

FLOAT_DTYPES = ("<f8", "<f4", ">f8", ">f4")
DATA_DTYPES = FLOAT_DTYPES + ("<f2", "<i8", "<i4", "|u1", "|b1")
INDEX_DTYPES = ("<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "|u1", ">i8", ">i4")


@st.composite
def dense(draw, ndims=(1, 2), dtypes=DATA_DTYPES, min_rows=0, max_rows=40,
          max_cols=9, rows=None, cols=None):
    """An array of any layout: C, Fortran, row- or column-strided, reversed,
    read-only; values include NaN (with payloads), inf, -0.0, subnormals."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    ndim = draw(st.sampled_from(ndims))
    n = rows if rows is not None else draw(st.integers(min_rows, max_rows))
    p = cols if cols is not None else draw(st.integers(0, max_cols))
    shape = (n,) if ndim == 1 else (n, p)
    native = dtype.newbyteorder("=")
    values = draw(hnp.arrays(native, shape, elements=hnp.from_dtype(native)
                             if native.kind != "f" else None))
    if native.kind == "f" and draw(st.booleans()):
        flat = values.reshape(-1)
        special = _special_values(native)
        for i in draw(st.lists(st.integers(0, max(flat.size - 1, 0)),
                               max_size=6)):
            if flat.size:
                flat[i] = special[draw(st.integers(0, special.size - 1))]
    values = values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "rows", "reversed", "cols"]))
    if layout == "F":
        out = np.asfortranarray(values)
    elif layout == "rows":
        base = np.zeros((2 * n,) + shape[1:], dtype)
        out = base[::2]
        out[...] = values
    elif layout == "reversed":
        out = np.zeros(shape, dtype)[::-1]
        out[...] = values
    elif layout == "cols" and ndim == 2:
        base = np.zeros((n, 2 * p + 1), dtype)
        out = base[:, 1::2]
        out[...] = values
    else:
        out = np.ascontiguousarray(values)
    if draw(st.booleans()):
        out.setflags(write=False)
    assert _bits_equal(out, values)
    return out


@st.composite
def index_for(draw, n, max_len=50):
    dtype = np.dtype(draw(st.sampled_from(INDEX_DTYPES)))
    length = draw(st.integers(0, max_len)) if n else 0
    info = np.iinfo(dtype)
    lo, hi = max(-n, int(info.min)), min(n - 1, int(info.max))
    if lo > hi:
        length = 0
    vals = draw(st.lists(st.integers(lo, hi), min_size=length,
                         max_size=length)) if length else []
    return np.array(vals, dtype=dtype)


@given(data=st.data())
def test_kernel_fuzz_take_rows(data):
    X = data.draw(dense())
    snapshot = X.copy()
    idx = data.draw(index_for(X.shape[0]))
    want = X[idx.astype(np.int64)]
    if data.draw(st.booleans()):
        out = np.full(want.shape, 1, dtype=X.dtype,
                      order=data.draw(st.sampled_from("CF")))
        got = kernels.take_rows(X, idx, out=out)
        assert got is out
    else:
        got = kernels.take_rows(X, idx)
    assert _bits_equal(got, want)
    assert _bits_equal(X, snapshot)


@given(data=st.data())
def test_kernel_fuzz_take_rows_out_of_bounds(data):
    X = data.draw(dense(ndims=(2,), dtypes=FLOAT_DTYPES))
    n = X.shape[0]
    bad = data.draw(st.one_of(st.integers(n, 2 ** 63 - 1),
                              st.integers(-2 ** 63, -n - 1)))
    idx = data.draw(index_for(n, max_len=10)).astype(np.int64)
    pos = data.draw(st.integers(0, len(idx)))
    idx = np.insert(idx, pos, bad)
    out = np.full((len(idx),) + X.shape[1:], 3.0, X.dtype)
    with pytest.raises(IndexError):
        kernels.take_rows(X, idx, out=out)
    assert (out == 3.0).all()  # validated before any write


@given(data=st.data())
def test_kernel_fuzz_shuffle_rows(data):
    sparse = data.draw(st.booleans())
    if sparse:
        X = data.draw(sparse_matrix())
    else:
        X = data.draw(dense())
    n = X.shape[0]
    y = data.draw(st.one_of(st.none(), dense(rows=n)))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    use_generator = data.draw(st.booleans())
    rs = np.random.default_rng(seed) if use_generator else seed
    ref_rs = (np.random.default_rng(seed) if use_generator
              else np.random.RandomState(seed))
    perm_ref = ref_rs.permutation(n)
    Xp, yp, perm = kernels.shuffle_rows(X, y, rs)
    np.testing.assert_array_equal(perm, perm_ref)
    if sparse:
        _same_csr(Xp, _scipy_canonical(X)[perm_ref])
    else:
        assert _bits_equal(Xp, X[perm_ref])
    if y is None:
        assert yp is None
    else:
        assert _bits_equal(yp, y[perm_ref])


@given(data=st.data())
def test_kernel_fuzz_propagate_features(data):
    P_in = data.draw(dense(ndims=(2,), dtypes=DATA_DTYPES, min_rows=0))
    n_in, p = P_in.shape
    n = data.draw(st.integers(0, n_in))
    offset = data.draw(st.integers(0, n_in - n))
    k = data.draw(st.integers(0, 6)) if p else 0
    cols = data.draw(st.lists(st.integers(-p, p - 1), min_size=k,
                              max_size=k)) if k else []
    cols = np.array(cols, dtype=data.draw(st.sampled_from(INDEX_DTYPES[:2])))
    q = k + data.draw(st.integers(0, 3))
    out_dtype = data.draw(st.sampled_from(("<f8", "<f4", ">f8")))
    P_out = data.draw(dense(ndims=(2,), dtypes=(out_dtype,), rows=n, cols=q))
    if not P_out.flags.writeable:
        P_out = P_out.copy(order="K")
    want = P_out.copy()
    want[:, :k] = P_in[offset:offset + n][:, cols.astype(np.int64)]
    got = kernels.propagate_features(P_in, cols, offset, P_out)
    assert got is P_out
    assert _bits_equal(P_out, want)


SPARSE_FORMATS = ("coo", "csr-raw", "csr", "csc", "lil", "dok", "bsr", "dia")


@st.composite
def sparse_matrix(draw, rows=None, cols=None, dtypes=("<f8", "<f4")):
    """A sparse matrix or array in any format, COO/CSR with duplicates and
    unsorted indices, values that sum exactly (so the order in which
    duplicates are summed does not matter) plus NaN and inf."""
    n = rows if rows is not None else draw(st.integers(0, 12))
    p = cols if cols is not None else draw(st.integers(0, 8))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    nnz = draw(st.integers(0, min(3 * n * p, 60))) if n and p else 0
    vals = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -3.0, np.nan,
                            np.inf, -np.inf])
    r = np.array(draw(st.lists(st.integers(0, n - 1), min_size=nnz,
                               max_size=nnz)) if nnz else [], dtype=np.int64)
    c = np.array(draw(st.lists(st.integers(0, p - 1), min_size=nnz,
                               max_size=nnz)) if nnz else [], dtype=np.int64)
    v = np.array(draw(st.lists(vals, min_size=nnz, max_size=nnz))
                 if nnz else [], dtype=dtype)
    as_array = draw(st.booleans())
    fmt = draw(st.sampled_from(SPARSE_FORMATS))
    coo = (sp.coo_array if as_array else sp.coo_matrix)((v, (r, c)),
                                                        shape=(n, p))
    if fmt == "coo":
        return coo
    if fmt == "csr-raw":  # unsorted, duplicated, as built by hand
        order = np.lexsort((draw(st.permutations(range(nnz))) if nnz else [],
                            r)) if nnz else np.array([], dtype=np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, r + 1, 1)
        indptr = np.cumsum(indptr)
        idx_dtype = draw(st.sampled_from((np.int32, np.int64)))
        cls = sp.csr_array if as_array else sp.csr_matrix
        return cls((v[order], c[order].astype(idx_dtype),
                    indptr.astype(idx_dtype)), shape=(n, p))
    return coo.asformat(fmt)


def _snapshot_sparse(M):
    return {name: np.array(getattr(M, name), copy=True)
            for name in ("data", "indices", "indptr", "row", "col", "offsets")
            if isinstance(getattr(M, name, None), np.ndarray)
            and getattr(M, name).dtype != object}


@given(M=sparse_matrix())
def test_kernel_fuzz_to_csr(M):
    before = _snapshot_sparse(M)
    was_canonical = M.format == "csr" and M.has_canonical_format
    got = kernels.to_csr(M)
    _same_csr(got, _scipy_canonical(M))
    assert isinstance(got, sp.sparray) == isinstance(M, sp.sparray)
    if was_canonical:
        assert got is M
    for name, arr in before.items():
        assert _bits_equal(getattr(M, name), arr), name


@given(data=st.data())
def test_kernel_fuzz_propagate_features_sparse(data):
    P_in = data.draw(sparse_matrix())
    n_in, p = P_in.shape
    n = data.draw(st.integers(0, n_in))
    offset = data.draw(st.integers(0, n_in - n))
    k = data.draw(st.integers(0, 5)) if p else 0
    cols = np.array(data.draw(st.lists(st.integers(-p, p - 1), min_size=k,
                                       max_size=k)) if k else [],
                    dtype=np.int64)
    q = k + data.draw(st.integers(0, 3))
    if data.draw(st.booleans()):
        P_out = data.draw(sparse_matrix(rows=n, cols=q))
    else:
        P_out = data.draw(dense(ndims=(2,), dtypes=("<f8", "<f4"), rows=n,
                                cols=q))
    before_in, before_out = _snapshot_sparse(P_in), (
        _snapshot_sparse(P_out) if sp.issparse(P_out) else P_out.copy())
    got = kernels.propagate_features_sparse(P_in, cols, offset, P_out)
    dtype = np.result_type(P_in.dtype, P_out.dtype)
    left = _scipy_canonical(P_in)[offset:offset + n][:, cols]
    right = (_scipy_canonical(P_out) if sp.issparse(P_out)
             else sp.csr_matrix(P_out))[:, k:]
    want = sp.csr_matrix(sp.hstack([left, right], format="csr", dtype=dtype))
    want.sum_duplicates()
    _same_csr(got, want)
    as_array = isinstance(P_in, sp.sparray) or isinstance(P_out, sp.sparray)
    assert isinstance(got, sp.sparray) == as_array
    for name, arr in before_in.items():
        assert _bits_equal(getattr(P_in, name), arr), name
    if not sp.issparse(P_out):
        assert _bits_equal(P_out, before_out)


@given(data=st.data())
def test_kernel_fuzz_rebase(data):
    targets = data.draw(dense(max_rows=60))
    n = targets.shape[0]
    n_rows = data.draw(st.integers(0, n))
    if data.draw(st.booleans()):
        offset = None
        want = targets[n - n_rows:]
    else:
        offset = data.draw(st.integers(0, n - n_rows))
        want = targets[offset:offset + n_rows]
    got = kernels.rebase(targets, n_rows, offset)
    assert _bits_equal(got, want)
    assert got.base is targets or got.base is targets.base  # a view, O(1)
    bad = data.draw(st.integers(n + 1, n + 2 ** 40))
    with pytest.raises(ValueError):
        kernels.rebase(targets, bad, offset)


# -- 16 threads at once on shared read-only inputs ----------------------------

def _shared_inputs():
    rng = np.random.RandomState(42)
    X = rng.standard_normal((3000, 40))
    X[rng.rand(*X.shape) < 0.01] = np.nan
    X[0, :5] = [np.inf, -np.inf, -0.0, 5e-324, np.nan]
    inputs = {
        "X": X,
        "X32": X.astype(np.float32),
        "XF": np.asfortranarray(X),
        "Xbig": X.astype(">f8"),
        "y": rng.standard_normal(3000),
        "idx": rng.randint(-3000, 3000, size=5000),
        "cols": np.array([39, 0, 5, 5, -1, 17]),
        "A": sp.random(3000, 40, density=0.05, format="csr", random_state=1,
                       dtype=np.float64),
        "Acoo": sp.random(500, 30, density=0.2, format="coo", random_state=2),
    }
    inputs["Acoo"] = sp.coo_matrix((np.r_[inputs["Acoo"].data,
                                          inputs["Acoo"].data],
                                    (np.r_[inputs["Acoo"].row,
                                           inputs["Acoo"].row],
                                     np.r_[inputs["Acoo"].col,
                                           inputs["Acoo"].col])),
                                   shape=inputs["Acoo"].shape)
    for v in inputs.values():
        for arr in ((v.data, getattr(v, "indices", v.data),
                     getattr(v, "indptr", v.data)) if sp.issparse(v) else (v,)):
            arr.setflags(write=False)
    return inputs


def _references(inp):
    idx = inp["idx"]
    ref = {}
    for name in ("X", "X32", "XF", "Xbig"):
        ref["take_" + name] = inp[name][idx]
    ref["take_y"] = inp["y"][idx]
    for name in ("X", "X32", "XF"):
        for out_dt in (np.float64, np.float32):
            P = np.full((2500, 8), -1.0, out_dt)
            P[:, :6] = inp[name][500:][:, inp["cols"]]
            ref["prop_%s_%s" % (name, np.dtype(out_dt).name)] = P
    perm = np.random.RandomState(7).permutation(3000)
    ref["shuffle_X"], ref["shuffle_y"] = inp["X"][perm], inp["y"][perm]
    A = inp["A"]
    ref["sprop"] = sp.hstack([A[1000:][:, inp["cols"]],
                              sp.csr_matrix(np.eye(2000, 8))[:, 6:]],
                             format="csr")
    ref["sprop"].sum_duplicates()
    ref["to_csr"] = _scipy_canonical(inp["Acoo"])
    return ref


def _thread_worker(inp, ref, rounds, tid):
    rng = np.random.RandomState(tid)
    out64 = np.empty((5000, 40))
    checks = 0
    for r in range(rounds):
        op = rng.randint(7)
        if op == 0:
            name = ("X", "X32", "XF", "Xbig")[rng.randint(4)]
            if name == "Xbig":
                got = kernels.take_rows(inp[name], inp["idx"])
            elif name == "X32":
                got = kernels.take_rows(inp[name], inp["idx"])
            else:
                got = kernels.take_rows(inp[name], inp["idx"], out=out64)
            assert _bits_equal(got, ref["take_" + name]), name
        elif op == 1:
            got = kernels.take_rows(inp["y"], inp["idx"])
            assert _bits_equal(got, ref["take_y"])
        elif op == 2:
            name = ("X", "X32", "XF")[rng.randint(3)]
            out_dt = (np.float64, np.float32)[rng.randint(2)]
            P = np.full((2500, 8), -1.0, out_dt,
                        order="CF"[rng.randint(2)])
            kernels.propagate_features(inp[name], inp["cols"], 500, P)
            assert _bits_equal(P, ref["prop_%s_%s"
                                      % (name, np.dtype(out_dt).name)])
        elif op == 3:
            Xp, yp, _ = kernels.shuffle_rows(inp["X"], inp["y"], 7)
            assert _bits_equal(Xp, ref["shuffle_X"])
            assert _bits_equal(yp, ref["shuffle_y"])
        elif op == 4:
            got = kernels.propagate_features_sparse(
                inp["A"], inp["cols"], 1000, np.eye(2000, 8))
            _same_csr(got, ref["sprop"])
        elif op == 5:
            _same_csr(kernels.to_csr(inp["Acoo"]), ref["to_csr"])
        else:
            got = kernels.rebase(inp["y"], 100, offset=rng.randint(2900))
            assert got.shape == (100,) and np.shares_memory(got, inp["y"])
        checks += 1
    return checks


def test_kernel_concurrent_16_threads():
    inp = _shared_inputs()
    ref = _references(inp)
    snapshot = {k: (v.copy() if not sp.issparse(v) else v.toarray())
                for k, v in inp.items()}
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(_thread_worker, inp, ref, CONCURRENT_ROUNDS, t)
                   for t in range(16)]
        done = sum(f.result() for f in futures)
    assert done == 16 * CONCURRENT_ROUNDS
    for k, v in inp.items():
        now = v if not sp.issparse(v) else v.toarray()
        assert _bits_equal(now, snapshot[k]), k


###############################################################################
# 4. Security

_FORBIDDEN = re.compile(r"\bsubprocess\b|\bos\s*\.\s*(system|popen|exec\w*|"
                        r"spawn\w*|fork\w*)\b|\bshell\s*=\s*True|\bpty\b|"
                        r"\bcommands\b|\beval\s*\(|\bexec\s*\(")


def _code_only(path):
    """The source of a module without comments and string literals."""
    with open(path, "rb") as f:
        tokens = list(tokenize.tokenize(f.readline))
    return " ".join(t.string for t in tokens
                    if t.type not in (tokenize.COMMENT, tokenize.STRING))


def _mlcore_sources():
    root = Path(mlcore.__file__).parent
    return sorted(p for p in root.iterdir() if p.suffix in (".py", ".pyx"))


@pytest.mark.parametrize("path", _mlcore_sources(), ids=lambda p: p.name)
def test_security_no_shell_out(path):
    if path.suffix == ".pyx":
        code = path.read_text()  # Cython: grep the raw text
    else:
        code = _code_only(path)
    hits = _FORBIDDEN.findall(code)
    assert not hits, "%s uses %s" % (path.name, hits)
    raw = path.read_text()
    assert "shell=True" not in raw.replace(" ", "")


def test_security_sources_found():
    names = {p.name for p in _mlcore_sources()}
    assert {"backend.py", "kernels.py", "config.py"} <= names


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_security_private_cache(cache_root, backend):
    X, y = make_data()
    old = os.umask(0)  # even a permissive umask gives a private directory
    try:
        pp = ParallelProcessing(backend, N_JOBS)
        pp.map([FoldTask()], "fit", X, y)
    finally:
        os.umask(old)
    d = pp.job.dir
    assert os.path.dirname(d) == str(cache_root)
    assert os.path.basename(d).startswith(config.get_prefix())
    st_ = os.stat(d)
    assert stat.S_IMODE(st_.st_mode) == 0o700
    assert st_.st_uid == os.getuid()
    assert not os.path.islink(d)
    pp.clear()
    assert_clean(cache_root)


def test_security_prefix_is_honoured(cache_root):
    config.set_prefix("myprefix_")
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask()], "fit", *make_data())
    assert os.path.basename(pp.job.dir).startswith("myprefix_")
    pp.clear()
    assert_clean(cache_root)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["str", "pathlib", "missing-dir"])
def test_security_user_cache_kept(cache_root, tmp_path, backend, kind):
    user = tmp_path / "my cache; rm -rf ~"   # an awkward name on purpose
    if kind != "missing-dir":
        user.mkdir()
        (user / "keep.txt").write_text("mine")
    path = user if kind == "pathlib" else str(user)
    X, y = make_data()
    pp = ParallelProcessing(backend, N_JOBS)
    P = pp.map([FoldTask()], "fit", X, y, path=path, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    assert pp.job.dir == str(user)  # used as given
    pp.clear()
    assert user.is_dir()
    if kind != "missing-dir":
        assert (user / "keep.txt").read_text() == "mine"
    # a failure does not remove it either
    with pytest.raises(LearnerError):
        ParallelProcessing(backend, N_JOBS).map(
            [FoldTask("x", fail=("raise", "fit", 1))], "fit", X, y,
            path=path)
    assert user.is_dir()
    if kind != "missing-dir":
        assert (user / "keep.txt").read_text() == "mine"
    assert (user / "task_0" / "learner.0.npy").is_file()  # the cache
    assert_clean(cache_root)  # and nothing made in the tmpdir


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_security_loads_only_own_cache(cache_root, tmp_path, monkeypatch,
                                       backend):
    """Arrays are read only from the processor's own cache (and from input
    files the caller names), never from another cache; planted files in a
    user cache are not picked up as inputs or outputs."""
    other = cache_root / ".mlcore_cache_planted"
    other.mkdir()
    np.save(other / "X.npy", np.full((30, 4), 666.0))
    np.save(other / "y.npy", np.full(30, 666.0))
    user = tmp_path / "user_cache"
    user.mkdir()
    np.save(user / "X.npy", np.full((30, 4), 666.0))
    np.save(user / "learner_out_array.npy", np.full((30, 1), 666.0))
    user_input = tmp_path / "input.npy"
    X, y = make_data()
    np.save(user_input, X)

    loaded = []
    real_np_load, real_jl_load = np.load, joblib.load

    def spy_np(f, *a, **k):
        loaded.append(os.fspath(f))
        return real_np_load(f, *a, **k)

    def spy_jl(f, *a, **k):
        loaded.append(os.fspath(f))
        return real_jl_load(f, *a, **k)
    monkeypatch.setattr(np, "load", spy_np)
    monkeypatch.setattr(joblib, "load", spy_jl)

    for path in (None, str(user)):
        for inp in (X, str(user_input)):
            loaded.clear()
            pp = ParallelProcessing(backend, N_JOBS)
            P = pp.map([FoldTask()], "fit", inp, y, path=path,
                       return_preds=True)
            np.testing.assert_array_equal(P, reference_fit(X, y))
            own = os.path.join(pp.job.dir, "")
            for f in loaded:
                assert f.startswith(own) or f == str(user_input), f
            assert loaded, "nothing memory-mapped?"
            pp.clear()
    assert np.load(other / "X.npy")[0, 0] == 666.0  # untouched
    assert (user / "learner_out_array.npy").exists()


###############################################################################
# 5. Determinism

def _determinism_run(backend, n_jobs, X, y):
    pp = ParallelProcessing(backend, n_jobs)
    try:
        tasks = [FoldTask("a", shuffle=True, random_state=11),
                 FoldTask("b", n_folds=4, shuffle=True, random_state=12)]
        mapped = pp.map(tasks, "fit", X, y, return_preds=["a", "b"])
        stacked = pp.stack([FoldTask("s1", shuffle=True, random_state=3),
                            FoldTask("s2", shuffle=True, random_state=4,
                                     propagate_features=[0])],
                           "fit", X, y, return_preds=True)
        return mapped + [stacked]
    finally:
        pp.clear()


def test_determinism_across_backends(cache_root):
    X, y = make_data(n=101, p=5, seed=3)
    runs = {(b, j): _determinism_run(b, j, X, y)
            for b in BACKENDS for j in (1, 2)}
    ref = runs[("sequential", 1)]
    np.testing.assert_array_equal(ref[0], reference_fit(X, y, 3, 11))
    np.testing.assert_array_equal(ref[1], reference_fit(X, y, 4, 12))
    for key, outs in runs.items():
        assert len(outs) == 3
        for got, want in zip(outs, ref):
            assert _bits_equal(got, want), key
    # a different seed gives different folds, hence different output
    other = ParallelProcessing("threading", 2).map(
        [FoldTask("a", shuffle=True, random_state=99)], "fit", X, y,
        return_preds=True)
    assert not _bits_equal(other, ref[0])
    assert_clean(cache_root)


###############################################################################
# 6. Regressions: bugs this suite found (fixed in 8cf5d63 and b51aee7)

@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_regression_relative_tmpdir_and_chdir(tmp_path, monkeypatch, backend):
    """A relative tmpdir and a chdir between calls: the engine's cache must
    still be found (by the workers too) and removed. Before the fix the first
    cache leaked (removed relative to the new cwd) and loky workers, started
    in the old cwd, wrote into the wrong directory."""
    for d in ("a/rel", "b/rel"):
        (tmp_path / d).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    config.set_tmpdir("rel")
    X, y = make_data()
    pp = ParallelProcessing(backend, N_JOBS)
    pp.map([FoldTask()], "fit", X, y)
    assert os.path.isabs(pp.job.dir)
    monkeypatch.chdir(tmp_path / "b")
    P = pp.map([FoldTask()], "fit", X, y, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    pp.clear()
    assert tree(tmp_path / "a" / "rel") == [] and tree(tmp_path / "b" / "rel") == []


# Was: backend.py _set_path: a relative user cache path stays relative;
# workers started in another cwd save into the wrong directory
def test_regression_relative_user_path_and_chdir(tmp_path, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask("warmup")], "fit", X, y)  # workers start in a/
    pp.clear()
    monkeypatch.chdir(tmp_path / "b")
    try:
        P = pp.map([FoldTask()], "fit", X, y, path="cache",
                   return_preds=True)
        np.testing.assert_array_equal(P, reference_fit(X, y))
    finally:
        pp.clear()
    assert not (tmp_path / "a" / "cache").exists()


_FORK_CHILD = textwrap.dedent(r"""
    import os, sys
    import numpy as np
    from mlcore.backend import ParallelProcessing
    sys.path.insert(0, sys.argv[1])
    from test_reliability import FoldTask, make_data
    pp = ParallelProcessing("multiprocessing", 2)
    pp.map([FoldTask()], "fit", *make_data())
    d = pp.job.dir
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # a forked child ending normally runs atexit handlers
    os.waitpid(pid, 0)
    print("PARENT_CACHE_ALIVE", os.path.isdir(d))
""")


# Was: backend.py: the weakref.finalize that removes a temporary cache also
# runs at exit in a forked child, removing the parent's live cache
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_regression_forked_child_exit_keeps_parent_cache(cache_root):
    r = subprocess.run([sys.executable, "-c", _FORK_CHILD,
                        str(Path(__file__).parent)],
                       env=_child_env(cache_root), capture_output=True,
                       text=True, timeout=120)
    assert "PARENT_CACHE_ALIVE" in r.stdout, r.stderr
    assert "PARENT_CACHE_ALIVE True" in r.stdout
    assert_clean(cache_root)


# Was: backend.py dump_array and _gen_prediction_array test os.path.exists,
# which is False for a dangling symlink, and then write through it
@pytest.mark.parametrize("planted", ["X.npy", "learner_out_array.npy"])
def test_regression_no_write_through_dangling_symlink(tmp_path, planted):
    user, elsewhere = tmp_path / "shared_cache", tmp_path / "elsewhere"
    user.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere / "victim.npy", user / planted)
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    P = pp.map([FoldTask()], "fit", X, y, path=str(user), return_preds=True)
    pp.clear()
    np.testing.assert_array_equal(P, reference_fit(X, y))
    assert not (elsewhere / "victim.npy").exists(), \
        "the engine wrote through a symlink planted in its cache directory"


# Was: kernels.rebase validates n_rows but not offset: 1.5, True and '1' are
# silently taken as 1
@pytest.mark.parametrize("offset", [1.5, True, "1"],
                         ids=["float", "bool", "str"])
def test_regression_rebase_offset_validated(offset):
    with pytest.raises(TypeError):
        kernels.rebase(np.arange(5), 2, offset=offset)


# Was: kernels._check_index: idx + n overflows an int32 index array when the
# axis has >= 2**31 rows
def test_regression_int32_negative_index_on_huge_axis():
    X = np.broadcast_to(np.arange(3.0), (2 ** 31 + 10, 3))  # no memory used
    got = kernels.take_rows(X, np.array([-1, 0], dtype=np.int32))
    np.testing.assert_array_equal(got, [[0.0, 1.0, 2.0]] * 2)
