#!/bin/busybox sh
# /init of the loader's VM test (tests/integration/loader/vm_test.cpp). One boot runs every
# scenario against the real kernel and prints lines the test parses:
#   CKMS-MARK <name> ok|fail [detail]   one per check; the test fails on a missing or failed one
#   CKMS-TIME <label> <microseconds>    one per timed command (benchmark)
#   CKMS-PHASES warm|cold <phase>=<ms>... where one load spends its time, as ckms reports it
#   CKMS-DONE                           the end; then qemu exits through isa-debug-exit
# /etc/ckms-test.env (written by the test) sets RELEASE, OTHER_RELEASE, REG, VIRTIO_MODULES,
# HELLO_DIGEST, ROUNDS and DEBIAN_MODULE.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/lib /sbin /usr/bin
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# busybox's shell runs its own applets before anything on PATH (Debian builds it with
# FEATURE_SH_STANDALONE and PREFER_APPLETS): kmod's tools are called by their path.
for tool in insmod rmmod lsmod modprobe modinfo depmod; do
  eval "$tool() { /usr/sbin/$tool \"\$@\"; }"
done
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
. /etc/ckms-test.env
echo "CKMS-BOOT uptime=$(cut -d' ' -f1 /proc/uptime)"

mark() { echo "CKMS-MARK $1 $2${3:+ $3}"; }

# check NAME COMMAND...: NAME is ok when COMMAND succeeds.
check() {
  name=$1
  shift
  if "$@"; then mark "$name" ok; else mark "$name" fail "$*"; fi
}

# run NAME WANT COMMAND...: runs COMMAND with its output in /tmp/out (shown indented);
# NAME is ok when it exits WANT.
run() {
  name=$1 want=$2
  shift 2
  "$@" >/tmp/out 2>&1
  got=$?
  sed 's/^/    | /' /tmp/out
  if [ "$got" = "$want" ]; then mark "$name" ok "exit=$got"; else mark "$name" fail "exit=$got want=$want: $*"; fi
}

# What a refused load must leave as it was: the kernel's modules and the cache's files.
snapshot() {
  cut -d' ' -f1 /proc/modules | sort
  find /var/lib/ckms -type f | sort | xargs md5sum
}

# refused NAME WANT TEXT COMMAND...: COMMAND exits WANT, says TEXT, and changes nothing.
refused() {
  name=$1 want=$2 text=$3
  shift 3
  before=$(snapshot)
  "$@" >/tmp/out 2>&1
  got=$?
  sed 's/^/    | /' /tmp/out
  after=$(snapshot)
  if [ "$got" != "$want" ]; then
    mark "$name" fail "exit=$got want=$want"
  elif ! grep -q -- "$text" /tmp/out; then
    mark "$name" fail "the message does not say '$text'"
  elif [ "$before" != "$after" ]; then
    echo "$before" >/tmp/before
    echo "$after" >/tmp/after
    diff /tmp/before /tmp/after | sed 's/^/    changed: /'
    mark "$name" fail "the kernel's modules or the cache changed"
  else
    mark "$name" ok "exit=$got"
  fi
}

loaded() { [ -d "/sys/module/$1" ]; }
absent() { [ ! -d "/sys/module/$1" ]; }
param_is() { [ "$(cat "/sys/module/$1/parameters/$2")" = "$3" ]; }

# Network: the cloud kernel has no built-in NIC driver.
for module in $VIRTIO_MODULES; do insmod "$module" || echo "insmod $module failed"; done
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
check network ip link show eth0

HELLO=$REG/ckms/hello:1.0.0

