"""Tests of mlcore.index: row semantics of every indexer, error handling,
pickling/copying and the scikit-learn splitter adapter."""
import copy
import doctest
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import mlcore.index as index_module
from mlcore.exceptions import NotFittedError
from mlcore.index import (INDEXERS, BaseIndex, BlendIndex, ClusteredSubsetIndex,
                          FoldIndex, FullIndex, Split, SplitterIndex,
                          SubsetIndex, TemporalIndex, as_rows, check_index,
                          make_index, rows_len)

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.model_selection import (GroupKFold, KFold, RepeatedKFold,  # noqa: E402
                                     ShuffleSplit, StratifiedKFold,
                                     TimeSeriesSplit)


###############################################################################
# Helpers

def rowset(rows, n):
    return as_rows(rows, n).tolist()


def check_row_format(idx):
    """Every rows object is a slice iff contiguous, else a sorted, read-only,
    C-contiguous int64 array; slices have explicit int bounds and no step."""
    n = idx._n_fit_samples
    for s in idx.generate():
        assert isinstance(s, Split)
        assert 0 <= s.partition < idx.partitions
        assert s.fold >= 0
        for rows in (s.train, s.test):
            if rows is None:
                continue
            if isinstance(rows, slice):
                assert type(rows.start) is int and type(rows.stop) is int
                assert rows.step is None
                assert 0 <= rows.start < rows.stop <= n
            else:
                assert isinstance(rows, np.ndarray)
                assert rows.dtype == np.int64 and rows.ndim == 1
                assert rows.flags.c_contiguous and not rows.flags.writeable
                assert rows.size > 1
                d = np.diff(rows)
                assert (d >= 0).all()
                assert not (d == 1).all(), "contiguous rows must be a slice"
                assert rows[0] >= 0 and rows[-1] < n
        assert rows_len(s.train) > 0


def write_counts(idx):
    """Simulate the layer's fit-time writes: count writes per P cell."""
    n = idx._n_fit_samples
    counts = np.zeros((idx.n_test_samples, idx.partitions), dtype=int)
    for s in idx.fold_fits():
        rows = as_rows(s.test, n) - idx.row_offset
        assert rows.min() >= 0 and rows.max() < idx.n_test_samples
        np.add.at(counts, (rows, s.partition), 1)
    return counts


def check_protocol(idx):
    """Invariants every fitted indexer must satisfy."""
    assert idx.__fitted__
    check_row_format(idx)
    assert idx.row_offset + idx.n_test_samples <= idx.n_samples
    assert (write_counts(idx) == 1).all()
    full = idx.full_fits()
    assert sorted(s.partition for s in full) == list(range(idx.partitions))
    folds = [s for s in idx.generate() if s.fold >= 1]
    # n_splits=1 (folds, its ML-Ensemble name, is 1) makes no fold fit
    n_folds = 0 if getattr(idx, "n_splits", None) == 1 else idx.folds
    assert len(folds) == idx.partitions * n_folds
    for s in idx.fold_fits():
        if s.fold >= 1:  # out of sample
            assert not set(rowset(s.train, idx.n_samples)) & set(
                rowset(s.test, idx.n_samples))


class CountingSplitter:
    """Wraps a splitter and counts calls of split."""

    def __init__(self, cv):
        self.cv = cv
        self.calls = 0

    def split(self, X, y=None, groups=None):
        self.calls += 1
        return self.cv.split(X, y, groups)

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.cv.get_n_splits(X, y, groups)


class FixedSplitter:
    """A splitter returning given (train, test) pairs."""

    def __init__(self, pairs):
        self.pairs = pairs

    def split(self, X, y=None, groups=None):
        return iter(self.pairs)


###############################################################################
# Row helpers

def test_as_rows_and_rows_len():
    assert as_rows(slice(2, 5)).tolist() == [2, 3, 4]
    assert as_rows(slice(None, None), 3).tolist() == [0, 1, 2]
    assert as_rows(slice(-2, None), 5).tolist() == [3, 4]
    assert as_rows(None).dtype == np.int64 and as_rows(None).size == 0
    a = np.array([1, 4], dtype=np.int64)
    assert as_rows(a) is a
    assert as_rows([3, 1]).dtype == np.int64
    assert rows_len(slice(2, 5)) == 3
    assert rows_len(slice(0, 10, 3)) == 4
    assert rows_len(slice(None, None), 7) == 7
    assert rows_len(None) == 0
    assert rows_len(a) == 2
    with pytest.raises(ValueError):
        rows_len(slice(None, 3))
    with pytest.raises(ValueError):
        as_rows(slice(-1, None))


###############################################################################
# FoldIndex

def test_fold_index_matches_kfold():
    for n in range(2, 41):
        for k in range(2, min(n, 10) + 1):
            idx = FoldIndex(k).fit(np.zeros((n, 1)))
            ref = list(KFold(k).split(np.zeros(n)))
            folds = [s for s in idx.generate() if s.fold >= 1]
            assert [s.fold for s in folds] == list(range(1, k + 1))
            for s, (tr, te) in zip(folds, ref):
                assert rowset(s.train, n) == tr.tolist()
                assert rowset(s.test, n) == te.tolist()
                assert isinstance(s.test, slice)
            assert idx.full_fits() == [Split(0, 0, slice(0, n), None)]
            assert (idx.n_samples, idx.n_test_samples, idx.row_offset) == (n, n, 0)
            assert (idx.partitions, idx.folds) == (1, k)
            check_protocol(idx)


@given(n=st.integers(2, 500), k=st.integers(2, 30))
def test_fold_index_property(n, k):
    if k > n:
        with pytest.raises(ValueError, match="folds"):
            FoldIndex(k).fit(np.zeros(n))
        return
    idx = FoldIndex(k).fit(np.zeros(n))
    check_protocol(idx)
    sizes = [rows_len(s.test) for s in idx.fold_fits()]
    assert sizes == [len(te) for _, te in KFold(k).split(np.zeros(n))]


