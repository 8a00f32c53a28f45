#!/usr/bin/env bash
# Re-fetch the pinned JavaScript libraries from the npm registry and copy the
# vendored files into the repository (see docs/assets/vendor/README.md).
# Usage: bash build_scripts/vendor_js.sh   (needs `npm`, `tar`, `openssl`)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# package@version | tarball sha512 integrity (as published on the registry)
PINS=(
  "vega@6.4.0|sha512-rHXCq2LpEWCLMjXBEj7hocY9G0/i5TGYRayGGSj06VTF4+l2IG2Z7oeZKCjWbUh/7hTE/mVhbaOPB72wCElh6g=="
  "axe-core@4.14.1|sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
  "onnxruntime-web@1.30.0|sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
  "@huggingface/tokenizers@0.2.0|sha512-LidMHe1FpcSYH4vcSjXooda34pC0M8m1gmDOv7SQi6Iv+ib1zX7J3sHBCC9/3FPCkn2k1b55FneVqMRxrr99pg=="
)

# package | file inside the npm tarball | destination (relative to repo root)
COPIES=(
  "vega|build/vega.min.js|docs/assets/vendor/vega/vega.min.js"
  "vega|LICENSE|docs/assets/vendor/vega/LICENSE"
  "axe-core|axe.min.js|tests/vendor/axe-core/axe.min.js"
  "axe-core|LICENSE|tests/vendor/axe-core/LICENSE"
  "axe-core|LICENSE-3RD-PARTY.txt|tests/vendor/axe-core/LICENSE-3RD-PARTY.txt"
  # the live head view's runtime (WASM, single-threaded SIMD build) and tokenizer, loaded on request;
  # onnxruntime-web's npm package ships no licence file: its MIT licence is kept in the repository
  "onnxruntime-web|dist/ort.wasm.min.mjs|docs/assets/vendor/onnxruntime-web/ort.wasm.min.mjs"
  "onnxruntime-web|dist/ort-wasm-simd-threaded.mjs|docs/assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs"
  "onnxruntime-web|dist/ort-wasm-simd-threaded.wasm|docs/assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"
  "@huggingface/tokenizers|dist/tokenizers.min.mjs|docs/assets/vendor/tokenizers/tokenizers.min.mjs"
  "@huggingface/tokenizers|LICENSE|docs/assets/vendor/tokenizers/LICENSE"
)

for pin in "${PINS[@]}"; do
  spec="${pin%%|*}"; want="${pin#*|}"; name="${spec%@*}"
  tgz="$(cd "$TMP" && npm pack --silent "$spec" | tail -n 1)"
  got="sha512-$(openssl dgst -sha512 -binary "$TMP/$tgz" | base64 | tr -d '\n')"
  if [ "$got" != "$want" ]; then
    echo "integrity mismatch for $spec: $got" >&2; exit 1
  fi
  mkdir -p "$TMP/$name"
  tar -xzf "$TMP/$tgz" -C "$TMP/$name"
done

for c in "${COPIES[@]}"; do
  IFS='|' read -r name src dest <<<"$c"
  mkdir -p "$ROOT/$(dirname "$dest")"
  cp "$TMP/$name/package/$src" "$ROOT/$dest"
  chmod 644 "$ROOT/$dest"
done

cd "$ROOT"
for c in "${COPIES[@]}"; do IFS='|' read -r _ _ dest <<<"$c"; sha256sum "$dest"; done