# Booted with module.sig_enforce=1: the kernel refuses every key made by the test. ckms
# reads the same facts as the kernel (sig_enforce, its keyrings in /proc/keys) and refuses
# before inserting anything, naming the key and `ckms key enroll`.
if grep -q ckms_test=enforce /proc/cmdline; then
  mount -t securityfs securityfs /sys/kernel/security
  # The kernel's own name and id for Debian's module signing key (its certificate taken from
  # this kernel's image by the test) is what ckms computes, and that key signed a Debian module.
  run debian-key-show 0 ckms --json key show --cert /etc/ckms-test/debian-module-key.der --module "$DEBIAN_MODULE"
  debian_key=$(sed -n 's/^ *"kernelDescription": "\(.*\)",$/\1/p' /tmp/out)
  echo "    debian key: $debian_key"
  check debian-key-id grep -qF " asymmetri $debian_key: X509.rsa " /proc/keys
  check debian-key-signed-module grep -q '"signedByCertificate": true' /tmp/out
  check debian-key-trusted grep -q '"trustedForModules": true' /tmp/out
  # Our certificate: the DER that `ckms key enroll` writes, given to the kernel, is named by
  # the kernel as ckms names it.
  run enroll 0 ckms key enroll --cert /etc/ckms/trust.d/ckms-vm-test.pem --output /tmp/ours.der
  check enroll-says-no-efi grep -q "did not boot through UEFI" /tmp/out
  check enroll-says-command grep -q "mokutil --import /tmp/ours.der" /tmp/out
  ours=$(sed -n 's/^  kernel   \(.*\)  (as \/proc\/keys lists it)$/\1/p' /tmp/out)
  echo "    our key: $ours"
  check own-key-added guest_helper add-key /tmp/ours.der
  check own-key-id grep -qF " asymmetri $ours: X509.rsa " /proc/keys
  run key-status 0 ckms key status
  check key-status-enforced grep -q "^enforced  *yes, by module.sig_enforce" /tmp/out
  check key-status-untrusted grep -qF "ckms trusts $ours: the kernel does NOT trust it" /tmp/out
  run enforce-fetch 0 ckms load "$HELLO" --insecure-registry "$REG" --fetch-only
  run enforce-fetch-pair 0 ckms load "$REG/ckms/pair:1.0.0" --insecure-registry "$REG" --fetch-only
  refused enforce-refused 5 "key id ${ours##*: }" ckms load "$HELLO" --insecure-registry "$REG"
  check enforce-refused-enroll grep -q "ckms key enroll" /tmp/out
  check enforce-absent absent ckms_hello
  refused enforce-offline-refused 5 "refused before inserting" ckms load "$HELLO" --offline
  # Nothing is inserted, not even the in-tree dependency the kernel would take.
  refused enforce-pair-refused 5 "refused before inserting" ckms load "$REG/ckms/pair:1.0.0" --insecure-registry "$REG"
  check enforce-dependency-absent absent crc_itu_t
  # An install fetches (and so may tag again) into the cache before it can read the signer;
  # what it must not change is the kernel's modules and /lib/modules.
  run enforce-install-refused 5 ckms install "$HELLO" --insecure-registry "$REG"
  check enforce-install-says grep -q "refused before inserting" /tmp/out
  check enforce-install-absent absent ckms_hello
  check enforce-install-nothing [ ! -e "/lib/modules/$RELEASE/updates/ckms/ckms_hello.ko" ]
  echo "CKMS-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
  guest_helper exit 0
fi

# Loaded from the registry, with a parameter asked for and one defaulted by the artifact.
run load-online 0 ckms load "$HELLO" --insecure-registry "$REG" --param repeat=3
check module-present loaded ckms_hello
check param-asked param_is ckms_hello repeat 3
check param-default param_is ckms_hello greeting from-artifact
run status 0 ckms status
check status-line grep -qx "ckms_hello/1.0.0, $RELEASE, x86_64: loaded" /tmp/out
run status-json 0 ckms --json status
check status-json-state grep -q '"state": "loaded"' /tmp/out
run load-again 0 ckms load "$HELLO" --insecure-registry "$REG"
check load-again-noop grep -q already-loaded /tmp/out
run unload 0 ckms unload ckms_hello
check module-removed absent ckms_hello

# Refused, with nothing inserted and the cache as it was.
refused tampered 4 "does not match its digest" ckms load "$REG/ckms/tampered:1.0.0" --insecure-registry "$REG"
refused untrusted 5 "trusted" ckms load "$REG/ckms/untrusted:1.0.0" --insecure-registry "$REG"
refused other-kernel 5 "wrong kernel" ckms load "$HELLO" --insecure-registry "$REG" --kernel "$OTHER_RELEASE"
refused mislabeled 5 "built for kernel $OTHER_RELEASE" ckms load "$REG/ckms/mislabeled:1.0.0" --insecure-registry "$REG"
refused missing-dependency 5 "missing dependency" ckms load "$REG/ckms/needs-crc7:1.0.0" --insecure-registry "$REG"

