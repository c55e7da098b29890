# docstring of mlens.metrics.utils.assemble_data (mlens 0.2.3), example 1
from mlens.metrics import assemble_data, assemble_table
d = [('row-idx-1.row-idx-2.a.b', {'column-1': 0.1, 'column-2': 0.1})]
print(assemble_table(assemble_data(d)))
