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