def test_fold_index_first_and_last_train_are_slices():
    s = FoldIndex(3).fit(np.zeros(9)).generate()
    assert s[1].train == slice(3, 9) and s[3].train == slice(0, 6)
    assert s[2].train.tolist() == [0, 1, 2, 6, 7, 8]


@pytest.mark.parametrize("k", [1, 0, -1, 2.0, "2", True, None])
def test_fold_index_bad_n_splits(k):
    with pytest.raises(ValueError):
        FoldIndex(k).fit(np.zeros(5))


def test_fold_index_too_many_folds():
    with pytest.raises(ValueError, match="n_splits=6 folds from 5 rows"):
        FoldIndex(6).fit(np.zeros(5))


def test_fold_index_one_split_degrades_with_warning():
    idx = FoldIndex(1, raise_on_exception=False)
    with pytest.warns(UserWarning, match="in-sample"):
        idx.fit(np.zeros(4))
    assert idx.generate() == [Split(0, 0, slice(0, 4), slice(0, 4))]
    assert idx.folds == 1  # ML-Ensemble's name of n_splits
    check_protocol(idx)
    with pytest.raises(ValueError):
        FoldIndex(0, raise_on_exception=False).fit(np.zeros(4))


def test_input_kinds():
    n = 12
    for X in (np.zeros((n, 3)), sp.random(n, 3, density=0.3, format="csr"),
              sp.random(n, 3, density=0.3, format="coo"), [[0.0]] * n,
              np.zeros((3, n)).T):
        idx = FoldIndex(3).fit(X)
        assert idx.n_samples == n
    for bad in (None, 3.0, "abc"):
        with pytest.raises(TypeError):
            FoldIndex(2).fit(bad)
    with pytest.raises(ValueError, match="no rows"):
        FullIndex().fit(np.zeros((0, 2)))


###############################################################################
# BlendIndex

def test_blend_index_default():
    # ML-Ensemble's splits: the train part predicts the test part at fit
    # time, a fit on all rows predicts new data.
    idx = BlendIndex().fit(np.zeros(10))
    assert idx.generate() == [Split(0, 0, slice(0, 10), None),
                              Split(0, 1, slice(0, 5), slice(5, 10))]
    assert (idx.n_test_samples, idx.row_offset, idx.n_train, idx.n_test) == (5, 5, 5, 5)
    assert idx.full_fits() == idx.generate()[:1]
    assert idx.fold_fits() == idx.generate()[1:]
    assert (idx.partitions, idx.folds) == (1, 1)
    check_protocol(idx)


def test_blend_index_no_refit():
    idx = BlendIndex(refit=False).fit(np.zeros(10))
    assert idx.generate() == [Split(0, 0, slice(0, 5), slice(5, 10))]
    assert (idx.n_test_samples, idx.row_offset, idx.n_train, idx.n_test) == (5, 5, 5, 5)
    assert idx.full_fits() == idx.fold_fits() == idx.generate()
    assert (idx.partitions, idx.folds) == (1, 0)
    check_protocol(idx)
    assert "refit=False" in repr(idx) and "refit" not in repr(BlendIndex())


def test_blend_index_partial_fixes_wart_14():
    # ML-Ensemble put the output at r = n - n_test = 7; the test rows are 5..7.
    idx = BlendIndex(test_size=3, train_size=5).fit(np.zeros((10, 2)))
    assert idx.generate() == [Split(0, 0, slice(0, 10), None),
                              Split(0, 1, slice(0, 5), slice(5, 8))]
    assert idx.n_test_samples == 3 and idx.row_offset == 5
    check_protocol(idx)


@pytest.mark.parametrize("n,test,train,exp_train,exp_test", [
    (11, 0.5, None, 6, 5),       # floor(5.5) = 5 test rows
    (10, 0.3, None, 7, 3),
    (10, 0.2, 0.5, 5, 2),
    (10, 4, None, 6, 4),
    (10, 4, 6, 6, 4),
    (100, 0.25, 0.5, 50, 25),
    (3, 1, 1, 1, 1),
])
@pytest.mark.parametrize("refit", [True, False])
def test_blend_index_sizes(n, test, train, exp_train, exp_test, refit):
    idx = BlendIndex(test, train, refit=refit).fit(np.zeros(n))
    (s,) = idx.fold_fits()
    assert s.train == slice(0, exp_train)
    assert s.test == slice(exp_train, exp_train + exp_test)
    assert idx.row_offset == exp_train and idx.n_test_samples == exp_test
    (full,) = idx.full_fits()
    assert full.train == (slice(0, n) if refit else s.train)
    check_protocol(idx)


@pytest.mark.parametrize("test,train", [
    (0, None), (0.0, None), (1.0, None), (1.5, None), (-1, None), (10, None),
    (11, None), (5, 6), (0.6, 0.5), (0.05, None), (0.5, 0), (0.5, 0.01),
    ("0.5", None), (True, None), (0.5, "all"), (None, None),
])
def test_blend_index_bad_sizes(test, train):
    with pytest.raises(ValueError):
        BlendIndex(test, train).fit(np.zeros(10))


###############################################################################
# SubsetIndex

