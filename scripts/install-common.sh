# shellcheck shell=bash
# Shared steps of install-lab-host.sh and install-receiver.sh (sourced, never run).
#
# Every step is printed before it runs. Two ways to change nothing real:
#   --dry-run         print what would be done, change nothing at all;
#   DESTDIR=/a/root   install into that throwaway root: files and folders go below it, and
#                     the steps that act on the live system (apt-get, useradd, chown to the
#                     service user, systemctl) are printed as "skipped (DESTDIR)" instead.
#                     The only mode that does not need root.
# Both are what the test suite runs; a real install is root, no DESTDIR, no --dry-run.

DRY_RUN=0
NO_NPM=0
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
STEP=0
NODE=
umask 022

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
step() { STEP=$((STEP + 1)); printf '==> [%d] %s\n' "$STEP" "$*"; }
note() { printf '    %s\n' "$*"; }
skip() { printf '    skipped (%s): %s\n' "$1" "$2"; }

# show CMD...: the command as a shell would read it back.
show() {
  local a out=()
  for a; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  printf '%s' "${out[*]}"
}

# run CMD...: print it, then run it unless --dry-run.
run() {
  if ((DRY_RUN)); then
    printf '    would run: %s\n' "$(show "$@")"
  else
    printf '    + %s\n' "$(show "$@")"
    "$@"
  fi
}

# live CMD...: a command that acts on the live system (packages, users, owners, units):
# skipped under DESTDIR, printed under --dry-run.
live() {
  if [[ -n $DESTDIR ]]; then
    skip DESTDIR "$(show "$@")"
  else
    run "$@"
  fi
}

# Root for a real install and for --dry-run of one. A DESTDIR install touches nothing
# outside DESTDIR (the live-system steps are skipped), so it may run as anyone: that is what
# lets the test suite run it without privileges.
require_root() {
  if [[ -z $DESTDIR && $(id -u) != 0 ]]; then
    die "must run as root (sudo $0); to try it out: --dry-run as root, or DESTDIR=/tmp/root $0"
  fi
}

# The repository this script belongs to: a checkout, or /opt/shipper itself.
source_tree() {
  local dir
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  [[ -f $dir/package.json && -f $dir/bin/shipper.js && -d $dir/etc ]] ||
    die "$dir does not look like a shipper checkout (package.json, bin/shipper.js, etc/)"
  grep -q '"name": "shipper"' "$dir/package.json" || die "$dir/package.json is not the shipper's"
  printf '%s\n' "$dir"
}

check_node() {
  step "check Node.js (20.19 or newer; the unit runs /usr/bin/node)"
  if [[ -x /usr/bin/node ]]; then NODE=/usr/bin/node; else NODE=$(command -v node || true); fi
  [[ -n $NODE ]] || die "node not found; install Node.js 20.19 or newer (e.g. the nodejs package of NodeSource 20.x)"
  local version
  version=$("$NODE" -p 'process.versions.node')
  if ! "$NODE" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    die "$NODE is version $version; the shipper needs 20.19 or newer"
  fi
  note "$NODE $version"
  [[ $NODE == /usr/bin/node ]] || note "node is not /usr/bin/node: the installed units will run $NODE instead"
}

