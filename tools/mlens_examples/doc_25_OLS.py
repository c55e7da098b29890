# docstring of mlens.utils.dummy.OLS (mlens 0.2.3), example 1
from sklearn.utils.estimator_checks import check_estimator
from mlens.utils.dummy import OLS
check_estimator(OLS)