def test_subset_index_layout():
    idx = SubsetIndex(partitions=2, n_splits=3).fit(np.zeros(13))
    # partitions like KFold(2) over 13 rows: [0, 7) and [7, 13)
    full = idx.full_fits()
    assert [s.train for s in full] == [slice(0, 7), slice(7, 13)]
    s = {(x.partition, x.fold): x for x in idx.generate()}
    # fold 1: rows 0..2 of partition 0 and 7..8 of partition 1
    assert s[0, 1].test.tolist() == [0, 1, 2, 7, 8]
    assert s[0, 1].train == slice(3, 7)
    assert s[1, 1].train == slice(9, 13)
    assert s[0, 1].test is s[1, 1].test
    assert s[0, 2].train.tolist() == [0, 1, 2, 5, 6]
    assert (idx.n_test_samples, idx.row_offset, idx.partitions, idx.folds) == (13, 0, 2, 3)
    check_protocol(idx)


@given(n=st.integers(1, 300), p=st.integers(1, 6), k=st.integers(2, 6))
def test_subset_index_property(n, p, k):
    if n // p < k:
        with pytest.raises(ValueError, match="partitions"):
            SubsetIndex(p, k).fit(np.zeros(n))
        return
    idx = SubsetIndex(p, k).fit(np.zeros(n))
    check_protocol(idx)  # each (row, partition) written exactly once
    parts = {s.partition: set(rowset(s.train, n)) for s in idx.full_fits()}
    assert sorted(set().union(*parts.values())) == list(range(n))
    assert sum(map(len, parts.values())) == n
    for s in idx.generate():
        if s.fold:
            train, test = set(rowset(s.train, n)), set(rowset(s.test, n))
            assert train <= parts[s.partition]
            assert train == parts[s.partition] - test
            assert train.isdisjoint(test)


def test_subset_index_errors_and_degrade():
    with pytest.raises(ValueError):
        SubsetIndex(0, 2).fit(np.zeros(10))
    with pytest.raises(ValueError):
        SubsetIndex(2, 1).fit(np.zeros(10))
    with pytest.raises(ValueError, match="fewer than n_splits"):
        SubsetIndex(3, 4).fit(np.zeros(11))
    idx = SubsetIndex(3, 1, raise_on_exception=False)
    with pytest.warns(UserWarning):
        idx.fit(np.zeros(9))
    assert idx.generate() == [Split(i, 0, slice(3 * i, 3 * i + 3), slice(0, 9))
                              for i in range(3)]
    check_protocol(idx)


###############################################################################
# ClusteredSubsetIndex

