#!/usr/bin/env bash
# A headless browser for the HTML report test (tests/report/test_html_browser.py).
#
#   bash scripts/chromium.sh        # prints the paths of the browser and its driver
#
# Idempotent: installs Debian's chromium and chromium-driver packages when either binary is missing
# (as root, through apt-get, retried when the package lists or the lock are busy); a present browser is
# left as it is. The test finds the binaries on PATH (or through $BATCHLAB_CHROMIUM and
# $BATCHLAB_CHROMEDRIVER) and is skipped, saying why, when they are absent.
set -euo pipefail

say() { echo "chromium.sh: $*" >&2; }

browser() { command -v chromium || command -v chromium-browser || true; }
driver() { command -v chromedriver || true; }

if [ -z "$(browser)" ] || [ -z "$(driver)" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "chromium or chromedriver is missing and this is not root: install Debian's chromium and chromium-driver"
        exit 1
    fi
    say "installing Debian's chromium and chromium-driver packages"
    export DEBIAN_FRONTEND=noninteractive
    installed=""
    for attempt in 1 2 3; do
        if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver \
            fonts-dejavu-core >/dev/null; then
            installed=yes
            break
        fi
        say "apt-get failed (attempt $attempt); retrying"
        sleep $((attempt * 5))
    done
    if [ -z "$installed" ]; then
        say "could not install chromium with apt-get"
        exit 1
    fi
fi

if [ -z "$(browser)" ] || [ -z "$(driver)" ]; then
    say "chromium or chromedriver is still missing after the install"
    exit 1
fi
# A browser that cannot start (a missing shared library, say) fails here rather than in the test.
"$(browser)" --headless --no-sandbox --disable-gpu --version >/dev/null
echo "$(browser) $(driver)"
