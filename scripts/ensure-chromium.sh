#!/usr/bin/env bash
# The browser test (tests/browser/) drives Debian's Chromium with playwright-core. Installs it when
# missing and we can (root + apt-get); otherwise says what to install. SSD2_CHROMIUM overrides the path.
set -euo pipefail
chromium="${SSD2_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Chromium for the browser test (apt-get: chromium)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$chromium" ] && exit 0
  echo "error: apt-get installed chromium but $chromium is not there; set SSD2_CHROMIUM to its path." >&2
  exit 1
fi
echo "error: $chromium is missing. Install Debian's Chromium (sudo apt-get install chromium) or set SSD2_CHROMIUM to a Chromium binary." >&2
exit 1
