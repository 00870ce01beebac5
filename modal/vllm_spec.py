"""The model spec goatbench hands to the Modal apps, and the vLLM command built from it.

Standard library only: this module runs on the deploying machine (where `modal deploy`
imports the app script) and inside the container (shipped with add_local_python_source).
The spec's JSON shape is the contract with the Go registry; see modal/README.md.
"""

import json
import os
import re

ENV_VAR = "GOATBENCH_MODEL_SPEC"
HASH_VAR = "GOATBENCH_SPEC_HASH"  # what goatbench calls the spec (internal/deploy SpecHash)
HF_SECRET = "goat-hf-token"  # internal/deploy HFSecret names the same secret
PORT = 8000
MAX_INPUTS = 32
SCALEDOWN_WINDOW_S = 5 * 60

# Mount path -> Modal Volume name. Both apps share the weight and vLLM caches.
CACHE_VOLUMES = {
    "/root/.cache/huggingface": "goat-model-cache",
    "/root/.cache/vllm": "goat-vllm-cache",
}

# Extra image environment every app sets (the spec's own env is layered on top).
BASE_IMAGE_ENV = {"HF_HUB_ENABLE_HF_TRANSFER": "1"}

KINDS = ("vllm", "gpt-oss", "api")
# Modal's GPU argument values (modal.com/docs/guide/gpu); "H100!" is an H100 that Modal
# never upgrades to an H200.
GPU_TYPES = ("T4", "L4", "A10G", "A100-40GB", "A100-80GB", "L40S", "H100", "H100!", "H200", "B200")

_TOP_FIELDS = (
    "key", "kind", "hf_id", "revision", "app_name", "route", "gpu", "max_model_len",
    "startup_timeout_s", "price_per_gpu_hour", "vllm", "env", "request_defaults",
)
_VLLM_FIELDS = {
    "tool_call_parser": str,
    "chat_template": str,
    "reasoning_parser": str,
    "enforce_eager": bool,
    "gpu_memory_utilization": float,
    "kv_cache_dtype": str,
    "speculative_config": dict,
    "compilation_config": dict,
    "stream_interval": int,
    "max_num_batched_tokens": int,
    "extra_args": list,
}
_NULLABLE = ("speculative_config", "compilation_config")


class SpecError(ValueError):
    """A spec that cannot be served; the message is one line naming the field."""


# Chat templates come from vLLM's own examples, fetched at image build time from the
# tag of the vLLM version the app installs; the path is where vLLM's official image keeps them.
VLLM_EXAMPLES = "/vllm-workspace/examples/"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9._-]+\.jinja$")


def load_spec(environ, kind, script):
    """Read, parse and check the spec in environ[ENV_VAR] for an app serving `kind`.

    `script` names the app file in messages. Raises SpecError with a one-line message.
    """
    raw = environ.get(ENV_VAR, "")
    if not raw.strip():
        raise SpecError(
            f"{ENV_VAR} is not set: deploy {script} through `goatbench deploy <key>`, "
            "not with `modal deploy` directly"
        )
    try:
        spec = json.loads(raw)
    except ValueError as err:
        raise SpecError(f"{ENV_VAR} is not valid JSON ({err}): deploy through `goatbench deploy <key>`")
    validate(spec)
    if spec["kind"] != kind:
        raise SpecError(
            f'{ENV_VAR}: kind: {script} serves kind "{kind}", got "{spec["kind"]}" '
            f'for {spec["key"]}: deploy through `goatbench deploy {spec["key"]}`'
        )
    return spec


def load_spec_hash(environ):
    """The spec hash goatbench passed in environ[HASH_VAR]: 12 lowercase hex digits."""
    value = environ.get(HASH_VAR, "")
    if not _HASH.match(value):
        raise SpecError(
            f"{HASH_VAR} is {json.dumps(value) if value else 'not set'} (want 12 hex digits): "
            "deploy through `goatbench deploy <key>`"
        )
    return value