def blobs(n_per=30, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    X = np.vstack([c + rng.randn(n_per, 2) for c in centers])
    perm = rng.permutation(len(X))
    labels = np.repeat(np.arange(3), n_per)[perm]
    return X[perm], labels


def test_clustered_subset_index_kmeans():
    X, _ = blobs()
    n = len(X)
    est = KMeans(n_clusters=3, n_init=1, random_state=0)
    idx = ClusteredSubsetIndex(est, partitions=3, n_splits=3).fit(X)
    assert not hasattr(est, "cluster_centers_")  # the given estimator is untouched
    assert hasattr(idx.estimator_, "cluster_centers_")
    labels = idx.estimator_.predict(X)
    check_protocol(idx)
    assert (idx.partitions, idx.folds, idx.n_test_samples, idx.row_offset) == (3, 3, n, 0)
    parts = {s.partition: rowset(s.train, n) for s in idx.full_fits()}
    for i, lab in enumerate(idx.partition_labels_):
        assert parts[i] == np.flatnonzero(labels == lab).tolist()
    for s in idx.generate():
        if s.fold == 0:
            continue
        train, test = set(rowset(s.train, n)), set(rowset(s.test, n))
        part = set(parts[s.partition])
        # the fix: train on the partition minus the fold it predicts
        assert train == part - test
        assert len(train) > len(part & test)
        # fold j of partition i: contiguous chunk of the partition's rows
        chunk = sorted(part & test)
        pos = [parts[s.partition].index(r) for r in chunk]
        assert pos == list(range(pos[0], pos[0] + len(pos)))


def test_clustered_subset_index_options():
    X, truth = blobs(n_per=10)

    class Labeller:
        """A pre-fitted 'estimator' labelling rows by a lookup."""

        def __init__(self, labels):
            self.labels = labels

        def fit(self, X, y=None):
            raise AssertionError("must not be refitted")

        def assign(self, X):
            return self.labels * 10 + 5   # labels 5, 15, 25

    idx = ClusteredSubsetIndex(Labeller(truth), partitions=3, n_splits=2,
                               fit_estimator=False, attr="assign").fit(X)
    assert idx.partition_labels_.tolist() == [5, 15, 25]
    n = len(X)
    for s in idx.full_fits():
        assert rowset(s.train, n) == np.flatnonzero(truth == s.partition).tolist()
    check_protocol(idx)

    # partition on y: cluster the targets
    y = truth.astype(float) * 100
    idx = ClusteredSubsetIndex(KMeans(3, n_init=1, random_state=0), 3,
                               partition_on="y").fit(X, y)
    check_protocol(idx)
    groups = [frozenset(rowset(s.train, n)) for s in idx.full_fits()]
    assert set(groups) == {frozenset(np.flatnonzero(truth == c).tolist())
                           for c in range(3)}
    with pytest.raises(ValueError, match="needs y"):
        ClusteredSubsetIndex(KMeans(3, n_init=1), 3, partition_on="y").fit(X)
    with pytest.raises(ValueError, match="partition_on"):
        ClusteredSubsetIndex(KMeans(3, n_init=1), 3, partition_on="z").fit(X)
    # 'both' calls fit(X, y)
    idx = ClusteredSubsetIndex(KMeans(3, n_init=1, random_state=0), 3,
                               partition_on="both").fit(X, y)
    check_protocol(idx)


def test_clustered_subset_index_errors():
    X, truth = blobs(n_per=10)
    with pytest.raises(ValueError, match="distinct labels"):
        ClusteredSubsetIndex(KMeans(3, n_init=1, random_state=0), 2).fit(X)
    with pytest.raises(ValueError, match="no method"):
        ClusteredSubsetIndex(KMeans(3, n_init=1), 3, attr="nope").fit(X)
    with pytest.raises(ValueError, match="fewer than n_splits"):
        ClusteredSubsetIndex(KMeans(3, n_init=1, random_state=0), 3,
                             n_splits=11).fit(X)
    with pytest.raises(ValueError):
        ClusteredSubsetIndex(None, 3).fit(X)


###############################################################################
# TemporalIndex

def test_temporal_index_example():
    # ML-Ensemble's splits: the first fold trains from row 0 and the full fit
    # on all rows, whatever the window.
    idx = TemporalIndex(step_size=2, burn_in=5, window=2, lag=1).fit(np.zeros(10))
    assert idx.generate() == [
        Split(0, 0, slice(0, 10), None),
        Split(0, 1, slice(0, 4), slice(5, 7)),
        Split(0, 2, slice(4, 6), slice(7, 9)),
        Split(0, 3, slice(6, 8), slice(9, 10)),
    ]
    assert (idx.n_test_samples, idx.row_offset, idx.folds) == (5, 5, 3)
    check_protocol(idx)


def test_temporal_index_strict_window():
    idx = TemporalIndex(step_size=2, burn_in=5, window=2, lag=1,
                        strict_window=True).fit(np.zeros(10))
    assert idx.generate() == [
        Split(0, 0, slice(8, 10), None),
        Split(0, 1, slice(2, 4), slice(5, 7)),
        Split(0, 2, slice(4, 6), slice(7, 9)),
        Split(0, 3, slice(6, 8), slice(9, 10)),
    ]
    assert (idx.n_test_samples, idx.row_offset, idx.folds) == (5, 5, 3)
    check_protocol(idx)
    assert "strict_window=True" in repr(idx)
    assert "strict_window" not in repr(TemporalIndex())


def test_temporal_index_defaults():
    idx = TemporalIndex().fit(np.zeros(4))
    assert idx.generate() == [
        Split(0, 0, slice(0, 4), None),
        Split(0, 1, slice(0, 1), slice(1, 2)),
        Split(0, 2, slice(0, 2), slice(2, 3)),
        Split(0, 3, slice(0, 3), slice(3, 4)),
    ]
    assert (idx.n_test_samples, idx.row_offset) == (3, 1)
    idx = TemporalIndex(step_size=3).fit(np.zeros(10))
    assert idx.row_offset == 3 and idx.n_test_samples == 7


@given(n=st.integers(2, 80), step=st.integers(1, 10), burn_in=st.integers(1, 80),
       window=st.one_of(st.none(), st.integers(1, 20)), lag=st.integers(0, 5),
       strict=st.booleans())
def test_temporal_index_property(n, step, burn_in, window, lag, strict):
    idx = TemporalIndex(step, burn_in, window, lag, strict_window=strict)
    if burn_in <= lag or burn_in >= n:
        with pytest.raises(ValueError):
            idx.fit(np.zeros(n))
        return
    idx.fit(np.zeros(n))
    check_protocol(idx)
    assert idx.row_offset == burn_in and idx.n_test_samples == n - burn_in
    for j, s in enumerate(idx.fold_fits()):
        assert s.train.stop == s.test.start - lag
        assert rows_len(s.test) <= step
        if window is not None and (j > 0 or strict):
            assert rows_len(s.train) <= window
            assert s.train.start == max(0, s.test.start - lag - window)
        else:
            assert s.train.start == 0
    (full,) = idx.full_fits()
    windowed = window is not None and strict
    assert full.train == (slice(max(0, n - window), n) if windowed else slice(0, n))


@pytest.mark.parametrize("kw", [
    dict(step_size=0), dict(burn_in=2, lag=2), dict(burn_in=10), dict(window=0),
    dict(lag=-1), dict(step_size=1.5), dict(burn_in=0),
])
def test_temporal_index_errors(kw):
    with pytest.raises(ValueError):
        TemporalIndex(**kw).fit(np.zeros(10))


###############################################################################
# FullIndex

def test_full_index():
    idx = FullIndex().fit(np.zeros((6, 2)))
    assert idx.generate() == [Split(0, 0, slice(0, 6), slice(0, 6))]
    assert (idx.n_samples, idx.n_test_samples, idx.row_offset,
            idx.partitions, idx.folds) == (6, 6, 0, 1, 0)
    assert idx.full_fits() == idx.fold_fits()
    check_protocol(idx)


###############################################################################
# SplitterIndex

def assert_matches_splitter(idx, cv, X, y=None, groups=None):
    n = len(X)
    ref = list(cv.split(X, y, groups))
    folds = [s for s in idx.generate() if s.fold >= 1]
    assert len(folds) == len(ref) == idx.folds
    for s, (tr, te) in zip(folds, ref):
        assert rowset(s.train, n) == sorted(tr.tolist())
        assert rowset(s.test, n) == sorted(te.tolist())
    assert idx.full_fits() == [Split(0, 0, slice(0, n), None)]


def test_splitter_stratified():
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), rng.randint(0, 3, 40)
    cv = StratifiedKFold(4)
    idx = SplitterIndex(cv).fit(X, y)
    assert_matches_splitter(idx, cv, X, y)
    assert (idx.n_test_samples, idx.row_offset) == (40, 0)
    check_protocol(idx)
    # y is really used: stratification differs from KFold
    assert any(isinstance(s.test, np.ndarray) for s in idx.fold_fits())


