#!/usr/bin/env bash
# Install or upgrade the shipper on a lab host. Run as root, from a checkout or from
# /opt/shipper itself; running it again is safe (it converges, and never overwrites a
# real config):
#
#   sudo scripts/install-lab-host.sh [--recorder-group GROUP] [--dry-run] [--no-npm]
#
#   --recorder-group GROUP  the group the recorder writes episodes with: episodes/ gets it
#                           (mode 2770) and the unit gets SupplementaryGroups=GROUP (a
#                           drop-in), so that the shipper may rename episodes out of it.
#                           Remembered from the previous run when not given.
#   --dry-run               print every step, change nothing
#   --no-npm                do not run npm: copy the checkout's own dist/ and node_modules/
#   DESTDIR=/some/root      (environment) install below that root; the steps that act on the
#                           live system (apt-get, useradd, chown, systemctl) are skipped and
#                           printed
#
# What it does: checks Node 20.19+; installs zstd, libsystemd-dev and the compiler the
# native sd-notify module needs, if missing (apt-get); creates the `shipper` system user;
# builds the code into /opt/shipper (and links /usr/local/bin/shipper to it); installs
# /etc/systemd/system/shipper.service; creates
# /etc/shipper/lab-host.toml from lab-host.toml.example only if it does not exist; creates
# the data folders under /var/lib/shipper with their owners and modes; reloads systemd and
# restarts the unit only if it is enabled (it never starts a unit that was not enabled).
# docs/operations.md explains each choice.
set -euo pipefail

PROG=install-lab-host
# shellcheck source=scripts/install-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/install-common.sh"

RECORDER_GROUP=
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
  --dry-run) DRY_RUN=1 ;;
  --no-npm) NO_NPM=1 ;;
  --recorder-group)
    [[ $# -ge 2 && -n $2 ]] || { echo "$PROG: --recorder-group needs a group name" >&2; exit 2; }
    RECORDER_GROUP=$2
    shift
    ;;
  --recorder-group=*) RECORDER_GROUP=${1#*=} ;;
  -h | --help) usage; exit 0 ;;
  *) echo "$PROG: unknown argument '$1'; see $0 --help" >&2; exit 2 ;;
  esac
  shift
done

require_root
SRC=$(source_tree)
say "installing from $SRC${DESTDIR:+ into DESTDIR=$DESTDIR}$( ((DRY_RUN)) && echo ' (dry run: nothing is changed)')"

UNIT_DIR=$DESTDIR/etc/systemd/system
GROUP_DROPIN=$UNIT_DIR/shipper.service.d/50-install-recorder-group.conf
if [[ -z $RECORDER_GROUP && -f $GROUP_DROPIN ]]; then
  RECORDER_GROUP=$(sed -n 's/^SupplementaryGroups=//p' "$GROUP_DROPIN" | head -n1)
  [[ -n $RECORDER_GROUP ]] && say "recorder group from the previous run: $RECORDER_GROUP"
fi
if [[ -n $RECORDER_GROUP ]]; then
  [[ $RECORDER_GROUP =~ ^[a-z_][a-z0-9_-]*[$]?$ ]] || die "--recorder-group '$RECORDER_GROUP' is not a valid group name"
  if [[ -z $DESTDIR ]] && ! getent group "$RECORDER_GROUP" >/dev/null; then
    die "group '$RECORDER_GROUP' does not exist; create it (groupadd) or give the recorder's group"
  fi
fi

check_node
ensure_packages "zstd (the archive format), libsystemd-dev and a compiler (native sd_notify module)" \
  cmd:zstd=zstd /usr/include/systemd/sd-daemon.h=libsystemd-dev cmd:make=make cmd:g++=g++ cmd:python3=python3
ensure_user shipper /var/lib/shipper "shipper, ships telemetry episodes"
install_code "$SRC"
link_command shipper

install_unit shipper
step "unit drop-ins written by this script"
if [[ -n $RECORDER_GROUP ]]; then
  dropin shipper 50-install-recorder-group.conf "[Service]
SupplementaryGroups=$RECORDER_GROUP"
else
  dropin shipper 50-install-recorder-group.conf ""
  note "no recorder group: episodes/ is writable by the shipper user only (see --recorder-group)"
fi
if native_notify_built || ((DRY_RUN)); then
  dropin shipper 50-install-notify-fallback.conf ""
else
  note "the native sd-notify module did not build: the notifier falls back to systemd-notify"
  dropin shipper 50-install-notify-fallback.conf "[Service]
# The sd-notify module did not build (install libsystemd-dev, make, g++, python3 and run the
# install again); the systemd-notify program sends from a child process instead.
NotifyAccess=all"
fi

step "config /etc/shipper/lab-host.toml"
folder /etc/shipper 0755 root root
CONFIG=$DESTDIR/etc/shipper/lab-host.toml
if [[ -e $CONFIG || -L $CONFIG ]]; then
  note "exists; kept as it is (never overwritten). Compare with /opt/shipper/lab-host.toml.example after upgrades."
else
  example=$DESTDIR/opt/shipper/lab-host.toml.example
  [[ -f $example ]] || example=$SRC/lab-host.toml.example
  run install -m 0640 "$example" "$CONFIG"
  live chgrp shipper "$CONFIG"
  note "$( ((DRY_RUN)) && echo 'would be ' )created from the example: set host_id, receiver.url and the certificate paths, then"
  note "  shipper check-config --config /etc/shipper/lab-host.toml"
fi

step "data folders under /var/lib/shipper"
folder /var/lib/shipper 0751 shipper shipper
folder /var/lib/shipper/episodes 2770 shipper "${RECORDER_GROUP:-shipper}"
for d in outbox shipped quarantine state; do
  folder "/var/lib/shipper/$d" 0750 shipper shipper
done

restart_if_enabled shipper

step "done"
note "code: /opt/shipper   unit: /etc/systemd/system/shipper.service   config: /etc/shipper/lab-host.toml"
note "client key: /etc/shipper/client.key owned by shipper, mode 0600 (or as a credential: see the unit)"
note "check: sudo -u shipper shipper check-config && sudo -u shipper shipper --ping"
