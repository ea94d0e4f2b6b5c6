#!/bin/bash
# dracut module (/usr/lib/dracut/modules.d/90ckms): every module that `ckms install
# --initramfs` (or `initramfs: true` in /etc/ckms/modules.d) installed for the release
# being built ($kernel) goes into the image as the file ckms installed, only while it still
# has the digest ckms recorded, with its in-tree dependencies (instmods), and is loaded
# before the root is mounted (rd.driver.pre, as dracut's own btrfs module does).

# called by dracut
check() {
    require_binaries ckms || return 1
    # Only when there is something to put in: an empty listing makes this module a no-op.
    [[ -n $(ckms early-modules --kernel "$kernel" 2> /dev/null) ]] || return 255
    return 0
}

# called by dracut
depends() {
    # Its cmdline hook (parse-kernel.sh; dracut-pre-udev.sh with systemd) loads what
    # rd.driver.pre names.
    echo kernel-modules
    return 0
}

# called by dracut
installkernel() {
    local early module path
    # A listing that fails leaves the image without modules the host may need to find its
    # root: that fails the build, loudly, rather than the next boot.
    early=$(ckms early-modules --kernel "$kernel") || {
        derror "ckms: cannot list the early-boot modules of $kernel"
        return 1
    }
    while read -r module path; do
        [[ -n $module ]] || continue
        instmods -c "$path" || return 1
    done <<< "$early"
}

# called by dracut
install() {
    local modules
    modules=$(ckms early-modules --kernel "$kernel" | while read -r module _; do printf '%s,' "$module"; done)
    [[ -n $modules ]] || return 0
    echo "rd.driver.pre=${modules%,}" > "${initdir}/etc/cmdline.d/90ckms.conf"
}
