"""Modal app serving one GPT OSS model with vLLM 0.13 on CUDA 12.8, tool calling on.

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

SPEC = vs.spec_or_exit("gpt-oss", "modal/gpt_oss.py")

# FlashInfer's MXFP4 x MXFP8 MoE kernels (used on Blackwell); the spec's env may override.
APP_ENV = {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1"}
VOLUMES = {**vs.CACHE_VOLUMES, "/root/.cache/flashinfer": "goat-flashinfer-cache"}

image = (
    modal.Image.from_registry("nvidia/cuda:12.8.1-devel-ubuntu22.04", add_python="3.12")
    .entrypoint([])  # drop the CUDA image's banner entrypoint
    .uv_pip_install("vllm==0.13.0", "hf_transfer==0.1.9")
    .run_commands(*vs.chat_template_commands(SPEC, "0.13.0"))
    .env(vs.image_env(SPEC, APP_ENV))
    .add_local_python_source("vllm_spec")  # local files last: Modal adds them at container start
)

app = modal.App(SPEC["app_name"])


@app.function(
    image=image,
    gpu=vs.gpu_string(SPEC),
    volumes={
        path: modal.Volume.from_name(name, create_if_missing=True, environment_name=vs.MODAL_ENVIRONMENT)
        for path, name in VOLUMES.items()
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
