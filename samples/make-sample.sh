#!/usr/bin/env bash
# Builds samples/registry: the storage tree of a real CNCF Distribution registry (Debian's docker-registry), filled through
# its HTTP API on 127.0.0.1 with the scenarios Harbor.Gc collects or keeps (see samples/README.md).
# Usage: samples/make-sample.sh [OUTPUT_DIR]   (default: samples/registry; needs docker-registry, curl, sha256sum)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/registry}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
rm -rf "$out"; mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.yml" <<CFG
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $out }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$port }
CFG
docker-registry serve "$work/config.yml" > "$work/registry.log" 2>&1 & pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done
api="http://127.0.0.1:$port/v2"

# blob REPO FILE -> prints the digest, after a monolithic upload (POST then PUT ?digest=)
blob() {
  local d="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
  local loc; loc=$(curl -fsS -D - -o /dev/null -X POST "$api/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case "$loc" in http*) ;; *) loc="http://127.0.0.1:$port$loc";; esac
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$loc&digest=$d"
  echo "$d"
}
text() { printf '%s' "$2" > "$work/b"; blob "$1" "$work/b"; }
size() { wc -c < "$2" | tr -d ' '; }
# manifest REPO REF MEDIATYPE FILE -> prints the digest
manifest() {
  curl -fsS -o /dev/null -X PUT -H "Content-Type: $3" --data-binary @"$4" "$api/$1/manifests/$2"
  echo "sha256:$(sha256sum "$4" | cut -d' ' -f1)"
}
desc() { printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$2" "$3"; }
OCI=application/vnd.oci.image.manifest.v1+json
# image REPO REF CONFIG_TEXT LAYER_TEXT... [-- EXTRA_JSON]  -> prints the manifest digest
image() {
  local repo=$1 ref=$2 cfgtext=$3; shift 3
  printf '%s' "$cfgtext" > "$work/cfg"; local cfg; cfg=$(blob "$repo" "$work/cfg")
  local layers="" extra="" layertype=application/vnd.oci.image.layer.v1.tar+gzip
  while [ $# -gt 0 ]; do
    case "$1" in
      --type) layertype=$2; shift 2; continue;;
      --extra) extra=$2; shift 2; continue;;
    esac
    printf '%s' "$1" > "$work/l"; local d; d=$(blob "$repo" "$work/l")
    layers="$layers${layers:+,}$(desc "$layertype" "$d" "$(size x "$work/l")")"; shift
  done
  printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]%s}' "$OCI" \
    "$(desc application/vnd.oci.image.config.v1+json "$cfg" "$(size x "$work/cfg")")" "$layers" "$extra" > "$work/m"
  manifest "$repo" "$ref" "$OCI" "$work/m"
}

# images sharing a base layer; the old one is untagged (pushed by digest, as a tag that moved away leaves it)
app_v1=$(image library/app v1 '{"os":"linux","v":"1"}' base-layer app-v1-layer)
image library/app v2 '{"os":"linux","v":"2"}' base-layer app-v2-layer >/dev/null
old=$(image library/app old '{"os":"linux","v":"0"}' base-layer app-v0-only-layer)
curl -fsS -o /dev/null -X DELETE "$api/library/app/manifests/old" 2>/dev/null || true   # 2.8 cannot delete a tag: keep by digest
# cosign tag-scheme signatures: of the tagged v1, and of the untagged old image
sig=application/vnd.dev.cosign.simplesigning.v1+json
image library/app "sha256-${app_v1#sha256:}.sig" '{"sig":"v1"}' --type $sig '{"critical":{"image":"v1"}}' >/dev/null
image library/app "sha256-${old#sha256:}.sig" '{"sig":"old"}' --type $sig '{"critical":{"image":"old"}}' >/dev/null

# a multi-arch index (tagged) whose children are untagged, and an old untagged index with its own child
amd=$(image library/multi amd64-tmp '{"architecture":"amd64"}' base-layer multi-amd64-layer)
arm=$(image library/multi arm64-tmp '{"architecture":"arm64"}' multi-arm64-layer)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
  "$(desc $OCI "$amd" "$(curl -fsS -H "Accept: $OCI" "$api/library/multi/manifests/$amd" | wc -c)")" \
  "$(desc $OCI "$arm" "$(curl -fsS -H "Accept: $OCI" "$api/library/multi/manifests/$arm" | wc -c)")" > "$work/idx"
manifest library/multi latest application/vnd.oci.image.index.v1+json "$work/idx" >/dev/null
child=$(image library/multi child-tmp '{"architecture":"s390x"}' multi-old-child-layer)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
  "$(desc $OCI "$child" "$(curl -fsS -H "Accept: $OCI" "$api/library/multi/manifests/$child" | wc -c)")" > "$work/idx2"
manifest library/multi "$(printf 'sha256:%s' "$(sha256sum "$work/idx2" | cut -d' ' -f1)")" application/vnd.oci.image.index.v1+json "$work/idx2" >/dev/null

# OCI 1.1 referrers of v1: a notation signature, an SBOM, and a notation signature of the SBOM (pushed by digest)
printf '{}' > "$work/empty"; empty=$(blob library/app "$work/empty")
referrer() { # REPO SUBJECT ARTIFACT_TYPE BLOB_TEXT -> digest
  printf '%s' "$4" > "$work/r"; local b; b=$(blob "$1" "$work/r")
  local subj_size; subj_size=$(curl -fsS -H "Accept: $OCI" "$api/$1/manifests/$2" | wc -c)
  printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[%s],"subject":%s}' "$OCI" "$3" \
    "$(desc application/vnd.oci.empty.v1+json "$empty" 2)" "$(desc application/octet-stream "$b" "$(size x "$work/r")")" \
    "$(desc $OCI "$2" "$subj_size")" > "$work/ref"
  manifest "$1" "sha256:$(sha256sum "$work/ref" | cut -d' ' -f1)" "$OCI" "$work/ref"
}
referrer library/app "$app_v1" application/vnd.cncf.notary.signature 'notation-envelope-of-v1' >/dev/null
sbom=$(referrer library/app "$app_v1" application/spdx+json '{"spdxVersion":"SPDX-2.3"}')
referrer library/app "$sbom" application/vnd.cncf.notary.signature 'notation-envelope-of-sbom' >/dev/null

# a blob uploaded but never referenced
text library/app 'uploaded, never referenced' >/dev/null

kill "$pid"; wait "$pid" 2>/dev/null || true
# the temporary tags (pushed so the registry takes each child) are removed as a registry admin would, leaving the children untagged
for t in amd64-tmp arm64-tmp child-tmp old; do rm -rf "$out/docker/registry/v2/repositories/library/"*/_manifests/tags/$t; done
# age everything by 3 days, so that it is outside the default 2 h time window
find "$out" -exec touch -h -d '3 days ago' {} +
echo "sample registry written to $out"
