"""shared/threads.py: one BLAS/OpenMP thread inside the block, the previous limits after it."""

from __future__ import annotations

import numpy  # noqa: F401  (loads OpenBLAS)
import pytest
import sklearn.ensemble  # noqa: F401  (loads OpenMP)
from threadpoolctl import threadpool_info, threadpool_limits

from shared.threads import single_threaded_math


def thread_counts() -> dict[str, int]:
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def test_single_threaded_math_limits_every_pool_and_restores_them():
    with threadpool_limits(limits=2):
        before = thread_counts()
        assert set(before.values()) == {2}  # pools are loaded, at two threads
        with single_threaded_math():
            assert set(thread_counts().values()) == {1}
        assert thread_counts() == before


def test_the_limits_are_restored_after_an_error():
    with threadpool_limits(limits=2):
        with pytest.raises(RuntimeError), single_threaded_math():
            raise RuntimeError("fit failed")
        assert set(thread_counts().values()) == {2}
