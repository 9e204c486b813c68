#!/usr/bin/env bash
# Makes a test certificate authority and certificates with openssl, for TLS
# and mutual TLS between the coordinator and its clients:
#   DIR/ca.pem, ca.key          the farm's CA
#   DIR/server.pem, server.key  the coordinator (SAN localhost, 127.0.0.1 and
#                               every HOST given)
#   DIR/client.pem, client.key  a worker or CLI client (for mutual TLS)
# Test use only: keys are unencrypted. Usage: tools/make_test_ca.sh DIR [HOST...]
set -euo pipefail
dir="${1:?usage: tools/make_test_ca.sh DIR [HOST...]}"
shift
san="DNS:localhost,IP:127.0.0.1"
for host in "$@"; do
  if [[ "$host" =~ ^[0-9.]+$ ]]; then san+=",IP:$host"; else san+=",DNS:$host"; fi
done
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=patchfarm test CA" -keyout ca.key -out ca.pem 2> /dev/null
cert() {  # NAME CN EXTENSIONS
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2> /dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$1.ext" -out "$1.pem" 2> /dev/null
  rm -f "$1.csr" "$1.ext"
}
cert server "patchfarm coordinator" "subjectAltName=$san
extendedKeyUsage=serverAuth"
cert client "patchfarm worker" "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
echo "wrote $dir: ca.pem server.pem server.key client.pem client.key"
