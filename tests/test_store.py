"""Tests of the persistent fit store (``memory=``, mlcore.fitstore).

Fits are counted, not timed: every learner and transformer here appends its
tag to a log file when it is fitted (from any thread or process), so a test
says exactly which fits a refit ran. Results are compared bit for bit with a
fit of the same ensemble from scratch (no store). Damaged entries are made
by hand (truncated, another version, a flipped byte, another key's file)
and must be refitted, never used. Two processes fit into one store at once
and every entry they leave is whole.
"""
import json
import multiprocessing
import os
import sys
import textwrap
import warnings
from collections import Counter

import joblib
import numpy as np
import pytest
from sklearn.base import (BaseEstimator, ClassifierMixin, TransformerMixin,
                          clone)
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import mlcore
from mlcore import fitstore
from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner)
from mlcore.exceptions import FitStoreWarning
from mlcore.fitstore import FitStore, check_memory, token
from tests._tasks import tree


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


###############################################################################
# Counting estimators (module level: process workers import them)

def _log_fit(log, tag):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (tag + "\n").encode())
    finally:
        os.close(fd)


class Counted(ClassifierMixin, BaseEstimator):
    """A classifier that logs ``tag`` to the file ``log`` at every fit."""

    def __init__(self, estimator=None, tag="", log=""):
        self.estimator = estimator
        self.tag = tag
        self.log = log

    def fit(self, X, y, sample_weight=None):
        _log_fit(self.log, self.tag)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.estimator_ = clone(self.estimator).fit(X, y, **kw)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


class CountedScaler(TransformerMixin, BaseEstimator):
    """StandardScaler (``with_mean``) that logs ``tag`` at every fit."""

    def __init__(self, with_mean=True, tag="", log=""):
        self.with_mean = with_mean
        self.tag = tag
        self.log = log

    def fit(self, X, y=None):
        _log_fit(self.log, self.tag)
        self.scaler_ = StandardScaler(with_mean=self.with_mean).fit(X)
        return self

    def transform(self, X):
        return self.scaler_.transform(X)


def fits(log):
    """Counter of the tags fitted so far; empties the log."""
    if not os.path.exists(log):
        return Counter()
    with open(log) as f:
        out = Counter(line.strip() for line in f if line.strip())
    os.unlink(log)
    return out


def _data(n=120, seed=0):
    return make_classification(n, 6, n_informative=4, n_redundant=0,
                               random_state=seed)


def _learners(log, names=("lr", "gnb", "tree"), **changed):
    base = {"lr": LogisticRegression(), "gnb": GaussianNB(),
            "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
            "lr2": LogisticRegression(C=0.1)}
    out = []
    for name in names:
        est = changed.get(name, base[name])
        out.append((name, Counted(est, tag=name, log=log)))
    return out


def _meta(log, C=1.0):
    return Counted(LogisticRegression(C=C), tag="meta", log=log)


def _super(log, memory, names=("lr", "gnb", "tree"), meta_C=1.0,
           backend="threading", **changed):
    ens = SuperLearner(folds=3, memory=memory, backend=backend, n_jobs=2)
    ens.add(_learners(log, names, **changed), proba=True)
    return ens.add_meta(_meta(log, meta_C))


def assert_same_fit(a, b, X):
    """Bit-for-bit equal out-of-fold predictions and predictions."""
    assert sorted(a.oof_predictions_) == sorted(b.oof_predictions_)
    for name in a.oof_predictions_:
        np.testing.assert_array_equal(a.oof_predictions_[name],
                                      b.oof_predictions_[name])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.fixture
def log(tmp_path):
    return str(tmp_path / "fits.log")


@pytest.fixture
def store_dir(tmp_path):
    return str(tmp_path / "store")


# A 3-fold SuperLearner layer: 3 fold fits and one full fit per learner.
PER_LEARNER = 4


###############################################################################
# Refits run only what changed

@pytest.mark.parametrize("backend", ["threading", "sequential", "loky",
                                     "multiprocessing"])
def test_added_learner_is_the_only_new_fit(log, store_dir, backend):
    X, y = _data()
    _super(log, store_dir, backend=backend).fit(X, y)
    assert fits(log) == {"lr": 4, "gnb": 4, "tree": 4, "meta": 4}
    names = ("lr", "gnb", "lr2", "tree")  # added in the middle
    ens = _super(log, store_dir, names, backend=backend).fit(X, y)
    assert fits(log) == {"lr2": PER_LEARNER, "meta": PER_LEARNER}
    scratch = _super(log, None, names, backend=backend).fit(X, y)
    assert_same_fit(ens, scratch, X)


def test_removed_learner_refits_only_the_meta_layer(log, store_dir):
    X, y = _data()
    _super(log, store_dir).fit(X, y)
    fits(log)
    ens = _super(log, store_dir, ("lr", "tree")).fit(X, y)
    assert fits(log) == {"meta": PER_LEARNER}
    assert_same_fit(ens, _super(log, None, ("lr", "tree")).fit(X, y), X)


def test_changed_learner_refits_it_and_the_layers_after_it(log, store_dir):
    X, y = _data()
    _super(log, store_dir).fit(X, y)
    fits(log)
    deeper = DecisionTreeClassifier(max_depth=5, random_state=0)
    ens = _super(log, store_dir, tree=deeper).fit(X, y)
    assert fits(log) == {"tree": PER_LEARNER, "meta": PER_LEARNER}
    assert_same_fit(ens, _super(log, None, tree=deeper).fit(X, y), X)


def test_changed_meta_learner_refits_only_the_meta_fits(log, store_dir):
    X, y = _data()
    _super(log, store_dir).fit(X, y)
    fits(log)
    ens = _super(log, store_dir, meta_C=0.01).fit(X, y)
    assert fits(log) == {"meta": PER_LEARNER}
    assert_same_fit(ens, _super(log, None, meta_C=0.01).fit(X, y), X)


