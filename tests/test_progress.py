"""The progress display of long fits (mlcore._progress): counts announced
before the fits run, the estimate of the time left and the throttle (an
injected clock, no real time), per-learner fit times matching the fitted
tables, every backend, the ensembles and the Evaluator."""
import io
import pickle
import re
import threading
from collections import namedtuple

import numpy as np
import pytest

from mlcore import _progress, _subtasks
from mlcore.ensemble import BlendEnsemble, SuperLearner, _data_names
from mlcore.model_selection import Evaluator

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

# The fields of a SubResult that the display reads.
Result = namedtuple("Result", "kind name partition fold fit_time")


def _learner(name, seconds, fold=0):
    return Result("learner", name, 0, fold, seconds)


class FakeClock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _plain(clock, interval=1.0, **kwargs):
    out = io.StringIO()
    return _progress.Progress("Ens", stream=out, use_tqdm=False,
                              interval=interval, clock=clock, **kwargs), out


def _returns(clock, advance, result):
    """A subtask that takes ``advance`` seconds of the fake clock."""
    def subtask():
        clock.now += advance
        return result
    return subtask, (), {}


def _run_here(progress, jobs):
    """Run a pool in this thread the way mlcore._subtasks.run does."""
    wrapped = _progress.wrap(jobs, progress)
    results = [f(*a, **k) for f, a, k in wrapped]
    _progress.settle(progress, results)
    return results


def test_lines_estimate_throttle_and_summary():
    clock = FakeClock()
    p, out = _plain(clock)
    p.start_layer("layer-1")
    p.expect(4)                      # counted before any runs
    _run_here(p, [
        _returns(clock, 2.0, _learner("a", 1.5)),   # 1/4 after 2 s: 6 s left
        _returns(clock, 0.5, _learner("b", 0.25)),  # within 1 s: no line
        _returns(clock, 1.5, _learner("a", 1.0, 1)),  # 3/4 after 4 s
        _returns(clock, 0.0, _learner("b", 0.25, 1))])
    p.start_layer("layer-2")         # finishes layer-1
    p.expect(1)
    _run_here(p, [_returns(clock, 1.0, _learner("m", 0.5))])
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "[mlcore] layer-1: 1/4 fits, 2.0 s elapsed, ~6.0 s left",
        "[mlcore] layer-1: 3/4 fits, 4.0 s elapsed, ~1.3 s left",
        "[mlcore] layer-1: 4/4 fits, 4.0 s elapsed, done",
    ]
    assert lines[3] == "[mlcore] layer-2: 1/1 fits, 1.0 s elapsed, done"
    assert lines[4] == "Ens: fit time per learner (all folds), 5.0 s in all"
    summary = [re.split(r"\s{2,}", line.strip()) for line in lines[5:]]
    assert summary == [["layer-1/a", "2.5 s", "2 fit(s)"],
                       ["layer-1/b", "0.5 s", "2 fit(s)"],
                       ["layer-2/m", "0.5 s", "1 fit(s)"]]
    assert p.fits[0] == _progress.Fit("layer-1", "a", (0, 0), 1.5)


def test_the_total_is_known_before_the_first_fit():
    # A layer runs its preprocessing pool, then its learner pool: the
    # estimate during the first pool counts both.
    clock = FakeClock()
    p, out = _plain(clock, interval=0.0)
    p.start_layer("layer-1")
    p.expect(6)
    _run_here(p, [_returns(clock, 1.0, Result("transformer", "sc", 0, 0,
                                              1.0))] * 2)
    assert out.getvalue().splitlines()[0] == \
        "[mlcore] layer-1: 1/6 fits, 1.0 s elapsed, ~5.0 s left"
    assert p.counts() == (2, 6)
    assert list(p.times()) == [("layer-1", "sc (preprocessing)")]


def test_no_summary_after_a_failed_fit():
    p, out = _plain(FakeClock())
    with pytest.raises(RuntimeError):
        with _progress.reporting(p):
            p.start_layer("layer-1")
            _run_here(p, [(lambda: _learner("a", 1.0), (), {})])
            raise RuntimeError("a learner failed")
    assert "[mlcore] layer-1: 1/1 fits" in out.getvalue()
    assert "fit time per learner" not in out.getvalue()


def test_nothing_is_shown_for_a_fit_without_results():
    p, out = _plain(FakeClock())
    p.close()
    assert out.getvalue() == ""


