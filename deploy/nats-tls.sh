#!/bin/sh
# Certificates for the NATS servers of deploy/compose/ and deploy/kubernetes/ (deploy/README.md):
# two private CAs, one for clients (ca.pem: the services trust it through SSL_CERT_FILE) and
# one for routes (route-ca.pem: only a node with a certificate from it joins the cluster),
# and one certificate from each for the servers, valid for every node's name.
#
#   sh deploy/nats-tls.sh DIR NAME...     e.g. sh deploy/nats-tls.sh deploy/compose/secrets/tls \
#                                                 flowers-nats-1 flowers-nats-2 flowers-nats-3
#
# Writes DIR/{ca,server-cert,server-key,route-ca,route-cert,route-key}.pem (keys 0600) and keeps
# the CA keys (ca-key.pem, route-ca-key.pem) beside them: move those offline. Needs openssl 3.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR NAME..." >&2; exit 2; }
dir=$1
shift
names=""
for name in "$@"; do names="${names:+$names,}DNS:$name"; done
umask 077
mkdir -p "$dir"
cd "$dir"
printf 'extendedKeyUsage=serverAuth,clientAuth\n' > leaf.ext
for kind in server route; do
  ca=$([ "$kind" = route ] && echo route-ca || echo ca)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=flowers nats $ca" -keyout "$ca-key.pem" -out "$ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=flowers-nats" \
    -addext "subjectAltName=$names" -keyout "$kind-key.pem" -out "$kind.csr" 2>/dev/null
  openssl x509 -req -in "$kind.csr" -CA "$ca.pem" -CAkey "$ca-key.pem" -CAcreateserial \
    -days 825 -copy_extensions copy -extfile leaf.ext -out "$kind-cert.pem" 2>/dev/null
  rm -f "$kind.csr" "$ca.srl"
done
rm -f leaf.ext
chmod 0644 ca.pem route-ca.pem server-cert.pem route-cert.pem
echo "wrote $dir: ca.pem server-cert.pem server-key.pem route-ca.pem route-cert.pem route-key.pem"
