#!/usr/bin/env bash
# Installs, idempotently, everything podnet needs on a fresh Debian machine: Debian packages for the
# kernel tooling and benchmark peers, Debian's kubectl 1.20 (extracted into .tools/ so that it never
# replaces a kubectl the machine already has), npm packages, and anything in scripts/setup.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

need_pkgs=()
want() { # want COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || need_pkgs+=("$2")
}
want ip iproute2
want iptables iptables
want iptables-restore iptables
want nft nftables
want conntrack conntrack
want tcpdump tcpdump
want etcd etcd-server
want dig dnsutils
want getent libc-bin
want openssl openssl
want unshare util-linux
want pgrep procps
want curl curl
want nginx nginx
want haproxy haproxy
want wrk wrk
want iperf3 iperf3
want gcc gcc
[ -x /usr/lib/cni/bridge ] || need_pkgs+=(containernetworking-plugins)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${need_pkgs[*]}); run as root to install them" >&2
  else
    echo "setup: installing Debian packages: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    # nginx/haproxy are benchmark peers only: never leave them running on the host.
    for svc in nginx haproxy; do
      command -v systemctl >/dev/null 2>&1 && systemctl disable --now "$svc" >/dev/null 2>&1 || true
      pkill -x "$svc" >/dev/null 2>&1 || true
    done
  fi
fi

# Debian's kubectl 1.20 (package kubernetes-client), kept in .tools/ beside any other kubectl.
mkdir -p .tools
if [ ! -x .tools/kubectl ]; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1) ||
     { [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null && (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1); }; then
    dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
    cp "$tmp/x/usr/bin/kubectl" .tools/kubectl
    echo "setup: Debian kubectl $(.tools/kubectl version --client --short 2>/dev/null | head -1) in .tools/"
  else
    echo "setup: could not download Debian's kubernetes-client; kubectl tests will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

# npm packages: only when node_modules is missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # npm ci refuses a lockfile that lacks optional platform packages the registry here does not
  # serve (biome's builds for other platforms); npm install then installs from the same lockfile.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# Component-specific steps (e.g. building the CNI thin client).
for f in scripts/setup.d/*.sh; do
  [ -e "$f" ] && bash "$f"
done
exit 0
