"""Shared test fixtures: the virtual device binary and the real models, checked once per session
(paths and run_micropython live in support.py, which tests import as a module)."""
import pytest

from support import DEVICE_BIN, MODELS


@pytest.fixture(scope="session")
def device_bin():
    if not DEVICE_BIN.exists():
        pytest.fail(f"{DEVICE_BIN} is missing: run `make setup`")
    return str(DEVICE_BIN)


@pytest.fixture(scope="session")
def models_dir():
    if not (MODELS / "person_detect.tflite").exists():
        pytest.fail(f"no test models in {MODELS}: set EDGEMCP_MODELS")
    return MODELS
