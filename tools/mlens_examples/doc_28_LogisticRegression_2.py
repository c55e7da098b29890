# docstring of mlens.utils.dummy.LogisticRegression (mlens 0.2.3), example 2
from mlens.utils.dummy import LogisticRegression as mlensL
from sklearn.linear_model import LogisticRegression as sklearnL
from sklearn.datasets import make_classification
X, y = make_classification()

slr = sklearnL()
slr.fit(X, y)

mlr = mlensL()
mlr.fit(X, y)

(mlr.predict(X) == slr.predict(X)).sum() / y.shape
