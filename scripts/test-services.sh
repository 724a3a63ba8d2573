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

# Monitoring: the real Prometheus, promtool, Alertmanager, amtool and node_exporter from Debian.
monitoring_missing() {
  local tool
  for tool in prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter; do
    command -v "$tool" >/dev/null || return 0
  done
  return 1
}
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if monitoring_missing; then
  echo "test-services: installing prometheus, prometheus-alertmanager, prometheus-node-exporter"
  command -v apt-get >/dev/null || fail "Prometheus tools are missing and apt-get is not available; install prometheus, prometheus-alertmanager and prometheus-node-exporter"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || fail "apt-get update failed"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    prometheus prometheus-alertmanager prometheus-node-exporter \
    || fail "apt-get install prometheus prometheus-alertmanager prometheus-node-exporter failed"
  monitoring_missing && fail "Prometheus tools still missing after apt-get install"
fi
echo "test-services: $(promtool --version 2>&1 | head -n1)"

# The audit's HTML report is opened in a real headless Chromium.
if ! command -v chromium >/dev/null; then
  echo "test-services: installing chromium (HTML report tests)"
  command -v apt-get >/dev/null || fail "chromium is missing and apt-get is not available; install chromium"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
    || { $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q \
         && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } \
    || fail "apt-get install chromium failed"
  command -v chromium >/dev/null || fail "chromium still missing after apt-get install"
fi
echo "test-services: $(chromium --version 2>/dev/null | head -n1)"

# axe-core for the dashboard's accessibility checks (tests/ui/test_browser.py), from npm,
# into the git-ignored .testdeps/ (the tests inject it into Chromium with bypass_csp).
AXE_CORE_VERSION=4.14.1
axe_js=".testdeps/node_modules/axe-core/axe.min.js"
if ! grep -q "\"version\": \"$AXE_CORE_VERSION\"" .testdeps/node_modules/axe-core/package.json 2>/dev/null; then
  command -v npm >/dev/null || fail "npm is missing: apt-get install -y npm (the dashboard's accessibility tests need axe-core $AXE_CORE_VERSION)"
  npm install --prefix .testdeps --no-audit --no-fund --no-save "axe-core@$AXE_CORE_VERSION" \
    || fail "npm install axe-core@$AXE_CORE_VERSION failed"
fi
[ -f "$axe_js" ] || fail "axe-core is not at $axe_js after npm install"
echo "test-services: axe-core $AXE_CORE_VERSION"
# The docs test runs the curl commands the docs show (tests/docs/).
if ! command -v curl >/dev/null; then
  echo "test-services: installing curl (the docs' commands)"
  command -v apt-get >/dev/null || fail "curl is missing and apt-get is not available; install curl"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl \
    || { $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q \
         && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl; } \
    || fail "apt-get install curl failed"
  command -v curl >/dev/null || fail "curl still missing after apt-get install"
fi
