"""scikit-learn's estimator checks on configured instances of every ensemble.

``parametrize_with_checks`` runs the whole battery of
``sklearn.utils.estimator_checks`` (input validation, ``n_features_in_``,
error messages, NotFittedError before fit, empty data, one sample, pickling,
cloning, idempotent fits, parameters left alone by ``fit``, dtypes,
``sample_weight``, classifier/regressor/transformer behaviour, ...) on each
instance below, in strict-xfail mode: a check listed as an expected failure
that starts to pass fails the run, so the list cannot go stale.

Expected failures (see :func:`expected_failed_checks`), each for a reason
that is part of what a stacked ensemble is, not a defect:

``check_sample_weight_equivalence_on_dense_data`` / ``..._on_sparse_data``
    The check compares fitting with integer weights against fitting on the
    data with rows repeated or removed. Out-of-fold predictions depend on
    which rows land in which fold, and folds are cut by row position: the
    repeated data has different folds, hence different base fits and a
    different meta learner. (Weights *are* routed to every fit; that is
    checked exactly in ``test_ensemble.py``.)
``check_methods_sample_order_invariance`` / ``check_methods_subset_invariance``
    Only ``transform`` fails them. ``transform`` on the training data replays
    the out-of-fold predictions (``fit(X).transform(X) == fit_transform(X)``,
    which ``check_transformer_general`` requires); a permuted or sub-sampled
    training set is new data and gets the full fits' predictions. The same
    invariances for ``predict``/``predict_proba``/``transform`` of new data are
    tested below in :func:`test_predict_is_row_wise`.
``check_transformer_general`` / ``check_transformer_data_not_an_array``
    Only for ensembles with a blend or temporal layer: by design
    ``fit_transform(X)`` holds predictions for the rows that layer predicted
    (the holdout / the rows after ``burn_in``), fewer than ``len(X)``.

Configurations are chosen so that the checks' tiny, label-sorted data sets
are valid inputs: stratified folds for the logistic-regression stacks (plain
contiguous folds of label-sorted rows hold one class, on which
LogisticRegression refuses to fit), row shuffling for the blend of
logistic regressions, decision trees where a partition or an early time
window can legitimately hold one class. The sequential backend keeps the
~700 checks fast; backends are compared in ``test_ensemble.py``.
"""
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner, TemporalEnsemble)

