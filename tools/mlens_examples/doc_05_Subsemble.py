# docstring of mlens.ensemble.subsemble.Subsemble (mlens 0.2.3), example 1
from mlens.ensemble import Subsemble
from mlens.metrics.metrics import rmse
from sklearn.datasets import load_boston
from sklearn.linear_model import Lasso
from sklearn.svm import SVR

X, y = load_boston(True)

ensemble = Subsemble()
ensemble.add([SVR(), ('can name some or all est', Lasso())])
ensemble.add(SVR(), meta=True)

ensemble.fit(X, y)
preds = ensemble.predict(X)
rmse(y, preds)
