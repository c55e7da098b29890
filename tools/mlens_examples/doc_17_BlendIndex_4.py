# docstring of mlens.index.blend.BlendIndex (mlens 0.2.3), example 4
import numpy as np
from mlens.index import BlendIndex
X = np.arange(8)
idx = BlendIndex(3, rebase=True)
print('Test size: 3')
for tri, tei in idx.generate(X):
    print('TEST tuple: (%i, %i) | array: %r' % (tei[0], tei[1],
                                                np.arange(tei[0],
                                                          tei[1])))
