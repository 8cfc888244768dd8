#!/bin/bash
# Unpacks the Secure Boot / UKI tools that bookworm lacks into CACHE/uki-tools, from
# bookworm-backports packages (apt-get download + dpkg-deb -x; nothing is installed):
#   systemd 254      -> usr/lib/systemd/ukify (run with python3), systemd-measure
#   systemd-boot-efi -> the 254 stub (the tool prefers the system's stub when present)
#   python3-virt-firmware -> virt-fw-vars (enrols PK/KEK/db into OVMF variables)
#   libsystemd-shared 254 (for systemd-measure), python3-pefile (for ukify), both unpacked
# Idempotent; built in a temporary directory and renamed into place, since the cache is
# shared. Prints the directory. Needs the bookworm-backports entry tools/setup-deps.sh adds.
set -eu
cache=${1:?usage: fetch-uki-tools.sh CACHE_DIR}
dest=$cache/uki-tools
if [ -f "$dest/stamp" ]; then echo "$dest"; exit 0; fi
tmp=$(mktemp -d "$cache/.uki-tools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tmp"
	apt-get download -q systemd/bookworm-backports systemd-boot-efi/bookworm-backports \
		python3-virt-firmware/bookworm-backports libsystemd-shared/bookworm-backports python3-pefile > download.log 2>&1 ||
		{ cat download.log >&2; exit 1; }
	for d in ./*.deb; do dpkg-deb -x "$d" root; done
	rm -f ./*.deb
)
[ -f "$tmp/root/usr/lib/systemd/ukify" ] || [ -f "$tmp/root/lib/systemd/ukify" ] ||
	{ echo "fetch-uki-tools: no ukify in the backports systemd package" >&2; exit 1; }
touch "$tmp/stamp"
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
	[ -f "$dest/stamp" ] || { echo "fetch-uki-tools: cannot create $dest" >&2; exit 1; }
fi
trap - EXIT
rm -rf "$tmp" 2>/dev/null || true
echo "$dest"
