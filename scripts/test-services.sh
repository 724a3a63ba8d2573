#!/usr/bin/env bash
# Make sure every real part the tests use is installed and running; fail loudly otherwise.
set -euo pipefail

fail() { echo "test-services: $*" >&2; exit 1; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready; then
  echo "test-services: PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  command -v pg_ctlcluster >/dev/null || fail "PostgreSQL is not installed (apt-get install -y postgresql)"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
    || fail "could not start PostgreSQL"
  for _ in $(seq 30); do pg_ready && break; sleep 1; done
  pg_ready || fail "PostgreSQL did not come up on 127.0.0.1:5432"
fi
echo "test-services: PostgreSQL ready on 127.0.0.1:5432"
