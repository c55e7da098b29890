# docstring of mlens.index.base.partition (mlens 0.2.3), example 2
from mlens.index.base import partition
_partition(8, 3)
