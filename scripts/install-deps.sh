#!/usr/bin/env bash
# Installs what vkattn needs from Debian 12 packages, when missing. Idempotent;
# needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(
  cmake ninja-build g++ pkg-config
  libvulkan-dev libvulkan1 libvulkan-volk-dev
  glslang-tools spirv-tools spirv-cross libspirv-cross-c-shared-dev
  catch2 clang-format
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  python3 python3-numpy python3-torch python3-pytest
  python3-venv python3-pip python3-setuptools python3-wheel
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
