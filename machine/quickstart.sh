#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine (as root): install what machine needs, start libvirtd,
# build the guest image, create a local VM and run a container in it.
# Usage: sudo machine/quickstart.sh [NAME]     (NAME defaults to "dev")
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-dev}

packages=(python3 python3-venv qemu-system-x86 qemu-utils libvirt-daemon-system dnsmasq-base libvirt-dev pkg-config
          gcc mmdebstrap e2fsprogs busybox-static openssh-client)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "==> installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> installing machine into $(pwd)/.venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[libvirt]'

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        echo "==> starting libvirtd"
        systemctl start libvirtd
    else
        echo "==> starting libvirtd by hand (no systemd): qemu runs as root without a security driver"
        grep -q '^security_driver = "none"' /etc/libvirt/qemu.conf ||
            printf '\nuser = "root"\ngroup = "root"\nsecurity_driver = "none"\n' >> /etc/libvirt/qemu.conf
        pgrep -x virtlogd >/dev/null || virtlogd -d
        pgrep -x libvirtd >/dev/null || libvirtd -d
        for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
    fi
fi

machine=.venv/bin/machine
if ! $machine status "$name" >/dev/null 2>&1; then
    echo "==> creating the machine $name (the first run builds the guest image)"
    $machine create -d libvirt "$name"
fi
$machine use "$name"

echo "==> loading a small image (busybox from this computer; no registry needed) and running a container"
image=$(mktemp --suffix=.tar)
.venv/bin/python -m machine.busybox "$image" busybox:latest >/dev/null
$machine load -i "$image"
rm -f "$image"
$machine run --rm busybox echo "Hello from a container on $name"

echo
echo "Done. Next:"
next_step() { printf '  %-38s # %s\n' "$1" "$2"; }
echo "  export PATH=$(pwd)/.venv/bin:\$PATH"
next_step "machine ls" "your machines"
next_step "eval \$(machine env $name)" "point the docker CLI and docker-py at $name (or: machine use $name)"
next_step "machine run -it --rm busybox sh" "a shell in a container, without the docker CLI"
next_step "machine ssh $name" "a shell on the VM"
next_step "machine stop $name" "then machine start $name; machine rm $name removes it"
