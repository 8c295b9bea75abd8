#!/usr/bin/env bash
# Builds the other-language clients from protos/ with `buf generate` and local plugins only (no
# network): `langs.sh go OUT` builds clients/go into the binary OUT; `langs.sh java OUT` compiles
# the generated Java (messages and gRPC stubs) into the class folder OUT. Go resolves its imports
# in GOPATH mode from Debian's packages under /usr/share/gocode, Java from Debian's jars under
# /usr/share/java. Exit status 3 with the missing pieces named when the toolchain is not installed
# (`make langs-toolchain` installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lang=${1:?usage: langs.sh go|java OUT}
out=$(realpath -m "${2:?usage: langs.sh go|java OUT}")
buf=${BUF:-$root/.tools/node_modules/.bin/buf}
gocode=/usr/share/gocode/src
java=/usr/share/java
JARS=(protobuf grpc-api grpc-stub grpc-protobuf grpc-protobuf-lite grpc-core guava
  proto-google-common-protos geronimo-annotation-1.3-spec)

missing=()
[[ -x $buf ]] || missing+=("buf ($buf: make buf-lint installs it)")
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
  for jar in "${JARS[@]}"; do
    [[ -f $java/$jar.jar ]] || missing+=("$java/$jar.jar")
  done
  ;;
*)
  echo "unknown language $lang (go or java)" >&2
  exit 2
  ;;
esac
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}; install them with: make langs-toolchain" >&2
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
  classpath=$(printf "$java/%s.jar:" "${JARS[@]}")
  mkdir -p "$out"
  javac -nowarn -d "$out" -cp "$classpath" $(find "$work/gen/java" -name '*.java')
  ;;
esac
echo "built $lang into $out"
