# docstring of mlens.utils.dummy.LogisticRegression (mlens 0.2.3), example 1
from sklearn.utils.estimator_checks import check_estimator
from mlens.utils.dummy import LogisticRegression
check_estimator(LogisticRegression)
