"""Tests of mlcore.utils: pickling, printing and timing helpers, CMLog, the
ML-Ensemble exception classes and the tutorial estimators OLS and Scale."""
import doctest
import io
import os
import pickle
import stat
import sys
import threading
import warnings

import numpy as np
import pytest

import mlcore.exceptions as core_exc
import mlcore.utils as utils
import mlcore.utils.exceptions as exc_module
import mlcore.utils.utils as utils_module
from mlcore.utils import (CMLog, pickle_load, pickle_save, print_time,
                          safe_print)
from mlcore.utils.monitor import _record


###############################################################################
# pickle_save / pickle_load

def test_pickle_round_trip_adds_suffix(tmp_path):
    obj = {"a": np.arange(5), "b": [1, "two"]}
    path = pickle_save(obj, tmp_path / "d")
    assert path == str(tmp_path / "d.pkl") and os.path.isfile(path)
    for name in (tmp_path / "d", str(tmp_path / "d.pkl")):
        out = pickle_load(name)
        np.testing.assert_array_equal(out["a"], obj["a"])
        assert out["b"] == obj["b"]
    # the file is a plain pickle any Python can read
    with open(path, "rb") as f:
        assert pickle.load(f)["b"] == [1, "two"]
    assert sorted(os.listdir(tmp_path)) == ["d.pkl"]


def test_pickle_save_failure_keeps_old_file(tmp_path):
    pickle_save([1, 2, 3], tmp_path / "keep")
    with pytest.raises(Exception):
        pickle_save({"f": lambda: None}, tmp_path / "keep")
    assert pickle_load(tmp_path / "keep") == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["keep.pkl"]   # no temp file left