# ensure_packages "what-for" CHECK:PACKAGE...  CHECK is `cmd:NAME` (a command on PATH) or a
# file path that the package provides.
ensure_packages() {
  local why=$1 item check pkg missing=()
  shift
  step "system packages: $why"
  for item in "$@"; do
    check=${item%%=*}
    pkg=${item#*=}
    if [[ $check == cmd:* ]]; then
      command -v "${check#cmd:}" >/dev/null 2>&1 || missing+=("$pkg")
    else
      [[ -e $check ]] || missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    note "all present"
    return
  fi
  note "missing: ${missing[*]}"
  if [[ -n $DESTDIR ]]; then
    skip DESTDIR "apt-get install -y --no-install-recommends ${missing[*]}"
  elif ! command -v apt-get >/dev/null 2>&1; then
    die "no apt-get here: install ${missing[*]} with the system's package manager, then run this again"
  else
    run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# ensure_user NAME HOME COMMENT
ensure_user() {
  local name=$1 home=$2 comment=$3
  step "system user $name"
  if [[ -z $DESTDIR ]] && getent passwd "$name" >/dev/null; then
    note "exists: $(getent passwd "$name")"
    return
  fi
  live useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin --comment "$comment" "$name"
}

# The code, built, in /opt/shipper. It is assembled and built next to it in /opt/shipper.new
# and then swapped in, so a running service never sees a half-installed tree; the previous
# version stays in /opt/shipper.prev for a rollback. Works from a checkout and from
# /opt/shipper itself (it copies to the sibling, never onto itself).
#
# The build: `npm ci` with the dev dependencies (typescript), whose `prepare` script runs
# `tsc`, and which builds the optional native sd-notify module (libsystemd-dev, make, g++,
# python3); then `npm prune --omit=dev` drops typescript, vitest and eslint again. Only the
# npm registry is needed: node-gyp takes Node's headers from the local install
# (npm_config_nodedir) when they are there instead of downloading them. With --no-npm the
# checkout's own dist/ and node_modules/ are copied as they are (built elsewhere).
# /opt/shipper/.install-stamp records what was built: a run with the same sources and the
# same Node keeps the installed tree as it is (no rebuild, no swap).
install_code() {
  local src=$1 dest=$DESTDIR/opt/shipper stage prefix item
  stage=$dest.new
  step "code: $src -> $dest"
  if ((NO_NPM)); then
    [[ -f $src/dist/cli/main.js ]] || die "--no-npm needs a built checkout: $src/dist/cli/main.js is missing (npm ci && npm run build)"
    [[ -d $src/node_modules ]] || die "--no-npm needs $src/node_modules (npm ci --omit=dev in the checkout)"
  fi
  if ((DRY_RUN)); then
    note "would copy bin/ src/ etc/ scripts/ docs/ and the package files to $stage"
    ((NO_NPM)) && note "would copy dist/ and node_modules/ as they are (--no-npm)"
    ((NO_NPM)) || note "would run in $stage: npm ci (builds dist/ via prepare), npm prune --omit=dev"
    note "would move $dest to $dest.prev and $stage to $dest"
    return
  fi
  run rm -rf "$stage"
  run mkdir -p "$stage"
  local items=(bin src etc scripts docs package.json package-lock.json tsconfig.json lab-host.toml.example README.md LICENSE)
  ((NO_NPM)) && items+=(dist node_modules)
  local present=()
  for item in "${items[@]}"; do [[ -e $src/$item ]] && present+=("$item"); done
  printf '    + tar -C %s -c %s | tar -C %s -x --no-same-owner\n' "$src" "${present[*]}" "$stage"
  tar -C "$src" -cf - "${present[@]}" | tar -C "$stage" -xf - --no-same-owner
  run chmod -R u+rwX,go+rX,go-w "$stage"
  # Same sources, same Node, same mode as the installed tree: nothing to build or swap.
  local stamp
  stamp="$(code_stamp "$stage") node-$("$NODE" -p process.versions.node) no-npm-$NO_NPM"
  if [[ -f $dest/.install-stamp && $(cat "$dest/.install-stamp") == "$stamp" ]]; then
    run rm -rf "$stage"
    note "unchanged: $dest already holds this code, built with this Node"
    return
  fi
  if ((NO_NPM)); then
    note "--no-npm: using the checkout's dist/ and node_modules/"
  else
    prefix=$(dirname "$(dirname "$(readlink -f "$NODE")")")
    if [[ -z ${npm_config_nodedir:-} && -f $prefix/include/node/node.h ]]; then
      export npm_config_nodedir=$prefix
      note "node-gyp uses the local Node headers in $prefix/include/node"
    fi
    (cd "$stage" && run npm ci --no-audit --no-fund --loglevel=warn)
    (cd "$stage" && run npm prune --omit=dev --no-audit --no-fund --loglevel=warn)
  fi
  [[ -f $stage/dist/cli/main.js ]] || die "the build left no $stage/dist/cli/main.js"
  printf '%s\n' "$stamp" > "$stage/.install-stamp"
  if [[ -e $dest ]]; then
    run rm -rf "$dest.prev"
    run mv "$dest" "$dest.prev"
  fi
  run mv "$stage" "$dest"
}

# A digest of a copied source tree: names, modes and contents, not times or owners.
code_stamp() {
  tar -C "$1" -cf - --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=./.install-stamp . | sha256sum | cut -d' ' -f1
}

# True when the native sd-notify module was built (else the notifier falls back to the
# systemd-notify program, which needs NotifyAccess=all).
native_notify_built() {
  [[ -f $DESTDIR/opt/shipper/node_modules/sd-notify/build/Release/notify.node ]]
}

# link_command NAME: /usr/local/bin/NAME -> /opt/shipper/bin/NAME.js, so that `shipper
# status` works from a shell. A file of that name that is not our link is left alone.
link_command() {
  local name=$1 target=/opt/shipper/bin/$1.js link
  link=$DESTDIR/usr/local/bin/$name
  step "command $link -> $target"
  if [[ -L $link && $(readlink "$link") == "$target" ]]; then
    note "unchanged"
  elif [[ -e $link || -L $link ]]; then
    note "$link exists and is not this install's link: left alone"
  else
    [[ -d $(dirname "$link") ]] || run mkdir -p "$(dirname "$link")"
    run ln -s "$target" "$link"
  fi
}

# install_unit NAME: etc/NAME.service -> /etc/systemd/system/NAME.service (always replaced:
# site changes belong in drop-ins).
install_unit() {
  local name=$1 src dst tmp
  src=$DESTDIR/opt/shipper/etc/$name.service
  ((DRY_RUN)) && [[ ! -f $src ]] && src=$SRC/etc/$name.service
  dst=$DESTDIR/etc/systemd/system/$name.service
  step "unit $dst"
  if ((DRY_RUN)); then
    note "would install $src as $dst (mode 0644)"
    return
  fi
  [[ -d $(dirname "$dst") ]] || run mkdir -p "$(dirname "$dst")"
  tmp=$(mktemp "$dst.XXXXXX")
  if [[ $NODE == /usr/bin/node ]]; then
    cp "$src" "$tmp"
  else
    sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE #" "$src" > "$tmp"
  fi
  chmod 0644 "$tmp"
  if [[ -f $dst ]] && cmp -s "$tmp" "$dst"; then
    rm -f "$tmp"
    note "unchanged"
  else
    printf '    + install -m 0644 %s %s\n' "$src" "$dst"
    mv "$tmp" "$dst"
  fi
}

# dropin UNIT NAME CONTENT: write (or with empty CONTENT remove) a drop-in of the unit that
# this script owns.
dropin() {
  local unit=$1 name=$2 content=$3 dir file
  dir=$DESTDIR/etc/systemd/system/$unit.service.d
  file=$dir/$name
  if [[ -z $content ]]; then
    if [[ -e $file ]]; then run rm -f "$file"; fi
    return
  fi
  content="# Written by $PROG: it rewrites or removes this file on every run.
$content"
  if [[ -f $file ]] && [[ $(cat "$file") == "$content" ]]; then
    note "drop-in $file unchanged"
    return
  fi
  if ((DRY_RUN)); then
    note "would write drop-in $file:"
    printf '%s\n' "$content" | sed 's/^/        /'
    return
  fi
  run mkdir -p "$dir"
  printf '    + write %s\n' "$file"
  printf '%s\n' "$content" > "$file.tmp"
  chmod 0644 "$file.tmp"
  mv "$file.tmp" "$file"
}

# folder PATH MODE OWNER GROUP: create or fix one folder (not recursive).
folder() {
  local path=$DESTDIR$1 mode=$2 owner=$3 group=$4
  if [[ -d $path ]]; then
    run chmod "$mode" "$path"
  else
    run install -d -m "$mode" "$path"
  fi
  live chown "$owner:$group" "$path"
}

# restart_if_enabled NAME: daemon-reload; restart only an enabled unit, never start one
# that was not.
restart_if_enabled() {
  local name=$1 state
  step "systemd: reload units; restart $name only if it is enabled"
  if [[ -n $DESTDIR ]]; then
    skip DESTDIR "systemctl daemon-reload; systemctl restart $name if systemctl is-enabled $name says enabled"
    return
  fi
  if [[ ! -d /run/systemd/system ]] || ! command -v systemctl >/dev/null 2>&1; then
    skip "systemd is not running here" "systemctl daemon-reload; restart $name if enabled"
    return
  fi
  run systemctl daemon-reload
  state=$(systemctl is-enabled "$name" 2>/dev/null || true)
  if [[ $state == enabled ]]; then
    run systemctl restart "$name"
    if ((!DRY_RUN)); then
      note "$(systemctl is-active "$name" 2>/dev/null || true): see systemctl status $name"
    fi
  else
    note "$name is not enabled (${state:-unknown}), so it was not started."
    note "When its configuration is ready: systemctl enable --now $name"
  fi
}
