# tutorial docs/source/examples_source/learner_tutorial.py (flennerhag/mlens), "Basics"
from mlens.utils.dummy import OLS
from mlens.parallel import Learner
from mlens.index import FoldIndex


indexer = FoldIndex(n_splits=2)
learner = Learner(estimator=OLS(),
                  preprocess=None,
                  indexer=indexer,
                  name='ols',
                  attr='predict',
                  scorer=None,
                  output_columns={0: 0},
                  verbose=True)

import os, tempfile
import numpy as np

X = np.arange(20).reshape(10, 2)
y = np.random.rand(10)

indexer.fit(X)
path = tempfile.TemporaryDirectory(dir=os.getcwd())

for sub_learner in learner('fit', X, y):
    sub_learner('fit', path.name)

print("Cached items:\n%r" % os.listdir(path.name))
learner.collect(path.name)

P = np.zeros((y.shape[0], 1))
for sub_learner in learner('transform', X, P):
    sub_learner('transform', path.name)
    print('P:')
    print(P)
    print()

print("Params before:")
print(learner.get_params())
learner.set_params(estimator__offset=1, indexer__n_splits=3)
print("Params after:")
print(learner.get_params())
