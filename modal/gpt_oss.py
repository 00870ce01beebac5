"""Modal app serving one GPT OSS model with vLLM 0.13 on CUDA 12.8, tool calling on.

The spec comes from `goatbench deploy <key>` in GOATBENCH_MODEL_SPEC, as for modal/vllm.py,
which says how vllm_spec is found. Run any other way, this script exits with a one-line hint.
"""

import modal
import vllm_spec as vs

SPEC, SPEC_HASH = vs.spec_or_exit("gpt-oss", "modal/gpt_oss.py")
# FlashInfer's MXFP4 x MXFP8 MoE kernels (used on Blackwell); the spec's env may override.
APP_ENV = {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1"}

image = (
    modal.Image.from_registry("nvidia/cuda:12.8.1-devel-ubuntu22.04", add_python="3.12")
    .entrypoint([])  # drop the CUDA image's banner entrypoint
    .uv_pip_install("vllm==0.13.0", "hf_transfer==0.1.9")
    .run_commands(*vs.chat_template_commands(SPEC, "0.13.0"))
    .env(vs.image_env(SPEC, SPEC_HASH, APP_ENV))
    .add_local_python_source("vllm_spec")  # local files last: Modal adds them at container start
)
app = vs.declare_app(modal, SPEC, SPEC_HASH)


@vs.serving(modal, app, SPEC, image, {**vs.CACHE_VOLUMES, "/root/.cache/flashinfer": "goat-flashinfer-cache"})
def serve():
    vs.launch(SPEC)