_HASH = re.compile(r"^[0-9a-f]{12}$")


def spec_or_exit(kind, script, environ=None):
    """(spec, spec hash) for an app script at import time: on a bad one, exit with one line, deploy nothing."""
    environ = os.environ if environ is None else environ
    try:
        return load_spec(environ, kind, script), load_spec_hash(environ)
    except SpecError as err:
        raise SystemExit(f"{script}: {err}") from None


def modal_environment(environ):
    """The Modal environment being deployed to, for the volumes and the secret; None for Modal's default.

    `modal deploy --env X` sets MODAL_ENVIRONMENT=X in its own process before it imports the app
    script (modal-labs/modal-client py/modal/_environments.py ensure_env -> config.override_locally),
    so the volumes and the secret follow goatbench's --modal-env instead of a fixed name.
    """
    return environ.get("MODAL_ENVIRONMENT") or None


def marker_name(spec_hash):
    """The function whose name records the spec an app was deployed from.

    goatbench reads it back with the Modal Go SDK's App.Info (its Functions by name), which has
    no Dict or tags API; each deploy replaces an app's functions, so the marker is always current.
    """
    return f"spec_{spec_hash}"


def _spec_marker():
    """Never called: only its registered name matters."""


def declare_app(modal, spec, spec_hash):
    """The spec's modal.App, with its spec_<hash> marker function.

    The marker is registered serialized, so it may be decorated here rather than at the script's
    global scope (py/modal/_runtime/user_code_imports.py import_single_function_service, case 3).
    A serialized function is unpickled by the Python it was pickled with, so its image is a plain
    debian_slim() on the deploying machine's Python version (Modal's default), not the vLLM image.
    """
    app = modal.App(spec["app_name"])
    app.function(image=modal.Image.debian_slim(), serialized=True, name=marker_name(spec_hash))(_spec_marker)
    return app


def serving(modal, app, spec, image, volumes, environ=None):
    """The decorators of the web function that serves the spec's model, as one decorator.

    The web server requires Modal proxy auth (requires_proxy_auth, "Require Modal-Key and
    Modal-Secret HTTP Headers on requests", py/modal/_partial_function.py web_server): without it
    anyone who guesses the URL starts a GPU container.
    """
    env_name = modal_environment(os.environ if environ is None else environ)

    def wrap(f):
        f = modal.web_server(port=PORT, startup_timeout=spec["startup_timeout_s"], requires_proxy_auth=True)(f)
        f = modal.concurrent(max_inputs=MAX_INPUTS)(f)
        return app.function(
            image=image,
            gpu=gpu_string(spec),
            volumes={
                path: modal.Volume.from_name(name, create_if_missing=True, environment_name=env_name)
                for path, name in volumes.items()
            },
            secrets=[modal.Secret.from_name(HF_SECRET, environment_name=env_name)],
            scaledown_window=SCALEDOWN_WINDOW_S,
            timeout=spec["startup_timeout_s"],
        )(f)

    return wrap


def launch(spec):
    """Start vLLM for the spec; returns at once, and Modal routes traffic when the port answers."""
    import subprocess

    subprocess.Popen(vllm_command(spec), env=serve_env(os.environ, os.path.dirname(os.path.abspath(__file__))))


