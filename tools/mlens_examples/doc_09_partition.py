# docstring of mlens.index.base.partition (mlens 0.2.3), example 1
from mlens.index.base import partition
_partition(4, 2)
