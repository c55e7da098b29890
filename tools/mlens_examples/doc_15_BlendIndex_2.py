# docstring of mlens.index.blend.BlendIndex (mlens 0.2.3), example 2
import numpy as np
from mlens.index import BlendIndex
X = np.arange(8)
idx = BlendIndex(3, 4, X)
print('Test size: 3')
print('Train size: 4')
for tri, tei in idx.generate(X):
    print('TEST (idx | array): (%i, %i) | %r ' % (tei[0], tei[1],
                                                  X[tei[0]:tei[1]]))
    print('TRAIN (idx | array): (%i, %i) | %r ' % (tri[0], tri[1],
                                                   X[tri[0]:tri[1]]))