def validate(spec):
    """Check a spec for a Modal-served model; raise SpecError naming the first bad field."""
    if not isinstance(spec, dict):
        raise SpecError(f"{ENV_VAR}: want a JSON object, got {_kind_of(spec)}")
    for name in _TOP_FIELDS:
        if name not in spec:
            raise SpecError(f"{ENV_VAR}: {name}: missing")
    _nonempty_str(spec, "key")
    kind = spec["kind"]
    if kind not in KINDS:
        raise SpecError(f'{ENV_VAR}: kind: unknown kind {json.dumps(kind)} (want "vllm" or "gpt-oss")')
    if kind == "api":
        raise SpecError(f'{ENV_VAR}: kind: "api" models are not served on Modal')
    _nonempty_str(spec, "hf_id")
    _typed(spec, "revision", str)
    want_app = f"goat-vllm-{spec['key']}"
    if spec["app_name"] != want_app:
        raise SpecError(f"{ENV_VAR}: app_name: want {json.dumps(want_app)}, got {json.dumps(spec['app_name'])}")

    gpu = _typed(spec, "gpu", dict)
    if gpu.get("type") not in GPU_TYPES:
        raise SpecError(f"{ENV_VAR}: gpu.type: {json.dumps(gpu.get('type'))} is not one of {', '.join(GPU_TYPES)}")
    _positive_int(gpu.get("count"), "gpu.count")
    _positive_int(spec["max_model_len"], "max_model_len")
    _positive_int(spec["startup_timeout_s"], "startup_timeout_s")

    v = _typed(spec, "vllm", dict)
    for name, want in _VLLM_FIELDS.items():
        if name not in v:
            raise SpecError(f"{ENV_VAR}: vllm.{name}: missing")
        value = v[name]
        if value is None and name in _NULLABLE:
            continue
        if not _is(value, want):
            raise SpecError(f"{ENV_VAR}: vllm.{name}: want {want.__name__}, got {_kind_of(value)}")
    if not v["tool_call_parser"]:
        raise SpecError(f"{ENV_VAR}: vllm.tool_call_parser: missing (tool calling needs a parser)")
    template = v["chat_template"]
    if template and not (template.startswith(VLLM_EXAMPLES) and _TEMPLATE_NAME.match(template[len(VLLM_EXAMPLES):])):
        raise SpecError(
            f"{ENV_VAR}: vllm.chat_template: want \"\" or a template of vLLM's examples, {VLLM_EXAMPLES}<name>.jinja"
        )
    if not 0 <= v["gpu_memory_utilization"] <= 1:
        raise SpecError(f"{ENV_VAR}: vllm.gpu_memory_utilization: {v['gpu_memory_utilization']} is not in [0, 1]")
    for name in ("stream_interval", "max_num_batched_tokens"):
        if v[name] < 0:
            raise SpecError(f"{ENV_VAR}: vllm.{name}: {v[name]} is negative")
    if kind == "vllm" and v["stream_interval"]:
        # --stream-interval arrived after vLLM 0.8.5, the version modal/vllm.py installs.
        raise SpecError(f"{ENV_VAR}: vllm.stream_interval: not supported by vLLM 0.8.5 (kind \"vllm\"); use 0")
    if not all(isinstance(a, str) for a in v["extra_args"]):
        raise SpecError(f"{ENV_VAR}: vllm.extra_args: want a list of strings")

    env = _typed(spec, "env", dict)
    if not all(isinstance(k, str) and isinstance(val, str) for k, val in env.items()):
        raise SpecError(f"{ENV_VAR}: env: want string keys and string values")
    for name in (ENV_VAR, HASH_VAR):
        if name in env:
            raise SpecError(f"{ENV_VAR}: env: must not set {name}")
    return spec


def chat_template_commands(spec, vllm_version):
    """Image build commands that put the spec's chat template where the command expects it.

    Empty when the model's own template is used. A pip-installed vLLM ships no examples,
    so the template is downloaded from vLLM's repository at the installed version's tag.
    """
    path = spec["vllm"]["chat_template"]
    if not path:
        return []
    name = path[len(VLLM_EXAMPLES):]
    url = f"https://raw.githubusercontent.com/vllm-project/vllm/v{vllm_version}/examples/{name}"
    return [
        f"mkdir -p {VLLM_EXAMPLES}",
        f"python -c \"import urllib.request; urllib.request.urlretrieve('{url}', '{path}')\"",
    ]


