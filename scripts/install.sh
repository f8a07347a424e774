#!/usr/bin/env bash
# Install what kumo needs on a fresh Debian/Ubuntu machine, skipping what is
# already there: system packages (apt-get) and a Python virtualenv in .venv
# with kumo and its pinned dependencies.
#   scripts/install.sh          runtime + test dependencies; kumo and openstack
#                               linked into /usr/local/bin (or $KUMO_BIN_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 iputils-ping nftables conntrack tcpdump iperf3 busybox-static isc-dhcp-client
              postgresql procps psmisc python3-venv util-linux dnsmasq-base
              qemu-system-x86 qemu-utils genisoimage e2fsprogs openssh-client prometheus
              lz4  # a host uncompresses the guest kernel once (kumo.vm.bootfiles)
              chromium)  # the dashboard's browser tests (Playwright drives it)
# (The guest image's own packages -- the cloud kernel, dropbear-bin and its
# libraries -- are only downloaded by `kumo image build`, never installed.)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "kumo needs Python 3.11 or newer ($PY is older)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.kumo-installed
# The environment's `kumo` must be this checkout (an editable install made
# from another copy of the tree points every kumo process there).
here=$(pwd -P)
installed_at=$(cd / && env -u PYTHONPATH "$here/.venv/bin/python" -c \
  'import kumo, os; print(os.path.dirname(os.path.dirname(os.path.realpath(kumo.__file__))))' \
  2>/dev/null || true)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$installed_at" != "$here" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
# Byte-compile kumo's own modules now: every kumo process (API, agents, CLI
# calls in tests) would otherwise compile them again when the environment
# sets PYTHONDONTWRITEBYTECODE. Only changed files are compiled again.
.venv/bin/python -m compileall -q kumo >/dev/null

# `kumo` and `openstack` on PATH: symlinks into the virtualenv (KUMO_BIN_DIR
# chooses another directory than /usr/local/bin). A file there that is not
# such a symlink is left alone.
bindir=${KUMO_BIN_DIR:-/usr/local/bin}
mkdir -p "$bindir"
for tool in kumo openstack; do
  target="$PWD/.venv/bin/$tool"
  link="$bindir/$tool"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "not linking $link: a file that is not a symlink is there" >&2
    continue
  fi
  ln -sfn "$target" "$link"
done

# The cirros guest bundle for real VMs (kumo/guestimage): skipped when the
# output exists with the same inputs (package versions, guest files).
if [ "$(id -u)" = 0 ]; then
  .venv/bin/kumo image build
else
  echo "not root: skipping the guest image (run: sudo .venv/bin/kumo image build)"
fi
