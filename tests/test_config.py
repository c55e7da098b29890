"""mlcore.config: ML-Ensemble's settings functions (start method, ivals,
print_settings, clear_cache) and the checks of every setter."""
import inspect
import io
import multiprocessing
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from mlcore import config
from mlcore.backend import ParallelProcessing
from mlcore.ensemble import SuperLearner

from ._tasks import FoldTask


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    for var in ("BACKEND", "N_JOBS", "DTYPE", "START_METHOD", "IVALS",
                "PREFIX", "TMPDIR"):
        monkeypatch.delenv("MLCORE_" + var, raising=False)
    config.reset()
    yield
    config.reset()


###############################################################################
# Setters refuse what the engine cannot use, and say what they accept

@pytest.mark.parametrize("setter, bad, match", [
    (config.set_n_jobs, "2", "a str: pass int"),
    (config.set_n_jobs, 2.0, "must be an int"),
    (config.set_n_jobs, True, "must be an int"),
    (config.set_n_jobs, 0, "non-zero"),
    (config.set_dtype, "float16", "float32 or float64"),
    (config.set_dtype, np.longdouble, "float32 or float64"),
    (config.set_dtype, "int32", "floating dtype"),
    (config.set_backend, "nope", "Unknown backend"),
    (config.set_start_method, "thread", "start_method must be one of"),
])
def test_setters_refuse_bad_values(setter, bad, match):
    before = config.get_config()
    with pytest.raises(ValueError, match=match):
        setter(bad)
    assert config.get_config() == before  # nothing was set


def test_set_ivals_checks_and_has_no_other_effect():
    assert config.get_ivals() == (0.01, 120.0)  # ML-Ensemble's default
    config.set_ivals(0.5, 10)
    assert config.get_ivals() == (0.5, 10.0)
    for interval, limit in ((0, 1), (2, 1), ("a", 1), (None, 1)):
        with pytest.raises(ValueError, match="ivals"):
            config.set_ivals(interval, limit)
    assert config.get_ivals() == (0.5, 10.0)


def test_environment_is_text_read_as_the_setting(monkeypatch):
    monkeypatch.setenv("MLCORE_N_JOBS", "2")
    monkeypatch.setenv("MLCORE_IVALS", "0.25_30")
    monkeypatch.setenv("MLCORE_START_METHOD", "spawn")
    assert config.get_n_jobs() == 2
    assert config.get_ivals() == (0.25, 30.0)
    assert config.get_start_method() == "spawn"
    for var, value, match in (("MLCORE_N_JOBS", "2.0", "MLCORE_N_JOBS"),
                              ("MLCORE_DTYPE", "float16", "float32 or"),
                              ("MLCORE_IVALS", "1", "MLCORE_IVALS"),
                              ("MLCORE_START_METHOD", "x", "start_method")):
        monkeypatch.setenv(var, value)
        getter = {"MLCORE_N_JOBS": config.get_n_jobs,
                  "MLCORE_DTYPE": config.get_dtype,
                  "MLCORE_IVALS": config.get_ivals,
                  "MLCORE_START_METHOD": config.get_start_method}[var]
        with pytest.raises(ValueError, match=match):
            getter()
        monkeypatch.delenv(var)


def test_config_context_takes_the_new_settings():
    with config.config_context(start_method="spawn", ivals=(1, 2)):
        assert config.get_start_method() == "spawn"
        assert config.get_ivals() == (1.0, 2.0)
    assert config.get_ivals() == (0.01, 120.0)
    with pytest.raises(ValueError):
        with config.config_context(n_jobs="2"):
            pass


def test_signatures_are_mlens():
    """mlens.config's functions take these arguments."""
    expected = {"set_start_method": ["method"], "get_start_method": [],
                "set_ivals": ["interval", "limit"], "get_ivals": [],
                "print_settings": [], "clear_cache": ["tmp"],
                "set_backend": ["backend"], "set_dtype": ["dtype"],
                "set_prefix": ["prefix"], "set_tmpdir": ["tmpdir"]}
    for name, params in expected.items():
        got = list(inspect.signature(getattr(config, name)).parameters)
        assert got[:len(params)] == params, name


