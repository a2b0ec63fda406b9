#!/usr/bin/env bash
# The JAX back end on an NVIDIA GPU, measured: run on a machine with the
# NVIDIA driver (nothing else: CUDA and cuDNN come as wheels).
#
#   bash bench/gpu.sh              set up, then measure at the default and paper sizes
#   NO_TORCH=1 bash bench/gpu.sh   without the PyTorch CUDA column (it is a several-GB wheel)
#   STEPS=50 bash bench/gpu.sh     timed training steps per size (default 20)
#
# 1. bash setup.sh --with-gpu: .venv, JAX and its CUDA 12 plugin;
# 2. PyTorch (PyPI's Linux wheel is the CUDA build) unless NO_TORCH=1 or it
#    cannot be installed, for bench/torch_reference.py on the same GPU;
# 3. bench/run.py --variants jax at both sizes (XLA on the GPU): compile time,
#    training target tokens/s, greedy ids/text latency, batched greedy,
#    beam-10 latency, and PyTorch CUDA on the same math beside it (ratios
#    jax/pytorch). The figures also go to bench/gpu.json.
# Put them in bench/README.md with the machine named (the first lines printed).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[gpu] %s\n' "$*"; }
refuse() { echo "bench/gpu.sh: $*" >&2; exit 2; }

command -v nvidia-smi >/dev/null \
  || refuse "no nvidia-smi: this script needs an NVIDIA GPU and its driver (on a CPU: bench/run.py --variants compat,jax)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  | sed 's/^/[gpu] GPU: /'

bash setup.sh --with-gpu
.venv/bin/python -c 'import jax, sys; d = jax.devices()[0]; print("[gpu] JAX %s on %s" % (jax.__version__, d)); sys.exit(d.platform != "gpu")' \
  || refuse "JAX does not see the GPU: check that nvidia-smi works and rerun bash setup.sh --with-gpu"

torch_flags=(--no-torch)
if [ "${NO_TORCH:-0}" != 1 ]; then
  cuda_torch() { .venv/bin/python -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; }
  if ! cuda_torch; then
    say "installing PyTorch (the CUDA build: several GB; NO_TORCH=1 skips it)"
    # setuptools<81 keeps pkg_resources for Lasagne; numpy stays at requirements.txt's pin.
    .venv/bin/python -m pip install -q torch "setuptools<81" -c requirements.txt \
      || say "PyTorch did not install: no PyTorch column"
  fi
  if cuda_torch; then
    torch_flags=(--torch-device cuda)
  else
    say "PyTorch sees no CUDA device: no PyTorch column"
  fi
fi

say "bench/run.py --sizes default,paper --variants jax ${torch_flags[*]}"
.venv/bin/python bench/run.py --sizes default,paper --variants jax --steps "${STEPS:-20}" \
  "${torch_flags[@]}" --json bench/gpu.json
