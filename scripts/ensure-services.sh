#!/usr/bin/env bash
# Make sure the real parts the test suite talks to are here: the mosquitto binary (tests start
# their own brokers), Debian's chromium (browser tests) and a PostgreSQL server on
# 127.0.0.1:5432. Installs or starts what it can,
# and says plainly what it could not. Under CI=true a missing service fails the run.
set -u
missing=()

have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif have sudo; then sudo -n "$@"; else return 1; fi; }

if ! have mosquitto && [ ! -x /usr/sbin/mosquitto ]; then
  echo "services: mosquitto not found; installing it (Debian package 'mosquitto') ..."
  if have apt-get; then
    as_root apt-get update -qq >/dev/null 2>&1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null 2>&1
  fi
  have mosquitto || [ -x /usr/sbin/mosquitto ] || missing+=("mosquitto (install the 'mosquitto' package)")
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "services: chromium not found (browser tests drive Debian's chromium); installing it ..."
  if have apt-get; then
    as_root apt-get update -qq >/dev/null 2>&1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1
  fi
  [ -x /usr/bin/chromium ] || missing+=("chromium at /usr/bin/chromium (install Debian's 'chromium' package)")
fi

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  echo "services: PostgreSQL is not answering on 127.0.0.1:5432; trying to start it ..."
  if have pg_ctlcluster && ls /etc/postgresql >/dev/null 2>&1; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1
  elif have systemctl; then
    as_root systemctl start postgresql >/dev/null 2>&1
  fi
  sleep 1
  pg_up || missing+=("PostgreSQL on 127.0.0.1:5432 (install 'postgresql' and start it; trust auth for local tests)")
fi

if ((${#missing[@]})); then
  echo "services: could not provide:"
  for m in "${missing[@]}"; do echo "  - $m"; done
  if [ "${CI:-}" = "true" ]; then
    echo "services: CI=true, so this is a failure." >&2
    exit 1
  fi
  echo "services: tests that need them will fail or be reported as skipped."
fi
exit 0
