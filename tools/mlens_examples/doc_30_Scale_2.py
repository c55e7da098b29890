# docstring of mlens.utils.dummy.Scale (mlens 0.2.3), example 2
from numpy import arange
from mlens.utils.dummy import Scale
X = arange(6).reshape(3, 2)
X[:, 1] *= 2
print('X:')
print('%r' % X)
print('Scaled:')
S = Scale().fit_transform(X)
print('%r' % S)