SEQ = dict(backend="sequential", n_jobs=1)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny fits on a shared 2-core machine: BLAS threads that spin for
    work only slow them down (LogisticRegression about 20x)."""
    with threadpool_limits(limits=1):
        yield


def _instances():
    return [
        # The configuration of the issue, with stratified folds.
        SuperLearner(folds=StratifiedKFold(2), random_state=0, **SEQ)
        .add([LogisticRegression(), GaussianNB()], proba=True)
        .add_meta(LogisticRegression()),
        # FoldIndex (contiguous KFold), regression, two layers of linear fits.
        SuperLearner(folds=2, random_state=0, **SEQ)
        .add([Ridge(), LinearRegression()])
        .add_meta(LinearRegression()),
        BlendEnsemble(test_size=0.5, shuffle=True, random_state=0, **SEQ)
        .add([LogisticRegression(), GaussianNB()], proba=True)
        .add_meta(LogisticRegression()),
        BlendEnsemble(test_size=0.4, random_state=0, **SEQ)
        .add([Ridge()])
        .add_meta(LinearRegression()),
        Subsemble(partitions=2, folds=2, random_state=0, **SEQ)
        .add([DecisionTreeClassifier(max_depth=2)], proba=True)
        .add_meta(LogisticRegression()),
        Subsemble(partitions=2, folds=2, random_state=0, **SEQ)
        .add([Ridge(), DecisionTreeRegressor(max_depth=3)])
        .add_meta(LinearRegression()),
        SequentialEnsemble(shuffle=True, random_state=0, **SEQ)
        .add("stack", [LogisticRegression(), GaussianNB()], proba=True,
             folds=StratifiedKFold(2))
        .add("blend", [DecisionTreeClassifier(max_depth=3)], proba=True)
        .add_meta(LogisticRegression()),
        TemporalEnsemble(step_size=4, random_state=0, **SEQ)
        .add([Ridge()])
        .add_meta(LinearRegression()),
        TemporalEnsemble(step_size=4, random_state=0, **SEQ)
        .add([DecisionTreeClassifier(max_depth=2)], proba=True)
        .add_meta(LogisticRegression()),
    ]


_SAMPLE_WEIGHT = (
    "out-of-fold predictions depend on which rows fall in which fold, and "
    "folds are cut by row position: repeating rows instead of weighting "
    "them changes the folds, hence the base fits and the meta learner "
    "(weights are routed to every fit; test_ensemble checks that exactly)")
_TRANSFORM_REPLAY = (
    "only transform fails: on the training data it replays the "
    "out-of-fold predictions (so that fit(X).transform(X) == "
    "fit_transform(X)); a permuted or sub-sampled training set is new data "
    "and gets the full fits' predictions. predict/predict_proba are checked "
    "for this invariance in test_predict_is_row_wise")
_FEWER_ROWS = (
    "a blend or temporal layer predicts only its holdout rows (the rows "
    "after the training part / after burn_in), so fit_transform(X) and "
    "transform(X_train) have fewer rows than X by design")


def _has_holdout_layer(ens):
    """True if some layer outputs fewer rows than it reads at fit time."""
    for spec in ens.layers:
        kind = spec.indexer if isinstance(spec.indexer, str) else ""
        if kind in ("blend", "temporal"):
            return True
    return False


def expected_failed_checks(ens):
    """{check name: reason} of the checks that cannot apply to ``ens``
    (documented in the module docstring)."""
    out = {
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT,
        "check_methods_sample_order_invariance": _TRANSFORM_REPLAY,
        "check_methods_subset_invariance": _TRANSFORM_REPLAY,
    }
    if get_tags(ens).input_tags.sparse:
        out["check_sample_weight_equivalence_on_sparse_data"] = _SAMPLE_WEIGHT
    if _has_holdout_layer(ens):
        out["check_transformer_general"] = _FEWER_ROWS
        out["check_transformer_data_not_an_array"] = _FEWER_ROWS
    return out


@parametrize_with_checks(_instances(),
                         expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        # Tiny, degenerate data sets: convergence and zero-variance warnings
        # of the base learners are expected noise here.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)


###############################################################################
# What the expected failures leave out

# an early time window of these rows can hold two of the three classes
@pytest.mark.filterwarnings("ignore::mlcore.exceptions.MissingClassWarning")
@pytest.mark.parametrize("ens", _instances(),
                         ids=lambda e: type(e).__name__)
def test_predict_is_row_wise(ens):
    """predict, predict_proba and transform of new data do not depend on
    the order of the rows or on the other rows of the batch (the part of
    check_methods_*_invariance that applies)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 4))
    X_new = rng.uniform(size=(20, 4))
    if is_classifier(ens):
        y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.7)
    else:
        y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.randn(60)
    ens = clone(ens).fit(X, y)
    perm = rng.permutation(20)
    methods = ["predict", "transform"]
    if is_classifier(ens):
        methods.append("predict_proba")
    for method in methods:
        full = getattr(ens, method)(X_new)
        np.testing.assert_allclose(getattr(ens, method)(X_new[perm]),
                                   full[perm], rtol=1e-12, atol=1e-12)
        parts = np.concatenate([getattr(ens, method)(X_new[i:i + 7])
                                for i in range(0, 20, 7)])
        np.testing.assert_allclose(parts, full, rtol=1e-12, atol=1e-12)


def test_expected_failures_are_few_and_documented():
    """The list stays short and every entry has a reason."""
    for ens in _instances():
        failed = expected_failed_checks(ens)
        assert len(failed) <= 6
        assert all(isinstance(r, str) and len(r) > 40
                   for r in failed.values())
