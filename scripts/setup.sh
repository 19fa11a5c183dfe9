#!/usr/bin/env bash
# One-time (idempotent) set-up for a fresh Debian/Ubuntu machine:
#   1. libtorch: $LIBTORCH if set, else Debian's libtorch-dev (+ libopenblas0-openmp, and libgloo-dev: the Gloo headers
#      the c10d binding is built against), installed with apt when missing;
#   2. chromium (Debian's package) for the headless-browser tests, installed with apt when missing (not for npm start);
#   3. npm dependencies (npm ci, only when node_modules is missing or older than package-lock.json);
#   4. the native addon (native/build/Release/rft_native.node), rebuilt when its sources changed.
# Every step says what is missing when it cannot proceed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*" >&2; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

APT_PKGS=(libtorch-dev libopenblas0-openmp libgloo-dev)
# python3-torch is optional: it runs the PyTorch anchors in bench/ and the fixture generators in scripts/.
if [ -n "${RFT_WITH_PYTORCH:-}" ]; then APT_PKGS+=(python3-torch); fi

if [ -n "${LIBTORCH:-}" ]; then
  [ -f "$LIBTORCH/include/torch/csrc/api/include/torch/torch.h" ] || [ -f "$LIBTORCH/include/ATen/ATen.h" ] ||
    die "LIBTORCH=$LIBTORCH does not look like a libtorch directory (no include/ATen/ATen.h)"
  say "using libtorch from LIBTORCH=$LIBTORCH"
else
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get here; install libtorch and set LIBTORCH=/path/to/libtorch"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}"
      SUDO="sudo"
    fi
    say "installing ${missing[*]} with apt-get (about 1 GB with dependencies)"
    $SUDO apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  fi
fi

# Chromium (Debian's package): the tests drive the chat page of `rft serve` and the report's HTML in it, headless,
# through puppeteer-core. Not needed to run anything, so `npm start` (its prestart) leaves it out, and
# RFT_NO_CHROMIUM=1 skips it (those tests then skip with a message).
if [ -z "${RFT_NO_CHROMIUM:-}" ] && [ "${npm_lifecycle_event:-}" != prestart ] && ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    say "installing chromium with apt-get (for the browser tests)"
    $SUDO apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null || die "apt-get install chromium failed"
  else
    say "chromium is missing and cannot be installed here (no apt-get or no root/sudo): the browser tests will skip"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
fi

if [ -f native/binding.gyp ]; then
  addon=native/build/Release/rft_native.node
  stale=0
  [ -f "$addon" ] || stale=1
  if [ $stale = 0 ]; then
    for f in native/binding.gyp native/src/*; do [ "$f" -nt "$addon" ] && stale=1; done
  fi
  if [ $stale = 1 ]; then
    say "building the native addon (about 1-2 minutes)"
    npx --no-install node-gyp rebuild --directory native --jobs "$(nproc)" >native/build.log 2>&1 ||
      { tail -30 native/build.log >&2; die "native build failed (full log: native/build.log)"; }
  fi
fi
say "ready"
