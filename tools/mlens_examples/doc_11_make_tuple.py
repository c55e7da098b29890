# docstring of mlens.index.base.make_tuple (mlens 0.2.3), example 1
import numpy as np
from mlens.index.base import make_tuple
_make_tuple(np.array([0, 1, 2, 5, 6, 8, 9, 10]))
