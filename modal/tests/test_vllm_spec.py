"""vllm_spec on its own: spec checks, the command's optional flags, and the environments."""

import copy
import json
import os
import unittest

from . import support
from .support import vllm_spec

ENV_VAR = vllm_spec.ENV_VAR


def spec(key="gpt-oss-20b"):
    return copy.deepcopy(support.fixture_specs()[key])


def without(d, name):
    return {k: v for k, v in d.items() if k != name}


class Validate(unittest.TestCase):
    def test_rejects_each_bad_field_with_one_line_naming_it(self):
        oss, qwen = spec(), spec("qwen3-4b")
        cases = [
            ("not an object", [oss], "want a JSON object"),
            ("missing key", without(oss, "key"), "key: missing"),
            ("missing hf_id", without(oss, "hf_id"), "hf_id: missing"),
            ("empty hf_id", {**oss, "hf_id": ""}, "hf_id: missing"),
            ("missing route", without(oss, "route"), "route: missing"),
            ("unknown kind", {**oss, "kind": "sglang"}, 'kind: unknown kind "sglang"'),
            ("api kind", {**oss, "kind": "api"}, 'kind: "api" models are not served on Modal'),
            ("revision null", {**oss, "revision": None}, "revision: want str, got null"),
            ("app name drift", {**oss, "app_name": "gpt-oss-20b"}, 'app_name: want "goat-vllm-gpt-oss-20b"'),
            ("gpu type", {**oss, "gpu": {"type": "A100", "count": 1}}, 'gpu.type: "A100" is not one of'),
            ("gpu count zero", {**oss, "gpu": {"type": "H100", "count": 0}}, "gpu.count: want a positive integer"),
            ("gpu count bool", {**oss, "gpu": {"type": "H100", "count": True}}, "gpu.count"),
            ("max_model_len text", {**oss, "max_model_len": "32k"}, "max_model_len: want a positive integer"),
            ("startup timeout", {**oss, "startup_timeout_s": -1}, "startup_timeout_s"),
            ("vllm not object", {**oss, "vllm": []}, "vllm: want dict, got array"),
            ("no parser field", {**oss, "vllm": without(oss["vllm"], "tool_call_parser")},
             "vllm.tool_call_parser: missing"),
            ("empty parser", {**oss, "vllm": {**oss["vllm"], "tool_call_parser": ""}},
             "vllm.tool_call_parser: missing"),
            ("eager as text", {**oss, "vllm": {**oss["vllm"], "enforce_eager": "yes"}},
             "vllm.enforce_eager: want bool, got string"),
            ("speculative list", {**oss, "vllm": {**oss["vllm"], "speculative_config": []}},
             "vllm.speculative_config: want dict"),
            ("memory fraction", {**oss, "vllm": {**oss["vllm"], "gpu_memory_utilization": 90}},
             "vllm.gpu_memory_utilization"),
            ("negative tokens", {**oss, "vllm": {**oss["vllm"], "max_num_batched_tokens": -1}},
             "vllm.max_num_batched_tokens"),
            ("extra args", {**oss, "vllm": {**oss["vllm"], "extra_args": ["--x", 1]}}, "vllm.extra_args"),
            ("stream interval on 0.8.5", {**qwen, "vllm": {**qwen["vllm"], "stream_interval": 5}},
             "vllm.stream_interval: not supported"),
            ("env value", {**oss, "env": {"A": 1}}, "env: want string keys and string values"),
            ("env sets the spec", {**oss, "env": {ENV_VAR: "{}"}}, "env: must not set"),
        ]
        for name, bad, needle in cases:
            with self.subTest(name):
                with self.assertRaises(vllm_spec.SpecError) as caught:
                    vllm_spec.validate(bad)
                message = str(caught.exception)
                self.assertIn(needle, message)
                self.assertTrue(message.startswith(ENV_VAR + ": "), message)
                self.assertEqual(len(message.splitlines()), 1)

    def test_integral_memory_fraction_is_a_number(self):
        s = spec()
        s["vllm"]["gpu_memory_utilization"] = 1
        self.assertIn("1.0", vllm_spec.vllm_command(s))


class LoadSpec(unittest.TestCase):
    def test_reads_parses_and_checks_kind(self):
        s = spec()
        self.assertEqual(vllm_spec.load_spec({ENV_VAR: json.dumps(s)}, "gpt-oss", "modal/gpt_oss.py"), s)
        with self.assertRaisesRegex(vllm_spec.SpecError, 'kind: modal/vllm.py serves kind "vllm", got "gpt-oss"'):
            vllm_spec.load_spec({ENV_VAR: json.dumps(s)}, "vllm", "modal/vllm.py")

    def test_unset_or_blank_points_at_goatbench_deploy(self):
        for environ in ({}, {ENV_VAR: "  "}):
            with self.subTest(environ):
                with self.assertRaisesRegex(vllm_spec.SpecError, "not set: deploy modal/vllm.py through"):
                    vllm_spec.load_spec(environ, "vllm", "modal/vllm.py")

    def test_spec_or_exit_prefixes_the_script(self):
        with self.assertRaises(SystemExit) as caught:
            vllm_spec.spec_or_exit("vllm", "modal/vllm.py", environ={ENV_VAR: "[]", vllm_spec.HASH_VAR: "0123456789ab"})
        self.assertEqual(caught.exception.code, "modal/vllm.py: GOATBENCH_MODEL_SPEC: want a JSON object, got array")