def test_splitter_group_kfold():
    X = np.zeros((30, 2))
    groups = np.repeat(np.arange(6), 5)
    cv = GroupKFold(3)
    idx = SplitterIndex(cv, groups=groups).fit(X)
    assert_matches_splitter(idx, cv, X, groups=groups)
    check_protocol(idx)
    for s in idx.fold_fits():
        assert set(groups[as_rows(s.test, 30)]).isdisjoint(groups[as_rows(s.train, 30)])
    # fit's groups win over the constructor's
    other = np.arange(30) % 3
    idx2 = SplitterIndex(cv, groups=groups).fit(X, groups=other)
    assert_matches_splitter(idx2, cv, X, groups=other)
    with pytest.raises(ValueError):
        SplitterIndex(GroupKFold(3)).fit(X)  # sklearn: groups required


def test_splitter_shuffled_kfold_called_once():
    X = np.zeros((25, 1))
    cv = CountingSplitter(KFold(5, shuffle=True, random_state=3))
    idx = SplitterIndex(cv).fit(X)
    assert cv.calls == 1
    assert_matches_splitter(idx, KFold(5, shuffle=True, random_state=3), X)
    check_protocol(idx)
    first = idx.generate()
    idx.generate(), idx.fold_fits(), idx.full_fits()
    idx.fit(X, job="transform")
    idx.fit(np.zeros((4, 1)), job="predict")
    assert cv.calls == 1
    assert idx.generate() == first
    # random_state=None: one draw at fit, stable afterwards
    idx = SplitterIndex(KFold(5, shuffle=True)).fit(X)
    a = [rowset(s.test, 25) for s in idx.fold_fits()]
    b = [rowset(s.test, 25) for s in idx.fold_fits()]
    assert a == b
    check_protocol(idx)


def test_splitter_time_series_tail():
    X = np.zeros((20, 1))
    cv = TimeSeriesSplit(4)
    idx = SplitterIndex(cv).fit(X)
    assert_matches_splitter(idx, cv, X)
    assert idx.row_offset == 4 and idx.n_test_samples == 16
    assert all(isinstance(s.train, slice) for s in idx.generate())
    check_protocol(idx)
    idx = SplitterIndex(TimeSeriesSplit(3, gap=2)).fit(X)
    check_protocol(idx)


def test_splitter_overlapping_tests_rejected():
    cv = ShuffleSplit(3, test_size=0.3, random_state=0)
    with pytest.raises(ValueError, match="more than once"):
        SplitterIndex(cv).fit(np.zeros((20, 1)))


def test_splitter_repeated_folds_predict_every_row_n_repeats_times():
    cv = RepeatedKFold(n_splits=3, n_repeats=2, random_state=0)
    X = np.zeros((20, 1))
    idx = SplitterIndex(cv).fit(X)
    assert idx.n_repeats == 2 and idx.n_test_samples == 20
    expected = list(cv.split(X))
    folds = [s for s in idx.generate() if s.fold]
    assert len(folds) == len(expected)
    for s, (train, test) in zip(folds, expected):
        assert np.array_equal(as_rows(s.train, 20), np.sort(train))
        assert np.array_equal(as_rows(s.test, 20), np.sort(test))
    assert SplitterIndex(KFold(4)).fit(X).n_repeats == 1
    assert FoldIndex(4).fit(X).n_repeats == 1


def test_splitter_rejects_bad_splits():
    X = np.zeros((6, 1))
    a = np.array
    # gap in the middle
    with pytest.raises(ValueError, match="unpredicted"):
        SplitterIndex(FixedSplitter([(a([0, 1]), a([2, 3])), (a([0, 1]), a([5]))])).fit(X)
    # missing the last rows
    with pytest.raises(ValueError, match="unpredicted"):
        SplitterIndex(FixedSplitter([(a([3, 4, 5]), a([0, 1, 2]))])).fit(X)
    # train and test overlap
    with pytest.raises(ValueError, match="share rows"):
        SplitterIndex(FixedSplitter([(a([0, 1, 2]), a([2, 3, 4, 5])),
                                     (a([2, 3, 4, 5]), a([0, 1]))])).fit(X)
    for pairs in ([], [(a([], dtype=int), a([0, 1, 2, 3, 4, 5]))],
                  [(a([0, 9]), a([1, 2, 3, 4, 5]))],
                  [(a([-1]), a([1, 2, 3, 4, 5]))],
                  [(a([0.5]), a([1, 2, 3, 4, 5]))],
                  [(a([0]),)]):
        with pytest.raises(ValueError):
            SplitterIndex(FixedSplitter(pairs)).fit(X)
    with pytest.raises(ValueError, match="split"):
        SplitterIndex(object()).fit(X)
    # boolean masks and unsorted / duplicated test rows are accepted
    mask = np.array([True, True, True, False, False, False])
    idx = SplitterIndex(FixedSplitter([(~mask, mask), (a([2, 0, 1]), a([5, 3, 4, 4]))])).fit(X)
    assert idx.generate()[1] == Split(0, 1, slice(3, 6), slice(0, 3))
    assert idx.generate()[2] == Split(0, 2, slice(0, 3), slice(3, 6))
    check_protocol(idx)


###############################################################################
# Generic behaviour: jobs, fitted state, params, pickling

def all_indexers():
    X, _ = blobs(n_per=8)
    return X, [
        FoldIndex(3), BlendIndex(0.3, 0.5), SubsetIndex(2, 3),
        ClusteredSubsetIndex(KMeans(3, n_init=1, random_state=0), 3, 2),
        TemporalIndex(2, 4, 5, 1), FullIndex(),
        SplitterIndex(KFold(4, shuffle=True, random_state=0)),
        SplitterIndex(TimeSeriesSplit(3)),
    ]


def test_not_fitted():
    _, indexers = all_indexers()
    for idx in indexers:
        assert idx.__fitted__ is False
        for method in (idx.generate, idx.full_fits, idx.fold_fits):
            with pytest.raises(NotFittedError):
                method()
        for job in ("predict", "transform"):
            with pytest.raises(NotFittedError):
                idx.fit(np.zeros((5, 2)), job=job)


