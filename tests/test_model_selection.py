"""Tests of mlcore.model_selection (Evaluator, Benchmark).

References are computed with plain scikit-learn loops over the same folds.
Process backends are slow to start on 2 cores: one loky case, n_jobs=2.
"""
import threading
import warnings

import numpy as np
import pytest
from scipy.stats import randint, uniform
from sklearn.base import BaseEstimator, TransformerMixin, RegressorMixin, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (get_scorer, make_scorer,
                             mean_squared_error)
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from mlcore.exceptions import LayerSpecificationError
from mlcore.layer import LearnerError
from mlcore.metrics import Data, rmse
from mlcore.model_selection import Benchmark, Evaluator, benchmark

N = 48
_rng = np.random.RandomState(0)
X = _rng.randn(N, 4)
Y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.5 * _rng.randn(N)
XC = _rng.randn(N, 3)
YC = (XC[:, 0] + 0.5 * _rng.randn(N) > 0).astype(int)

COLUMNS = ["test_score-m", "test_score-s", "train_score-m", "train_score-s",
           "fit_time-m", "fit_time-s", "pred_time-m", "pred_time-s", "params"]


def mse(y, p):
    return mean_squared_error(y, p)


def r2(y, p):
    y, p = np.asarray(y), np.asarray(p)
    return 1.0 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)


###############################################################################
# Helper estimators (module level)

_LOCK = threading.Lock()
FITS = []       # CountingScaler.fit calls
TRAIN_YS = []   # the training targets RecordingRegressor saw


