"""Engine tests: Triton's compiled kernels and autotuning results persist in the user cache directory, so a
second `pytest -m gpu` (or a carried cache) does not compile again."""


def pytest_configure(config):
    from engine.kernels.env import configure_triton_cache

    configure_triton_cache()
