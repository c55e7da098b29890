# docstring of mlens.ensemble.sequential.SequentialEnsemble (mlens 0.2.3), example 1
from mlens.ensemble import SequentialEnsemble
from mlens.metrics.metrics import rmse
from sklearn.datasets import load_boston
from sklearn.linear_model import Lasso
from sklearn.svm import SVR

X, y = load_boston(True)

ensemble = SequentialEnsemble()

# Add a subsemble with 5 partitions as first layer
ensemble.add('subsemble', [SVR(), Lasso()], partitions=10, folds=10)

# Add a super learner as second layer
ensemble.add('stack', [SVR(), Lasso()], folds=20)

# Specify a meta estimator
ensemble.add_meta(SVR())

ensemble.fit(X, y)
preds = ensemble.predict(X)
rmse(y, preds)
