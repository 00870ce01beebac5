"""Both Modal apps, loaded under the stand-in `modal`, for every registry model in the fixture."""

import json
import os
import unittest
from unittest import mock

from . import support
from .support import modal, vllm_spec

# What each registry model must deploy as. One row per model in fixtures/specs.json;
# when the registry changes, the fixture is regenerated and this table updated with it.
EXPECTED = {
    "llama-3.1-8b": {
        "script": "vllm.py",
        "app": "goat-vllm-llama-3.1-8b",
        "gpu": "A10G:1",
        "startup_timeout_s": 900,
        "command": [
            "vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct",
            "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct",
            "--host", "0.0.0.0", "--port", "8000",
            "--max-model-len", "32768", "--tensor-parallel-size", "1",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "llama3_json",
            "--chat-template", "/vllm-workspace/examples/tool_chat_template_llama3.1_json.jinja",
            "--enforce-eager",
        ],
    },
    "qwen3-4b": {
        "script": "vllm.py",
        "app": "goat-vllm-qwen3-4b",
        "gpu": "A10G:1",
        "startup_timeout_s": 900,
        "command": [
            "vllm", "serve", "Qwen/Qwen3-4B-Instruct-2507",
            "--served-model-name", "Qwen/Qwen3-4B-Instruct-2507",
            "--host", "0.0.0.0", "--port", "8000",
            "--max-model-len", "32768", "--tensor-parallel-size", "1",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
            "--enforce-eager",
        ],
    },
    "qwen3-30b-a3b": {
        "script": "vllm.py",
        "app": "goat-vllm-qwen3-30b-a3b",
        "gpu": "A100-80GB:1",
        "startup_timeout_s": 900,
        "command": [
            "vllm", "serve", "Qwen/Qwen3-30B-A3B-Instruct-2507",
            "--served-model-name", "Qwen/Qwen3-30B-A3B-Instruct-2507",
            "--host", "0.0.0.0", "--port", "8000",
            "--max-model-len", "32768", "--tensor-parallel-size", "1",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
            "--enforce-eager",
        ],
    },
    "qwen3-235b": {
        "script": "vllm.py",
        "app": "goat-vllm-qwen3-235b",
        "gpu": "H100!:4",
        "startup_timeout_s": 900,
        "command": [
            "vllm", "serve", "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
            "--served-model-name", "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
            "--host", "0.0.0.0", "--port", "8000",
            "--max-model-len", "32768", "--tensor-parallel-size", "4",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
            "--enforce-eager",
        ],
    },
    "gpt-oss-20b": {
        "script": "gpt_oss.py",
        "app": "goat-vllm-gpt-oss-20b",
        "gpu": "H100!:1",
        "startup_timeout_s": 1800,
        "command": [
            "vllm", "serve", "openai/gpt-oss-20b",
            "--served-model-name", "openai/gpt-oss-20b",
            "--host", "0.0.0.0", "--port", "8000",
            "--revision", "d666cf3b67006cf8227666739edf25164aaffdeb",
            "--max-model-len", "32768", "--tensor-parallel-size", "1",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "openai",
            "--speculative-config",
            '{"method":"eagle3","model":"RedHatAI/gpt-oss-20b-speculator.eagle3","num_speculative_tokens":7}',
            "--stream-interval", "20",
            "--max-num-batched-tokens", "8192",
            "--async-scheduling", "--max-cudagraph-capture-size", "256",
        ],
    },
    "gpt-oss-120b": {
        "script": "gpt_oss.py",
        "app": "goat-vllm-gpt-oss-120b",
        "gpu": "H100!:1",
        "startup_timeout_s": 1800,
        "command": [
            "vllm", "serve", "openai/gpt-oss-120b",
            "--served-model-name", "openai/gpt-oss-120b",
            "--host", "0.0.0.0", "--port", "8000",
            "--max-model-len", "32768", "--tensor-parallel-size", "1",
            "--gpu-memory-utilization", "0.9",
            "--enable-auto-tool-choice", "--tool-call-parser", "openai",
            "--speculative-config",
            '{"method":"eagle3","model":"nvidia/gpt-oss-120b-Eagle3-v2","num_speculative_tokens":3}',
            "--stream-interval", "20",
            "--max-num-batched-tokens", "8192",
            "--async-scheduling", "--max-cudagraph-capture-size", "128",
        ],
    },
}

