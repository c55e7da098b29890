"""Tests of mlcore.preprocessing (Subset, Shift) against numpy/pandas
indexing and ML-Ensemble's documented behaviour."""
import doctest

import numpy as np
import pytest
import scipy.sparse as sp

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

import mlcore.preprocessing as prep_module  # noqa: E402
from mlcore.exceptions import NotFittedError  # noqa: E402
from mlcore.preprocessing import Shift, Subset  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 4))
DF = pd.DataFrame(X, columns=["a", "b", "c", "d"])


def test_subset_positions_on_array():
    for cols in ([0, 1], [3, 0], [2], [-1, 1]):
        out = Subset(cols).fit_transform(X)
        np.testing.assert_array_equal(out, X[:, cols])


def test_subset_none_returns_input_itself():
    # ML-Ensemble: an empty subset hands back X, not a copy
    for data in (X, DF):
        assert Subset().fit_transform(data) is data
        assert Subset(None).fit(data).transform(data, copy=True) is data


def test_subset_on_dataframe_by_label_and_position():
    out = Subset(["c", "a"]).fit_transform(DF)
    pd.testing.assert_frame_equal(out, DF.loc[:, ["c", "a"]])
    out = Subset([2, 0]).fit_transform(DF)
    pd.testing.assert_frame_equal(out, DF.iloc[:, [2, 0]])
    sub = Subset(["b"]).fit(DF)
    assert sub.is_df_ and sub.use_loc_
    sub = Subset([1]).fit(X)
    assert not sub.is_df_ and not sub.use_loc_


def test_subset_decides_by_transform_input():
    # fitted on a frame, applied to the array (and back) with positions
    sub = Subset([1, 3]).fit(DF)
    np.testing.assert_array_equal(sub.transform(X), X[:, [1, 3]])
    sub = Subset([1, 3]).fit(X)
    pd.testing.assert_frame_equal(sub.transform(DF), DF.iloc[:, [1, 3]])


def test_subset_sparse():
    S = sp.csr_matrix(X)
    out = Subset([0, 2]).fit_transform(S)
    assert sp.issparse(out)
    np.testing.assert_array_equal(out.toarray(), X[:, [0, 2]])


def test_subset_copy_does_not_touch_input():
    Z = X.copy()
    out = Subset([0]).fit(Z).transform(Z, copy=True)
    out[:] = 0
    np.testing.assert_array_equal(Z, X)


def test_subset_errors():
    with pytest.raises(NotFittedError):
        Subset([0]).transform(X)
    with pytest.raises(ValueError, match="DataFrame"):
        Subset(["a"]).fit(X).transform(X)
    with pytest.raises(ValueError, match="out of range"):
        Subset([4]).fit(X).transform(X)
    with pytest.raises(TypeError):
        Subset("a").fit(DF)
    with pytest.raises(TypeError):
        Subset([0.5]).fit(X)
    with pytest.raises(ValueError, match="2-D"):
        Subset([0]).fit(X).transform(X[:, 0])


def test_subset_in_pipeline_and_clone():
    y = X @ np.array([1.0, 2.0, 0.0, -1.0])
    pipe = make_pipeline(Subset([0, 1, 3]), LinearRegression()).fit(X, y)
    ref = LinearRegression().fit(X[:, [0, 1, 3]], y)
    np.testing.assert_allclose(pipe.predict(X), ref.predict(X[:, [0, 1, 3]]))
    c = clone(Subset([2, 1]))
    assert c.get_params() == {"subset": [2, 1]}


def test_shift_lags_rows():
    # ML-Ensemble's documented example
    Z = Shift(2).fit_transform(np.arange(10))
    np.testing.assert_array_equal(Z, np.arange(8))
    for s in (1, 3, 9):
        np.testing.assert_array_equal(Shift(s).fit(X).transform(X), X[:-s])
    np.testing.assert_array_equal(Shift(0).fit_transform(X), X)


def test_shift_lines_up_with_later_rows():
    y = np.arange(20.0) ** 2
    s = 3
    lagged = Shift(s).fit_transform(y)
    np.testing.assert_array_equal(lagged, y[np.arange(s, 20) - s])


def test_shift_pandas_and_sparse():
    pd.testing.assert_frame_equal(Shift(2).fit_transform(DF), DF.iloc[:-2])
    ser = pd.Series(np.arange(5.0), index=[10, 11, 12, 13, 14])
    pd.testing.assert_series_equal(Shift(1).fit_transform(ser), ser.iloc[:-1])
    S = sp.csr_matrix(X)
    np.testing.assert_array_equal(Shift(4).fit_transform(S).toarray(), X[:-4])


def test_shift_errors():
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="s must be"):
            Shift(bad).fit(X)
    with pytest.raises(ValueError, match="leaves no rows"):
        Shift(10).fit(X)
    with pytest.raises(ValueError, match="leaves no rows"):
        Shift(3).fit(X).transform(X[:3])


def test_docstring_examples():
    res = doctest.testmod(prep_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