# Two modules and an in-tree dependency (libkmod, /lib/modules/$RELEASE); then a rollback.
run pair-load 0 ckms load "$REG/ckms/pair:1.0.0" --insecure-registry "$REG"
check pair-present loaded ckms_pair_b
check pair-first-present loaded ckms_pair_a
check dependency-inserted loaded crc_itu_t
run pair-unload 0 ckms unload ckms-pair
check pair-removed absent ckms_pair_a
check dependency-removed absent crc_itu_t
refused rollback 1 "rolled back: removed ckms_pair_a, crc_itu_t" \
  ckms load "$REG/ckms/pair:1.0.0" --insecure-registry "$REG" --param ckms_pair_b.fail_init=1

# Built against another package's artifact (BUILD_DEPENDS, `ckms build --depends`): loading
# it loads that one first, from the same registry; without it, refused with nothing inserted.
run depends-load 0 ckms load "$REG/ckms/dep-b:1.0.0" --insecure-registry "$REG"
check depends-first-loaded loaded ckms_dep_a
check depends-told-first sh -c 'head -n1 /tmp/out | grep -q "^loaded ckms-dep-a 1.0.0 "'
check depends-present loaded ckms_dep_b
run depends-unload 0 ckms unload ckms_dep_b ckms_dep_a
check depends-removed absent ckms_dep_a
# Installed: the dependency is installed too, so modprobe (through depmod) loads it first.
run depends-install 0 ckms install "$REG/ckms/dep-b:1.0.0" --insecure-registry "$REG"
run depends-modprobe 0 modprobe ckms_dep_b
check depends-modprobe-first loaded ckms_dep_a
modprobe -r ckms_dep_b
run depends-uninstall 0 ckms uninstall --all
refused depends-missing 5 "missing build dependency: ckms-dep-b 1.0.0 needs ckms-dep-a 1.0.0" \
  ckms load "$REG/ckms/dep-b-orphan:1.0.0" --insecure-registry "$REG"

# Benchmark: cold (empty cache, from the registry), warm (--offline from the cache), warm
# but asking the registry, and plain insmod (kmod's and busybox's) of the same file.
bench="--cache-dir /var/lib/ckms-bench --state-dir /run/ckms-bench"
blob=/var/lib/ckms-bench/blobs/sha256/$HELLO_DIGEST
timed() {
  label=$1
  shift
  guest_helper time "$@" >/tmp/timed 2>&1
  rc=$?
  us=$(sed -n 's/^elapsed_us=//p' /tmp/timed)
  if [ "$rc" = 0 ]; then echo "CKMS-TIME $label $us"; else sed 's/^/    | /' /tmp/timed; mark "time-$label" fail "rc=$rc"; fi
}
i=0
while [ "$i" -lt "$ROUNDS" ]; do
  rm -rf /var/lib/ckms-bench
  timed cold ckms -q load "$HELLO" --insecure-registry "$REG" $bench
  ckms unload --state-dir /run/ckms-bench ckms_hello >/dev/null
  timed warm ckms -q load "$HELLO" --offline $bench
  ckms unload --state-dir /run/ckms-bench ckms_hello >/dev/null
  timed warm-online ckms -q load "$HELLO" --insecure-registry "$REG" $bench
  ckms unload --state-dir /run/ckms-bench ckms_hello >/dev/null
  timed insmod insmod "$blob"
  rmmod ckms_hello
  timed busybox-insmod busybox insmod "$blob"
  rmmod ckms_hello
  timed ckms-version ckms --version
  timed ckms-full-version ckms-full --version
  timed verify-openssl verify_floor openssl /etc/ckms/trust.d/ckms-vm-test.pem "$blob"
  timed verify-minimal verify_floor minimal /etc/ckms/trust.d/ckms-vm-test.pem "$blob"
  i=$((i + 1))
done
# Where a load's time goes, as ckms measures it (process start not included).
phases() {
  echo "CKMS-PHASES $1 $(sed -En 's/^ *"(trust|resolve|fetch|verify|insert)": ([0-9.]+).*/\1=\2/p' /tmp/phases | tr '\n' ' ')"
  ckms unload --state-dir /run/ckms-bench ckms_hello >/dev/null
}
ckms --json load "$HELLO" --offline $bench >/tmp/phases
phases warm
rm -rf /var/lib/ckms-bench
ckms --json load "$HELLO" --insecure-registry "$REG" $bench >/tmp/phases
phases cold
check bench-clean absent ckms_hello

