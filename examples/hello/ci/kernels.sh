#!/usr/bin/env bash
# Prints, one release per line, the kernels of ./flavours that Debian's archive offers and
# MODULE_REPO has no hello artifact for yet (`ckms kernels --missing`, from the job's apt
# indexes); with `images`, only those of them that have no build image under IMAGE_TEMPLATE.
# Needs MODULE_REPO, IMAGE_TEMPLATE, a `ckms login`, and `apt-get update` done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^PACKAGE_VERSION=//p' "$here/../dkms.conf")
args=()
while read -r flavour; do args+=(--flavour "$flavour"); done < <(grep -v '^#' "$here/flavours" | grep .)
ckms kernels --distro debian "${args[@]}" --repository "$MODULE_REPO" --version "$version" \
  --image-template "$IMAGE_TEMPLATE" --missing |
  if [ "${1:-}" = images ]; then awk '/ image-missing/ { print $1 }'; else awk '{ print $1 }'; fi
