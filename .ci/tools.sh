#!/usr/bin/env bash
# Installs the pinned code generators into $GOBIN (default: $(go env GOPATH)/bin).
# Versions are pinned here so that `gen/` is reproducible; bump them together and regenerate.
set -euo pipefail
BUF_VERSION=v1.75.0
PROTOBUF_VERSION=v1.36.12
GRPC_GO_VERSION=v1.6.2
GATEWAY_VERSION=v2.33.0
GRPCURL_VERSION=v1.9.4

bin="${GOBIN:-$(go env GOPATH)/bin}"
install() { # install MODULE_PATH@VERSION unless the same version is already there
  local pkg=$1 version=$2 name=${1##*/}
  if [ -x "$bin/$name" ] && go version -m "$bin/$name" 2>/dev/null | grep -q "[[:space:]]$version[[:space:]]*"; then
    return 0
  fi
  GOBIN="$bin" go install "$pkg@$version"
}
install github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
install google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOBUF_VERSION"
install google.golang.org/grpc/cmd/protoc-gen-go-grpc "$GRPC_GO_VERSION"
install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GATEWAY_VERSION"
install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 "$GATEWAY_VERSION"
if [ "${WITH_GRPCURL:-0}" = 1 ]; then
  install github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
fi

# Python and TypeScript stubs (docs/clients.md). Debian's protoc 3.21 and grpc_python_plugin
# 1.51 generate code for Debian's python3-protobuf and python3-grpcio of the same versions;
# python3-jwt runs the Python example's local validation.
debs=()
command -v protoc >/dev/null || debs+=(protobuf-compiler)
command -v grpc_python_plugin >/dev/null || debs+=(protobuf-compiler-grpc)
# Headless Chromium for the browser sign-in tests (service/server/browser_test.go, chromedp).
command -v chromium >/dev/null || debs+=(chromium)
# python3-authlib validates the discovery document (service/server/oidc_test.go).
for p in python3-grpcio python3-protobuf python3-jwt python3-authlib; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || debs+=("$p")
done
if [ "${#debs[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi
if ! protoc --version | grep -q '^libprotoc 3\.21\.'; then
  echo "tools.sh: gen/python is generated with Debian bookworm's protoc 3.21, found: $(protoc --version)" >&2
  exit 1
fi
# protoc-gen-es and the TypeScript example's packages, exactly as package-lock.json pins them;
# npm ci again only when the lock file changed since the last install.
sdk_ts="$(dirname "$0")/../sdk/typescript"
if ! cmp -s "$sdk_ts/package-lock.json" "$sdk_ts/node_modules/.installed-package-lock.json"; then
  (cd "$sdk_ts" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$sdk_ts/package-lock.json" "$sdk_ts/node_modules/.installed-package-lock.json"
fi
