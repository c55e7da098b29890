"""Trust under faults: dead workers, exceptions that do not survive the trip
back, signals to the driver, a user's own files in ``path=``, non-ASCII
cache paths and full disks.

Subprocess drivers are polled with generous limits; nothing here asserts on
speed.
"""
import errno
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from sklearn.linear_model import LinearRegression

from mlcore import config
from mlcore.backend import ParallelProcessing, dump_array
from mlcore.exceptions import LearnerError

from tests._tasks import FaultTask, _child_env, assert_clean, make_data, \
    reference_fit, tree
from tests._tasks import _reset_config, cache_root  # noqa: F401 (fixtures)

PROCESS_BACKENDS = ("loky", "multiprocessing")
BACKENDS = ("threading", "sequential") + PROCESS_BACKENDS


###############################################################################
# A user's own files in path= are never replaced or removed

def _user_files(d):
    X0, y0 = np.full((3, 2), 7.0), np.arange(3.0)
    np.save(d / "X.npy", X0)
    np.save(d / "y.npy", y0)
    (d / "X.pkl").write_bytes(b"mine")
    (d / "layer_out_array.npy").write_bytes(b"mine too")
    return {n: (d / n).read_bytes() for n in os.listdir(d)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_files_in_path_untouched(cache_root, tmp_path, backend):
    d = tmp_path / "mine"
    d.mkdir()
    before = _user_files(d)
    X, y = make_data()
    pp = ParallelProcessing(backend, 2)
    task = FaultTask("layer")
    P = pp.map([task], "fit", X, y, path=str(d), return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    # a warm start keeps the cache and its numbering
    P = pp.map([task], "predict", X, path=str(d),
               warm_start=True, return_preds=True)
    assert P.shape == (30, 1)
    pp.clear()
    after = {n: (d / n).read_bytes() for n in os.listdir(d)
             if (d / n).is_file()}
    assert after == before
    assert sorted(os.listdir(d)) == sorted(list(before) + ["task_0"])
    assert_clean(cache_root)


def test_dump_array_never_replaces(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros(2))
    os.symlink(tmp_path / "elsewhere.npy", tmp_path / "X.1.npy")
    f = dump_array(np.ones(3), "X", str(tmp_path))
    assert os.path.basename(f) == "X.2.npy"
    np.testing.assert_array_equal(np.load(f), np.ones(3))
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), np.zeros(2))
    assert not (tmp_path / "elsewhere.npy").exists()


###############################################################################
# A dead worker, or an exception that cannot be rebuilt, on every process
# backend: a quick error naming learner and fold, nothing left behind.
# Each scenario runs in a child driver, so that a hang fails the test.

_DRIVER = textwrap.dedent(r"""
    import os, sys, time
    import numpy as np
    from mlcore.backend import ParallelProcessing
    from tests._tasks import FaultTask, make_data, reference_fit
    from tests import test_faults_trust as T
    backend, how = sys.argv[1], sys.argv[2]
    X, y = make_data()
    pp = ParallelProcessing(backend, 2)
    task = (T.BadErrorTask("victim") if how == "bad-exception"
            else FaultTask("victim", fail=(how, "fit", 2)))
    try:
        pp.map([task], "fit", X, y)
    except BaseException as exc:
        print("RAISED", type(exc).__name__, "|", exc, flush=True)
        print("MRO", [c.__name__ for c in type(exc).__mro__], flush=True)
    print("JOB", pp.job, flush=True)
    P = pp.map([FaultTask("again")], "fit", X, y, return_preds=True)
    print("REUSABLE", bool((P == reference_fit(X, y)).all()), flush=True)
    pp.clear()
""")


class UnloadableError(Exception):
    """Pickles (args are (message,)) but cannot be rebuilt from its args."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def bad_error_subtask(name, fold, fail_at):
    if fold == fail_at:
        raise UnloadableError("no convergence in fold %d" % fold, 7)


class BadErrorTask(FaultTask):
    def __call__(self, args, parallel):
        from mlcore.backend import delayed
        parallel(delayed(bad_error_subtask)(self.name, k, 2)
                 for k in range(4))


def _drive(root, backend, how):
    r = subprocess.run([sys.executable, "-c", _DRIVER, backend, how],
                       env=_child_env(root), capture_output=True, text=True,
                       timeout=240)
    assert "REUSABLE True" in r.stdout, (r.stdout, r.stderr[-3000:])
    return r.stdout


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_dead_worker_names_learner_and_fold(cache_root, backend, how):
    out = _drive(cache_root, backend, how)
    line = [x for x in out.splitlines() if x.startswith("RAISED")][0]
    assert line.startswith("RAISED WorkerDiedError"), line
    assert "learner 'victim'" in line and "fold 2" in line, line
    mro = [x for x in out.splitlines() if x.startswith("MRO")][0]
    assert "LearnerError" in mro and "BrokenProcessPool" in mro
    if how == "exit":
        assert "exit code 3" in line or "EXIT(3)" in line, line
    assert "JOB None" in out
    assert tree(cache_root) == []


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_unloadable_exception_names_subtask(cache_root, backend):
    out = _drive(cache_root, backend, "bad-exception")
    line = [x for x in out.splitlines() if x.startswith("RAISED")][0]
    assert line.startswith("RAISED LearnerError"), line
    assert "learner 'victim'" in line and "fold 2" in line, line
    assert "UnloadableError: no convergence in fold 2" in line, line
    assert tree(cache_root) == []


def test_learner_error_drops_unloadable_original():
    err = LearnerError("learner 'x' failed")
    err.original = UnloadableError("boom", 1)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == "learner 'x' failed" and back.original is None
    err.original = ValueError("fine")
    assert repr(pickle.loads(pickle.dumps(err)).original) == repr(
        ValueError("fine"))


###############################################################################
# SIGTERM / SIGKILL of the driver in the middle of a fit: no worker
# survives it, no cache directory stays.

_SLOW_DRIVER = textwrap.dedent(r"""
    import os, sys
    import numpy as np
    from mlcore.backend import ParallelProcessing
    from tests._tasks import make_data
    from tests import test_faults_trust as T
    backend, marks = sys.argv[1], sys.argv[2]
    X, y = make_data()
    pp = ParallelProcessing(backend, 2)
    pp.map([T.SlowTask("slow", marks)], "fit", X, y)
    print("FINISHED", flush=True)   # never reached: the driver is signalled