###############################################################################
# print_settings, start method

def test_print_settings_prints_the_current_values():
    config.set_backend("loky")
    config.set_n_jobs(3)
    config.set_start_method("spawn")
    out = io.StringIO()
    config.print_settings(file=out)
    line = out.getvalue()
    assert line.startswith("[mlcore] backend: loky | n_jobs: 3 | dtype: "
                           "float32 | start method: spawn | tmpdir: %s"
                           % config.get_tmpdir())
    assert line.count("\n") == 1


def test_default_start_method_is_the_platforms():
    assert config.get_start_method() == (
        multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_all_start_methods()[0])


# Set in this process only: a forked worker inherits it, a spawned one
# imports this module afresh and sees the initial value.
_MARK = {"value": "initial"}


class _Marker(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.mark_, self.pid_ = _MARK["value"], os.getpid()
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs the fork start method")
@pytest.mark.parametrize("method, mark", [("fork", "set in the driver"),
                                          ("spawn", "initial")])
def test_start_method_reaches_the_multiprocessing_backend(monkeypatch,
                                                          method, mark):
    monkeypatch.setitem(_MARK, "value", "set in the driver")
    config.set_start_method(method)
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 3), rng.rand(40)
    ens = SuperLearner(folds=2, backend="multiprocessing", n_jobs=2)
    ens.add([_Marker()]).fit(X, y)
    fits = list(ens.layer_1.estimators_.values())
    assert all(f.pid_ != os.getpid() for f in fits)  # ran in workers
    assert {f.mark_ for f in fits} == {mark}


###############################################################################
# clear_cache removes only what a killed process left behind

def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_processor_caches_are_named_after_their_process(tmp_path):
    config.set_tmpdir(tmp_path)
    with ParallelProcessing("loky", 2) as m:
        m.map([FoldTask("a")], "fit", np.ones((8, 2)), np.ones(8))
        (name,) = os.listdir(tmp_path)
        rest = name[len(config.get_prefix()):]
        assert config._cache_owner(rest) == (
            config.cache_tag().rsplit("-", 3)[0], os.getpid())
        assert config.clear_cache(tmp_path) == []  # this process runs
        assert os.listdir(tmp_path) == [name]
    assert os.listdir(tmp_path) == []


def test_clear_cache_removes_only_caches_of_dead_processes(tmp_path):
    prefix, host = config.get_prefix(), config.cache_tag().rsplit("-", 3)[0]
    dead = _dead_pid()
    made = {
        "dead": "%s%s-%d-abc" % (prefix, host, dead),
        "alive": "%s%s-%d-abc" % (prefix, host, os.getpid()),
        "other host": "%sother.host-%d-abc" % (prefix, dead),
        "untagged": "%sabc_12" % prefix,
        "no prefix": "data-%s-%d-abc" % (host, dead),
    }
    for name in made.values():
        os.mkdir(tmp_path / name)
        (tmp_path / name / "P.npy").write_bytes(b"x")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    link = tmp_path / ("%s%s-%d-lnk" % (prefix, host, dead))
    link.symlink_to(target)
    out = io.StringIO()
    removed = config.clear_cache(tmp_path, file=out)
    assert removed == [str(tmp_path / made["dead"])]
    assert "removed 1 cache(s)" in out.getvalue()
    left = set(os.listdir(tmp_path))
    assert left == {n for k, n in made.items() if k != "dead"} | {
        "target", link.name}
    assert (target / "keep.txt").read_text() == "mine"
    # nothing more to remove, and nothing printed
    out = io.StringIO()
    assert config.clear_cache(tmp_path, file=out) == []
    assert out.getvalue() == ""


def test_cache_tag_names_this_host_and_process():
    tag = config.cache_tag()
    assert tag.endswith("-%d-" % os.getpid())
    assert os.sep not in tag
    assert config._cache_owner(tag + "xyz") == (
        tag[:-len("-%d-" % os.getpid())], os.getpid())
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64]
    assert tag == "%s-%d-" % (host, os.getpid())
