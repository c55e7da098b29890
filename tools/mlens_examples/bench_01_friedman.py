# benchmark benchmarks/friedman.py (flennerhag/mlens; module docstring with its example output left out)
# inventory: small mx = 40000 + step -> mx = 800 + step
# inventory: small step = 4000 -> step = 400
import numpy as np
import os

from mlens.ensemble import StackingEnsemble

from mlens.metrics import rmse

from sklearn.datasets import make_friedman1
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn.linear_model import Lasso, ElasticNet
from sklearn.ensemble import RandomForestRegressor, GradientBoostingRegressor
from sklearn.svm import SVR
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler, MinMaxScaler
from sklearn.kernel_ridge import KernelRidge

from time import time


def build_ensemble(**kwargs):
    """Generate ensemble."""

    ens = StackingEnsemble(**kwargs)
    prep = {'Standard Scaling': [StandardScaler()],
            'Min Max Scaling': [MinMaxScaler()],
            'No Preprocessing': []}

    est = {'Standard Scaling':
               [ElasticNet(), Lasso(), KNeighborsRegressor()],
           'Min Max Scaling':
               [SVR()],
           'No Preprocessing':
               [RandomForestRegressor(random_state=SEED),
                GradientBoostingRegressor()]}

    ens.add(est, prep)

    ens.add_meta(GradientBoostingRegressor())

    return ens

if __name__ == '__main__':

    print("\nML-ENSEMBLE\n")
    print("Benchmark of ML-ENSEMBLE against Scikit-learn estimators "
          "on the friedman1 dataset.\n")
    print("Scoring metric: Root Mean Squared Error.\n")

    print("Available CPUs: %i\n" % os.cpu_count())

    SEED = 2017
    np.random.seed(SEED)

    step = 4000
    mi = step
    mx = 40000 + step

    ens_multi = build_ensemble(folds=2, shuffle=False, n_jobs=-1)

    ESTIMATORS = {'Ensemble': ens_multi,
                  'Random F': RandomForestRegressor(random_state=SEED,
                                                    n_jobs=-1),
                  '   elNet': make_pipeline(StandardScaler(), ElasticNet()),
                  '   Lasso': make_pipeline(StandardScaler(), Lasso()),
                  'Kern Rid': make_pipeline(MinMaxScaler(), KernelRidge()),
                  '     SVR': make_pipeline(MinMaxScaler(), SVR()),
                  '     GBM': GradientBoostingRegressor(),
                  '     KNN': KNeighborsRegressor(n_jobs=-1)}

    names = {k.strip(' '): k for k in ESTIMATORS}
    times = {e: [] for e in ESTIMATORS}
    scores = {e: [] for e in ESTIMATORS}

    sizes = range(mi, mx, step)

    print('Ensemble architecture')
    print("Num layers: %i" % ens_multi.layers.n_layers)
    print("Meta estimator: %s" % ens_multi.meta_estimator.__class__.__name__)
    for layer in ens_multi.layers.layers:
        for case in ens_multi.layers.layers[layer].preprocessing:
            el = ens_multi.layers.layers['layer-1'].estimators[case]
            print('%s | %s - Estimators: %r.' % (layer, case,
                                                 [e for e, _ in el]))

    print("\nBenchmark estimators", end=": ")
    for name in sorted(names):
        if name == 'Ensemble':
            continue
        print(name, end=" ")
    print('\n')

    print('Data')
    print('Features: %i' % 10)
    print('Training set sizes: from %i to %i with step size %i.\n' % (
          np.floor(mi / 2),
          np.floor((mx - step) / 2),
          np.floor(step/2)))

    print('SCORES')
    print('%6s' % 'size', end=' | ')

    for name in sorted(names):
        print('%s' % names[name], end=' | ')
    print()

    for size in sizes:
        n = int(np.floor(size / 2))

        X, y = make_friedman1(n_samples=size, random_state=SEED)

        print('%6i' % n, end=' | ')
        for name in sorted(names):
            e = clone( ESTIMATORS[names[name]])
            t0 = time()
            e.fit(X[:n], y[:n])
            t1 = time() - t0
            times[names[name]].append(t1)

            s = rmse(e, X[n:], y[n:])
            scores[names[name]].append(s)

            print('%8.2f' % (-s), end=' | ')

        print()

    print('\nFIT TIMES')
    print('%6s' % 'size', end=' | ')

    for name in sorted(names):
        print('%s' % names[name], end=' | ')
    print()

    for i, size in enumerate(sizes):
        n = int(np.floor(size / 2))
        print('%6i' % n, end=' | ')

        for name in sorted(names):

            t = times[names[name]][i]
            m, s = divmod(t, 60)
            print('%5d:%02d' % (m, s), end=' | ')
        print()