# Per script: base image, vLLM pin, cache volumes (mount path -> name), app-level image env.
APPS = {
    "vllm.py": {
        "base": ("debian_slim", {"python_version": "3.12"}),
        "vllm": "vllm==0.8.5",
        "volumes": {
            "/root/.cache/huggingface": "goat-model-cache",
            "/root/.cache/vllm": "goat-vllm-cache",
        },
        "env": {"HF_HUB_ENABLE_HF_TRANSFER": "1"},
    },
    "gpt_oss.py": {
        "base": ("from_registry", {"tag": "nvidia/cuda:12.8.1-devel-ubuntu22.04", "add_python": "3.12"}),
        "vllm": "vllm==0.13.0",
        "volumes": {
            "/root/.cache/huggingface": "goat-model-cache",
            "/root/.cache/vllm": "goat-vllm-cache",
            "/root/.cache/flashinfer": "goat-flashinfer-cache",
        },
        "env": {"HF_HUB_ENABLE_HF_TRANSFER": "1", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1"},
    },
}


def _script(key):
    return os.path.join(support.MODAL_DIR, EXPECTED[key]["script"])


def _deploy(key, spec_value=None, spec_hash=support.SPEC_HASH, environment=None):
    """Load the model's app with its fixture spec; return (the one App, its serve Function)."""
    spec = support.fixture_specs()[key]
    support.load_app(_script(key), spec_value if spec_value is not None else json.dumps(spec), spec_hash, environment)
    assert len(modal.apps) == 1, modal.apps
    app = modal.apps[0]
    assert sorted(app.functions) == sorted(["serve", "spec_" + spec_hash]), list(app.functions)
    return app, app.functions["serve"]


def _launch(fn):
    """Run the web_server body with Popen recorded; return (argv, env) it started."""
    with mock.patch("subprocess.Popen") as popen:
        fn.get_raw_f()()
    popen.assert_called_once()
    (argv,), kwargs = popen.call_args
    return argv, kwargs["env"]


class RegistryModels(unittest.TestCase):
    def test_fixture_and_table_list_the_same_models(self):
        self.assertEqual(sorted(support.fixture_specs()), sorted(EXPECTED))

    def test_fixture_specs_pass_the_contract_check(self):
        for key, spec in support.fixture_specs().items():
            with self.subTest(key):
                self.assertEqual(spec["key"], key)
                vllm_spec.validate(spec)

    def test_vllm_command(self):
        for key, spec in support.fixture_specs().items():
            with self.subTest(key):
                self.assertEqual(vllm_spec.vllm_command(spec), EXPECTED[key]["command"])

    def test_app_name_and_gpu(self):
        for key, want in EXPECTED.items():
            with self.subTest(key):
                app, fn = _deploy(key)
                self.assertEqual(app.name, want["app"])
                self.assertEqual(fn.options["gpu"], want["gpu"])

    def test_serving_settings(self):
        for key, want in EXPECTED.items():
            with self.subTest(key):
                _, fn = _deploy(key)
                # Proxy auth on: requests without Modal-Key/Modal-Secret never start a GPU container.
                self.assertEqual(
                    fn.web_server, {"port": 8000, "startup_timeout": want["startup_timeout_s"], "requires_proxy_auth": True}
                )
                self.assertEqual(fn.concurrent, {"max_inputs": 32, "target_inputs": None})
                self.assertEqual(fn.options["scaledown_window"], 300)
                self.assertEqual(fn.options["timeout"], want["startup_timeout_s"])

    def test_volumes_and_secret_follow_the_deploy_environment(self):
        # `modal deploy --env X` sets MODAL_ENVIRONMENT=X before importing the script
        # (modal-client py/modal/_environments.py ensure_env); no --env leaves Modal's default.
        for environment in ("dev", None):
            for key, want in EXPECTED.items():
                with self.subTest(key, environment=environment):
                    _, fn = _deploy(key, environment=environment)
                    volumes = {
                        path: (v.name, v.environment_name, v.create_if_missing)
                        for path, v in fn.options["volumes"].items()
                    }
                    self.assertEqual(
                        volumes,
                        {path: (name, environment, True) for path, name in APPS[want["script"]]["volumes"].items()},
                    )
                    secrets = [(s.name, s.environment_name) for s in fn.options["secrets"]]
                    self.assertEqual(secrets, [("goat-hf-token", environment)])

    def test_spec_marker_names_the_hash(self):
        for key in EXPECTED:
            with self.subTest(key):
                app, _ = _deploy(key, spec_hash="abcdef012345")
                marker = app.functions["spec_abcdef012345"]
                self.assertTrue(marker.options["serialized"])
                self.assertIsNone(marker.options["gpu"], "the marker never holds a GPU")
                # Unpickled by the deploying machine's Python: debian_slim's default version.
                self.assertEqual(marker.options["image"].base, ("debian_slim", {"python_version": None}))

    def test_image(self):
        for key, want in EXPECTED.items():
            with self.subTest(key):
                app_want = APPS[want["script"]]
                spec = support.fixture_specs()[key]
                _, fn = _deploy(key)
                image = fn.options["image"]
                self.assertEqual(image.base, app_want["base"])
                steps = {name: (args, kwargs) for name, args, kwargs in image.steps}
                self.assertIn(app_want["vllm"], steps["uv_pip_install"][0])
                self.assertIn("hf_transfer==0.1.9", steps["uv_pip_install"][0])
                env = steps["env"][0][0]
                self.assertEqual(
                    env,
                    {
                        **app_want["env"], **spec["env"],
                        "GOATBENCH_MODEL_SPEC": vllm_spec.canonical_json(spec), "GOATBENCH_SPEC_HASH": support.SPEC_HASH,
                    },
                )
                self.assertEqual(image.steps[-1], ("add_local_python_source", ("vllm_spec",), {"copy": False}))
                # The chat template the command names is put in the image, from the installed vLLM's tag.
                fetch = " ".join(steps["run_commands"][0])
                if "--chat-template" in want["command"]:
                    path = want["command"][want["command"].index("--chat-template") + 1]
                    version = app_want["vllm"].split("==")[1]
                    self.assertIn(f"vllm-project/vllm/v{version}/examples/{os.path.basename(path)}', '{path}'", fetch)
                else:
                    self.assertEqual(fetch, "")

    def test_container_reimport_sees_the_same_spec(self):
        # Inside the container only the image's env exists: re-importing with the baked
        # value must declare the same app and start the same command.
        for key, want in EXPECTED.items():
            with self.subTest(key):
                _, fn = _deploy(key)
                (env,) = [args[0] for name, args, _ in fn.options["image"].steps if name == "env"]
                value = env["GOATBENCH_MODEL_SPEC"]
                app, fn = _deploy(key, spec_value=value, spec_hash=env["GOATBENCH_SPEC_HASH"])
                self.assertEqual(app.name, want["app"])
                self.assertEqual(_launch(fn)[0], want["command"])

    def test_serve_launches_the_command(self):
        for key, want in EXPECTED.items():
            with self.subTest(key):
                _, fn = _deploy(key)
                with mock.patch.dict(os.environ, {"PYTHONPATH": os.pathsep.join([support.MODAL_DIR, "/opt/x"])}):
                    argv, env = _launch(fn)
                self.assertEqual(argv, want["command"])
                self.assertEqual(env["PYTHONPATH"], "/opt/x")


class BadSpecs(unittest.TestCase):
    """A bad spec ends the script with one line naming the problem; no App is declared."""

    def assert_one_line_exit(self, script, spec_value, *needles):
        with self.assertRaises(SystemExit) as caught:
            support.load_app(script, spec_value)
        self.assertEqual(modal.apps, [])
        message = str(caught.exception.code)
        self.assertEqual(len(message.splitlines()), 1, message)
        for needle in needles:
            self.assertIn(needle, message)
        return message

    def test_missing_spec(self):
        for script in support.SCRIPTS.values():
            with self.subTest(script):
                self.assert_one_line_exit(script, None, "GOATBENCH_MODEL_SPEC is not set", "goatbench deploy <key>")

    def test_missing_or_bad_hash(self):
        for script in support.SCRIPTS.values():
            for value, needle in ((None, "GOATBENCH_SPEC_HASH is not set"), ("XYZ", 'GOATBENCH_SPEC_HASH is "XYZ"')):
                with self.subTest(script, hash=value):
                    spec = json.dumps(support.fixture_specs()["qwen3-4b" if "vllm.py" in script else "gpt-oss-20b"])
                    with self.assertRaises(SystemExit) as caught:
                        support.load_app(script, spec, spec_hash=value)
                    self.assertEqual(modal.apps, [])
                    self.assertIn(needle, str(caught.exception.code))
                    self.assertIn("goatbench deploy <key>", str(caught.exception.code))

    def test_gpt_oss_spec_sent_to_vllm_py(self):
        spec = json.dumps(support.fixture_specs()["gpt-oss-20b"])
        self.assert_one_line_exit(
            support.SCRIPTS["vllm"], spec, "kind:", '"gpt-oss"', "goatbench deploy gpt-oss-20b"
        )

    def test_vllm_spec_sent_to_gpt_oss_py(self):
        spec = json.dumps(support.fixture_specs()["qwen3-4b"])
        self.assert_one_line_exit(support.SCRIPTS["gpt-oss"], spec, "kind:", '"vllm"')

    def test_unknown_kind_and_missing_hf_id(self):
        base = support.fixture_specs()["qwen3-4b"]
        cases = [
            ("unknown kind", {**base, "kind": "tgi"}, ("kind:", '"tgi"')),
            ("missing hf_id", {k: v for k, v in base.items() if k != "hf_id"}, ("hf_id: missing",)),
            ("empty hf_id", {**base, "hf_id": ""}, ("hf_id: missing",)),
            ("not JSON", "{nope", ("not valid JSON",)),
        ]
        for name, spec, needles in cases:
            value = spec if isinstance(spec, str) else json.dumps(spec)
            for script in support.SCRIPTS.values():
                with self.subTest(name, script=script):
                    self.assert_one_line_exit(script, value, *needles)


class AsProcesses(unittest.TestCase):
    """The scripts run as their own processes: exit status and stderr as a user sees them."""

    def test_missing_spec_exits_1_with_one_line(self):
        for script in support.SCRIPTS.values():
            with self.subTest(script):
                done = support.run_script(script, None)
                self.assertEqual(done.returncode, 1)
                self.assertEqual(done.stdout, "")
                lines = done.stderr.splitlines()
                self.assertEqual(len(lines), 1, done.stderr)
                self.assertIn("goatbench deploy <key>", lines[0])

    def test_bad_spec_exits_1_naming_the_field(self):
        spec = support.fixture_specs()["gpt-oss-120b"]
        del spec["hf_id"]
        done = support.run_script(support.SCRIPTS["gpt-oss"], json.dumps(spec))
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stderr.splitlines(), ["modal/gpt_oss.py: GOATBENCH_MODEL_SPEC: hf_id: missing"])

    def test_good_spec_imports_cleanly(self):
        for key, want in EXPECTED.items():
            with self.subTest(key):
                done = support.run_script(_script(key), json.dumps(support.fixture_specs()[key]))
                self.assertEqual((done.returncode, done.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main()
