#!/usr/bin/env bash
# Set up everything dma-audio needs on a Debian machine (run as root for apt-get):
# system packages where missing, a virtual environment in .venv, the project in it.
# --tests: also what the tests' kernel oracle needs on the host (QEMU, a static C build).
set -euo pipefail
cd "$(dirname "$0")"
# gcc and the Python headers: the hot path is compiled with mypyc (pure Python without them)
pkgs=(python3-venv python3-dev gcc libc6-dev procps libportaudio2 jackd2 pulseaudio
      pulseaudio-utils libasound2-plugins)
if [ "${1:-}" = "--tests" ]; then
  pkgs+=(qemu-system-x86 linux-libc-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
log=$(mktemp)
# compat: a plain path entry, which loads in no time (the default finder imports pathlib
# and more before the program's own first line can set its signal handlers); it also
# builds the compiled modules in place, beside their sources (about two minutes)
if ! .venv/bin/python -m pip install -q -e ".[test]" --config-settings editable_mode=compat \
    >"$log" 2>&1; then
  cat "$log" >&2; echo "setup: pip install failed" >&2; exit 1
fi
rm -f "$log"
.venv/bin/python -c "import dma, soc, demos" || { echo "setup: install failed" >&2; exit 1; }
echo "setup: $(.venv/bin/dma-audio --version 2>/dev/null)" >&2
