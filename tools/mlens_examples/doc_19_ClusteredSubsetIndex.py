# docstring of mlens.index.subsemble.ClusteredSubsetIndex (mlens 0.2.3), example 1
import numpy as np
from sklearn.cluster import KMeans
from mlens.index import ClusteredSubsetIndex

km = KMeans(3, random_state=0)
X = np.arange(12).reshape(-1, 1); np.random.shuffle(X)
print("Data: {}".format(X.ravel()))

s = ClusteredSubsetIndex(km)
s.fit(X)

P = s.partition_estimator.predict(X)
print("cluster labels: {}".format(P))

for j, i in enumerate(s.partition(as_array=True)):
   print("partition ({}) index: {}, cluster labels: {}".format(i, j + 1, P[i]))

for i in s.generate(as_array=True):
    print("train fold index: {}, cluster labels: {}".format(i[0], P[i[0]]))
