#!/usr/bin/env bash
# `podnet ui` is tested in headless Chromium: Debian's `chromium`, driven by playwright-core (an
# npm dev dependency that downloads no browser of its own). Installs the package when root and
# missing; without root it only says so (the UI test then skips with that message).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: chromium is missing (the podnet ui browser test will skip); run setup as root to install it" >&2
  exit 0
fi
echo "setup: installing Debian chromium (for the podnet ui browser test)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
  { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
exit 0
