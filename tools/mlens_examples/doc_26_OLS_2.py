# docstring of mlens.utils.dummy.OLS (mlens 0.2.3), example 2
from numpy.testing import assert_array_equal
from mlens.utils.dummy import OLS
from sklearn.linear_model import LinearRegression
from sklearn.datasets import load_boston
X, y = load_boston(True)

lr = LinearRegression(False)
lr.fit(X, y)

ols = OLS()
ols.fit(X, y)

assert_array_equal(lr.coef_, ols.coef_)