def test_jobs():
    X, indexers = all_indexers()
    n = len(X)
    for idx in indexers:
        idx.fit(X, job=None)
        splits, n_test, offset = idx.generate(), idx.n_test_samples, idx.row_offset
        idx.fit(X[:7], job="predict")
        assert idx.n_samples == 7
        assert idx.generate() == splits
        assert (idx.n_test_samples, idx.row_offset) == (n_test, offset)
        with pytest.raises(ValueError, match="transform"):
            idx.fit(X[:7], job="transform")
        idx.fit(X, job="transform")
        assert idx.n_samples == n and idx.generate() == splits
        with pytest.raises(ValueError, match="job"):
            idx.fit(X, job="score")
        idx.fit(X, job="evaluate")
        check_protocol(idx)


def test_failed_fit_keeps_previous_fit():
    idx = FoldIndex(3).fit(np.zeros(10))
    splits = idx.generate()
    with pytest.raises(ValueError):
        idx.fit(np.zeros(2))
    assert idx.generate() == splits and idx.n_samples == 10


def test_generate_returns_new_list():
    idx = FoldIndex(2).fit(np.zeros(4))
    idx.generate().clear()
    assert len(idx.generate()) == 3
    assert idx.splits_ == idx.generate()


def splits_equal(a, b):
    if len(a) != len(b):
        return False
    for s, t in zip(a, b):
        if s[:2] != t[:2]:
            return False
        for r1, r2 in zip(s[2:], t[2:]):
            if isinstance(r1, np.ndarray) or isinstance(r2, np.ndarray):
                if not (isinstance(r1, np.ndarray) and isinstance(r2, np.ndarray)
                        and np.array_equal(r1, r2)):
                    return False
            elif r1 != r2:
                return False
    return True


def test_pickle_and_copy():
    X, indexers = all_indexers()
    for idx in indexers:
        for obj in (idx, idx.fit(X)):
            for other in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj),
                          copy.copy(obj)):
                assert type(other) is type(obj)
                assert repr(other) == repr(obj)
                assert other.__fitted__ == obj.__fitted__
                if obj.__fitted__:
                    assert splits_equal(other.generate(), obj.generate())
                    for name in ("n_samples", "n_test_samples", "row_offset",
                                 "partitions", "folds"):
                        assert getattr(other, name) == getattr(obj, name)
                    check_protocol(other)


def test_params_and_clone():
    X, indexers = all_indexers()
    for idx in indexers:
        params = idx.get_params(deep=False)
        assert list(params) == type(idx)._get_param_names()
        idx.fit(X)
        c = clone(idx)
        assert type(c) is type(idx) and not c.__fitted__
        assert repr(c) == repr(idx)
        assert c.fit(X).n_test_samples == idx.n_test_samples
    idx = FoldIndex(3)
    assert idx.set_params(n_splits=4) is idx and idx.n_splits == 4
    assert repr(idx) == "FoldIndex(n_splits=4, raise_on_exception=True)"
    with pytest.raises(ValueError, match="invalid parameter"):
        idx.set_params(n_folds=3)
    c = ClusteredSubsetIndex(KMeans(3, n_init=1), 3)
    deep = c.get_params()
    assert deep["estimator__n_clusters"] == 3 and "estimator" in deep
    c.set_params(estimator__n_clusters=4, partitions=4)
    assert c.estimator.n_clusters == 4 and c.partitions == 4
    assert FullIndex().get_params() == {}
    assert repr(FullIndex()) == "FullIndex()"
    assert "array(shape=(5,)" in repr(SplitterIndex(KFold(2), groups=np.arange(5)))


###############################################################################
# check_index / INDEXERS

def test_check_index():
    assert repr(check_index(None)) == repr(FoldIndex(2))
    assert check_index(5).n_splits == 5
    assert check_index(np.int64(3)).n_splits == 3
    assert check_index(4, raise_on_exception=False).raise_on_exception is False
    idx = FoldIndex(3).fit(np.zeros(5))
    assert check_index(idx) is idx
    cv = StratifiedKFold(3)
    s = check_index(cv)
    assert isinstance(s, SplitterIndex) and s.cv is cv
    g = np.arange(6)
    assert check_index(GroupKFold(2), groups=g).groups is g
    assert isinstance(check_index("Blend", test_size=0.2), BlendIndex)
    assert isinstance(check_index(TemporalIndex, step_size=2), TemporalIndex)
    assert make_index is check_index
    with pytest.raises(ValueError, match="unknown indexer"):
        check_index("bagging")
    for bad in (True, 2.5, [1, 2], KFold):
        with pytest.raises(TypeError):
            check_index(bad)
    with pytest.raises(TypeError):
        check_index(idx, n_splits=3)


def test_indexers_mapping():
    assert INDEXERS == {"stack": FoldIndex, "blend": BlendIndex,
                        "subsemble": SubsetIndex,
                        "clusteredsubsemble": ClusteredSubsetIndex,
                        "full": FullIndex, "temporal": TemporalIndex}
    for cls in INDEXERS.values():
        assert issubclass(cls, BaseIndex)


