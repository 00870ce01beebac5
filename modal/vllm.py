"""Modal app serving one Llama or Qwen model with vLLM 0.8.5, tool calling on.

The model comes from the spec `goatbench deploy <key>` passes in GOATBENCH_MODEL_SPEC;
there is no model table here. Run any other way, this script exits with a one-line hint.
"""

import os
import sys

import modal

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # find vllm_spec whatever directory `modal deploy` runs from

import vllm_spec as vs  # noqa: E402

SPEC = vs.spec_or_exit("vllm", "modal/vllm.py")

image = (
    modal.Image.debian_slim(python_version="3.12")
    .uv_pip_install("vllm==0.8.5", "hf_transfer==0.1.9")
    .run_commands(*vs.chat_template_commands(SPEC, "0.8.5"))
    .env(vs.image_env(SPEC, {}))
    .add_local_python_source("vllm_spec")  # local files last: Modal adds them at container start
)

app = modal.App(SPEC["app_name"])


@app.function(
    image=image,
    gpu=vs.gpu_string(SPEC),
    volumes={
        path: modal.Volume.from_name(name, create_if_missing=True, environment_name=vs.MODAL_ENVIRONMENT)
        for path, name in vs.CACHE_VOLUMES.items()
    },
    secrets=[modal.Secret.from_name(vs.HF_SECRET, environment_name=vs.MODAL_ENVIRONMENT)],
    scaledown_window=vs.SCALEDOWN_WINDOW_S,
    timeout=SPEC["startup_timeout_s"],
)
@modal.concurrent(max_inputs=vs.MAX_INPUTS)
@modal.web_server(port=vs.PORT, startup_timeout=SPEC["startup_timeout_s"])
def serve():
    import subprocess

    # Popen returns at once; Modal routes traffic when the port answers.
    subprocess.Popen(vs.vllm_command(SPEC), env=vs.serve_env(os.environ, HERE))
