# tutorial docs/source/examples_source/learner_tutorial.py (flennerhag/mlens), "Partitioning", "Preprocessing", "Estimation Data"
import os, tempfile
import numpy as np
from mlens.utils.dummy import OLS
from mlens.parallel import Learner

X = np.arange(20).reshape(10, 2)
y = np.random.rand(10)
path = tempfile.TemporaryDirectory(dir=os.getcwd())

from mlens.index import SubsetIndex

indexer = SubsetIndex(n_partitions=2, n_splits=2, X=X)
learner = Learner(estimator=OLS(),
                  preprocess=None,
                  indexer=indexer,
                  name='ols',
                  attr='predict',
                  scorer=None,
                  output_columns={0: 0, 1: 1},
                  verbose=True)

P = np.zeros((y.shape[0], 2))
for sub_learner in learner('fit', X, y, P):
    sub_learner.fit(path.name)
    print('P:')
    print(P)
    print()

learner.collect(path.name)
print("Data:\n %s" % learner.data)

from mlens.utils.dummy import Scale
from mlens.parallel import Transformer

transformer = Transformer(pipeline=[('trans', Scale())],
                          indexer=indexer,
                          name='sc',
                          verbose=True)

def mse(y, p): return np.mean((y - p) ** 2)

learner = Learner(estimator=OLS(),
                  preprocess='sc',
                  indexer=indexer,
                  name='ols',
                  attr='predict',
                  scorer=mse,
                  output_columns={0: 0, 1: 1},
                  verbose=True)

P = np.zeros((y.shape[0], 2))

for st in transformer('fit', X, y):
    st('fit', path.name)

for lr in learner('fit', X, y, P):
    lr('fit', path.name)

transformer.collect(path.name)
learner.collect(path.name)
print("Cache: %r" % os.listdir(path.name))
print("Data:\n%s" % learner.data)
