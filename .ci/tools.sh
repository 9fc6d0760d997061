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
