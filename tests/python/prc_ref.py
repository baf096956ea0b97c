"""Improved precision and recall (Kynkaanniemi et al. 2019) with NumPy/SciPy, independently
of ddim-sweep: the reference for its unit and integration tests.

    python prc_ref.py REAL.csv GENERATED.csv [K]

prints {"precision": p, "recall": r, "k": K}. Rows are feature vectors. The radius of a point
is the distance to its K-th nearest neighbour in its own set (itself excluded); a point is
inside a manifold when it is within (<=) some point's radius of that point.
"""
import json
import sys

import numpy as np
from scipy.spatial.distance import cdist


def radii(x, k):
    d = cdist(x, x)
    # Column 0 of the sorted row is the point itself (distance 0).
    return np.partition(d, k, axis=1)[:, k]


def inside(centres, r, points):
    d = cdist(points, centres)
    return float(np.mean(np.any(d <= r[None, :], axis=1)))


def main():
    real = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2).astype(np.float64)
    fake = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2).astype(np.float64)
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(json.dumps({
        "precision": inside(real, radii(real, k), fake),
        "recall": inside(fake, radii(fake, k), real),
        "k": k,
    }))


if __name__ == "__main__":
    main()
