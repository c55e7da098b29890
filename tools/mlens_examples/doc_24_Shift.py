# docstring of mlens.preprocessing.preprocess.Shift (mlens 0.2.3), example 1
import numpy as np
from mlens.preprocessing import Shift
X = np.arange(10)
L = Shift(2)
Z = L.fit_transform(X)
print("X : {}".format(X[2:]))
print("Z : {}".format(Z))
