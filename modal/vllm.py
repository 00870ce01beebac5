"""Modal app serving one Llama or Qwen model with vLLM 0.8.5, tool calling on.

The model comes from the spec `goatbench deploy <key>` passes in GOATBENCH_MODEL_SPEC;
there is no model table here. Run any other way, this script exits with a one-line hint.
`modal deploy` puts this file's directory on sys.path (modal-labs/modal-client
py/modal/cli/import_refs.py), so vllm_spec is found from any working directory.
"""

import modal
import vllm_spec as vs

SPEC, SPEC_HASH = vs.spec_or_exit("vllm", "modal/vllm.py")

image = (
    modal.Image.debian_slim(python_version="3.12")
    .uv_pip_install("vllm==0.8.5", "hf_transfer==0.1.9")
    .run_commands(*vs.chat_template_commands(SPEC, "0.8.5"))
    .env(vs.image_env(SPEC, SPEC_HASH, {}))
    .add_local_python_source("vllm_spec")  # local files last: Modal adds them at container start
)
app = vs.declare_app(modal, SPEC, SPEC_HASH)


@vs.serving(modal, app, SPEC, image, vs.CACHE_VOLUMES)
def serve():
    vs.launch(SPEC)
