#!/usr/bin/env bash
# Install everything the whole suite needs, then run it: the README's test command.
# System packages (apt): chromium for the browser tests, iproute2 for the LAN test,
# ffmpeg/sox/espeak-ng to regenerate fixtures. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ip >/dev/null || need+=(iproute2)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v sox >/dev/null || need+=(sox)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "+ apt-get install ${need[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${need[@]}" >/dev/null
    else
        echo "missing system packages: ${need[*]} (install them, then run this again)" >&2
        exit 1
    fi
fi

python -m pip install -q -e '.[test,cluster,speakers]'
python -m pytest "$@"
