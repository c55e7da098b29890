"""The progress display of long fits (mlcore._progress): counts, the
estimate of the time left, the throttle (an injected clock, no real time),
per-learner fit times, and the ensembles and the Evaluator using it."""
import io
import pickle
import re
from collections import namedtuple

import numpy as np
import pytest

from mlcore import _progress
from mlcore.ensemble import SuperLearner
from mlcore.model_selection import Evaluator

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

Result = namedtuple("Result", "name fit_time")


class FakeClock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _plain(clock, interval=1.0):
    out = io.StringIO()
    return _progress.Progress("Ens", stream=out, use_tqdm=False,
                              interval=interval, clock=clock), out


def test_lines_estimate_throttle_and_summary():
    clock = FakeClock()
    p, out = _plain(clock)
    p.start_layer("layer-1")
    p.add(4)
    clock.now += 2.0
    p.done(Result("a", 1.5))         # 1 of 4 after 2 s: 6 s left
    clock.now += 0.5
    p.done(Result("b", 0.25))        # within the 1 s interval: no line
    clock.now += 1.5
    p.done(Result("a", 1.0))         # 3 of 4 after 4 s: 1.3 s left
    p.done(Result("b", 0.25))
    p.start_layer("layer-2")         # finishes layer-1
    p.add(1)
    clock.now += 1.0
    p.done(Result("m", 0.5))
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "[mlcore] layer-1: 1/4 fits, 2.0 s elapsed, ~6.0 s left",
        "[mlcore] layer-1: 3/4 fits, 4.0 s elapsed, ~1.3 s left",
        "[mlcore] layer-1: 4/4 fits, 4.0 s elapsed, done",
    ]
    assert lines[3] == "[mlcore] layer-2: 1/1 fits, 1.0 s elapsed"
    assert lines[4] == "[mlcore] layer-2: 1/1 fits, 1.0 s elapsed, done"
    assert lines[5] == "Ens: fit time per learner (all folds), 5.0 s in all"
    summary = [re.split(r"\s{2,}", l.strip()) for l in lines[6:]]
    assert summary == [["layer-1/a", "2.5 s", "2 fit(s)"],
                       ["layer-1/b", "0.5 s", "2 fit(s)"],
                       ["layer-2/m", "0.5 s", "1 fit(s)"]]


def test_no_summary_after_a_failed_fit():
    clock = FakeClock()
    p, out = _plain(clock)
    p.start_layer("layer-1")
    p.add(2)
    p.done(Result("a", 1.0))
    p.close(failed=True)
    assert "fit time per learner" not in out.getvalue()


def test_a_copy_in_a_worker_process_reports_nothing():
    clock = FakeClock()
    p, out = _plain(clock)
    p.start_layer("layer-1")
    p.add(2)
    copy = pickle.loads(pickle.dumps(p))
    assert not copy.local()
    copy.done(Result("a", 1.0))      # no stream, no lock, no effect
    assert p.layers["layer-1"][:2] == [0, 2]
    # the pool's return reports what its workers could not
    _progress.settle(p, [Result("a", 1.0), Result("a", 2.0)])
    assert p.layers["layer-1"][:2] == [2, 2]
    assert p.times[("layer-1", "a")] == [3.0, 2]


def test_reporting_is_per_thread_and_restores():
    p, _ = _plain(FakeClock())
    assert _progress.current() is None
    with _progress.reporting(p):
        assert _progress.current() is p
        import threading
        seen = []
        t = threading.Thread(target=lambda: seen.append(_progress.current()))
        t.start()
        t.join()
        assert seen == [None]
    assert _progress.current() is None


def _data():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 4)
    return X, X @ [1.0, -2.0, 0.5, 3.0] + rng.rand(120)


def _final_lines(text):
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"\[mlcore\] (\S+): (\d+)/(\d+) fits, "
                                 r"[^\n]*, done", text)}


@pytest.mark.parametrize("backend", ["sequential", "threading", "loky"])
def test_ensemble_counts_every_fit_and_times_every_learner(
        backend, capsys, monkeypatch):
    monkeypatch.setattr(_progress, "_tqdm", lambda: None)  # plain lines
    X, y = _data()
    ens = SuperLearner(folds=3, verbose=True, backend=backend, n_jobs=2)
    ens.add([Ridge(), DecisionTreeRegressor(random_state=0)])
    ens.add_meta(LinearRegression())
    ens.fit(X, y)
    err = capsys.readouterr().err
    final = _final_lines(err)
    for layer in ens.layers_:
        n_fits = len(layer.estimators_)       # folds and full fits
        assert final[layer.name] == (n_fits, n_fits)
    rows = dict(re.findall(r"^  (\S+)\s+[\d.]+ s\s+(\d+) fit\(s\)$", err,
                           re.M))
    expected = {"%s/%s" % (layer.name, name): str(len(times))
                for layer in ens.layers_
                for name, times in layer.fit_times_.items()}
    assert rows == expected


def test_nothing_is_shown_without_verbose(capsys):
    X, y = _data()
    SuperLearner(folds=2, backend="threading", n_jobs=2).add(
        [Ridge()]).add_meta(LinearRegression()).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_evaluator_shows_its_fits(capsys, monkeypatch):
    monkeypatch.setattr(_progress, "_tqdm", lambda: None)
    X, y = _data()
    ev = Evaluator("neg_mean_squared_error", cv=3, verbose=True,
                   backend="threading", n_jobs=2)
    ev.fit(X, y, [Ridge(), LinearRegression()], n_iter=1)
    err = capsys.readouterr().err
    final = _final_lines(err)
    done, total = final["Evaluator"]
    assert done == total and total >= 6   # 2 estimators x 3 folds


def test_tqdm_bar_when_installed(capsys):
    pytest.importorskip("tqdm")
    X, y = _data()
    SuperLearner(folds=2, verbose=True, backend="threading", n_jobs=2).add(
        [Ridge()]).add_meta(LinearRegression()).fit(X, y)
    err = capsys.readouterr().err
    assert re.search(r"layer-1: 100%.*3/3", err), err
    assert "fit time per learner" in err
