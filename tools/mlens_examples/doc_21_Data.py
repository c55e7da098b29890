# docstring of mlens.metrics.utils.Data (mlens 0.2.3), example 1
from mlens.metrics import Data
d = [('row-idx-1.row-idx-2.0.0', {'column-1': 0.1, 'column-2': 0.1})]
data = Data(d)
print(data)
