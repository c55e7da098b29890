# docstring of mlens.index.subsemble.SubsetIndex (mlens 0.2.3), example 1
import numpy as np
from mlens.index import SubsetIndex
X = np.arange(10)
idx = SubsetIndex(3, X=X)

print('Expected partitions of X:')
print('J = 1: {!r}'.format(X[0:4]))
print('J = 2: {!r}'.format(X[4:7]))
print('J = 3: {!r}'.format(X[7:10]))
print('SubsetIndexer partitions:')
for i, part in enumerate(idx.partition(as_array=True)):
    print('J = {}: {!r}'.format(i + 1, part))
print('SubsetIndexer folds on partitions:')
for i, (tri, tei) in enumerate(idx.generate()):
    fold = i % 2 + 1
    part = i // 2 + 1
    train = np.hstack([np.arange(t0, t1) for t0, t1 in tri])
    test = np.hstack([np.arange(t0, t1) for t0, t1 in tei])
    print("J = %i | f = %i | "
          "train: %15r | test: %r" % (part, fold, train, test))
