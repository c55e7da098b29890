# docstring of mlens.index.fold.FoldIndex (mlens 0.2.3), example 2
import numpy as np
from mlens.index import FoldIndex
X = np.arange(3)
print("Data set: %r" % X)
print()

idx = FoldIndex(1, X, raise_on_exception=False)

for train, test in idx.generate(as_array=True):
    print('TRAIN IDX: %10r | TEST IDX: %10r' % (train, test))
