"""Shared test plumbing: the stand-in `modal` on sys.path, the fixture, and app loading."""

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from unittest import mock

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
MODAL_DIR = os.path.dirname(TESTS_DIR)
STAND_IN_DIR = os.path.join(TESTS_DIR, "stand_in")
FIXTURE = os.path.join(TESTS_DIR, "fixtures", "specs.json")
SCRIPTS = {"vllm": os.path.join(MODAL_DIR, "vllm.py"), "gpt-oss": os.path.join(MODAL_DIR, "gpt_oss.py")}


def _use_stand_in():
    for path in (MODAL_DIR, STAND_IN_DIR):  # STAND_IN_DIR ends up first
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    loaded = sys.modules.get("modal")
    if loaded is not None and getattr(loaded, "__file__", None) != os.path.join(STAND_IN_DIR, "modal.py"):
        del sys.modules["modal"]  # never let the real library (or the repo's modal/ dir) answer
    import modal

    return modal


modal = _use_stand_in()
import vllm_spec  # noqa: E402

_names = itertools.count()

SPEC_HASH = "0123456789ab"  # what goatbench deploy passes in GOATBENCH_SPEC_HASH


def fixture_specs():
    """The spec of every Modal-served registry model, as Go writes it."""
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


def load_app(script, spec_value, spec_hash=SPEC_HASH, environment=None):
    """Import an app script the way `modal deploy --env <environment>` does.

    GOATBENCH_MODEL_SPEC = spec_value and GOATBENCH_SPEC_HASH = spec_hash (None leaves either
    unset); MODAL_ENVIRONMENT = environment, as the CLI sets it before the import. Returns the
    module; modal.apps holds what it declared.
    """
    modal.reset()
    module_spec = importlib.util.spec_from_file_location(f"goat_app_{next(_names)}", script)
    module = importlib.util.module_from_spec(module_spec)
    with mock.patch.dict(os.environ):
        for name, value in ((vllm_spec.ENV_VAR, spec_value), (vllm_spec.HASH_VAR, spec_hash), ("MODAL_ENVIRONMENT", environment)):
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        module_spec.loader.exec_module(module)
    return module


def run_script(script, spec_value, spec_hash=SPEC_HASH):
    """Run an app script as its own process (stand-in modal on PYTHONPATH); returns CompletedProcess.

    Python puts the script's directory on sys.path, as `modal deploy` does.
    """
    env = {k: v for k, v in os.environ.items() if k not in (vllm_spec.ENV_VAR, vllm_spec.HASH_VAR)}
    env["PYTHONPATH"] = STAND_IN_DIR
    if spec_value is not None:
        env[vllm_spec.ENV_VAR] = spec_value
    if spec_hash is not None:
        env[vllm_spec.HASH_VAR] = spec_hash
    return subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=120)
