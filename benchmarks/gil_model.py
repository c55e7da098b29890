"""How far thread workers can scale: each learner's GIL-held fraction, and a
model of the speedup on more cores.

Run from the repository root (needs ``pip install py-spy``; py-spy attaches
to a child process it starts, so no special rights are needed)::

    python benchmarks/gil_model.py                    # W1 learners, scale 0.2
    python benchmarks/gil_model.py --workload W2 --scale 0.1 --cores 4,8,16

Method
------
For each base learner of the workload (see ``benchmarks/ensembles.py``), a
child process fits it on a training fold (4/5 of the rows) and predicts the
held-out fifth, over and over, with BLAS/OpenMP pinned to one thread (as
mlcore's thread workers run it on a machine with as many workers as cores).
Once it is fitting, py-spy attaches for ``--seconds`` twice, at ``--rate``
Hz: once recording every sample of a running thread, once only the samples
in which a thread holds the GIL (``--gil``). Their ratio is the learner's
GIL-held fraction ``f``. (Data generation and imports are not sampled.)

The model: on n thread workers, the GIL-held parts of all fits run one at a
time, the rest in parallel. With T the serial work of every fit of the layer
(each learner's 5 fold fits and its full fit) and G its GIL-held part::

    Amdahl:  wall_n = G + (T - G) / n         speedup = T / wall_n
    bound:   wall_n >= max(T / n, G)          speedup <= T / max(T / n, G)

The Amdahl line is pessimistic (GIL-held parts of different fits may still
overlap with released parts of others in practice, which is the bound). The
learners with the largest ``G`` cap the speedup: they are named. Process
workers (loky) do not share a GIL; their ceiling is set by the pickling of
inputs and results, not modelled here.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PIN = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}


def child(workload, scale, name, out):
    """Fit learner ``name`` on a training fold and predict the rest, over and
    over until killed; write "ready" then seconds per fit to ``out``."""
    import warnings
    warnings.filterwarnings("ignore")
    import ensembles as B
    from sklearn.base import clone
    wl, gen = B.make_workloads(scale, False)[workload]
    X, y = gen()[:2]
    est = dict(wl.learners())[name]
    cut = len(y) * 4 // 5
    first = True
    while True:
        t0 = time.perf_counter()
        fitted = clone(est).fit(X[:cut], y[:cut])
        (fitted.predict_proba if wl.proba else fitted.predict)(X[cut:])
        with open(out, "a") as f:
            if first:
                f.write("ready\n")
                first = False
            f.write("%r\n" % (time.perf_counter() - t0))


def samples(path):
    """Total samples of a py-spy raw (collapsed stacks) file."""
    total = 0
    with open(path) as f:
        for line in f:
            line = line.rstrip()
            if line:
                total += int(line.rsplit(" ", 1)[1])
    return total


def measure(workload, scale, name, seconds, rate):
    """(GIL-held fraction, median seconds per fit, sample counts): py-spy
    attaches to a child that is fitting, for ``seconds`` in each mode."""
    env = dict(os.environ, **PIN)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "fits")
        proc = subprocess.Popen([sys.executable, __file__, "--child",
                                 workload, str(scale), name, log], env=env)
        try:
            while not (os.path.exists(log) and "ready" in open(log).read()):
                if proc.poll() is not None:
                    raise RuntimeError("the %s child failed" % name)
                time.sleep(0.2)
            counts = {}
            for mode in ("all", "gil"):
                raw = os.path.join(tmp, mode)
                cmd = ["py-spy", "record", "-r", str(rate), "-f", "raw",
                       "-o", raw, "-d", str(seconds), "--pid", str(proc.pid)]
                if mode == "gil":
                    cmd.append("--gil")
                subprocess.run(cmd, check=True, capture_output=True)
                counts[mode] = samples(raw)
        finally:
            proc.kill()
            proc.wait()
        times = sorted(float(v) for v in open(log).read().split()[1:])
    fit_s = times[len(times) // 2]
    return counts["gil"] / max(counts["all"], 1), fit_s, counts


def model(rows, cores, folds=5):
    """Predicted speedups at each n in ``cores``: (Amdahl, bound)."""
    T = sum(r["fit_s"] * (folds + 1) for r in rows)
    G = sum(r["fit_s"] * (folds + 1) * r["f"] for r in rows)
    out = {}
    for n in cores:
        out[n] = (T / (G + (T - G) / n), T / max(T / n, G))
    return T, G, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="W1")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--seconds", type=int, default=4,
                    help="seconds of sampling per learner and mode")
    ap.add_argument("--rate", type=int, default=250)
    ap.add_argument("--cores", default="2,4,8,16")
    args = ap.parse_args(argv)
    import ensembles as B
    wl = B.make_workloads(args.scale, False)[args.workload][0]
    print("%s at scale %g: %s; BLAS/OpenMP at 1 thread; py-spy at %d Hz"
          % (args.workload, args.scale, wl.desc, args.rate))
    print("  %-8s %9s %8s %11s" % ("learner", "fit s", "GIL f", "samples"))
    rows = []
    for name, _ in wl.learners():
        f, fit_s, counts = measure(args.workload, args.scale, name,
                                   args.seconds, args.rate)
        rows.append({"name": name, "f": f, "fit_s": fit_s})
        print("  %-8s %9.3f %8.2f %5d/%5d" % (name, fit_s, f, counts["gil"],
                                               counts["all"]))
    cores = [int(c) for c in args.cores.split(",")]
    T, G, pred = model(rows, cores)
    print("layer: serial work T = %.2f s, GIL-held G = %.2f s (%.0f%%)"
          % (T, G, 100 * G / T))
    for n in cores:
        print("  %2d thread workers: predicted speedup %.1fx (Amdahl), at "
              "most %.1fx (bound)" % (n, pred[n][0], pred[n][1]))
    capping = sorted(rows, key=lambda r: -r["fit_s"] * r["f"])[:3]
    print("largest GIL-held work: " + ", ".join(
        "%s (%.2f s x f %.2f)" % (r["name"], r["fit_s"] * 6, r["f"])
        for r in capping))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