def test_a_copy_in_a_worker_process_reports_nothing():
    # What a process backend sees: the pickled subtask runs bare; joblib's
    # completion count moves the display; the results name the learners.
    clock = FakeClock()
    p, out = _plain(clock, interval=0.0)
    p.start_layer("layer-1")
    p.expect(2)
    jobs = _progress.wrap([(_learner, ("a", 1.0), {}),
                           (_learner, ("a", 2.0), {})], p)
    copies = pickle.loads(pickle.dumps(jobs))
    results = [f(*a, **k) for f, a, k in copies]
    assert p.counts() == (0, 2) and p.fits == []
    p._counted(p._pool, 1)           # joblib: one batch of one completed
    assert p.counts() == (1, 2)
    assert out.getvalue().splitlines() == [
        "[mlcore] layer-1: 1/2 fits, 0.0 s elapsed, ~0.0 s left"]
    _progress.settle(p, results)
    assert p.counts() == (2, 2)
    assert p.times() == {("layer-1", "a"): (3.0, 2)}


def test_reporting_is_per_thread_and_restores():
    p, _ = _plain(FakeClock())
    assert _progress.current() is None
    with _progress.reporting(p):
        assert _progress.current() is p
        seen = []
        t = threading.Thread(target=lambda: seen.append(_progress.current()))
        t.start()
        t.join()
        assert seen == [None]
    assert _progress.current() is None


def test_a_subtask_does_not_see_the_display_of_its_pool():
    # A learner that fits an ensemble of its own in the same thread must not
    # add that ensemble's fits to the outer layer.
    p, _ = _plain(FakeClock())
    seen = []
    with _progress.reporting(p):
        p.start_layer("layer-1")
        _run_here(p, [(lambda: seen.append(_progress.current()), (), {})])
        assert _progress.current() is p
    assert seen == [None]


def test_joblib_completions_move_the_count_before_the_pool_returns():
    joblib = pytest.importorskip("joblib")
    out = io.StringIO()
    p = _progress.Progress("P", stream=out, use_tqdm=False, interval=0.0,
                           describe=None)
    with _progress.reporting(p), \
            joblib.Parallel(n_jobs=2, backend="loky") as parallel:
        results = _subtasks.run(parallel, [(abs, (-i,), {})
                                           for i in range(6)])
    assert results == list(range(6))
    lines = out.getvalue().splitlines()
    counts = [tuple(map(int, m)) for m in
              re.findall(r"(\d+)/(\d+) fits", out.getvalue())]
    assert counts[-1] == (6, 6) and lines[-1].endswith("done")
    # joblib starts with batches of one: its first completion shows 1 of 6
    # while the others are still to come
    assert counts[0][0] < 6 and "left" in lines[0]
    assert [c for c, _ in counts] == sorted(c for c, _ in counts)


def _data():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 4)
    return X, X @ [1.0, -2.0, 0.5, 3.0] + rng.rand(120)


def _final_lines(text):
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"\[mlcore\] (\S+): (\d+)/(\d+) fits, "
                                 r"[^\n]*, done", text)}


def _summary_rows(text):
    return {name: (seconds, int(n)) for name, seconds, n in re.findall(
        r"^  (\S+(?: \(preprocessing\))?)\s+([\d.]+ s)\s+(\d+) fit\(s\)$",
        text, re.M)}