class Command(unittest.TestCase):
    def test_pure_and_deterministic(self):
        s = spec()
        before = copy.deepcopy(s)
        first = vllm_spec.vllm_command(s)
        self.assertEqual(s, before)
        # The same spec with its JSON objects written in another key order gives the same list.
        reordered = json.loads(json.dumps(s))
        reordered["vllm"]["speculative_config"] = dict(reversed(list(s["vllm"]["speculative_config"].items())))
        self.assertEqual(vllm_spec.vllm_command(reordered), first)
        self.assertEqual(vllm_spec.vllm_command(s), first)

    def test_optional_flags(self):
        def flags(kind="gpt-oss", **vllm):
            s = spec() if kind == "gpt-oss" else spec("qwen3-4b")
            s["vllm"].update(vllm)
            return vllm_spec.vllm_command(s)

        base = flags()
        self.assertNotIn("--enforce-eager", base)
        self.assertIn("--enforce-eager", flags(enforce_eager=True))
        self.assertNotIn("--gpu-memory-utilization", flags(gpu_memory_utilization=0))
        self.assertNotIn("--chat-template", base)
        with_template = flags(chat_template="/vllm-workspace/examples/t.jinja")
        i = with_template.index("--chat-template")
        self.assertEqual(with_template[i - 1 : i + 2], ["openai", "--chat-template", "/vllm-workspace/examples/t.jinja"])
        self.assertNotIn("--speculative-config", flags(speculative_config=None))
        self.assertNotIn("--compilation-config", flags(compilation_config=None))
        self.assertNotIn("--kv-cache-dtype", flags(kv_cache_dtype=""))
        self.assertNotIn("--stream-interval", flags(stream_interval=0))
        self.assertNotIn("--max-num-batched-tokens", flags(max_num_batched_tokens=0))
        self.assertEqual(flags(extra_args=["--seed", "7"])[-2:], ["--seed", "7"])
        # vLLM 0.8.5 needs --enable-reasoning for a reasoning parser; 0.13 has no such flag.
        with_parser = flags(kind="vllm", reasoning_parser="qwen3")
        i = with_parser.index("--reasoning-parser")
        self.assertEqual(with_parser[i - 1 : i + 2], ["--enable-reasoning", "--reasoning-parser", "qwen3"])
        self.assertNotIn("--enable-reasoning", flags(reasoning_parser="openai_gptoss"))

    def test_revision_only_when_pinned(self):
        s = spec()
        s["revision"] = ""
        self.assertNotIn("--revision", vllm_spec.vllm_command(s))

    def test_tensor_parallel_follows_gpu_count(self):
        s = spec()
        s["gpu"]["count"] = 8
        cmd = vllm_spec.vllm_command(s)
        self.assertEqual(cmd[cmd.index("--tensor-parallel-size") + 1], "8")
        self.assertEqual(vllm_spec.gpu_string(s), "H100!:8")


class Environments(unittest.TestCase):
    def test_image_env_layers_app_then_spec_then_the_spec_itself(self):
        s = spec()
        s["env"] = {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "0", "EXTRA": "x"}
        env = vllm_spec.image_env(s, "0123456789ab", {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1", "APP": "a"})
        self.assertEqual(env[vllm_spec.HASH_VAR], "0123456789ab")
        self.assertEqual(env["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"], "0")
        self.assertEqual((env["APP"], env["EXTRA"], env["HF_HUB_ENABLE_HF_TRANSFER"]), ("a", "x", "1"))
        self.assertEqual(json.loads(env[ENV_VAR]), s)
        self.assertEqual(env[ENV_VAR], json.dumps(s, sort_keys=True, separators=(",", ":")))

    def test_serve_env_drops_the_script_dir_from_pythonpath(self):
        here = support.MODAL_DIR
        environ = {"PYTHONPATH": os.pathsep.join([here, "/opt/lib", here + os.sep]), "HOME": "/root"}
        env = vllm_spec.serve_env(environ, here)
        self.assertEqual(env, {"PYTHONPATH": "/opt/lib", "HOME": "/root"})
        self.assertIn(here, environ["PYTHONPATH"])  # the caller's mapping is untouched
        self.assertNotIn("PYTHONPATH", vllm_spec.serve_env({"PYTHONPATH": here}, here))


if __name__ == "__main__":
    unittest.main()


class ChatTemplates(unittest.TestCase):
    def test_fetched_from_the_installed_vllm_tag(self):
        s = spec("qwen3-4b")
        self.assertEqual(vllm_spec.chat_template_commands(s, "0.8.5"), [])
        s["vllm"]["chat_template"] = "/vllm-workspace/examples/tool_chat_template_llama3.1_json.jinja"
        cmds = vllm_spec.chat_template_commands(s, "0.8.5")
        self.assertEqual(cmds[0], "mkdir -p /vllm-workspace/examples/")
        self.assertIn(
            "https://raw.githubusercontent.com/vllm-project/vllm/v0.8.5/examples/tool_chat_template_llama3.1_json.jinja",
            cmds[1],
        )
        self.assertIn("'/vllm-workspace/examples/tool_chat_template_llama3.1_json.jinja'", cmds[1])

    def test_templates_outside_vllm_examples_are_refused(self):
        for bad in ["/root/t.jinja", "/vllm-workspace/examples/../../etc/x.jinja", "/vllm-workspace/examples/t.txt",
                    "/vllm-workspace/examples/a b.jinja"]:
            s = spec("qwen3-4b")
            s["vllm"]["chat_template"] = bad
            with self.subTest(bad), self.assertRaises(vllm_spec.SpecError) as cm:
                vllm_spec.validate(s)
            self.assertIn("vllm.chat_template", str(cm.exception))