def test_pickle_save_respects_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = pickle_save(1, tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_pickle_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        pickle_load(tmp_path / "nothing")


###############################################################################
# safe_print / print_time / time

def test_safe_print_streams():
    buf = io.StringIO()
    safe_print("a", 1, sep="-", end="!", file=buf)
    assert buf.getvalue() == "a-1!"


def test_safe_print_stream_names(capsys):
    safe_print("out", file="stdout", flush=True)
    safe_print("err", file="stderr")
    safe_print("default")
    captured = capsys.readouterr()
    assert captured.out == "out\ndefault\n" and captured.err == "err\n"
    with pytest.raises(ValueError, match="stdout"):
        safe_print("x", file="stdin")


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.mark.parametrize("elapsed, text", [
    (0.0, "00:00:00"), (1.3, "00:00:01"), (59.99, "00:00:59"),
    (3725.5, "01:02:05"), (100 * 3600 + 61, "100:01:01")])
def test_print_time_format(monkeypatch, elapsed, text):
    monkeypatch.setattr(utils_module, "time", FakeClock(1000.0 + elapsed))
    buf = io.StringIO()
    print_time(1000.0, message="test", file=buf)
    assert buf.getvalue() == "test | %s\n" % text
    buf = io.StringIO()
    print_time(1000.0, file=buf)
    assert buf.getvalue() == text + "\n"


def test_time_is_a_monotonic_clock():
    import time as time_module
    assert utils.time is time_module.perf_counter


###############################################################################
# CMLog

class FakeHalt:
    """A halt event whose wait() advances a fake clock instead of sleeping."""

    def __init__(self, clock, halt_after=None):
        self.clock, self.calls, self.halt_after = clock, 0, halt_after

    def wait(self, timeout):
        self.calls += 1
        self.clock.now += timeout
        return self.halt_after is not None and self.calls > self.halt_after


def test_recorder_samples_until_stop():
    clock = FakeClock(0.0)
    out = []
    counter = iter(range(100))
    _record(lambda: next(counter), out, 1.0, 0.25, FakeHalt(clock), clock)
    # readings at t = 0.25, 0.5, 0.75; at t = 1.0 the time is up
    assert out == [0, 1, 2]
    clock = FakeClock(7.0)
    out = []
    _record(lambda: 1, out, 0.2, 0.5, FakeHalt(clock), clock)
    assert out == []       # the first pause already outlasts stop


def test_recorder_stops_when_halted():
    clock = FakeClock(0.0)
    out = []
    _record(lambda: 1, out, None, 0.5, FakeHalt(clock, halt_after=4), clock)
    assert out == [1, 1, 1, 1]


try:
    import psutil
except ImportError:  # pragma: no cover
    psutil = None
needs_psutil = pytest.mark.skipif(psutil is None, reason="needs psutil")


@needs_psutil
def test_cmlog_records_this_process(capsys):
    cm = CMLog(verbose=True)
    assert cm.pid == os.getpid()
    cm.monitor(ival=0.01)
    cm.collect()
    n = len(cm.cpu)
    assert n >= 1 and len(cm.rss) == n and len(cm.vms) == n
    assert cm.rss.dtype == np.int64 and cm.cpu.dtype == np.float64
    assert (cm.rss > 0).all() and (cm.vms >= cm.rss).all()
    assert ((cm.cpu >= 0) & (cm.cpu <= 100)).all()
    mem = psutil.Process().memory_info()
    assert cm.vms[0] <= 4 * mem.vms and cm.rss[0] <= 4 * mem.rss
    out = capsys.readouterr().out
    assert "[CMLog] recording until collect()" in out
    assert "collected %d readings" % n in out
    assert not any(t.name == "mlcore-CMLog" for t in threading.enumerate())


@needs_psutil
def test_cmlog_waits_without_kill_and_overwrites():
    cm = CMLog()
    cm.monitor(stop=0.05, ival=0.01, kill=False)
    cm.collect()        # waits for the 0.05 s to pass
    first = cm.cpu
    assert len(first) >= 1
    cm.monitor(stop=30, ival=0.01)
    assert not hasattr(cm, "cpu")   # old readings dropped at the new start
    cm.collect()        # kill=True: stops at once
    assert len(cm.cpu) >= 1 and cm.cpu is not first


@needs_psutil
def test_cmlog_errors(capsys):
    cm = CMLog()
    assert cm.collect() is None
    assert "nothing to collect" in capsys.readouterr().out
    with pytest.raises(ValueError, match="kill must be True"):
        cm.monitor(stop=None, kill=False)
    for bad in (0, -1, "1", True):
        with pytest.raises(ValueError, match="ival"):
            cm.monitor(ival=bad)
        with pytest.raises(ValueError, match="stop"):
            cm.monitor(stop=bad)
    cm.monitor()
    with pytest.raises(RuntimeError, match="collect"):
        cm.monitor()
    cm.collect()


def test_cmlog_without_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(ImportError, match="pip install psutil"):
        CMLog()


###############################################################################
# exceptions

MLENS_EXCEPTIONS = {
    # name: ML-Ensemble's base classes
    "NotFittedError": (ValueError, AttributeError),
    "NotInitializedError": (ValueError, AttributeError),
    "FitFailedWarning": (RuntimeWarning,),
    "ParameterChangeWarning": (UserWarning,),
    "LayerSpecificationError": (TypeError, ValueError),
    "LayerSpecificationWarning": (UserWarning,),
    "ParallelProcessingError": (AttributeError, RuntimeError),
    "ParallelProcessingWarning": (UserWarning,),
    "InputDataWarning": (UserWarning,),
    "MetricWarning": (UserWarning,),
    "DeprecationWarning": (UserWarning,),
    "EfficiencyWarning": (UserWarning,),
    "NonBLASDotWarning": (UserWarning,),
    "DataConversionWarning": (UserWarning,),
}


def test_exception_names_and_bases():
    assert sorted(exc_module.__all__) == sorted(MLENS_EXCEPTIONS)
    for name, bases in MLENS_EXCEPTIONS.items():
        cls = getattr(exc_module, name)
        for base in bases:
            assert issubclass(cls, base), (name, base)
    assert issubclass(exc_module.NonBLASDotWarning, exc_module.EfficiencyWarning)


def test_exceptions_are_mlcores_own():
    shared = set(core_exc.__all__) & set(MLENS_EXCEPTIONS)
    assert shared  # ML-Ensemble names that mlcore defines itself
    for name in shared:
        assert getattr(exc_module, name) is getattr(core_exc, name)
    with pytest.raises(exc_module.ParallelProcessingError):
        raise core_exc.ParallelProcessingError("x")


def test_warning_classes_shared_with_sklearn():
    sk = pytest.importorskip("sklearn.exceptions")
    assert exc_module.FitFailedWarning is sk.FitFailedWarning
    assert exc_module.DataConversionWarning is sk.DataConversionWarning
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warnings.warn("x", exc_module.DeprecationWarning)
    assert rec[0].category is exc_module.DeprecationWarning


###############################################################################
# dummy estimators

sklearn = pytest.importorskip("sklearn")


def test_ols_against_numpy_and_sklearn():
    from sklearn.linear_model import LinearRegression
    from mlcore.utils.dummy import OLS
    X = np.arange(24.0).reshape(12, 2)
    y = X[:, 0] * 3 - X[:, 1] * 0.5
    ols = OLS().fit(X, y)
    np.testing.assert_allclose(ols.coef_, [3.0, -0.5], atol=1e-10)
    # ML-Ensemble's test: fit on 6 rows, predict the next 6
    p = OLS().fit(X[:6], y[:6]).predict(X[6:])
    np.testing.assert_allclose(p, [29.5, 34.5, 39.5, 44.5, 49.5, 54.5])
    rng = np.random.default_rng(1)
    Z, t = rng.normal(size=(50, 4)), rng.normal(size=50)
    ref = LinearRegression(fit_intercept=False).fit(Z, t)
    ols = OLS().fit(Z, t)
    np.testing.assert_allclose(ols.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(ols.predict(Z), ref.predict(Z), rtol=1e-10)
    sol, resid = np.linalg.lstsq(Z, t, rcond=None)[:2]
    np.testing.assert_allclose(ols.resid_, resid)
    np.testing.assert_allclose(OLS(offset=2).fit(Z, t).coef_, sol + 2)
    T = np.column_stack([t, 2 * t])
    np.testing.assert_allclose(OLS().fit(Z, T).predict(Z),
                               LinearRegression(fit_intercept=False).fit(Z, T).predict(Z),
                               rtol=1e-10)


def test_scale_against_numpy():
    from mlcore.utils.dummy import Scale
    x = np.arange(6).reshape(3, 2)
    x[:, 1] *= 2
    np.testing.assert_array_equal(Scale().fit_transform(x),
                                  [[-2.0, -4.0], [0.0, 0.0], [2.0, 4.0]])
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(20, 3)), rng.normal(size=(5, 3))
    s = Scale(copy=False).fit(A)
    np.testing.assert_array_equal(s.transform(B), B - A.mean(axis=0))
    B0 = B.copy()
    s.transform(B)
    np.testing.assert_array_equal(B, B0)


def test_dummy_not_fitted_errors():
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from mlcore.utils.dummy import OLS, Scale
    X = np.zeros((3, 2))
    for call in (OLS().predict, Scale().transform):
        with pytest.raises(exc_module.NotFittedError):
            call(X)
        with pytest.raises(SkNotFitted):
            call(X)
    with pytest.raises(ValueError, match="features"):
        OLS().fit(X, np.zeros(3)).predict(np.zeros((3, 3)))


def test_dummy_estimators_pass_sklearn_checks():
    from sklearn.utils.estimator_checks import check_estimator
    from mlcore.utils.dummy import OLS, Scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(OLS())
        check_estimator(Scale())


def test_docstring_examples():
    import mlcore.utils.dummy as dummy_module
    for mod in (dummy_module, utils_module):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0