def test_docstring_examples():
    res = doctest.testmod(index_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_no_sklearn_import_at_module_level():
    import subprocess
    import sys
    code = ("import sys, mlcore.index; "
            "assert not any(m == 'sklearn' or m.startswith('sklearn.') "
            "for m in sys.modules), 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_warning_points_at_caller():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        FoldIndex(1, raise_on_exception=False).fit(np.zeros(3))
    assert rec and rec[0].filename == __file__


###############################################################################
# ML-Ensemble's interface: X=, folds=, rebase=, generate(as_array=),
# partition(), and the helpers partition / prune_train / make_tuple

from mlcore.index import make_tuple, partition, prune_train  # noqa: E402


def test_mlens_helpers():
    # ML-Ensemble's documented examples
    np.testing.assert_array_equal(partition(4, 2), [2, 2])
    np.testing.assert_array_equal(partition(8, 3), [3, 3, 2])
    assert partition(8, 3).dtype == np.int64
    for n, p in [(10, 3), (7, 7), (0, 2), (13, 4)]:
        sizes = [len(t) for _, t in KFold(p).split(np.zeros(n))] if n >= p \
            else [0] * p
        np.testing.assert_array_equal(partition(n, p), sizes)
    with pytest.raises(ValueError):
        partition(5, 0)
    assert make_tuple(np.array([0, 1, 2, 5, 6, 8, 9, 10])) == \
        [(0, 3), (5, 7), (8, 11)]
    assert make_tuple([4]) == [(4, 5)] and make_tuple([]) == []
    assert make_tuple([1, 1, 2, 4]) == [(1, 3), (4, 5)]
    with pytest.raises(ValueError, match="increasing"):
        make_tuple([3, 1])
    assert prune_train(0, 0, 3, 10) == ((3, 10),)
    assert prune_train(0, 7, 10, 10) == ((0, 7),)
    assert prune_train(0, 3, 6, 10) == ((0, 3), (6, 10))


def test_mlens_fold_index_example():
    # FoldIndex's docstring example in ML-Ensemble
    X = np.arange(10)
    idx = FoldIndex(4, X)
    assert idx.__fitted__ and idx.n_samples == 10
    pairs = list(idx.generate(as_array=True))
    expected = [([3, 4, 5, 6, 7, 8, 9], [0, 1, 2]),
                ([0, 1, 2, 6, 7, 8, 9], [3, 4, 5]),
                ([0, 1, 2, 3, 4, 5, 8, 9], [6, 7]),
                ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])]
    assert [(a.tolist(), b.tolist()) for a, b in pairs] == expected
    # the same folds as scikit-learn's KFold
    for (a, b), (tr, te) in zip(pairs, KFold(4).split(X)):
        np.testing.assert_array_equal(a, tr)
        np.testing.assert_array_equal(b, te)
    assert list(idx.generate(as_array=False)) == [
        (((3, 10),), (0, 3)), (((0, 3), (6, 10)), (3, 6)),
        (((0, 6), (8, 10)), (6, 8)), (((0, 8),), (8, 10))]
    # folds=1 without raising: the full index is both train and test
    with pytest.warns(UserWarning, match="n_splits=1"):
        idx = FoldIndex(1, np.arange(3), raise_on_exception=False)
    [(a, b)] = idx.generate(as_array=True)
    assert a.tolist() == b.tolist() == [0, 1, 2]


@pytest.mark.parametrize("make", [
    lambda k: FoldIndex(folds=k),
    lambda k: SubsetIndex(2, folds=k),
    lambda k: ClusteredSubsetIndex(KMeans(2, n_init=1, random_state=0), 2,
                                   folds=k)], ids=["fold", "subset", "clustered"])
def test_folds_is_n_splits_read_and_set(make):
    # ML-Ensemble's folds is the parameter: read before a fit, and setting
    # it (attribute or set_params) changes the next fit's folds
    X = blobs(n_per=12)[0]
    idx = make(3)
    assert idx.folds == idx.n_splits == 3
    idx.fit(X)
    assert idx.folds == 3 and len(idx.fold_fits()) == 3 * idx.partitions
    idx.folds = 4
    assert idx.n_splits == 4 and idx.get_params()["n_splits"] == 4
    assert len(idx.fit(X).fold_fits()) == 4 * idx.partitions
    idx.set_params(folds=2)
    assert idx.folds == 2
    assert len(idx.fit(X).fold_fits()) == 2 * idx.partitions
    back = pickle.loads(pickle.dumps(idx))
    assert back.folds == back.n_splits == 2
    assert "folds" not in idx.get_params()


def test_mlens_folds_alias_and_params():
    X = np.zeros(9)
    idx = FoldIndex(folds=3)
    assert idx.n_splits == 3
    assert idx.get_params() == {"n_splits": 3, "raise_on_exception": True}
    assert repr(idx) == "FoldIndex(n_splits=3, raise_on_exception=True)"
    assert splits_equal(idx.fit(X).generate(), FoldIndex(3).fit(X).generate())
    assert clone(idx).n_splits == 3
    assert FoldIndex(3, folds=3).n_splits == 3
    with pytest.raises(TypeError, match="alias"):
        FoldIndex(4, folds=3)
    # set_params takes the alias too (ML-Ensemble's learner tutorial)
    assert FoldIndex(2).set_params(folds=4).n_splits == 4
    assert SubsetIndex(2, 3).set_params(folds=5).n_splits == 5
    with pytest.raises(ValueError, match="invalid parameter"):
        FullIndex().set_params(folds=2)
    s = SubsetIndex(2, folds=3, X=np.zeros(12))
    assert s.n_splits == 3 and s.__fitted__
    assert splits_equal(s.generate(), SubsetIndex(2, 3).fit(np.zeros(12)).generate())
    # an indexer given X at construction equals one fitted afterwards
    for made, fitted in [
            (BlendIndex(0.3, None, X), BlendIndex(0.3).fit(X)),
            (TemporalIndex(2, X=X), TemporalIndex(2).fit(X)),
            (FullIndex(X), FullIndex().fit(X))]:
        assert splits_equal(made.generate(), fitted.generate())
        assert repr(made) == repr(fitted)
        assert made.get_params() == fitted.get_params()