def test_second_identical_fit_runs_nothing(log, store_dir):
    X, y = _data()
    first = _super(log, store_dir).fit(X, y)
    fits(log)
    again = _super(log, store_dir).fit(X, y)
    assert fits(log) == {}
    assert_same_fit(first, again, X)


def test_sparse_input_is_stored_by_its_values(log, store_dir):
    import scipy.sparse as sp
    X, y = _data()
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X)
    names = ("lr", "tree")
    first = _super(log, store_dir, names).fit(Xs, y)
    fits(log)
    again = _super(log, store_dir, names).fit(sp.csr_matrix(X), y)
    assert fits(log) == {}
    assert_same_fit(first, again, Xs)
    Xs.data[0] += 1.0
    _super(log, store_dir, names).fit(Xs, y)
    assert fits(log) == {"lr": 4, "tree": 4, "meta": 4}


def test_other_data_weights_or_groups_refit_everything(log, store_dir):
    X, y = _data()
    _super(log, store_dir).fit(X, y)
    fits(log)
    X2 = X.copy()
    X2[0, 0] += 1e-9
    _super(log, store_dir).fit(X2, y)
    assert fits(log) == {"lr": 4, "gnb": 4, "tree": 4, "meta": 4}
    w = np.ones(len(y))
    _super(log, store_dir).fit(X, y, sample_weight=w)
    assert fits(log) == {"lr": 4, "gnb": 4, "tree": 4, "meta": 4}
    _super(log, store_dir).fit(X, y, groups=np.arange(len(y)) % 4)
    assert fits(log) == {"lr": 4, "gnb": 4, "tree": 4, "meta": 4}


def test_preprocessing_case_has_its_own_key(log, store_dir):
    X, y = _data()

    def build(with_mean=True, tree_depth=3, memory=store_dir):
        ens = SuperLearner(folds=3, memory=memory, n_jobs=2)
        prep = {"a": [CountedScaler(with_mean, tag="scaler-a", log=log)],
                "b": [CountedScaler(tag="scaler-b", log=log)]}
        tree = DecisionTreeClassifier(max_depth=tree_depth, random_state=0)
        ens.add({"a": _learners(log, ("lr",)),
                 "b": _learners(log, ("tree",), tree=tree)},
                preprocessing=prep, proba=True)
        return ens.add_meta(_meta(log))

    build().fit(X, y)
    assert fits(log) == {"scaler-a": 4, "scaler-b": 4, "lr": 4, "tree": 4,
                         "meta": 4}
    build(tree_depth=4).fit(X, y)  # a learner of case b
    assert fits(log) == {"tree": 4, "meta": 4}
    ens = build(with_mean=False).fit(X, y)  # the steps of case a
    assert fits(log) == {"scaler-a": 4, "lr": 4, "meta": 4}
    assert_same_fit(ens, build(with_mean=False, memory=None).fit(X, y), X)


def _sequential(learners, memory):
    ens = SequentialEnsemble(memory=memory)
    ens.add("blend", [GaussianNB()], proba=True, test_size=0.5)
    return ens.add("stack", learners, proba=True, folds=2)


@pytest.mark.parametrize("make", [
    lambda est, memory: BlendEnsemble(test_size=0.4, memory=memory).add(
        est, proba=True),
    lambda est, memory: Subsemble(partitions=2, folds=2, memory=memory).add(
        est, proba=True),
    _sequential], ids=["blend", "subsemble", "sequential"])
def test_every_ensemble_refits_only_the_new_learner(log, store_dir, make):
    X, y = _data()

    def build(names, memory):
        return make(_learners(log, names), memory).add_meta(_meta(log))

    build(("lr", "gnb"), store_dir).fit(X, y)
    first = fits(log)
    ens = build(("lr", "gnb", "tree"), store_dir).fit(X, y)
    again = fits(log)
    assert set(again) == {"tree", "meta"}
    assert again["tree"] == first["lr"] and again["meta"] == first["meta"]
    assert_same_fit(ens, build(("lr", "gnb", "tree"), None).fit(X, y), X)


def test_same_training_rows_other_predicted_rows_refit(log, store_dir):
    # a blend trained on the same 72 rows that predicts fewer rows: the
    # stored out-of-fold block is not the one this fit needs
    X, y = _data()

    def build(test_size, memory=store_dir):
        ens = BlendEnsemble(memory=memory)
        ens.add(_learners(log, ("lr",)), proba=True, test_size=test_size,
                train_size=0.6)
        return ens.add_meta(_meta(log))

    build(0.4).fit(X, y)
    fits(log)
    ens = build(0.3).fit(X, y)
    assert fits(log) == {"lr": 1, "meta": 1}
    # a fit of its own, beside the first one; the blend's refit on all rows
    # (the same for both) is stored once
    assert [e.name for e in FitStore(store_dir).entries()].count("lr") == 3
    assert_same_fit(ens, build(0.3, memory=None).fit(X, y), X)


###############################################################################
# Stale and damaged entries are refitted, never used

def _entry_of(store, name):
    """The path of one stored fit of learner ``name``."""
    paths = [e.path for e in store.entries() if e.name == name]
    assert paths
    return sorted(paths)[0]


def _rewrite_header(path, **changes):
    with open(path, "rb") as f:
        data = f.read()
    start = len(fitstore._MAGIC) + fitstore._LENGTH.size
    end = start + fitstore._LENGTH.unpack_from(data, len(fitstore._MAGIC))[0]
    header = json.loads(data[start:end])
    header.update(changes)
    header = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(fitstore._MAGIC + fitstore._LENGTH.pack(len(header)) + header
                + data[end:])


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 7)


