"""ML-Ensemble's own layers, ensembles and evaluator, run on mlcore's engine,
see what ML-Ensemble's engine showed them.

ML-Ensemble 0.2.3 (``pip install mlens==0.2.3``) is the reference: the same
calls on its own engine and on :mod:`mlcore.backend` (bound into ML-Ensemble's
modules in place of its ``ParallelProcessing`` / ``ParallelEvaluation``) must
give identical results. Skipped when mlens is not installed. ML-Ensemble
imports on Python 3.11 / NumPy 2 once the aliases it uses are put back
(``np.int``, ``collections.Sequence``, ...): :mod:`tests._mlens` does that
and confines the side effects of its import.
"""
import numpy as np
import pytest

from tests._mlens import import_mlens

if import_mlens() is None:
    pytest.skip("mlens is not installed", allow_module_level=True)

import mlens.ensemble.base as mlens_ensemble_base  # noqa: E402
import mlens.model_selection.model_selection as mlens_model_selection  # noqa
import mlens.parallel.backend as mlens_backend  # noqa: E402
from mlens.ensemble import BlendEnsemble, Subsemble, SuperLearner  # noqa
from mlens.index import FoldIndex  # noqa: E402
from mlens.metrics import make_scorer  # noqa: E402
from mlens.model_selection import Evaluator  # noqa: E402
from mlens.parallel import Layer, make_group  # noqa: E402
from scipy.stats import uniform  # noqa: E402
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

from mlcore import backend as mlcore_backend  # noqa: E402

_rng = np.random.RandomState(0)
X = _rng.randn(60, 4)
Y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.3 * _rng.randn(60)


def _layer(**kwargs):
    group = make_group(FoldIndex(3), [Ridge(), LinearRegression()],
                       [StandardScaler()])
    return Layer(stack=group, **kwargs)


@pytest.mark.parametrize("backend", ["threading", "sequential"])
def test_mlens_layer_shuffled_fit_identical(backend):
    layer = _layer(shuffle=True, random_state=3)
    ref = mlens_backend.ParallelProcessing("threading").map(
        layer, "fit", X, Y, return_preds=True)
    with mlcore_backend.ParallelProcessing(backend, 2) as engine:
        got = engine.map(layer, "fit", X, Y, return_preds=True)
        rows = engine.output_rows()
    # the permuted order ML-Ensemble returns, and the permutation
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(rows, np.random.RandomState(3).permutation(
        60))


def test_mlens_layer_refit_keyword_is_not_forwarded():
    layer = _layer()
    with mlcore_backend.ParallelProcessing("threading", 2) as engine:
        first = engine.map(layer, "fit", X, Y, return_preds=True)
        again = engine.map(layer, "fit", X, Y, return_preds=True, refit=True)
    np.testing.assert_array_equal(first, again)
    # forwarded (an opt-in ML-Ensemble's layers do not make), refit=True
    # makes its fitted transformers return None: the crash of the issue
    layer.forward_kwargs = True
    with mlcore_backend.ParallelProcessing("threading", 2) as engine:
        with pytest.raises(TypeError, match="'NoneType' object is not "
                                            "iterable"):
            engine.map(layer, "fit", X, Y, refit=True)


def _ensemble(cls):
    ens = cls(shuffle=True, random_state=1)
    ens.add([Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)],
            preprocessing=[StandardScaler()])
    ens.add_meta(LinearRegression())
    return ens


@pytest.mark.parametrize("cls", [SuperLearner, BlendEnsemble, Subsemble])
def test_mlens_ensembles_identical_on_mlcore_engine(cls, monkeypatch):
    ref = _ensemble(cls).fit(X, Y).predict(X[:15])
    monkeypatch.setattr(mlens_ensemble_base, "ParallelProcessing",
                        mlcore_backend.ParallelProcessing)
    got = _ensemble(cls).fit(X, Y).predict(X[:15])
    np.testing.assert_array_equal(got, ref)


def _evaluate():
    scorer = make_scorer(lambda y, p: np.mean((y - p) ** 2),
                         greater_is_better=False)
    ev = Evaluator(scorer, cv=3, random_state=5)  # shuffle=True by default
    ev.fit(X, Y, [Ridge()], {"ridge": {"alpha": uniform(0, 5)}}, n_iter=3)
    return ev.results


def test_mlens_evaluator_default_shuffle_not_applied(monkeypatch):
    ref = _evaluate()
    monkeypatch.setattr(mlens_model_selection, "ParallelEvaluation",
                        mlcore_backend.ParallelEvaluation)
    got = _evaluate()
    for column in ("test_score-m", "test_score-s", "train_score-m"):
        assert dict(got)[column] == dict(ref)[column]