""")


def slow_subtask(name, fold, marks, X):
    with open(os.path.join(marks, "%d.pid" % os.getpid()), "w") as f:
        f.write("%d" % X.shape[0])
    time.sleep(120)


class SlowTask(FaultTask):
    def __init__(self, name, marks):
        super().__init__(name)
        self.marks = marks

    def __call__(self, args, parallel):
        from mlcore.backend import delayed
        parallel(delayed(slow_subtask)(self.name, k, self.marks,
                                       args["main"]["X"]) for k in range(2))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait(cond, limit=90.0):
    """Poll ``cond`` until true or ``limit`` seconds (generous: a loaded
    machine is slow, and this asserts no speed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_signalled_driver_leaves_no_worker_and_no_cache(cache_root, tmp_path,
                                                        backend, sig):
    marks = tmp_path / "marks"
    marks.mkdir()
    child = subprocess.Popen([sys.executable, "-c", _SLOW_DRIVER, backend,
                              str(marks)], env=_child_env(cache_root),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait(lambda: len(os.listdir(marks)) == 2), \
            "the workers never started"
        pids = [int(f.split(".")[0]) for f in os.listdir(marks)]
        assert tree(cache_root) != []  # the live cache of the driver
        child.send_signal(getattr(signal, sig))
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -getattr(signal, sig), child.stderr.read()
    survivors = lambda: [p for p in pids if _alive(p)]  # noqa: E731
    assert _wait(lambda: not survivors()), "workers %s outlived the " \
        "driver" % survivors()
    assert _wait(lambda: tree(cache_root) == []), tree(cache_root)


###############################################################################
# Non-ASCII cache paths, and a full disk while a worker saves a fit

@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("where", ["tmpdir", "path"])
def test_non_ascii_cache_path(tmp_path, backend, where):
    root = tmp_path / "caché_данные"
    root.mkdir()
    X, y = make_data()
    pp = ParallelProcessing(backend, 2)
    if where == "tmpdir":
        config.set_tmpdir(root)
        P = pp.map([FaultTask("a")], "fit", X, y, return_preds=True)
    else:
        P = pp.map([FaultTask("a")], "fit", X, y, path=str(root),
                   return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    pp.clear()
    assert tree(root) == ([] if where == "tmpdir" else
                          ["task_0", "task_0/a.0.npy", "task_0/a.1.npy",
                           "task_0/a.2.npy", "task_0/a.3.npy"])


class FullDiskLR(LinearRegression):
    """Saving it once fitted fails as a full disk fails a write: with
    ENOSPC, from inside the pickler that writes the cache file (in the
    worker: the driver never pickles a fitted one on these backends)."""

    def fit(self, X, y):
        super().fit(X, y)
        self.fitted_ = True
        return self

    def __getstate__(self):
        if getattr(self, "fitted_", False):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().__getstate__()


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_full_disk_saving_a_fit_names_learner_fold_and_file(cache_root,
                                                            backend):
    from mlcore.ensemble import SuperLearner
    X, y = make_data(60)
    ens = SuperLearner(folds=2, backend=backend, n_jobs=2)
    ens.add([FullDiskLR()]).add_meta(LinearRegression())
    with pytest.raises(OSError) as info:
        ens.fit(X, y)
    msg = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert "learner 'fulldisklr'" in msg, msg
    assert re.search(r"partition 0, (fold \d|full fit)", msg), msg
    assert "No space left on device" in msg
    assert info.value.filename.endswith(".pkl")
    assert os.path.basename(info.value.filename).startswith("layer-1.")
    assert tree(cache_root) == []


class _UnloadableModel(LinearRegression):
    """Pickles, but cannot be loaded where it is sent (as a learner defined
    in a module the workers cannot import)."""

    def __reduce__(self):
        return (_refuse_to_load, ())


def _refuse_to_load():
    raise ImportError("no module named 'private_models'")


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_learner_workers_cannot_load_is_named(cache_root, backend):
    from mlcore.ensemble import SuperLearner
    from mlcore.exceptions import WorkerDiedError
    X, y = make_data()
    ens = SuperLearner(folds=2, backend=backend, n_jobs=2)
    ens.add([_UnloadableModel()])
    ens.add_meta(LinearRegression())
    with pytest.raises(Exception) as info:
        ens.fit(X, y)
    text = str(info.value)
    if backend == "loky":
        assert isinstance(info.value, WorkerDiedError)
        assert "could not load a subtask" in text, text
    assert "private_models" in text, text
    assert tree(cache_root) == []
