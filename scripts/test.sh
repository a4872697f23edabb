#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# The browser test (tests/e2e/test_browser.py) drives Debian's Chromium, /usr/bin/chromium,
# with Playwright (installed by bootstrap.sh through the `test` extra; Playwright's own browser
# download is never used). Install Chromium with apt when it is missing:
#   * under CI=true always (as root, or through passwordless sudo); if that fails, stop here,
#     since CI must run the browser test, not skip it;
#   * on a local run only as root; if apt fails, go on: the browser test skips with its reason.
# Nothing happens once /usr/bin/chromium exists, so this is cheap to run again.
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  fi
  if [ "${CI:-}" = "true" ] || [ "$(id -u)" = 0 ]; then
    apt_log="$(mktemp)"
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 \
      && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium >>"$apt_log" 2>&1 \
      && [ -x /usr/bin/chromium ]; then
      echo "test.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
    elif [ "${CI:-}" = "true" ]; then
      tail -n 20 "$apt_log" >&2
      echo "test.sh: could not install Debian's chromium; CI needs it for tests/e2e/test_browser.py" >&2
      rm -f "$apt_log"
      exit 1
    else
      echo "test.sh: could not install Debian's chromium; the browser test will skip" >&2
    fi
    rm -f "$apt_log"
  fi
fi

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python -m pytest -q "$@"
