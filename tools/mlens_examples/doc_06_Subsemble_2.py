# docstring of mlens.ensemble.subsemble.Subsemble (mlens 0.2.3), example 2
from mlens.ensemble import Subsemble
from mlens.metrics.metrics import rmse
from sklearn.datasets import load_boston
from sklearn. preprocessing import MinMaxScaler, StandardScaler
from sklearn.linear_model import Lasso
from sklearn.svm import SVR

X, y = load_boston(True)

preprocessing_cases = {'mm': [MinMaxScaler()],
                       'sc': [StandardScaler()]}

estimators_per_case = {'mm': [SVR()],
                       'sc': [('can name some or all ests', Lasso())]}

ensemble = Subsemble()
ensemble.add(estimators_per_case, preprocessing_cases).add_meta(SVR())

ensemble.fit(X, y)
preds = ensemble.predict(X)
rmse(y, preds)