def vllm_command(spec):
    """The `vllm serve` argument list for a spec: pure, same spec in, same list out."""
    validate(spec)
    v = spec["vllm"]
    hf_id = spec["hf_id"]
    cmd = ["vllm", "serve", hf_id, "--served-model-name", hf_id, "--host", "0.0.0.0", "--port", str(PORT)]
    if spec["revision"]:
        cmd += ["--revision", spec["revision"]]
    cmd += [
        "--max-model-len", str(spec["max_model_len"]),
        "--tensor-parallel-size", str(spec["gpu"]["count"]),
    ]
    if v["gpu_memory_utilization"]:
        cmd += ["--gpu-memory-utilization", repr(float(v["gpu_memory_utilization"]))]
    cmd += ["--enable-auto-tool-choice", "--tool-call-parser", v["tool_call_parser"]]
    if v["chat_template"]:
        cmd += ["--chat-template", v["chat_template"]]
    if v["reasoning_parser"]:
        if spec["kind"] == "vllm":
            # vLLM 0.8.x ignores the parser unless reasoning is switched on explicitly.
            cmd += ["--enable-reasoning"]
        cmd += ["--reasoning-parser", v["reasoning_parser"]]
    if v["enforce_eager"]:
        cmd += ["--enforce-eager"]
    if v["kv_cache_dtype"]:
        cmd += ["--kv-cache-dtype", v["kv_cache_dtype"]]
    if v["speculative_config"] is not None:
        cmd += ["--speculative-config", canonical_json(v["speculative_config"])]
    if v["compilation_config"] is not None:
        cmd += ["--compilation-config", canonical_json(v["compilation_config"])]
    if v["stream_interval"]:
        cmd += ["--stream-interval", str(v["stream_interval"])]
    if v["max_num_batched_tokens"]:
        cmd += ["--max-num-batched-tokens", str(v["max_num_batched_tokens"])]
    return cmd + list(v["extra_args"])


def gpu_string(spec):
    """Modal's GPU argument, e.g. "H100:4"."""
    return f"{spec['gpu']['type']}:{spec['gpu']['count']}"


def image_env(spec, spec_hash, app_env):
    """Environment baked into the image: app defaults, then the spec's env, then the spec and its hash.

    They go in last so Modal's re-import inside the container reads the exact values the
    deploying machine saw, and declares the same marker function.
    """
    env = dict(BASE_IMAGE_ENV)
    env.update(app_env)
    env.update(spec["env"])
    env[ENV_VAR] = canonical_json(spec)
    env[HASH_VAR] = spec_hash
    return env


def serve_env(environ, script_dir):
    """The environment for the vLLM subprocess.

    The app script is named vllm.py; if its directory were on PYTHONPATH the `vllm`
    command would import the script instead of the vLLM package, so that entry is dropped.
    """
    env = dict(environ)
    here = os.path.realpath(script_dir)
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.realpath(p) != here]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    return env


def canonical_json(value):
    """Deterministic compact JSON (sorted keys), so equal specs give equal flags and images."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _typed(spec, name, want):
    value = spec[name]
    if not _is(value, want):
        raise SpecError(f"{ENV_VAR}: {name}: want {want.__name__}, got {_kind_of(value)}")
    return value


def _nonempty_str(spec, name):
    value = spec[name]
    if not isinstance(value, str) or not value:
        raise SpecError(f"{ENV_VAR}: {name}: missing (want a non-empty string)")
    return value


def _positive_int(value, name):
    if not _is(value, int) or value < 1:
        raise SpecError(f"{ENV_VAR}: {name}: want a positive integer, got {json.dumps(value)}")
    return value


def _is(value, want):
    # JSON booleans are Python bools, which are also ints; keep them apart. Integral
    # numbers are fine where a float is wanted (Go may write 1 for 1.0).
    if isinstance(value, bool):
        return want is bool
    if want is float:
        return isinstance(value, (int, float))
    return isinstance(value, want)


def _kind_of(value):
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
