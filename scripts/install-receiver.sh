#!/usr/bin/env bash
# Install or upgrade the reference receiver (shipper-receiver). Run as root, from a
# checkout or from /opt/shipper itself; running it again is safe (it converges, and never
# overwrites a real flags file):
#
#   sudo scripts/install-receiver.sh [--dry-run] [--no-npm]
#
#   --dry-run           print every step, change nothing
#   --no-npm            do not run npm: copy the checkout's own dist/ and node_modules/
#   DESTDIR=/some/root  (environment) install below that root; the steps that act on the
#                       live system (apt-get, useradd, chown, systemctl) are skipped and printed
#
# What it does: checks Node 20.19+; installs zstd if missing (the receiver checks every
# archive with it); creates the `shipper-receiver` system user; builds the code into
# /opt/shipper (shared with the lab-host install: one code tree); installs
# /etc/systemd/system/shipper-receiver.service; creates /etc/shipper-receiver/receiver.env
# from etc/shipper-receiver.env.example only if it does not exist; creates the store
# /var/lib/shipper-receiver; reloads systemd and restarts the unit only if it is enabled.
# The TLS files (ca.pem, server.pem, server.key) are the operator's: see docs/operations.md.
set -euo pipefail

PROG=install-receiver
# shellcheck source=scripts/install-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/install-common.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
  --dry-run) DRY_RUN=1 ;;
  --no-npm) NO_NPM=1 ;;
  -h | --help) usage; exit 0 ;;
  *) echo "$PROG: unknown argument '$1'; see $0 --help" >&2; exit 2 ;;
  esac
  shift
done

require_root
SRC=$(source_tree)
say "installing from $SRC${DESTDIR:+ into DESTDIR=$DESTDIR}$( ((DRY_RUN)) && echo ' (dry run: nothing is changed)')"

check_node
# The compiler is for the optional sd-notify module of the shared code tree; the receiver
# itself does not need it, so it is not installed for the receiver alone.
ensure_packages "zstd (the receiver checks every archive with it)" cmd:zstd=zstd
ensure_user shipper-receiver /var/lib/shipper-receiver "shipper-receiver, stores shipped telemetry episodes"
install_code "$SRC"
link_command shipper-receiver
install_unit shipper-receiver

step "flags /etc/shipper-receiver/receiver.env"
folder /etc/shipper-receiver 0755 root root
ENVFILE=$DESTDIR/etc/shipper-receiver/receiver.env
if [[ -e $ENVFILE || -L $ENVFILE ]]; then
  note "exists; kept as it is (never overwritten)"
else
  example=$DESTDIR/opt/shipper/etc/shipper-receiver.env.example
  [[ -f $example ]] || example=$SRC/etc/shipper-receiver.env.example
  run install -m 0644 "$example" "$ENVFILE"
  note "$( ((DRY_RUN)) && echo 'would be ' )created from the example: check LISTEN and RECEIVER_OPTS"
fi
for f in ca.pem server.pem server.key; do
  [[ -e $DESTDIR/etc/shipper-receiver/$f ]] || note "still missing: /etc/shipper-receiver/$f$([[ $f == server.key ]] && echo ' (root:root, mode 0600: the unit hands it over as a credential)')"
done

step "store /var/lib/shipper-receiver"
folder /var/lib/shipper-receiver 0750 shipper-receiver shipper-receiver

restart_if_enabled shipper-receiver

step "done"
note "code: /opt/shipper   unit: /etc/systemd/system/shipper-receiver.service   flags: /etc/shipper-receiver/receiver.env"
