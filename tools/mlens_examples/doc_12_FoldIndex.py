# docstring of mlens.index.fold.FoldIndex (mlens 0.2.3), example 1
import numpy as np
from mlens.index import FoldIndex
X = np.arange(10)
print("Data set: %r" % X)
print()

idx = FoldIndex(4, X)

for train, test in idx.generate(as_array=True):
    print('TRAIN IDX: %32r | TEST IDX: %16r' % (train, test))

print()

for train, test in idx.generate(as_array=True):
    print('TRAIN SET: %32r | TEST SET: %16r' % (X[train], X[test]))

for train_idx, test_idx in idx.generate(as_array=True):
    assert not any([i in X[test_idx] for i in X[train_idx]])

print()

print("No overlap between train set and test set.")
