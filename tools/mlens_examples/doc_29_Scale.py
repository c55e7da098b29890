# docstring of mlens.utils.dummy.Scale (mlens 0.2.3), example 1
from sklearn.utils.estimator_checks import check_estimator
from mlens.utils.dummy import Scale
check_estimator(Scale)