# Installed as `dkms install` installs (there into updates/dkms): the file in
# /lib/modules/$RELEASE/updates/ckms and depmod's indexes, nothing else, so that kmod's own
# modinfo and modprobe, and udev's modalias lookup, find the modules with no ckms involved.
# Uninstall leaves the tree as it was, byte for byte.
modules_tree() {
  find "/lib/modules/$RELEASE" | sort | while read -r f; do
    if [ -f "$f" ]; then echo "$f $(md5sum <"$f" | cut -d' ' -f1)"; else echo "$f"; fi
  done
}
modules_tree >/tmp/tree-before
OWN=/lib/modules/$RELEASE/updates/ckms
run install 0 ckms install "$HELLO" --insecure-registry "$REG"
modules_tree >/tmp/tree-installed
cut -d' ' -f1 /tmp/tree-before >/tmp/names-before
cut -d' ' -f1 /tmp/tree-installed >/tmp/names-installed
printf '%s\n' "/lib/modules/$RELEASE/updates" "$OWN" "$OWN/ckms_hello.ko" >/tmp/names-expected
grep -vxF -f /tmp/names-before /tmp/names-installed >/tmp/names-new
check install-new-files cmp -s /tmp/names-new /tmp/names-expected
# Of what was there, only depmod's indexes changed.
grep -vxF -f /tmp/tree-installed /tmp/tree-before | grep -v "^/lib/modules/$RELEASE/modules\." >/tmp/changed
check install-only-indexes-changed [ ! -s /tmp/changed ]
check install-depmod grep -q "^updates/ckms/ckms_hello.ko:" "/lib/modules/$RELEASE/modules.dep"
run install-modinfo 0 modinfo ckms_hello
check install-modinfo-file grep -q "^filename: *$OWN/ckms_hello.ko" /tmp/out
check install-modinfo-signer grep -q "^signer: *ckms vm test" /tmp/out
# The same kmod on a module Debian signed: whether this guest's kmod shows signers at all.
run install-modinfo-debian 0 modinfo virtio_net
check install-modinfo-debian-signer grep -q "^signer: " /tmp/out
# The artifact's default parameter, for modprobe as for `ckms load`.
check install-options grep -qx "options ckms_hello greeting=from-artifact" /etc/modprobe.d/ckms-ckms_hello.conf
run install-status 0 ckms status
check install-status-line grep -qx "ckms_hello/1.0.0, $RELEASE, x86_64: installed" /tmp/out
run install-modprobe 0 modprobe ckms_hello
check install-modprobe-loaded loaded ckms_hello
check install-modprobe-options param_is ckms_hello greeting from-artifact
run install-modprobe-remove 0 modprobe -r ckms_hello
check install-modprobe-removed absent ckms_hello
# A device whose modalias the pair's first module claims: what udev runs for it.
run install-pair 0 ckms install "$REG/ckms/pair:1.0.0" --insecure-registry "$REG"
run install-modalias 0 modprobe "pci:v0000CAFEd0000BEEFsv00000000sd00000000bc00sc00i00"
check install-modalias-loaded loaded ckms_pair_a
rmmod ckms_pair_a
run install-modprobe-dependencies 0 modprobe ckms_pair_b
check install-modprobe-dependency loaded crc_itu_t
modprobe -r ckms_pair_b
run uninstall 0 ckms uninstall --all
modules_tree >/tmp/tree-after
check uninstall-tree-restored cmp -s /tmp/tree-before /tmp/tree-after
check uninstall-options-removed [ ! -e /etc/modprobe.d/ckms-ckms_hello.conf ]

# The registry becomes unreachable: an online load fails, --offline loads from the cache.
ip link set eth0 down
refused unreachable 7 "" ckms load "$HELLO" --insecure-registry "$REG"
run offline-load 0 ckms load "$HELLO" --offline --param greeting=offline
check offline-present loaded ckms_hello
check offline-param param_is ckms_hello greeting offline
run offline-unload 0 ckms unload ckms_hello
check offline-removed absent ckms_hello
# A dependency the kernel lacks needs libkmod, which only ckms-full links: `ckms` hands this
# offline load over to it before inserting anything.
run offline-pair 0 ckms load "$REG/ckms/pair:1.0.0" --offline
check offline-pair-dependency loaded crc_itu_t
check offline-pair-present loaded ckms_pair_b
run offline-pair-unload 0 ckms unload ckms-pair
check offline-pair-removed absent crc_itu_t

# What the systemd unit runs at boot: /etc/ckms/modules.d, falling back to the cache.
run boot-config 0 ckms load --all
check boot-config-fallback grep -q "used the cache" /tmp/out
check boot-config-param param_is ckms_hello greeting from-config
run unload-all 0 ckms unload --all
check all-removed absent ckms_hello

echo "CKMS-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
guest_helper exit 0