@pytest.fixture
def displays(monkeypatch):
    """The Progress objects the fits open (plain lines)."""
    opened = []

    class Recorded(_progress.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(_progress, "_tqdm", lambda: None)
    monkeypatch.setattr(_progress, "Progress", Recorded)
    return opened


def _check_ensemble(ens, err, display):
    final = _final_lines(err)
    for layer in ens.layers_:
        # every (learner x fold) fit, full refits included, and every
        # (preprocessing case x fold) fit
        n_fits = len(layer.estimators_) + len(layer.pipelines_)
        assert final[layer.name] == (n_fits, n_fits)
        assert display.counts(layer.name) == (n_fits, n_fits)
        # counted before the first fit ran: every line has the full total
        totals = re.findall(r"\[mlcore\] %s: \d+/(\d+) fits" % layer.name,
                            err)
        assert totals and set(totals) == {str(n_fits)}
    # each learner's fit times are the ones its layer recorded
    for layer in ens.layers_:
        for name, times in layer.fit_times_.items():
            seen = [f.seconds for f in display.fits
                    if (f.layer, f.name) == (layer.name, name)]
            assert sorted(seen) == sorted(times)
    rows = _summary_rows(err)
    frame = ens.data_frame()
    for layer in ens.layers_:
        for name, times in layer.fit_times_.items():
            key = "%s/%s" % (layer.name, name)
            n = len(times)
            assert rows[key] == (_progress._seconds(sum(times)), n)
            # the table's times: those of the fits that scored held-out rows
            scored = [r[3] for r in layer.fit_records_
                      if r[0] == name and r[5] is not None]
            row = (layer.name, _data_names(layer)[name])
            assert frame.loc[row, "ft-m"] == pytest.approx(np.mean(scored))


@pytest.mark.parametrize("backend", ["sequential", "threading", "loky",
                                     "multiprocessing"])
def test_ensemble_counts_every_fit_and_times_every_learner(
        backend, capsys, displays):
    X, y = _data()
    ens = SuperLearner(folds=3, verbose=True, backend=backend, n_jobs=2)
    ens.add({"sc": [Ridge()], "raw": [DecisionTreeRegressor(random_state=0)]},
            {"sc": [StandardScaler()], "raw": []})
    ens.add_meta(LinearRegression())
    ens.fit(X, y)
    captured = capsys.readouterr()
    out = captured.out  # ML-Ensemble's stream below verbose=10
    assert captured.err == ""
    assert len(displays) == 1
    _check_ensemble(ens, out, displays[0])
    assert "layer-1/sc (preprocessing)" in _summary_rows(out)


def test_dask_backend(capsys, displays):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    try:
        X, y = _data()
        ens = BlendEnsemble(test_size=0.4, verbose=True, backend="dask")
        ens.add([Ridge(), DecisionTreeRegressor(random_state=0)])
        ens.add_meta(LinearRegression())
        ens.fit(X, y)
    finally:
        client.close()
        cluster.close()
    _check_ensemble(ens, capsys.readouterr().out, displays[0])


@pytest.mark.parametrize("owner,level", [("ensemble", 10),
                                         ("Evaluator", 20)])
def test_verbose_stream_follows_mlens(capsys, owner, level):
    # ML-Ensemble printed to stdout, and to stderr from verbose=10 (its
    # ensembles) or verbose=20 (its Evaluator); so does mlcore
    X, y = _data()
    for verbose, stream in [(1, "out"), (level - 1, "out"), (level, "err")]:
        if owner == "ensemble":
            SuperLearner(folds=2, verbose=verbose, backend="threading").add(
                [Ridge()]).add_meta(LinearRegression()).fit(X, y)
        else:
            Evaluator("neg_mean_squared_error", cv=2, verbose=verbose,
                      backend="threading").fit(X, y, [Ridge()], n_iter=1)
        captured = capsys.readouterr()
        shown = getattr(captured, stream)
        other = captured.err if stream == "out" else captured.out
        assert "fit time per learner" in shown, (verbose, captured)
        assert "fit time per learner" not in other


def test_nothing_is_shown_without_verbose(capsys, displays):
    X, y = _data()
    SuperLearner(folds=2, backend="threading", n_jobs=2).add(
        [Ridge()]).add_meta(LinearRegression()).fit(X, y)
    ev = Evaluator("neg_mean_squared_error", cv=2, backend="threading")
    ev.fit(X, y, [Ridge()], n_iter=1)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert displays == []


def test_evaluator_shows_its_fits(capsys, displays):
    X, y = _data()
    ev = Evaluator("neg_mean_squared_error", cv=3, verbose=True,
                   backend="threading", n_jobs=2)
    ev.fit(X, y, [Ridge(), LinearRegression()], n_iter=1,
           preprocessing={"sc": [StandardScaler()]})
    captured = capsys.readouterr()
    assert captured.err == ""                 # all of it on stdout
    # 1 preprocessing case x 3 folds + 2 estimators x 3 folds
    assert _final_lines(captured.out)["Evaluator"] == (9, 9)
    rows = _summary_rows(captured.out)
    assert rows["Evaluator/sc (preprocessing)"][1] == 3
    by_name = {}
    for rec in ev.cv_results_:
        by_name.setdefault(rec["name"], []).extend(rec["fit_time"])
    assert sorted(by_name) == ["sc.linearregression", "sc.ridge"]
    for name, times in by_name.items():
        seen = [f.seconds for f in displays[0].fits if f.name == name]
        assert sorted(seen) == sorted(times)
        assert rows["Evaluator/" + name] == (
            _progress._seconds(sum(times)), 3)


def test_tqdm_bar_when_installed(capsys):
    pytest.importorskip("tqdm")
    X, y = _data()
    SuperLearner(folds=2, verbose=True, backend="threading", n_jobs=2).add(
        [Ridge()]).add_meta(LinearRegression()).fit(X, y)
    err = capsys.readouterr().out  # verbose < 10: stdout, as ML-Ensemble
    assert re.search(r"layer-1: 100%.*3/3", err), err
    assert re.search(r"layer-2: 100%.*3/3", err), err
    assert "fit time per learner" in err
    assert "[mlcore] layer-1:" not in err      # no plain lines as well
    # a bar never opens without its total
    assert not re.search(r"layer-\d: 0fit", err)


def test_use_tqdm_without_tqdm_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_progress, "_tqdm", lambda: None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        _progress.Progress("Ens", use_tqdm=True)
