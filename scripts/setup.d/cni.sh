#!/usr/bin/env bash
# Builds the CNI plugins: the C thin client (cni/bin/podnet-cni, with the symlinks podnet-bridge,
# podnet-host-local, podnet-loopback, podnet-portmap) and the esbuild bundles of the self-contained
# entry and the daemon (cni/dist/). Rebuilds only what is older than its sources.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p cni/bin cni/dist

node_bin=$(command -v node || echo node)
if [ ! -x cni/bin/podnet-cni ] || [ cni/client/podnet-cni.c -nt cni/bin/podnet-cni ]; then
  if command -v gcc >/dev/null 2>&1; then
    gcc -O2 -Wall -Wextra -o cni/bin/podnet-cni.tmp -DPODNET_NODE_DEFAULT="\"$node_bin\"" cni/client/podnet-cni.c
    mv cni/bin/podnet-cni.tmp cni/bin/podnet-cni
    echo "setup: built cni/bin/podnet-cni"
  else
    echo "setup: gcc missing; cannot build the CNI thin client" >&2
  fi
fi
for p in bridge host-local loopback portmap; do
  ln -sfn podnet-cni "cni/bin/podnet-$p"
done

newest_src=$(find cni src/kernel src/util -name '*.ts' ! -name '*.test.ts' -newer cni/dist/podnet-cni.mjs 2>/dev/null | head -1 || true)
if [ ! -f cni/dist/podnet-cni.mjs ] || [ ! -f cni/dist/podnet-cni-daemon.mjs ] || [ -n "$newest_src" ]; then
  npx esbuild cni/main.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --banner:js='#!/usr/bin/env node' --outfile=cni/dist/podnet-cni.mjs
  npx esbuild cni/daemon.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --banner:js='#!/usr/bin/env node' --outfile=cni/dist/podnet-cni-daemon.mjs
  chmod +x cni/dist/podnet-cni.mjs cni/dist/podnet-cni-daemon.mjs
  echo "setup: bundled cni/dist/podnet-cni.mjs and podnet-cni-daemon.mjs"
fi
ln -sfn ../dist/podnet-cni-daemon.mjs cni/bin/podnet-cni-daemon
