# docstring of mlens.ensemble.temporal.TemporalEnsemble (mlens 0.2.3), example 1
from sklearn.linear_model import LinearRegression
from mlens.ensemble import TemporalEnsemble
import numpy as np

x = np.linspace(0, 1, 100)
y = x[1:]
x = x[:-1]
x = x.reshape(-1, 1)

ens = TemporalEnsemble(window=1)
ens.add(LinearRegression())

ens.fit(x, y)
p = ens.predict(x)


print("{:5} | {:5}".format('pred', 'truth'))
for i in range(5, 10):
    print("{:.3f} | {:.3f}".format(p[i], y[i]))