class CountingScaler(TransformerMixin, BaseEstimator):
    """A StandardScaler that counts its fits."""

    def fit(self, X, y=None):
        with _LOCK:
            FITS.append(X.shape[0])
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-12
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean; records the training targets."""

    def fit(self, X, y):
        with _LOCK:
            TRAIN_YS.append(tuple(np.sort(np.asarray(y))))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


class Flaky(RegressorMixin, BaseEstimator):
    """Ridge that fails to fit when fail=True."""

    def __init__(self, fail=False, alpha=1.0):
        self.fail = fail
        self.alpha = alpha

    def fit(self, X, y):
        if self.fail:
            raise ValueError("boom")
        self.est_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.est_.predict(X)


class BadTransformer(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        raise RuntimeError("cannot fit")

    def transform(self, X):
        return X


###############################################################################
# References

def manual(est, params, X, y, splits, score, pre=None):
    """Per-fold (test, train) scores of est.set_params(**params), optionally
    after a preprocessing pipeline fitted on each training fold."""
    test, train = [], []
    for tr, te in splits:
        model = clone(est).set_params(**params)
        if pre is not None:
            model = make_pipeline(*[clone(p) for p in pre], model)
        model.fit(X[tr], y[tr])
        test.append(score(model, X[te], y[te]))
        train.append(score(model, X[tr], y[tr]))
    return test, train


def fn_score(f):
    return lambda model, X, y: f(y, model.predict(X))


def records(ev, name):
    return [r for r in ev.cv_results_ if r["name"] == name]


def check_against_manual(ev, ests, X, y, splits, score, pre=None):
    for name, est in ests.items():
        recs = records(ev, name)
        assert recs
        for rec in recs:
            test, train = manual(est, rec["params"], X, y, splits, score, pre)
            np.testing.assert_allclose(rec["test_score"], test, rtol=1e-10)
            np.testing.assert_allclose(rec["train_score"], train, rtol=1e-10)
            assert rec["test_score-m"] == pytest.approx(np.mean(test))
            assert rec["test_score-s"] == pytest.approx(np.std(test))


###############################################################################
# Scores against scikit-learn

@pytest.mark.parametrize("cv", [3, KFold(3)])
def test_scores_match_kfold_unshuffled(cv):
    ests = {"ridge": Ridge(), "dt": DecisionTreeRegressor(random_state=0)}
    ev = Evaluator(mse, cv=cv, shuffle=False, random_state=3,
                   backend="threading", n_jobs=2)
    ev.fit(X, Y, list(ests.items()),
           {"ridge": {"alpha": uniform(0.01, 10)},
            "dt": {"max_depth": randint(1, 6)}}, n_iter=3)
    splits = list(KFold(3).split(X))
    check_against_manual(ev, ests, X, Y, splits, fn_score(mse))
    assert list(ev.results["test_score-m"]) == ["ridge", "dt"]
    assert list(ev.results) == COLUMNS
    for name in ests:
        recs = records(ev, name)
        assert len(recs) == 3
        best = min(recs, key=lambda r: r["test_score-m"])  # mse: lower wins
        assert ev.best_params_[name] == best["params"]
        assert ev.results["params"][name] == best["params"]
        assert ev.results["test_score-m"][name] == best["test_score-m"]
        assert best["rank"] == 1
    assert ev.greater_is_better_ is False
    assert isinstance(ev.results, Data)


def test_scores_match_kfold_on_shuffled_permutation():
    rs = 11
    ev = Evaluator(r2, cv=4, shuffle=True, random_state=rs,
                   backend="threading", n_jobs=2)
    ev.fit(X, Y, [Ridge()], {"ridge": {"alpha": [0.1, 1.0, 10.0]}}, n_iter=2)
    perm = np.random.RandomState(rs).permutation(N)
    Xp, Yp = X[perm], Y[perm]
    splits = list(KFold(4).split(Xp))
    check_against_manual(ev, {"ridge": Ridge()}, Xp, Yp, splits, fn_score(r2))
    # and not the unshuffled folds
    rec = records(ev, "ridge")[0]
    unshuffled, _ = manual(Ridge(), rec["params"], X, Y,
                           list(KFold(4).split(X)), fn_score(r2))
    assert not np.allclose(rec["test_score"], unshuffled)
    assert ev.greater_is_better_ is True


def test_sklearn_splitters():
    # a shuffling KFold splitter on unshuffled rows
    cv = KFold(3, shuffle=True, random_state=5)
    ev = Evaluator(mse, cv=cv, shuffle=False, backend="threading", n_jobs=2)
    ev.fit(X, Y, [Ridge()])
    check_against_manual(ev, {"ridge": Ridge()}, X, Y, list(cv.split(X)),
                         fn_score(mse))
    # overlapping test sets (rejected by SplitterIndex for stacking) are fine
    cv = ShuffleSplit(4, test_size=0.3, random_state=2)
    ev = Evaluator(mse, cv=cv, shuffle=False, backend="threading", n_jobs=2)
    ev.fit(X, Y, [Ridge()])
    assert len(ev.cv_results_[0]["test_score"]) == 4
    check_against_manual(ev, {"ridge": Ridge()}, X, Y, list(cv.split(X)),
                         fn_score(mse))


def test_stratified_classification_with_scorer_name():
    cv = StratifiedKFold(3)
    ev = Evaluator("accuracy", cv=cv, shuffle=False, random_state=0,
                   backend="threading", n_jobs=2)
    ev.fit(XC, YC, [LogisticRegression()],
           {"logisticregression": {"C": uniform(0.01, 5)}}, n_iter=2)
    splits = list(cv.split(XC, YC))
    check_against_manual(ev, {"logisticregression": LogisticRegression()},
                         XC, YC, splits, get_scorer("accuracy"))


###############################################################################
# Scorers

def test_sklearn_scorer_object_and_plain_function_agree():
    kw = dict(cv=3, shuffle=True, random_state=4, backend="threading",
              n_jobs=2)
    fit = dict(estimators=[Ridge()],
               param_dicts={"ridge": {"alpha": uniform(0.01, 20)}}, n_iter=4)
    plain = Evaluator(mse, **kw).fit(X, Y, **fit)
    obj = Evaluator(make_scorer(mean_squared_error, greater_is_better=False),
                    **kw).fit(X, Y, **fit)
    named = Evaluator(get_scorer("neg_mean_squared_error"), **kw).fit(X, Y,
                                                                     **fit)
    for a, b in zip(plain.cv_results_, obj.cv_results_):
        assert a["params"] == b["params"]
        np.testing.assert_allclose(a["test_score"], -np.asarray(b["test_score"]))
        np.testing.assert_allclose(a["train_score"],
                                   -np.asarray(b["train_score"]))
    for a, b in zip(obj.cv_results_, named.cv_results_):
        assert a["test_score"] == b["test_score"]
    # both pick the draw with the lowest error
    assert plain.best_params_ == obj.best_params_ == named.best_params_
    assert obj.greater_is_better_ is True


def test_greater_is_better():
    ev = Evaluator(rmse, cv=3, random_state=0, backend="threading")
    ev.fit(X, Y, [Ridge()], {"ridge": {"alpha": [0.01, 1e4]}}, n_iter=4)
    assert ev.greater_is_better_ is False
    assert ev.best_params_["ridge"]["alpha"] == 0.01
    ev = Evaluator(rmse, cv=3, random_state=0, backend="threading",
                   greater_is_better=True)
    ev.fit(X, Y, [Ridge()], {"ridge": {"alpha": [0.01, 1e4]}}, n_iter=4)
    assert ev.best_params_["ridge"]["alpha"] == 1e4
    with pytest.raises(ValueError, match="greater is better"):
        Evaluator(get_scorer("r2"), greater_is_better=False).fit(
            X, Y, [Ridge()])
    with pytest.raises(TypeError, match="scorer"):
        Evaluator(3).fit(X, Y, [Ridge()])


def test_custom_metrics():
    ev = Evaluator(mse, cv=3, random_state=0, backend="threading",
                   metrics={"med": np.median, "max": np.max})
    ev.fit(X, Y, [Ridge()])
    row = ev.results.row("ridge")
    assert set(row) == {"%s-%s" % (f, s) for f in
                        ("test_score", "train_score", "fit_time", "pred_time")
                        for s in ("med", "max")} | {"params"}
    rec = ev.cv_results_[0]
    assert row["test_score-med"] == np.median(rec["test_score"])
    ev = Evaluator(mse, cv=3, backend="threading", metrics=[np.mean, np.std])
    ev.fit(X, Y, [Ridge()])
    assert list(ev.results) == COLUMNS


###############################################################################
# Preprocessing

def test_preprocessing_fitted_once_per_case_and_fold():
    del FITS[:]
    n_iter, k = 3, 3
    ev = Evaluator(mse, cv=k, shuffle=False, random_state=1,
                   backend="threading", n_jobs=2)
    ests = {"ridge": Ridge(), "dt": DecisionTreeRegressor(random_state=0)}
    ev.fit(X, Y, list(ests.items()),
           {"ridge": {"alpha": uniform(0.1, 5)},
            "dt": {"max_depth": [1, 2, 3]}}, n_iter=n_iter,
           preprocessing={"a": [CountingScaler()],
                          "b": [CountingScaler(), MinMaxScaler()]})
    n_cases = 2
    assert len(FITS) == n_cases * k  # not times n_estimators * n_iter
    assert sorted(FITS) == sorted([N - len(te) for _, te in
                                   KFold(k).split(X)] * n_cases)
    assert list(ev.results["test_score-m"]) == ["a.ridge", "a.dt", "b.ridge",
                                                "b.dt"]
    assert len(ev.cv_results_) == 4 * n_iter
    assert set(ev.preprocess_times_) == {"a", "b"}
    splits = list(KFold(k).split(X))
    for case, pre in (("a", [StandardScaler()]),
                      ("b", [StandardScaler(), MinMaxScaler()])):
        check_against_manual(
            ev, {"%s.%s" % (case, n): e for n, e in ests.items()}, X, Y,
            splits, fn_score(mse), pre=pre)


def test_dict_cases_and_named_estimators():
    ev = Evaluator(mse, cv=2, random_state=0, backend="threading", n_jobs=2)
    ev.fit(X, Y,
           {"sc": [("r1", Ridge()), ("r2", Ridge(alpha=10))],
            "mm": [Ridge()],
            None: [("raw", Ridge())]},
           param_dicts={"r1": {"alpha": [0.5, 5.0]},
                        "mm.ridge": {"alpha": uniform(0, 1)}},
           n_iter=2,
           preprocessing={"sc": [StandardScaler()], "mm": MinMaxScaler(),
                          "unused": [StandardScaler()]})
    assert list(ev.results["test_score-m"]) == ["sc.r1", "sc.r2", "mm.ridge",
                                                "raw"]
    assert len(records(ev, "sc.r1")) == 2
    assert len(records(ev, "sc.r2")) == 1      # no param dict: one draw
    assert records(ev, "sc.r2")[0]["params"] == {}
    assert len(records(ev, "mm.ridge")) == 2
    assert set(ev.preprocess_times_) == {"sc", "mm"}  # unused case not fit


def test_param_dict_precedence_and_list_preprocessing():
    ev = Evaluator(mse, cv=2, random_state=0, backend="threading")
    ev.fit(X, Y, [Ridge()],
           {"ridge": {"alpha": [1.0]}, "b.ridge": {"alpha": [2.0]}},
           n_iter=2, preprocessing={"a": [StandardScaler()],
                                    "b": [StandardScaler()]})
    assert {r["params"]["alpha"] for r in records(ev, "a.ridge")} == {1.0}
    assert {r["params"]["alpha"] for r in records(ev, "b.ridge")} == {2.0}
    ev = Evaluator(mse, cv=2, random_state=0, backend="threading")
    ev.fit(X, Y, [Ridge()], preprocessing=[StandardScaler()])
    assert list(ev.results["test_score-m"]) == ["pr.ridge"]


###############################################################################
# Reproducibility and shuffling

def _search(random_state, estimators=None):
    ev = Evaluator(mse, cv=3, random_state=random_state, backend="threading",
                   n_jobs=2)
    estimators = estimators or [Ridge()]
    dicts = {"ridge": {"alpha": uniform(0.01, 10),
                       "fit_intercept": [True, False]}}
    if len(estimators) > 1:
        dicts["dt"] = {"max_depth": randint(1, 8)}
    ev.fit(X, Y, estimators, dicts, n_iter=4)
    return ev


def test_draws_are_rvs_of_the_seed_per_parameter():
    # ML-Ensemble's draws: each parameter's n_iter values at once, from
    # rvs(size=n_iter, random_state=random_state)
    dists = {"alpha": uniform(0.01, 10), "tol": uniform(0, 1),
             "max_iter": randint(5, 50)}
    ev = Evaluator(mse, cv=2, random_state=5, backend="threading")
    ev.fit(X, Y, [Ridge()], {"ridge": dists}, n_iter=3)
    ref = {k: d.rvs(size=3, random_state=5) for k, d in dists.items()}
    assert ev.params_["ridge"] == [{k: ref[k][i].item() for k in dists}
                                   for i in range(3)]
    # a RandomState is drawn from parameter after parameter
    ev = Evaluator(mse, cv=2, random_state=np.random.RandomState(5),
                   backend="threading")
    ev.fit(X, Y, [Ridge()], {"ridge": dists}, n_iter=3)
    rng = np.random.RandomState(5)
    ref = {k: d.rvs(size=3, random_state=rng) for k, d in dists.items()}
    assert ev.params_["ridge"] == [{k: ref[k][i].item() for k in dists}
                                   for i in range(3)]


def test_named_preprocessing_steps():
    # (name, transformer) pairs, as ML-Ensemble took them
    kw = dict(cv=3, shuffle=False, backend="threading")
    named = Evaluator(mse, **kw).fit(
        X, Y, [Ridge()], n_iter=1,
        preprocessing={"sc": [("scale", StandardScaler()),
                              ("mm", MinMaxScaler())]})
    plain = Evaluator(mse, **kw).fit(
        X, Y, [Ridge()], n_iter=1,
        preprocessing={"sc": [StandardScaler(), MinMaxScaler()]})
    assert [r["test_score"] for r in named.cv_results_] == \
        [r["test_score"] for r in plain.cv_results_]


def test_param_sampling_reproducible():
    a, b, c = _search(7), _search(7), _search(8)
    assert a.params_ == b.params_
    assert [r["test_score"] for r in a.cv_results_] == \
        [r["test_score"] for r in b.cv_results_]
    assert a.params_ != c.params_
    # draws are Python scalars from the right spaces
    for p in a.params_["ridge"]:
        assert isinstance(p["alpha"], float) and 0.01 <= p["alpha"] <= 10.01
        assert p["fit_intercept"] in (True, False)
    # adding an estimator leaves another estimator's draws alone
    d = _search(7, [("dt", DecisionTreeRegressor(random_state=0)), Ridge()])
    assert d.params_["ridge"] == a.params_["ridge"]
    assert all(isinstance(p["max_depth"], int) for p in d.params_["dt"])
    # a RandomState instance works too
    _search(np.random.RandomState(0))


def _fold_targets(**kw):
    del TRAIN_YS[:]
    ev = Evaluator(mse, cv=3, backend="threading", n_jobs=2, **kw)
    ev.fit(X, Y, [RecordingRegressor()])
    return set(TRAIN_YS)


def test_shuffle_honoured():
    plain = _fold_targets(shuffle=False)
    expected = {tuple(np.sort(Y[tr])) for tr, _ in KFold(3).split(X)}
    assert plain == expected
    s1 = _fold_targets(shuffle=True, random_state=0)
    s1b = _fold_targets(shuffle=True, random_state=0)
    s2 = _fold_targets(shuffle=True, random_state=1)
    assert s1 != plain
    assert s1 == s1b            # reproducible
    assert s1 != s2
    perm = np.random.RandomState(0).permutation(N)
    assert s1 == {tuple(np.sort(Y[perm][tr])) for tr, _ in KFold(3).split(X)}
    # the default is shuffle=True
    assert Evaluator(mse).shuffle is True


###############################################################################
# Errors

def test_error_score_recorded_with_warning():
    ev = Evaluator(r2, cv=3, random_state=0, error_score=-1.0,
                   backend="threading", n_jobs=2)
    with pytest.warns(FitFailedWarning, match="flaky.*boom"):
        ev.fit(X, Y, [Flaky()], {"flaky": {"fail": [True, False]}}, n_iter=6)
    failed = [r for r in ev.cv_results_ if r["params"]["fail"]]
    ok = [r for r in ev.cv_results_ if not r["params"]["fail"]]
    assert failed and ok
    for r in failed:
        assert r["test_score"] == [-1.0] * 3 and r["train_score"] == [-1.0] * 3
        assert all("boom" in e for e in r["errors"])
        assert np.isnan(r["fit_time-m"])
    for r in ok:
        assert r["errors"] == [None] * 3
    assert ev.best_params_["flaky"]["fail"] is False


def test_error_score_nan_ranks_last():
    ev = Evaluator(mse, cv=2, random_state=0, error_score=np.nan,
                   backend="threading")
    with pytest.warns(FitFailedWarning):
        ev.fit(X, Y, [Flaky()], {"flaky": {"fail": [True, False]}}, n_iter=6)
    assert ev.best_params_["flaky"]["fail"] is False
    assert not np.isnan(ev.results["test_score-m"]["flaky"])


def test_error_raises_naming_estimator_draw_and_fold():
    ev = Evaluator(r2, cv=3, random_state=0, backend="threading", n_jobs=1)
    with pytest.raises(LearnerError) as info:
        ev.fit(X, Y, [("flk", Flaky())],
               {"flk": {"fail": [True], "alpha": [1.0, 2.0]}}, n_iter=2)
    msg = str(info.value)
    assert "'flk'" in msg and "draw 0" in msg and "fold 0" in msg
    assert "boom" in msg and "during fit" in msg
    assert isinstance(info.value.__cause__, ValueError)


def test_preprocessing_error():
    ev = Evaluator(r2, cv=2, random_state=0, backend="threading")
    with pytest.raises(LearnerError, match="preprocessing case 'bad'"):
        ev.fit(X, Y, [Ridge()], preprocessing={"bad": [BadTransformer()]})
    ev = Evaluator(r2, cv=2, random_state=0, backend="threading",
                   error_score=0.0)
    with pytest.warns(FitFailedWarning, match="cannot fit"):
        ev.fit(X, Y, [Ridge()], preprocessing={"bad": [BadTransformer()],
                                               "ok": [StandardScaler()]})
    assert ev.cv_results_[0]["test_score"] == [0.0, 0.0]
    assert ev.results["test_score-m"]["ok.ridge"] > 0.5


def test_specification_errors():
    ev = Evaluator(r2, backend="threading")
    with pytest.raises(ValueError, match="match no estimator"):
        ev.fit(X, Y, [Ridge()], {"lasso": {"alpha": [1]}})
    with pytest.raises(ValueError, match="invalid parameters"):
        ev.fit(X, Y, [Ridge()], {"ridge": {"alfa": [1]}})
    with pytest.raises(TypeError, match="distribution"):
        ev.fit(X, Y, [Ridge()], {"ridge": {"alpha": 1.0}})
    with pytest.raises(ValueError, match="n_iter"):
        ev.fit(X, Y, [Ridge()], n_iter=0)
    with pytest.raises(LayerSpecificationError, match="not defined"):
        ev.fit(X, Y, {"nope": [Ridge()]})
    with pytest.raises(LayerSpecificationError, match="duplicate"):
        ev.fit(X, Y, [Ridge(), ("ridge", Ridge())])
    with pytest.raises(LayerSpecificationError):
        ev.fit(X, Y, [("a.b", Ridge())])


###############################################################################
# Backends and Benchmark

def test_threading_and_loky_identical():
    kw = dict(cv=3, shuffle=True, random_state=5, n_jobs=2)
    fit = dict(estimators=[Ridge(), DecisionTreeRegressor(random_state=0)],
               param_dicts={"ridge": {"alpha": uniform(0.01, 5)},
                            "decisiontreeregressor": {"max_depth": [2, 4]}},
               n_iter=2, preprocessing={"sc": [StandardScaler()],
                                        "mm": [MinMaxScaler()]})
    a = Evaluator(mse, backend="threading", **kw).fit(X, Y, **fit)
    b = Evaluator(mse, backend="loky", **kw).fit(X, Y, **fit)
    c = Evaluator(mse, backend="sequential", **kw).fit(X, Y, **fit)
    for other in (b, c):
        assert list(a.results["params"]) == list(other.results["params"])
        assert a.best_params_ == other.best_params_
        for ra, rb in zip(a.cv_results_, other.cv_results_):
            assert ra["params"] == rb["params"]
            assert ra["test_score"] == rb["test_score"]
            assert ra["train_score"] == rb["train_score"]


def test_benchmark():
    bm = Benchmark(backend="threading", n_jobs=2).fit(
        X, Y, mse, 3, [Ridge(), DecisionTreeRegressor(random_state=0)],
        preprocessing={"sc": [StandardScaler()]})
    assert list(bm.results["params"]) == ["sc.ridge",
                                          "sc.decisiontreeregressor"]
    assert bm.results["params"]["sc.ridge"] == {}
    test, _ = manual(Ridge(), {}, X, Y, list(KFold(3).split(X)),
                     fn_score(mse), pre=[StandardScaler()])
    assert bm.results["test_score-m"]["sc.ridge"] == pytest.approx(
        np.mean(test))
    table = benchmark(X, Y, mse, 3, [Ridge()], backend="threading")
    test, _ = manual(Ridge(), {}, X, Y, list(KFold(3).split(X)), fn_score(mse))
    assert table["test_score-m"]["ridge"] == pytest.approx(np.mean(test))


###############################################################################
# The Evaluator's fits run on the same scheduler as a layer's

class Occupancy(RegressorMixin, BaseEstimator):
    """Fits ``inner`` after a short pause, recording the fitting thread, the
    BLAS thread limit it ran under and how many of these fits ran at once."""

    lock = threading.Lock()
    active = 0
    peak = 0
    seen = []

    def __init__(self, inner=None, pause=0.02):
        self.inner = inner
        self.pause = pause

    def fit(self, X, y):
        import time
        from threadpoolctl import threadpool_info
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            blas = [p["num_threads"] for p in threadpool_info()
                    if p["user_api"] == "blas"]
            cls.seen.append((threading.current_thread().name, blas))
            time.sleep(self.pause)  # gives overlapping fits time to meet
            self.model_ = clone(self.inner).fit(X, y)
        finally:
            with cls.lock:
                cls.active -= 1
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _occupancy_fit(inner, monkeypatch, X=X, Y=Y):
    from mlcore import _scheduler
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)  # use the workers
    Occupancy.active, Occupancy.peak, Occupancy.seen = 0, 0, []
    ev = Evaluator(mse, cv=4, shuffle=False, backend="threading", n_jobs=2)
    ev.fit(X, Y, [("occ", Occupancy(inner)), ("other", Occupancy(inner))])
    return ev


def test_evaluator_fits_run_on_the_mlcore_workers_with_blas_capped(
        monkeypatch):
    from joblib import cpu_count
    from threadpoolctl import threadpool_info
    wide = [p["num_threads"] for p in threadpool_info()
            if p["user_api"] == "blas"]
    ev = _occupancy_fit(Ridge(), monkeypatch)
    assert len(Occupancy.seen) == 2 * 4
    cap = max(1, cpu_count() // 2)
    for thread, blas in Occupancy.seen:
        assert thread.startswith("mlcore-worker")
        assert blas == [min(n, cap) for n in wide]
    test, _ = manual(Ridge(), {}, X, Y, list(KFold(4).split(X)),
                     fn_score(mse))
    rec = [r for r in ev.cv_results_ if r["name"] == "occ"][0]
    np.testing.assert_allclose(rec["test_score"], test, rtol=1e-12)


@pytest.mark.parametrize("copies", [True, False])
def test_evaluator_liblinear_fits_on_threads_are_reproducible(monkeypatch,
                                                              copies):
    from sklearn.svm import LinearSVR
    from mlcore import _native
    # seeded liblinear fits share one random generator per process: thread
    # workers fit them on private copies of liblinear, or (without copies)
    # never run two of them at once
    from sklearn.datasets import make_regression
    monkeypatch.setattr(_native, "enabled", copies)
    # fits of some length, stopped before they converge (max_iter): the
    # order of their random draws shows in the scores
    X, Y = make_regression(2000, 40, noise=5.0, random_state=0)
    est = LinearSVR(C=10.0, tol=1e-8, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's ConvergenceWarning
        ev = _occupancy_fit(est, monkeypatch, X, Y)
        test, _ = manual(est, {}, X, Y, list(KFold(4).split(X)),
                         fn_score(mse))
    assert len(Occupancy.seen) == 2 * 4
    if not copies:
        assert Occupancy.peak == 1
    for name in ("occ", "other"):
        np.testing.assert_array_equal(records(ev, name)[0]["test_score"],
                                      test)
