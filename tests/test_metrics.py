"""mlcore.metrics: ML-Ensemble's score functions, make_scorer and result
tables (Data, assemble_data, assemble_table), against numpy / scikit-learn."""
import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (log_loss, mean_absolute_percentage_error,
                             mean_squared_error, roc_auc_score)

from mlcore import metrics
from mlcore.metrics import (Data, assemble_data, assemble_table, make_scorer,
                            mape, rmse, wape)

RNG = np.random.RandomState(0)
Y = RNG.uniform(1, 5, 60)
P = Y + RNG.randn(60)


def test_error_measures_against_scikit_learn_and_their_formulas():
    assert rmse(Y, P) == pytest.approx(np.sqrt(mean_squared_error(Y, P)),
                                       rel=1e-14)
    assert mape(Y, P) == pytest.approx(
        mean_absolute_percentage_error(Y, P), rel=1e-14)
    assert wape(Y, P) == np.sum(np.abs(Y - P)) / np.sum(np.abs(Y))
    # a column vector is one value per row, as a 1-D array
    assert rmse(Y[:, None], P) == rmse(Y, P)
    # ML-Ensemble's submodule path holds the same functions
    from mlcore.metrics.metrics import mape as m2, rmse as r2, wape as w2
    assert (r2, m2, w2) == (rmse, mape, wape)
    assert metrics.metrics.rmse is rmse


def test_error_measures_refuse_mismatched_input():
    for fn in (rmse, mape, wape):
        with pytest.raises(ValueError, match="same shape"):
            fn(Y, P[:-1])
        with pytest.raises(ValueError, match="empty"):
            fn([], [])
    with np.errstate(all="raise"):  # a zero target is inf, not an error
        assert mape([0.0, 1.0], [1.0, 1.0]) == np.inf


def test_make_scorer_is_scikit_learns_scorer():
    rng = np.random.RandomState(1)
    X = rng.randn(80, 3)
    y = X @ [1.0, -2.0, 0.5] + rng.randn(80)
    est = Ridge().fit(X, y)
    loss = make_scorer(rmse, greater_is_better=False)
    assert loss(est, X, y) == -rmse(y, est.predict(X))
    assert make_scorer(rmse)(est, X, y) == rmse(y, est.predict(X))
    labels = (y > 0).astype(int)
    clf = LogisticRegression().fit(X, labels)
    proba = make_scorer(log_loss, greater_is_better=False, needs_proba=True)
    assert proba(clf, X, labels) == pytest.approx(
        -log_loss(labels, clf.predict_proba(X)), rel=1e-14)
    auc = make_scorer(roc_auc_score, needs_threshold=True)
    assert auc(clf, X, labels) == roc_auc_score(labels,
                                                clf.decision_function(X))
    # kwargs reach the function; the scorer pickles (ML-Ensemble's reason
    # for shipping its own make_scorer)
    weighted = make_scorer(mean_squared_error, sample_weight=np.ones(80))
    again = pickle.loads(pickle.dumps(weighted))
    assert again(est, X, y) == mean_squared_error(y, est.predict(X))
    with pytest.raises(ValueError, match="at most one"):
        make_scorer(rmse, needs_proba=True, needs_threshold=True)
    with pytest.raises(TypeError, match="score_func"):
        make_scorer("rmse")


###############################################################################
# Tables

def test_assemble_data_means_and_deviations_per_row():
    entries = [("layer-1/ridge.0.1", {"score": 1.0, "ft": 0.1, "pt": None}),
               ("layer-1/ridge.0.2", {"score": 3.0, "ft": 0.3, "pt": None}),
               ("layer-1/sc.knn.0.1", {"score": 2.0, "ft": None, "pt": 0.5}),
               ("layer-1/sc.knn.0.2", {"score": 2.5, "ft": 0.2, "pt": 0.7}),
               ("layer-1/empty.0.1", {})]
    data = assemble_data(entries)
    assert list(data) == ["score-m", "score-s", "ft-m", "ft-s", "pt-m",
                          "pt-s"]
    assert list(data["score-m"]) == ["layer-1/ridge", "layer-1/sc.knn"]
    assert data["score-m"]["layer-1/ridge"] == np.mean([1.0, 3.0])
    assert data["score-s"]["layer-1/ridge"] == np.std([1.0, 3.0])
    assert data["ft-m"]["layer-1/sc.knn"] == 0.2   # None left out
    assert data["pt-m"]["layer-1/ridge"] is None   # no value at all
    assert data["pt-s"]["layer-1/sc.knn"] == pytest.approx(np.std([0.5,
                                                                    0.7]))
    # a column without any value is left out
    assert list(assemble_data([("a.0.1", {"x": 1.0, "y": None})])) == [
        "x-m", "x-s"]


def test_assemble_data_keeps_partitions_apart():
    entries = [("layer-1/ridge.%d.%d" % (p, f), {"score": 10.0 * p + f})
               for p in (0, 1) for f in (1, 2)]
    data = assemble_data(entries + [("layer-2/ols.0.1", {"score": 5.0})])
    assert list(data["score-m"]) == ["layer-1/ridge--0", "layer-1/ridge--1",
                                     "layer-2/ols--0"]
    assert data["score-m"]["layer-1/ridge--1"] == 11.5


def test_data_prints_mlens_two_level_rows():
    # the example of ML-Ensemble's Data docstring (with its row, fixed)
    d = [("row-idx-1.row-idx-2.0.0", {"column-1": 0.1, "column-2": 0.1})]
    data = Data(d)
    assert list(data) == ["column-1-m", "column-1-s", "column-2-m",
                          "column-2-s"]
    lines = repr(data).splitlines()
    assert lines[0].split() == list(data)
    assert lines[1].split() == ["row-idx-1", "row-idx-2", "0.10", "0.00",
                                "0.10", "0.00"]
    assert str(data) == repr(data)


def test_assemble_table_layout():
    data = {"score-m": {"layer-10/a": 1.0, "layer-2/b": 0.123456,
                        "layer-2/sc.c--1": None},
            "params": {"layer-10/a": {"alpha": 1}, "layer-2/b": {}}}
    lines = assemble_table(data, padding=3, decimals=3).splitlines()
    assert lines[0].split() == ["score-m", "params"]
    rows = [ln.split() for ln in lines[1:]]
    # sorted with numbers as numbers; every part of the names a column
    assert rows == [["layer-2", "b", "0.123"],
                    ["layer-2", "sc", "c", "1"],
                    ["layer-10", "a", "1.000", "{'alpha':", "1}"]]
    # columns line up: each value ends where its header ends
    end = lines[0].index("score-m") + len("score-m")
    assert lines[1][:end].endswith("0.123")
    assert lines[2][end - 7:end].strip() == ""  # None prints blank
    assert "   " in lines[0] and assemble_table({}) == "(empty)"


def test_data_reads_and_pickles():
    data = Data([("layer-1/ridge.0.1", {"score": 0.5}),
                 ("layer-1/ridge.0.2", {"score": 0.7})], decimals=4)
    assert data.rows() == ["layer-1/ridge"]
    assert data.row("layer-1/ridge") == {"score-m": pytest.approx(0.6),
                                         "score-s": pytest.approx(0.1)}
    with pytest.raises(KeyError, match="is a row, not a column"):
        data["layer-1/ridge"]
    with pytest.raises(KeyError, match="no row"):
        data.row("layer-2/ols")
    again = pickle.loads(pickle.dumps(data))
    assert again == data and again.decimals == 4
    assert "0.6000" in repr(again)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(data.to_frame(), pd.DataFrame(data),
                                  check_index_type=False)
