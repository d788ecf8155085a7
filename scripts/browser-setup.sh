#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_browser.py drives it with Playwright's Python
# package through executable_path=/usr/bin/chromium; `playwright install` is never used). Idempotent and
# quick when Chromium is already there; never fails the test run: without Chromium the browser tests skip
# with a clear reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "${EXPLORER_SKIP_BROWSER_SETUP:-}" = "1" ]; then
  echo "browser-setup: EXPLORER_SKIP_BROWSER_SETUP=1: not installing Chromium (browser tests will skip)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser-setup: no apt-get here: install Chromium at /usr/bin/chromium yourself (browser tests will skip)"
  exit 0
fi
sudo_cmd=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd="sudo -n"
  else
    echo "browser-setup: not root and no password-less sudo: cannot install Chromium (browser tests will skip)"
    exit 0
  fi
fi
echo "browser-setup: installing Debian chromium (first run only)"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo_cmd apt-get install -y --no-install-recommends chromium >/tmp/browser-setup.log 2>&1; then
  $sudo_cmd apt-get update >>/tmp/browser-setup.log 2>&1 || true
  if ! $sudo_cmd apt-get install -y --no-install-recommends chromium >>/tmp/browser-setup.log 2>&1; then
    echo "browser-setup: installing chromium failed (see /tmp/browser-setup.log); browser tests will skip"
    tail -5 /tmp/browser-setup.log || true
    exit 0
  fi
fi
echo "browser-setup: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium installed')"
exit 0