def _flip_payload_byte(path):
    with open(path, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        b = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([b[0] ^ 0xFF]))


def _other_version(path):
    _rewrite_header(path, mlcore="0.0.1")


def _another_keys_file(path):
    # an entry renamed onto this key's file: whole, but not this fit
    other = [p for p in os.listdir(os.path.dirname(path))
             if os.path.join(os.path.dirname(path), p) != path]
    with open(os.path.join(os.path.dirname(path), other[0]), "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data)


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"not an entry")


@pytest.mark.parametrize("damage", [_truncate, _flip_payload_byte,
                                    _other_version, _another_keys_file])
def test_damaged_entry_is_refitted_and_replaced(log, store_dir, damage):
    X, y = _data()
    first = _super(log, store_dir).fit(X, y)
    fits(log)
    store = FitStore(store_dir)
    path = _entry_of(store, "gnb")
    damage(path)
    assert store.load(os.path.basename(path)[:-4]) is None
    again = _super(log, store_dir).fit(X, y)
    assert fits(log) == {"gnb": 1}  # that one fit, nothing after it
    assert_same_fit(first, again, X)
    assert store.load(os.path.basename(path)[:-4]) is not None  # replaced


def test_file_in_an_entrys_place_is_refitted_and_left_alone(log, store_dir):
    # a file without the store's magic bytes was not written by it: it is
    # never loaded, replaced or removed
    X, y = _data()
    first = _super(log, store_dir).fit(X, y)
    fits(log)
    store = FitStore(store_dir)
    path = _entry_of(store, "gnb")
    _garbage(path)
    with pytest.warns(FitStoreWarning, match="not written by the fit store"):
        again = _super(log, store_dir).fit(X, y)
    assert fits(log) == {"gnb": 1}
    assert_same_fit(first, again, X)
    with open(path, "rb") as f:
        assert f.read() == b"not an entry"
    assert path not in {e.path for e in store.entries()}
    store.clear()
    assert os.listdir(store.path) == [os.path.basename(path)]


def test_entry_payload_is_checked_before_it_is_unpickled(store_dir,
                                                         monkeypatch):
    store = FitStore(store_dir)
    store.save("a" * 40, {"x": 1}, {"kind": "learner", "name": "x"})
    path = store._file("a" * 40)
    _flip_payload_byte(path)
    loaded = []
    monkeypatch.setattr(fitstore.pickle, "loads",
                        lambda b: loaded.append(b) or {})
    assert store.load("a" * 40) is None
    assert loaded == []


def test_failed_write_keeps_the_old_entry_and_leaves_no_file(store_dir,
                                                             monkeypatch):
    store = FitStore(store_dir)
    key = "b" * 40
    store.save(key, {"v": 1}, {"kind": "learner", "name": "x"})
    before = tree(store_dir)

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fitstore.os, "replace", full_disk)
    with pytest.warns(FitStoreWarning, match="No space left"):
        store.save(key, {"v": 2}, {"kind": "learner", "name": "x"})
    assert tree(store_dir) == before
    assert store.load(key) == {"v": 1}


###############################################################################
# Unstable parameters: fitted without the store, and said so

class Opaque(object):
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def test_learner_with_unstable_parameter_is_fitted_every_time(log,
                                                              store_dir):
    X, y = _data()
    def build():
        ens = SuperLearner(folds=3, memory=store_dir, n_jobs=2)
        learners = _learners(log, ("lr",))
        learners.append(("odd", Counted(LogisticRegression(
            random_state=np.random.RandomState(0)), tag="odd", log=log)))
        return ens.add(learners, proba=True).add_meta(_meta(log))

    with pytest.warns(FitStoreWarning, match="'odd'.*RandomState"):
        build().fit(X, y)
    assert fits(log) == {"lr": 4, "odd": 4, "meta": 4}
    with pytest.warns(FitStoreWarning, match="'odd'"):
        build().fit(X, y)
    # lbfgs ignores random_state: the meta layer's input is unchanged
    assert fits(log) == {"odd": 4}


def test_tokens_are_stable_and_tell_parameters_apart():
    a = token(LogisticRegression(C=1.0, class_weight={0: 1, 1: 2}))
    assert a == token(LogisticRegression(C=1.0, class_weight={1: 2, 0: 1}))
    assert a != token(LogisticRegression(C=1.0 + 1e-12,
                                         class_weight={0: 1, 1: 2}))
    assert token(np.arange(3)) != token(np.arange(3.0))
    assert token(lambda v: v + 1) == token(lambda v: v + 1)
    assert token(lambda v: v + 1) != token(lambda v: v + 2)
    assert token({"b", "a"}) == token({"a", "b"})
    for bad in (np.random.RandomState(0), np.random.default_rng(0),
                Opaque(1)):
        with pytest.raises(fitstore.Unstable):
            token(LogisticRegression(random_state=bad))


###############################################################################
# Failures keep naming the learner and fold; nothing is stored for them

class Fails(Counted):
    def fit(self, X, y, sample_weight=None):
        raise ValueError("no fit on %d rows" % len(y))


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_failing_learner_names_itself_and_is_not_stored(log, store_dir,
                                                        backend):
    from mlcore.layer import LearnerError
    X, y = _data()
    ens = SuperLearner(folds=3, memory=store_dir, backend=backend, n_jobs=2)
    ens.add(_learners(log, ("lr",)) + [
        ("bad", Fails(LogisticRegression(), tag="bad", log=log))],
        proba=True).add_meta(_meta(log))
    with pytest.raises(LearnerError,
                       match=r"learner 'bad'.*(fold \d|full fit)"):
        ens.fit(X, y)
    assert "bad" not in {e.name for e in FitStore(store_dir).entries()}


