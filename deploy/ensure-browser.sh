#!/usr/bin/env bash
# Make sure the browser tests have a browser: Debian's Chromium and a CJK font
# (fonts-wqy-microhei, so Chinese renders); and that publicity's document tests have
# LibreOffice Writer without a GUI (libreoffice-writer-nogui: `soffice --convert-to pdf`).
# Idempotent and quiet: does nothing when all are present; otherwise installs them with apt-get, which needs root. Never downloads a
# browser build of its own (no `playwright install`).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg-query -W -f='${Status}' fonts-wqy-microhei 2>/dev/null | grep -q "install ok installed" \
    || missing+=(fonts-wqy-microhei)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-browser: ${missing[*]} missing and not root; install with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

log="$(mktemp -t ensure-browser.XXXXXX.log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    echo "ensure-browser: apt-get install ${missing[*]} failed; its output:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi
rm -f "$log"
[ -x /usr/bin/chromium ] || { echo "ensure-browser: /usr/bin/chromium still missing" >&2; exit 1; }
command -v soffice >/dev/null 2>&1 || { echo "ensure-browser: soffice still missing" >&2; exit 1; }
