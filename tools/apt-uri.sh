# Sourced by tools/setup-deps.sh and tests/qemu/trixie-os.sh: the Debian archive URI, derived
# from the apt sources this machine already has (never written into the repository).
# apt_archive_uri prints the URI of the configured entry whose suites include plain
# "bookworm" (deb822 .sources files first, then a one-line sources.list); the other suites
# (bookworm-backports, trixie) live in the same archive.
apt_archive_uri() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN{RS=""; FS="\n"}
		     { uri=""; ok=0
		       for (i=1;i<=NF;i++) {
		         if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/,"",$i); split($i,u,/[ \t]+/); uri=u[1] }
		         if ($i ~ /^Suites:/) { n=split($i,s,/[ \t]+/); for (j=2;j<=n;j++) if (s[j]=="bookworm") ok=1 }
		         if ($i ~ /^Enabled:[ \t]*no/) ok=0
		       }
		       if (ok && uri!="") { print uri; exit } }' "$f"
	done
	if [ -f /etc/apt/sources.list ]; then
		awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list
	fi
}
