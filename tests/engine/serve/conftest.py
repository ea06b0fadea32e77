"""A real server (uvicorn on a free loopback port, in a thread) over the bundled model on CPU."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def bundled_engine():
    from engine.api import load_engine
    from engine.resources import bundled_model_dir

    return load_engine(bundled_model_dir(), device="cpu")


@pytest.fixture(scope="session")
def server(bundled_engine):
    from engine.serve import ServerThread
    from engine.serve.app import Limits, create_app

    app = create_app(bundled_engine, Limits(max_bytes=256, context_bytes=16 << 10, request_bytes=64 << 10))
    with ServerThread(app) as running:
        yield running


@pytest.fixture()
def remote(server):
    from engine.remote import RemoteEngine

    engine = RemoteEngine(server.url, retries=1, backoff=0.05)
    yield engine
    engine.close()


# Served rows against the same request decoded alone in process. On a CPU a request alone in the batch is
# computed exactly as in process (tested with ==); in a batch with others, and on a GPU (where cuBLAS picks
# kernels by the batch size), a row's logits move by rounding, so a byte can flip where two bytes nearly tie.
LOGP_TOL = 0.05  # nats: a sampled byte's log-probability, served vs alone
MARGIN_TOL = 2 * LOGP_TOL  # a decision closer than this may go either way: the streams may part there


def assert_same_up_to_near_ties(served, alone, logp_tol: float = LOGP_TOL,
                                margin_tol: float = MARGIN_TOL) -> tuple[int, float]:
    """Two DecodeJobs of one request (no stop sequences): per stream, equal bytes and log-probs within
    logp_tol up to the first byte either decided by a margin under margin_tol; whole equality if none.
    Returns the number of bytes compared and the largest log-prob difference seen."""
    compared, worst = 0, 0.0
    for a, b in zip(served.streams, alone.streams, strict=True):
        parted = None
        for i, (la, lb) in enumerate(zip(a.logps, b.logps)):
            if min(a.margins[i], b.margins[i]) < margin_tol:
                parted = i
                break
            assert abs(la - lb) < logp_tol, f"stream {a.index} byte {i}: log-prob {la:.4f} vs {lb:.4f}"
            compared += 1
            worst = max(worst, abs(la - lb))
        if parted is None:
            assert bytes(a.out) == bytes(b.out) and a.finish == b.finish, f"stream {a.index}"
        else:
            assert bytes(a.out[:parted]) == bytes(b.out[:parted]), f"stream {a.index} before byte {parted}"
    return compared, worst


@pytest.fixture()
def same_up_to_near_ties():
    return assert_same_up_to_near_ties
