#!/usr/bin/env bash
# Seeds the corpora from the fixtures, then runs every fuzz target one after
# another, one process each (never two at once), for RUNS executions each
# (default 1,000,000); `gateways` runs once per adapter, pinned with
# GANCHO_FUZZ_GATEWAY, so each adapter gets RUNS of its own. A crash stops
# the script; the input is in fuzz/artifacts/<target>/.
# Run from the repository root: bash fuzz/run_all.sh
set -euo pipefail
RUNS="${RUNS:-1000000}"
export RUSTC_BOOTSTRAP=1

cargo run --quiet --manifest-path fuzz/Cargo.toml --example seed_corpus
for target in form_body standard_webhooks log_filter; do
  cargo fuzz run "$target" -- -runs="$RUNS" -print_final_stats=1
done
for gateway in hotmart kiwify eduzz generic stripe asaas pagarme hubla cakto \
  kirvano greenn perfectpay ticto monetizze braip lastlink tmb payt herospark \
  dmguru xgrow voomp; do
  GANCHO_FUZZ_GATEWAY="$gateway" cargo fuzz run gateways -- -runs="$RUNS" -print_final_stats=1
done
