#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian/Ubuntu machine:
#   - system packages through apt-get: ffmpeg/ffprobe (and, with --dev, chromium for the report test)
#   - a virtualenv in .venv with the project (editable) and its Python dependencies
# Safe to re-run: it skips what is already there.
#   bash scripts/setup.sh          # main job
#   bash scripts/setup.sh --dev    # + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_pkgs=()
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || apt_pkgs+=(ffmpeg)
command -v git >/dev/null || apt_pkgs+=(git)
if [ "$DEV" = 1 ]; then command -v chromium >/dev/null || apt_pkgs+=(chromium); fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  echo "setup: apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
extras="."
if [ "$DEV" = 1 ]; then extras=".[dev]"; fi
echo "setup: pip install -e '$extras' (first run pulls torch, a few GB)"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$extras"
echo "setup: done ($(.venv/bin/python -c 'import torch, decord, webdataset, open_clip; print("torch", torch.__version__)'), $(ffmpeg -version | head -n1 | cut -d' ' -f1-3))"