def test_mlens_blend_index_examples():
    X = np.arange(8)
    assert list(BlendIndex(3, 4, X).generate(X)) == [((0, 4), (4, 7))]
    # 25% of 8 = 2 test rows, floor(45% of 8) = 3 train rows
    assert list(BlendIndex(0.25, 0.45, X).generate(X)) == [((0, 3), (3, 5))]
    assert list(BlendIndex(3).generate(X)) == [((0, 5), (5, 8))]
    # rebase: the test rows count from 0 (rows of the output P)
    idx = BlendIndex(3, rebase=True)
    [(tri, tei)] = idx.generate(X)
    assert (tri, tei) == ((0, 5), (0, 3))
    [(a, b)] = idx.generate(as_array=True)
    assert a.tolist() == [0, 1, 2, 3, 4] and b.tolist() == [0, 1, 2]
    assert tei[0] == 5 - idx.row_offset
    # rebase changes nothing else, and survives clone and repr
    assert splits_equal(idx.generate(), BlendIndex(3).fit(X).generate())
    assert clone(idx).rebase is True
    assert repr(idx) == ("BlendIndex(test_size=3, train_size=None, "
                         "raise_on_exception=True, rebase=True)")
    assert repr(BlendIndex()) == ("BlendIndex(test_size=0.5, train_size=None, "
                                  "raise_on_exception=True)")
    assert check_index("blend", rebase=True).rebase is True


def test_mlens_subset_index_example():
    # SubsetIndex's docstring example in ML-Ensemble
    X = np.arange(10)
    idx = SubsetIndex(3, X=X)
    assert [p.tolist() for p in idx.partition(as_array=True)] == \
        [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(idx.partition()) == [(0, 4), (4, 7), (7, 10)]
    got = [(a.tolist(), b.tolist()) for a, b in idx.generate(as_array=True)]
    fold1, fold2 = [0, 1, 4, 5, 7, 8], [2, 3, 6, 9]
    assert got == [([2, 3], fold1), ([0, 1], fold2), ([6], fold1),
                   ([4, 5], fold2), ([9], fold1), ([7, 8], fold2)]
    pairs = list(idx.generate(as_array=False))
    assert pairs[0] == (((2, 4),), [(0, 2), (4, 6), (7, 9)])
    assert pairs[3] == (((4, 6),), [(2, 4), (6, 7), (9, 10)])


def test_mlens_clustered_subset_index():
    X, truth = blobs(n_per=6)
    km = KMeans(3, n_init=1, random_state=0)
    idx = ClusteredSubsetIndex(partition_estimator=km, partitions=3, folds=2,
                               X=X)
    assert idx.estimator is km and idx.n_splits == 2 and idx.__fitted__
    assert idx.partition_estimator is idx.estimator_
    assert ClusteredSubsetIndex(km).partition_estimator is km
    assert "partition_estimator" not in idx.get_params()
    labels = idx.partition_estimator.predict(X)
    parts = list(idx.partition(as_array=True))
    for part, label in zip(parts, np.unique(labels)):
        np.testing.assert_array_equal(part, np.flatnonzero(labels == label))
    assert list(idx.partition()) == [make_tuple(p) for p in parts]
    with pytest.raises(TypeError, match="alias"):
        ClusteredSubsetIndex(km, partition_estimator=KMeans(2))
    for (a, b), s in zip(idx.generate(as_array=True), idx.fold_fits()):
        np.testing.assert_array_equal(a, as_rows(s.train))
        np.testing.assert_array_equal(b, as_rows(s.test))


def test_mlens_generate_rules():
    X = np.zeros(6)
    for idx in (FoldIndex(2), BlendIndex(), SubsetIndex(), TemporalIndex(),
                FullIndex()):
        with pytest.raises(NotFittedError):
            idx.generate(as_array=True)
        with pytest.raises(AttributeError):      # ML-Ensemble raised this
            idx.generate(as_array=False)
    # X is fitted on only when not fitted yet
    idx = FoldIndex(2)
    assert len(list(idx.generate(X))) == 2 and idx.n_samples == 6
    list(idx.generate(np.zeros(10)))
    assert idx.n_samples == 6
    # without arguments: the Split list, unchanged
    assert all(isinstance(s, Split) for s in idx.generate())
    # arrays are fresh and writable: changing them leaves the splits alone
    a, b = next(idx.generate(as_array=True))
    a[:] = -1
    assert next(idx.generate(as_array=True))[0].min() >= 0
    # FullIndex: one (None, None), i.e. no slicing
    assert list(FullIndex(X).generate(as_array=False)) == [(None, None)]
    assert list(FullIndex().generate(X, as_array=True)) == [(None, None)]
    # TemporalIndex: plain (start, stop) pairs of every step
    idx = TemporalIndex(2, X=np.arange(10))
    assert list(idx.generate(as_array=False)) == [
        ((0, 2), (2, 4)), ((0, 4), (4, 6)), ((0, 6), (6, 8)), ((0, 8), (8, 10))]
    # the splits that write at fit time, in order, for every indexer
    Xb, indexers = all_indexers()
    for idx in indexers:
        idx.fit(Xb)
        pairs = list(idx.generate(as_array=True))
        if isinstance(idx, FullIndex):
            assert pairs == [(None, None)]
            continue
        fits = idx.fold_fits()
        assert len(pairs) == len(fits)
        for (a, b), s in zip(pairs, fits):
            np.testing.assert_array_equal(a, as_rows(s.train))
            np.testing.assert_array_equal(b, as_rows(s.test))


def test_mlens_partition_of_plain_indexers():
    X = np.zeros(8)
    for idx in (FoldIndex(2), BlendIndex(), TemporalIndex(), FullIndex()):
        assert list(idx.partition(X)) == [None]
        assert idx.__fitted__
    with pytest.raises(NotFittedError):
        list(FoldIndex(2).partition())
