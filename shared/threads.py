"""How many threads the numeric libraries may use, for code that trains or scores models."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def single_threaded_math():
    """One OpenMP/BLAS thread. Their workers spin-wait: on a busy 2-core machine the booster
    took 13.6 s to fit with two threads against 1.1 s with one, and seconds to predict five
    rows. (The forest's n_jobs threads are joblib's and unaffected.)"""
    return threadpool_limits(limits=1)
