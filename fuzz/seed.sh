#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the project's own test material (rules, examples, and the
# signature vectors in tests/data), then runs each target for FUZZ_SECONDS (default 600).
#   fuzz/seed.sh                  # seed and run every target, one after the other
#   FUZZ_SECONDS=60 fuzz/seed.sh config_compile
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-600}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config_compile condition_eval template_render verify_schemes hooks_handler admin_api)

seed() { mkdir -p "fuzz/corpus/$1"; cp "${@:2}" "fuzz/corpus/$1/" 2>/dev/null || true; }
seed config_compile rules/*.yaml
seed condition_eval examples/*.json
seed hooks_handler examples/*.json
python3 - <<'PY'
import json, os
vectors = json.load(open("tests/data/signature-vectors.json"))["vectors"]
os.makedirs("fuzz/corpus/verify_schemes", exist_ok=True)
os.makedirs("fuzz/corpus/template_render", exist_ok=True)
order = ["signature", "x-hub-signature-256", "stripe-signature", "x-shopify-hmac-sha256", "x-shopify-topic",
         "x-shopify-shop-domain", "x-shopify-api-version", "x-slack-signature", "x-slack-request-timestamp",
         "webhook-id", "webhook-timestamp", "webhook-signature"]
for v in vectors:
    headers = {k.lower(): val for k, val in v["headers"].items()}
    parts = [headers.get(name, "").encode() for name in order] + [v["body"].encode()]
    open(f"fuzz/corpus/verify_schemes/{v['id']}", "wb").write(b"\0".join(parts))
for i, t in enumerate(["Order {{ payload.id }} is {{ payload.status }}", "{{ payload.items | length }}",
                       "{% for f in payload.files %}{{ f.name }} {% endfor %}", "{{ event | tojson }}"]):
    open(f"fuzz/corpus/template_render/seed{i}", "wb").write(t.encode() + b"\0" + open("examples/files-created.json", "rb").read())
# admin_api: byte 0 method (0 GET, 1 POST), byte 1 path index (high bit: path from the input,
# 0x40: no default Host), then NUL-separated header lines and body (see fuzz_targets/admin_api.rs).
os.makedirs("fuzz/corpus/admin_api", exist_ok=True)
event = open("examples/order-updated.json", "rb").read()
rules = open("rules/local.yaml").read()
admin = {
    "dry_run": bytes([1, 9]) + b"content-type: application/json\0" + json.dumps({"event": json.loads(event), "rules": rules}).encode(),
    "replay_force": bytes([1, 4]) + b"content-type: application/json\norigin: http://127.0.0.1:9090\0" + b'{"force": true}',
    "replay_status": bytes([1, 5]) + b"content-type: application/json\0" + b'{"status": "delivered"}',
    "events": bytes([0, 1]) + b"\0",
    "foreign_host": bytes([0, 0x40]) + b"host: attacker.example\0",
    "odd_path": bytes([0, 0x80]) + b"api/events/%00..%2f\0accept: */*\0",
    "reload_cross_site": bytes([1, 8]) + b"content-type: application/json\nsec-fetch-site: cross-site\0{}",
}
for name, data in admin.items():
    open(f"fuzz/corpus/admin_api/{name}", "wb").write(data)
PY
for t in "${targets[@]}"; do
  echo "== $t for ${SECONDS_EACH}s" >&2
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "fuzz/corpus/$t" -- -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048
done
