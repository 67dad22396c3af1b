#!/bin/bash
# build-deb.sh SRCDIR OUTDIR — build the Debian package of the source tree
# SRCDIR with `dpkg-buildpackage -us -uc -b`, from a copy of it (never in the
# source tree itself), and print the directory that holds the result:
#
#   DIR/src/        the copy the package was built from (with its meson
#                   build directory obj-*/, for `meson introspect --installed`)
#   DIR/build.log   dpkg-buildpackage's output
#   DIR/*.deb       vfpt_VERSION_ARCH.deb (and the -dbgsym package)
#
# The copy is what git would commit (tracked files and untracked ones that
# are not ignored, as they are now in the work tree), or, outside git, the
# tree without .git and meson build directories.  The result is cached in
# OUTDIR keyed on a hash of that copy and DEB_BUILD_OPTIONS, so the package
# test and the vm scenario that installs the package share one build.
set -euo pipefail

src=$(cd "${1:?usage: build-deb.sh SRCDIR OUTDIR}" && pwd)
out=${2:?usage: build-deb.sh SRCDIR OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { printf '# [build-deb] %s\n' "$*" >&2; }
die() { printf 'FAIL: build-deb: %s\n' "$*" >&2; exit 1; }

exec {lock}>"$out/.lock"
flock "$lock"

copy=$out/copy.tmp
rm -rf "$copy"
mkdir -p "$copy"
if [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$src" ]; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$src/$f" ] || [ -L "$src/$f" ] || continue   # deleted, not yet committed
			printf '%s\0' "$f"
		done | tar -C "$src" --null --no-recursion -T - -cf - | tar -C "$copy" -xf -
else
	tar -C "$src" --exclude=./.git --exclude-tag-all=build.ninja \
		--exclude=./debian/.debhelper --exclude=./debian/vfpt --exclude=./debian/vfpt-dbgsym \
		-cf - . | tar -C "$copy" -xf -
fi
[ -f "$copy/debian/control" ] || die "no debian/control in the copy of $src"

key=$({
	tar -C "$copy" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - .
	echo "DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}"
} | sha256sum | cut -c1-16)
dir=$out/deb-$key
if [ -f "$dir/done" ]; then
	rm -rf "$copy"
	log "reusing the package built from this source: $dir"
	echo "$dir"
	exit 0
fi

rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
mv "$copy" "$dir.tmp/src"
cd "$dir.tmp/src"
if ! dpkg-checkbuilddeps >"$dir.tmp/checkbuilddeps.log" 2>&1; then
	cat "$dir.tmp/checkbuilddeps.log" >&2
	die "the build dependencies are not installed (see tests/debian-packages.txt)"
fi
log "dpkg-buildpackage -us -uc -b in $dir.tmp/src (log: $dir/build.log)"
start=$SECONDS
if ! dpkg-buildpackage -us -uc -b -Jauto >"$dir.tmp/build.log" 2>&1; then
	tail -n 60 "$dir.tmp/build.log" >&2
	die "dpkg-buildpackage failed (whole log: $dir.tmp/build.log)"
fi
log "built in $((SECONDS - start)) s"
touch "$dir.tmp/done"
cd "$out"
mv "$dir.tmp" "$dir"
# Builds of other sources are not used again.
find "$out" -maxdepth 1 -name 'deb-*' ! -name "deb-$key" -exec rm -rf {} +
echo "$dir"