def test_errors_about_a_stored_subtask_name_its_learner_and_fold(log,
                                                                 store_dir):
    from mlcore._joblib import describe
    from mlcore._subtasks import _fit_learner
    X, y = _data()
    session = fitstore.Session(FitStore(store_dir))
    args = ("layer-1.lr.0.2", "lr", Counted(LogisticRegression()), None, X,
            y, slice(0, 80), slice(80, 120), None, None, 0, True,
            np.array([0, 1]), None, {}, [], 0, 2, False)
    [(func, a, kw)] = session.wrap([(_fit_learner, args, {})])
    assert isinstance(func, fitstore.Stored)
    assert describe(func, a, kw) == "learner 'lr', partition 0, fold 2"


###############################################################################
# memory= as scikit-learn's Pipeline takes it

def test_memory_may_be_a_joblib_memory(log, tmp_path):
    X, y = _data()
    mem = joblib.Memory(str(tmp_path / "jl"), verbose=0)
    _super(log, mem).fit(X, y)
    fits(log)
    _super(log, str(tmp_path / "jl")).fit(X, y)  # the same store
    assert fits(log) == {}
    assert check_memory(joblib.Memory(None)) is None
    _super(log, joblib.Memory(None)).fit(X, y)
    assert fits(log) == {"lr": 4, "gnb": 4, "tree": 4, "meta": 4}


def test_bad_memory_is_refused_before_any_fit(log):
    X, y = _data()
    with pytest.raises(TypeError, match="memory must be None, a directory"):
        _super(log, 3).fit(X, y)
    with pytest.raises(ValueError, match="empty path"):
        _super(log, "").fit(X, y)
    assert fits(log) == {}


def test_distributed_backend_is_refused(log, store_dir):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster
    X, y = _data()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        with pytest.raises(ValueError, match="distributed backend"):
            _super(log, store_dir, backend="dask").fit(X, y)
    assert fits(log) == {}


###############################################################################
# Listing, sizing, pruning; nothing else is touched

def test_list_size_prune_and_clear(log, tmp_path):
    X, y = _data()
    location = tmp_path / "root" / "fits"
    location.mkdir(parents=True)
    (tmp_path / "root" / "keep.txt").write_text("mine")
    (location / "mine.txt").write_text("mine")
    store = FitStore(str(location))
    assert store.entries() == [] and store.size() == 0
    ens = _super(log, store).fit(X, y)
    os.makedirs(store.path, exist_ok=True)
    with open(os.path.join(store.path, "notes.txt"), "w") as f:
        f.write("not an entry")
    entries = store.entries()
    assert len(entries) == 4 * PER_LEARNER  # 3 learners and the meta
    assert Counter(e.name for e in entries) == {
        "lr": 4, "gnb": 4, "tree": 4, "counted": 4}
    assert all(e.current and e.mlcore_version == mlcore.__version__
               for e in entries)
    assert store.size() == sum(os.path.getsize(e.path) for e in entries)
    assert {e.estimator for e in entries} == {"Counted"}

    # last used: the meta entries long ago, the gnb ones a bit later
    for i, e in enumerate(sorted(entries, key=lambda e: e.key)):
        age = {"counted": 10 * 86400, "gnb": 5 * 86400}.get(e.name, 0)
        os.utime(e.path, (e.last_used - age - i, e.last_used - age - i))
    removed = store.prune(older_than=7 * 86400)
    assert {e.name for e in removed} == {"counted"} and len(removed) == 4
    budget = store.size() - 1
    removed = store.prune(max_bytes=budget)
    assert [e.name for e in removed] == ["gnb"]  # least recently used
    assert store.size() <= budget
    _other_version(store.entries()[-1].path)
    stale = store.prune()
    assert len(stale) == 1 and not stale[0].current
    left = len(store.entries())
    assert left == 4 * PER_LEARNER - 4 - 1 - 1
    assert store.clear() == left
    assert store.entries() == [] and store.size() == 0
    # the user's files and the foreign file in the store's folder stay
    assert tree(str(tmp_path / "root")) == [
        "fits", "fits/mine.txt", "fits/mlcore_fits",
        "fits/mlcore_fits/notes.txt", "keep.txt"]
    ens.predict(X)  # the fitted ensemble does not need its store


def test_prune_keeps_young_temporary_files_of_live_writers(store_dir):
    store = FitStore(store_dir)
    store.save("c" * 40, 1, {"kind": "learner", "name": "x"})
    young = os.path.join(store.path, fitstore._TMP_PREFIX + "wwwwwwww.part")
    old = os.path.join(store.path, fitstore._TMP_PREFIX + "vvvvvvvv.part")
    for p in (young, old):
        with open(p, "wb") as f:
            f.write(fitstore._MAGIC + b"half")  # a write in progress
    os.utime(old, (1.0, 1.0))
    assert store.prune() == []
    assert os.path.exists(young) and not os.path.exists(old)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_fits_write_only_inside_the_store_folder(log, tmp_path, backend):
    X, y = _data()
    root = tmp_path / "root"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    _super(log, str(root), backend=backend).fit(X, y)
    listing = tree(str(root))
    assert [p for p in listing if not p.startswith("mlcore_fits")] == [
        "keep.txt"]
    names = os.listdir(root / "mlcore_fits")
    assert len(names) == 16 and all(n.endswith(".fit") for n in names)
    assert (root / "keep.txt").read_text() == "mine"


###############################################################################
# Two processes sharing one store

def _fit_in_child(log, store_dir, barrier, out):
    X, y = _data()
    barrier.wait()
    with threadpool_limits(limits=1):
        ens = _super(log, store_dir, backend="threading").fit(X, y)
    np.save(out, ens.predict_proba(X))


