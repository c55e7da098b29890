# docstring of mlens.ensemble.super_learner.SuperLearner (mlens 0.2.3), example 1
from mlens.ensemble import SuperLearner
from mlens.metrics.metrics import rmse
from sklearn.datasets import load_boston
from sklearn.linear_model import Lasso
from sklearn.svm import SVR

X, y = load_boston(True)

ensemble = SuperLearner()
ensemble.add([SVR(), ('can name some or all est', Lasso())])
ensemble.add_meta(SVR())

ensemble.fit(X, y)
preds = ensemble.predict(X)
rmse(y, preds)
