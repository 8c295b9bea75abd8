#!/usr/bin/env bash
# Builds the other-language clients from protos/ with `buf generate` and local plugins only (no
# network): `langs.sh go OUT` builds clients/go into the binary OUT; `langs.sh java OUT` compiles
# the generated Java (messages and gRPC stubs), grpc.health.v1's stubs and clients/java into the
# class folder OUT and writes OUT/classpath, the class path that runs it:
# `java -cp "$(cat OUT/classpath)" Example ADDRESS MODEL`. Go resolves its imports in GOPATH mode
# from Debian's packages under /usr/share/gocode, Java from Debian's jars under /usr/share/java. Exit status 3 with the missing pieces named when the toolchain is not installed
# (`make langs-toolchain` installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lang=${1:?usage: langs.sh go|java OUT}
out=$(realpath -m "${2:?usage: langs.sh go|java OUT}")
buf=${BUF:-$root/.tools/node_modules/.bin/buf}
gocode=/usr/share/gocode/src
java=/usr/share/java
grpc_proto=/usr/share/grpc-proto
health=$grpc_proto/grpc/health/v1/health.proto
# To compile; to run, the transport (grpc-netty on netty) and grpc-core's own dependencies too.
JARS=(protobuf grpc-api grpc-stub grpc-protobuf grpc-protobuf-lite grpc-core guava
  proto-google-common-protos geronimo-annotation-1.3-spec)
RUN_JARS=(grpc-context grpc-netty netty-buffer netty-codec netty-codec-http netty-codec-http2
  netty-codec-socks netty-common netty-handler netty-handler-proxy netty-resolver netty-transport
  perfmark-api gson)

missing=()
[[ -x $buf ]] || missing+=("buf ($buf; make buf-lint installs it)")
case $lang in
go)
  for tool in go protoc-gen-go protoc-gen-go-grpc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  for pkg in google.golang.org/grpc google.golang.org/protobuf \
    google.golang.org/genproto/googleapis/rpc/errdetails; do
    [[ -d $gocode/$pkg ]] || missing+=("$gocode/$pkg")
  done
  ;;
java)
  for tool in javac protoc grpc_java_plugin; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  for jar in "${JARS[@]}" "${RUN_JARS[@]}"; do
    [[ -f $java/$jar.jar ]] || missing+=("$java/$jar.jar")
  done
  [[ -f $health ]] || missing+=("$health")
  ;;
*)
  echo "unknown language $lang (go or java)" >&2
  exit 2
  ;;
esac
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}; Debian's packages install with: make langs-toolchain (as root)" >&2
  exit 3
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case $lang in
go)
  "$buf" generate --template buf.gen.yaml -o "$work"
  mkdir -p "$work/gopath/src/modelrt.dev/gen"
  mv "$work/gen/go" "$work/gopath/src/modelrt.dev/gen/go"
  mkdir -p "$(dirname "$out")"
  (cd clients/go && GO111MODULE=off GOFLAGS= GOPATH="$work/gopath:/usr/share/gocode" \
    GOCACHE="${GOCACHE:-$root/.tools/go-cache}" go build -o "$out" .)
  ;;
java)
  "$buf" generate --template buf.gen.java.yaml -o "$work"
  # The health stubs, which a Maven project gets from io.grpc:grpc-services.
  protoc -I"$grpc_proto" --java_out="$work/gen/java" \
    --plugin=protoc-gen-grpc-java="$(command -v grpc_java_plugin)" \
    --grpc-java_out="$work/gen/java" "$health"
  protoc -Iclients/java --java_out="$work/gen/java" clients/java/error_info.proto
  classpath=$(printf "$java/%s.jar:" "${JARS[@]}")
  mkdir -p "$out"
  javac -nowarn -d "$out" -cp "$classpath" $(find "$work/gen/java" clients/java -name '*.java')
  printf '%s%s' "$classpath" "$(printf "$java/%s.jar:" "${RUN_JARS[@]}")" >"$out/classpath"
  echo "$out" >>"$out/classpath"
  ;;
esac
echo "built $lang into $out"