def test_two_processes_sharing_a_store_never_corrupt_it(log, store_dir,
                                                        tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    outs = [str(tmp_path / ("p%d.npy" % i)) for i in range(2)]
    procs = [ctx.Process(target=_fit_in_child,
                         args=(log, store_dir, barrier, out)) for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    counted = fits(log)
    # each process fitted what it did not find: between one and two fits
    # of each, never a broken result
    assert set(counted) == {"lr", "gnb", "tree", "meta"}
    assert all(4 <= n <= 8 for n in counted.values())
    store = FitStore(store_dir)
    entries = store.entries()
    assert len(entries) == 16
    assert all(store.load(e.key) is not None for e in entries)
    assert not [n for n in os.listdir(store.path) if n.endswith(".part")]
    X, y = _data()
    ens = _super(log, store_dir).fit(X, y)
    assert fits(log) == {}
    for out in outs:
        np.testing.assert_array_equal(np.load(out), ens.predict_proba(X))


###############################################################################
# What a learner's key must see: the exact fit of the preprocessing before
# it, the code of classes and functions, the layout of the data

def _case_super(log, memory, steps, backend="threading"):
    ens = SuperLearner(folds=3, memory=memory, backend=backend, n_jobs=2)
    ens.add({"a": _learners(log, ("lr", "tree"))},
            preprocessing={"a": steps}, proba=True)
    return ens.add_meta(_meta(log))


def _frozen_scaler(shift):
    from sklearn.frozen import FrozenEstimator
    X, _ = _data()
    return FrozenEstimator(StandardScaler().fit(X * 10.0 + shift))


# (steps of the first fit, steps of the second) for every kind of change of
# a preprocessing case; ``data`` changes the rows the case is fitted on
_CASE_CHANGES = {
    "params": (lambda log: [CountedScaler(tag="s", log=log)],
               lambda log: [CountedScaler(False, tag="s", log=log)]),
    "added step": (lambda log: [CountedScaler(tag="s", log=log)],
                   lambda log: [CountedScaler(tag="s", log=log),
                                Normalizer()]),
    "step order": (lambda log: [Normalizer(), CountedScaler(tag="s",
                                                            log=log)],
                   lambda log: [CountedScaler(tag="s", log=log),
                                Normalizer()]),
    "step class": (lambda log: [StandardScaler()],
                   lambda log: [MinMaxScaler()]),
    # a step fitted beforehand on other data: its parameters are the same
    "prefitted step": (lambda log: [_frozen_scaler(0.0)],
                       lambda log: [_frozen_scaler(5.0)]),
}


@pytest.mark.parametrize("change", sorted(_CASE_CHANGES) + ["data",
                                                            "targets"])
def test_changed_preprocessing_fit_refits_the_learners_after_it(
        log, store_dir, change):
    X, y = _data()
    before, after = _CASE_CHANGES.get(change, (None, None))
    steps = before(log) if before else [CountedScaler(tag="s", log=log)]
    _case_super(log, store_dir, steps).fit(X, y)
    fits(log)
    steps = after(log) if after else [CountedScaler(tag="s", log=log)]
    if change == "data":
        X = X.copy()
        X[:, 0] *= 3.0
    if change == "targets":
        y = y[::-1].copy()
    ens = _case_super(log, store_dir, steps).fit(X, y)
    ran = fits(log)
    assert ran["lr"] == ran["tree"] == PER_LEARNER
    steps = after(log) if after else [CountedScaler(tag="s", log=log)]
    assert_same_fit(ens, _case_super(log, None, steps).fit(X, y), X)


def test_refitted_case_that_came_out_otherwise_refits_its_learners(
        log, store_dir):
    # a case whose fit is random: once its entries are lost, its refit
    # differs from the fit the stored learners were fitted after
    from sklearn.random_projection import GaussianRandomProjection
    X, y = _data()

    def build(memory):
        return _case_super(log, memory, [GaussianRandomProjection(4)],
                           backend="sequential")

    np.random.seed(1)
    build(store_dir).fit(X, y)
    fits(log)
    store = FitStore(store_dir)
    for e in store.entries():
        if e.name == "a":
            os.unlink(e.path)
    np.random.seed(2)
    ens = build(store_dir).fit(X, y)
    assert fits(log) == {"lr": 4, "tree": 4, "meta": 4}
    np.random.seed(2)
    assert_same_fit(ens, build(None).fit(X, y), X)


def _shift_class(offset):
    """A transformer class of qualified name
    ``_shift_class.<locals>.Shift``: every call makes another one."""
    class Shift(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X * offset

    return Shift


def _notebook_class(expression):
    """A transformer class defined as a notebook cell defines it: class
    ``Shift`` of a module ``notebook`` that cannot be imported."""
    ns = {"__name__": "notebook", "TransformerMixin": TransformerMixin,
          "BaseEstimator": BaseEstimator}
    exec("class Shift(TransformerMixin, BaseEstimator):\n"
         "    def fit(self, X, y=None):\n"
         "        return self\n\n"
         "    def transform(self, X):\n"
         "        return %s\n" % expression, ns)
    return ns["Shift"]


@pytest.mark.parametrize("make, first, second", [
    (_shift_class, -1.0, 2.0), (_notebook_class, "X * -1.0", "X + 2.0")],
    ids=["function-local", "notebook"])
def test_classes_of_one_name_do_not_share_fits(log, store_dir, make, first,
                                               second):
    X, y = _data()
    A, B = make(first), make(second)
    assert (A.__module__, A.__qualname__) == (B.__module__, B.__qualname__)
    assert token(A()) != token(B()) and token(A()) == token(make(first)())
    _case_super(log, store_dir, [A()]).fit(X, y)
    fits(log)
    ens = _case_super(log, store_dir, [B()]).fit(X, y)
    assert fits(log)["lr"] == PER_LEARNER
    assert_same_fit(ens, _case_super(log, None, [B()]).fit(X, y), X)


_SHIFT = 1.0


def _offset():
    return _SHIFT * 2.0


def _shifted(X):
    """Reads a module constant through another function."""
    return X + _offset()


def _countdown(X, n=2):
    """Calls itself: its key must not loop."""
    return X if n == 0 else _countdown(X, n - 1)


def test_function_globals_are_part_of_the_key(log, store_dir, monkeypatch):
    from sklearn.preprocessing import FunctionTransformer
    X, y = _data()

    def steps():
        return [FunctionTransformer(_shifted), FunctionTransformer(
            _countdown)]

    _case_super(log, store_dir, steps()).fit(X, y)
    fits(log)
    monkeypatch.setattr(sys.modules[__name__], "_SHIFT", 50.0)
    ens = _case_super(log, store_dir, steps()).fit(X, y)
    assert fits(log) == {"lr": 4, "tree": 4, "meta": 4}
    assert_same_fit(ens, _case_super(log, None, steps()).fit(X, y), X)
    fits(log)
    _case_super(log, store_dir, steps()).fit(X, y)
    assert fits(log) == {}  # and the key is stable


@pytest.mark.parametrize("layout", ["F", "frame"])
def test_memory_layout_of_X_is_part_of_the_key(log, store_dir, layout):
    # numpy and BLAS round differently on C- and F-ordered arrays (a
    # DataFrame's values are F-ordered)
    X, y = _data()
    _super(log, store_dir).fit(X, y)
    fits(log)
    if layout == "F":
        other = np.asfortranarray(X)
    else:
        other = pytest.importorskip("pandas").DataFrame(X)
    ens = _super(log, store_dir).fit(other, y)
    scratch = _super(log, None).fit(other, y)
    assert_same_fit(ens, scratch, X)
    fits(log)
    again = _super(log, store_dir).fit(other, y)
    assert fits(log) == {}
    assert_same_fit(again, scratch, X)


def test_long_learner_name_is_read_back_and_kept(log, store_dir):
    X, y = _data()
    name = "n" * 10000

    def build():
        ens = SuperLearner(folds=3, memory=store_dir, n_jobs=2)
        ens.add([(name, Counted(GaussianNB(), tag="long", log=log))],
                proba=True)
        return ens.add_meta(_meta(log))

    first = build().fit(X, y)
    fits(log)
    again = build().fit(X, y)
    assert fits(log) == {}
    assert_same_fit(first, again, X)
    store = FitStore(store_dir)
    assert [e.name for e in store.entries()].count(name) == PER_LEARNER
    assert all(e.current for e in store.entries())
    assert store.prune() == []


def test_memory_that_is_a_file_is_refused_before_any_fit(log, tmp_path):
    X, y = _data()
    path = tmp_path / "fits"
    path.write_text("mine")
    with pytest.raises(ValueError, match="must be a directory.*joblib"):
        _super(log, str(path)).fit(X, y)
    taken = tmp_path / "dir"
    (taken / fitstore.FOLDER).mkdir(parents=True)
    os.rmdir(taken / fitstore.FOLDER)
    (taken / fitstore.FOLDER).write_text("mine")
    with pytest.raises(ValueError, match="mlcore_fits.*not a directory"):
        _super(log, str(taken)).fit(X, y)
    assert fits(log) == {}
    assert path.read_text() == "mine"


def test_clear_and_prune_remove_only_files_the_store_wrote(log, store_dir):
    X, y = _data()
    _super(log, store_dir, ("lr",)).fit(X, y)
    store = FitStore(store_dir)
    n = len(store.entries())
    foreign = {"%s.fit" % ("d" * 40): b"my own notes",
               "%s.fit" % ("e" * 40): b"",
               fitstore._TMP_PREFIX + "abcdefgh.part": b"a user's file"}
    for name, data in foreign.items():
        path = os.path.join(store.path, name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (1.0, 1.0))  # old: prune would take it
    assert len(store.entries()) == n
    assert store.prune(older_than=0.0) and store.entries() == []
    _super(log, store_dir, ("lr",)).fit(X, y)
    assert store.clear() == n
    assert sorted(os.listdir(store.path)) == sorted(foreign)
    for name, data in foreign.items():
        with open(os.path.join(store.path, name), "rb") as f:
            assert f.read() == data


@pytest.fixture
def one_native_thread_everywhere(monkeypatch):
    """One BLAS and OpenMP thread in this thread (the module's fixture), in
    mlcore's thread workers (which get cores // workers) and in joblib's
    worker processes (which take these variables from the environment),
    whatever the machine: the thread limit is part of every key."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: 2)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_case_fits_are_read_back_across_backends(
        log, store_dir, backend, one_native_thread_everywhere):
    # the fitted state in a learner's key is the same for a case fitted
    # here, in a worker process, or read back from the store
    X, y = _data()

    def build(backend):
        return _case_super(log, store_dir, [CountedScaler(tag="s", log=log),
                                            Normalizer()], backend=backend)

    first = build(backend).fit(X, y)
    assert fits(log) == {"s": 4, "lr": 4, "tree": 4, "meta": 4}
    for other in (backend, "sequential"):
        again = build(other).fit(X, y)
        assert fits(log) == {}
        assert_same_fit(first, again, X)


###############################################################################
# What else a fit reads: function attributes, the user's own modules, the
# native thread pools and scikit-learn's configuration

def _by_factor(X):
    """Reads an attribute of its own."""
    return X * _by_factor.factor


_by_factor.factor = 1.0


def _factor():
    return _factor.factor


_factor.factor = 1.0


def _by_helper_factor(X):
    """Calls a helper that reads an attribute of its own."""
    return X * _factor()


@pytest.mark.parametrize("func, holder", [(_by_factor, _by_factor),
                                          (_by_helper_factor, _factor)],
                         ids=["own", "helper's"])
def test_function_attributes_are_part_of_the_key(log, store_dir, monkeypatch,
                                                 func, holder):
    from sklearn.preprocessing import FunctionTransformer
    X, y = _data()
    _case_super(log, store_dir, [FunctionTransformer(func)]).fit(X, y)
    fits(log)
    monkeypatch.setattr(holder, "factor", 50.0)
    ens = _case_super(log, store_dir, [FunctionTransformer(func)]).fit(X, y)
    assert fits(log) == {"lr": 4, "tree": 4, "meta": 4}
    assert_same_fit(ens, _case_super(log, None, [FunctionTransformer(
        func)]).fit(X, y), X)
    fits(log)
    _case_super(log, store_dir, [FunctionTransformer(func)]).fit(X, y)
    assert fits(log) == {}


_USER_PACKAGE = {
    "__init__.py": "from . import config\n",
    "config.py": "SCALE = 1.0\n",
    "funcs.py": textwrap.dedent("""\
        import {pkg}


        def through_attributes(Z):
            return Z * {pkg}.config.SCALE


        def imported_in_body(Z):
            from {pkg}.config import SCALE
            return Z * SCALE


        def imported_relatively(Z):
            from .config import SCALE
            return Z * SCALE


        def submodule_imported_in_body(Z):
            import {pkg}.config
            return Z * {pkg}.config.SCALE


        def in_a_closure():
            from . import config

            def scale(Z):
                return Z * config.SCALE
            return scale


        def attribute_by_name(Z, name="SCALE"):
            return Z * getattr({pkg}.config, name)


        def not_yet_imported(Z):
            from {pkg}.later import SCALE
            return Z * SCALE
        """),
    "later.py": "SCALE = 1.0\n",
}


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A package of the user's own, without a version, importable as
    ``fs_userpkg`` for the test; removed from ``sys.modules`` after it."""
    import importlib
    name = "fs_userpkg"
    root = tmp_path / "src" / name
    root.mkdir(parents=True)
    for file, text in _USER_PACKAGE.items():
        (root / file).write_text(text.replace("{pkg}", name))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield importlib.import_module(name + ".funcs")
    for module in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[module]


@pytest.mark.parametrize("func", ["through_attributes", "imported_in_body",
                                  "imported_relatively",
                                  "submodule_imported_in_body",
                                  "in_a_closure"])
def test_values_of_the_users_own_modules_are_part_of_the_key(
        log, store_dir, monkeypatch, user_package, func):
    from sklearn.preprocessing import FunctionTransformer
    X, y = _data()
    f = getattr(user_package, func)
    f = f() if func == "in_a_closure" else f

    def build(memory):
        return _case_super(log, memory, [FunctionTransformer(f)])

    with warnings.catch_warnings():
        warnings.simplefilter("error", FitStoreWarning)
        build(store_dir).fit(X, y)
        fits(log)
        monkeypatch.setattr(sys.modules["fs_userpkg.config"], "SCALE", 50.0)
        ens = build(store_dir).fit(X, y)
        assert fits(log) == {"lr": 4, "tree": 4, "meta": 4}
        assert_same_fit(ens, build(None).fit(X, y), X)
        fits(log)
        build(store_dir).fit(X, y)
        assert fits(log) == {}  # stored, under a stable key


@pytest.mark.parametrize("func, why", [
    ("not_yet_imported", "fs_userpkg.later.*not imported yet"),
    ("attribute_by_name", r"getattr.*the module fs_userpkg")])
def test_values_of_the_users_modules_that_cannot_be_read_are_not_stored(
        log, store_dir, user_package, func, why):
    # a module is not imported before the fit imports it; an attribute
    # read by its name could be any
    from sklearn.preprocessing import FunctionTransformer
    X, y = _data()
    steps = [FunctionTransformer(getattr(user_package, func))]
    with pytest.warns(FitStoreWarning, match=why):
        _case_super(log, store_dir, steps).fit(X, y)
    assert "pipeline" not in {e.kind for e in FitStore(store_dir).entries()}


_READS_BY_NAME = {
    "globals": "Z * globals()['SCALE']",
    "eval": "Z * eval('SCALE')",
    "vars": "Z * vars(sys.modules[__name__])['SCALE']",
    "sys.modules": "Z * sys.modules[__name__].SCALE",
    "getattr": "Z * getattr(me, 'SCALE')",
}


@pytest.mark.parametrize("how", sorted(_READS_BY_NAME))
def test_function_reading_globals_by_name_is_not_stored(log, store_dir,
                                                        monkeypatch, how):
    # a function of a script (module __main__, pickled by value with only
    # the globals its code names) would lose such globals in its stored
    # copy; and the key cannot see which values it reads
    import types
    from sklearn.preprocessing import FunctionTransformer
    script = types.ModuleType("fs_script")
    script.__dict__.update(sys=sys, SCALE=2.0, me=script)
    exec("def scale(Z):\n    return %s\n" % _READS_BY_NAME[how],
         script.__dict__)
    monkeypatch.setitem(sys.modules, "fs_script", script)
    X, y = _data()
    # the meta layer, whose input is the same, is stored
    for ran in ({"lr": 4, "tree": 4, "meta": 4}, {"lr": 4, "tree": 4}):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ens = _case_super(log, store_dir, [FunctionTransformer(
                script.scale)]).fit(X, y)
        messages = [str(w.message) for w in seen
                    if issubclass(w.category, FitStoreWarning)]
        assert len(messages) == 1, messages
        assert "by their names at run time" in messages[0]
        assert fits(log) == ran
        ens.predict(X)
    assert_same_fit(ens, _case_super(log, None, [FunctionTransformer(
        script.scale)]).fit(X, y), X)
    stored = {(e.kind, e.name) for e in FitStore(store_dir).entries()}
    assert stored == {("learner", "counted")}  # the meta learner's fits


def _wide_data():
    # over the 1 MiB under which mlcore runs fits with one native thread
    return make_classification(1500, 100, n_informative=6, random_state=0)


def test_native_thread_limit_is_part_of_the_key(log, store_dir):
    from mlcore.threadpools import native_threads
    with threadpool_limits(limits=1):
        one = native_threads()
    with threadpool_limits(limits=2):
        two = native_threads()
    if one == two:
        pytest.skip("the BLAS and OpenMP libraries run one thread only")
    X, y = _wide_data()

    def build(memory):
        ens = SuperLearner(folds=3, memory=memory, backend="sequential")
        return ens.add(_learners(log, ("lr", "gnb")), proba=True).add_meta(
            _meta(log))

    with threadpool_limits(limits=1):
        build(store_dir).fit(X, y)
    fits(log)
    with threadpool_limits(limits=2):
        ens = build(store_dir).fit(X, y)
        # the meta layer's input is small: it runs on one thread anyway
        # and refits only if the predictions came out otherwise
        ran = fits(log)
        assert ran["lr"] == ran["gnb"] == PER_LEARNER
        assert_same_fit(ens, build(None).fit(X, y), X)
        fits(log)
        build(store_dir).fit(X, y)
        assert fits(log) == {}
    with threadpool_limits(limits=1):
        again = build(store_dir).fit(X, y)
        assert fits(log) == {}
        assert_same_fit(again, build(None).fit(X, y), X)


def test_scikit_learn_configuration_is_part_of_the_key(log, store_dir):
    from sklearn import config_context
    X, y = _data()
    steps = [CountedScaler(tag="s", log=log)]
    _case_super(log, store_dir, steps).fit(X, y)
    fits(log)
    with config_context(transform_output="pandas"):
        ens = _case_super(log, store_dir, steps).fit(X, y)
        assert fits(log) == {"s": 4, "lr": 4, "tree": 4, "meta": 4}
        scratch = _case_super(log, None, steps).fit(X, y)
        assert_same_fit(ens, scratch, X)
    fits(log)
    _case_super(log, store_dir, steps).fit(X, y)
    assert fits(log) == {}


###############################################################################
# Where the store is, and what it may do there

@pytest.mark.parametrize("memory", ["~/fits", "$HOME/fits", "${HOME}/fits"])
def test_home_and_environment_variables_are_expanded(log, tmp_path,
                                                     monkeypatch, memory):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    X, y = _data()
    _super(log, memory, ("lr",)).fit(X, y)
    assert os.listdir(cwd) == []
    assert FitStore(str(home / "fits")).entries()
    assert FitStore(memory) == FitStore(str(home / "fits"))
    fits(log)
    _super(log, str(home / "fits"), ("lr",)).fit(X, y)
    assert fits(log) == {}


def test_unset_variable_or_unknown_user_in_memory_is_refused(log, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FS_NOT_SET", raising=False)
    X, y = _data()
    with pytest.raises(ValueError, match="FS_NOT_SET, which is not set"):
        _super(log, "$FS_NOT_SET/fits").fit(X, y)
    with pytest.raises(ValueError, match="names no user's home"):
        _super(log, "~no-such-user-of-mlcore/fits").fit(X, y)
    assert os.listdir(tmp_path) == [] and fits(log) == {}


@pytest.mark.parametrize("where", ["location", "folder", "parent"])
def test_broken_symlink_as_memory_is_named_so(log, tmp_path, where):
    X, y = _data()
    gone = tmp_path / "gone"
    if where == "location":
        memory = tmp_path / "link"
        os.symlink(gone, memory)
    elif where == "parent":
        os.symlink(gone, tmp_path / "link")
        memory = tmp_path / "link" / "fits"
    else:
        memory = tmp_path / "store"
        memory.mkdir()
        os.symlink(gone, memory / fitstore.FOLDER)
    with pytest.raises(ValueError, match="broken symbolic link.*gone"):
        _super(log, str(memory)).fit(X, y)
    assert not gone.exists() and fits(log) == {}


def _refuse(exc):
    def refused(*args, **kwargs):
        raise exc
    return refused


def test_prune_and_clear_of_a_read_only_store_say_what_failed(log, store_dir,
                                                              monkeypatch):
    import errno
    X, y = _data()
    _super(log, store_dir, ("lr",)).fit(X, y)
    store = FitStore(store_dir)
    n = len(store.entries())
    monkeypatch.setattr(fitstore.os, "unlink", _refuse(
        PermissionError(errno.EACCES, "Permission denied")))
    for call in (store.clear, lambda: store.prune(older_than=0.0)):
        with pytest.raises(PermissionError) as info:
            call()
        message = str(info.value)
        assert store.path in message and "Permission denied" in message
        assert "write access" in message
    monkeypatch.undo()
    assert len(store.entries()) == n


def test_fit_on_a_read_only_store_warns_once_and_reads_it(log, store_dir,
                                                          monkeypatch):
    import errno
    X, y = _data()
    _super(log, store_dir, ("lr",)).fit(X, y)
    fits(log)
    monkeypatch.setattr(fitstore.tempfile, "mkstemp", _refuse(
        OSError(errno.EROFS, "Read-only file system")))
    for names, ran in [(("lr", "gnb"), {"gnb": 4, "meta": 4}),
                       (("lr", "gnb"), {"gnb": 4, "meta": 4})]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ens = _super(log, store_dir, names).fit(X, y)
        messages = [str(w.message) for w in seen
                    if issubclass(w.category, FitStoreWarning)]
        assert len(messages) == 1, messages
        assert store_dir in messages[0] and "Read-only" in messages[0]
        assert fits(log) == ran  # lr read back, nothing written
    assert_same_fit(ens, _super(log, None, ("lr", "gnb")).fit(X, y), X)
