#!/bin/sh
# Copies a dynamically linked program (ckms, ckms-operator) into DIR with every shared library it needs and the
# dynamic loader, plus a wrapper that starts it through that loader. An init container
# copies DIR into build pods, so ckms runs in any kernel build image whatever its libc
# and libraries (build images hold a toolchain and headers, not libcurl).
# Usage: bundle-ckms.sh BINARY DIR [NAME]   (DIR/bin/NAME is the wrapper; default: BINARY's name)
set -eu
binary=$1
dir=$2
name=${3:-$(basename "$binary")}
mkdir -p "$dir/bin" "$dir/libexec" "$dir/lib" "$dir/etc"
cp "$binary" "$dir/libexec/$name"
loader=
for lib in $(ldd "$binary" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
  cp -L "$lib" "$dir/lib/"
  case "$lib" in */ld-linux*) loader=$(basename "$lib") ;; esac
done
[ -n "$loader" ] || { echo "bundle-ckms: no dynamic loader in ldd $binary" >&2; exit 1; }
# Build images have no CA bundle; the build command points ckms at this one.
cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ca-certificates.crt"
cat > "$dir/bin/$name" <<WRAPPER
#!/bin/sh
exec $dir/lib/$loader --library-path $dir/lib $dir/libexec/$name "\$@"
WRAPPER
chmod 0755 "$dir/bin/$name"
"$dir/bin/$name" --help >/dev/null
