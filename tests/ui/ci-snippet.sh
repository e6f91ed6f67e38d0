# The admin UI in a real browser: tests/ui/e2e.mjs drives Debian's Chromium
# (playwright-core, no browser download) through the UI flow against the
# debug build, screenshots every page at 1280 and 360 px into
# target/ui-screenshots/ and fails on any serious/critical axe-core violation.
echo "ci: admin UI end to end in Chromium (tests/ui)"
if [ ! -x /usr/bin/chromium ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
[ -x target/debug/gancho ] || cargo build --bin gancho
gancho_bin="$PWD/target/debug/gancho"
(cd tests/ui && npm ci --no-audit --no-fund && GANCHO_BIN="$gancho_bin" node e2e.mjs)
