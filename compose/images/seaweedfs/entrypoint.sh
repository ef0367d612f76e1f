#!/bin/sh
# The same contract as the MinIO service: credentials in MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, the
# bucket S3_BUCKET created at start and readable without credentials (media URLs are public), S3 on 9000.
set -e
rm -f /run/s3-written  # s3-ready (the health check) writes once per start
umask 077
cat > /etc/seaweedfs/s3.json <<JSON
{"identities": [
  {"name": "sandbox", "credentials": [{"accessKey": "${MINIO_ROOT_USER}", "secretKey": "${MINIO_ROOT_PASSWORD}"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "anonymous", "actions": ["Read:${S3_BUCKET}"]}]}
JSON
umask 022
# Only S3 leaves the container. `weed mini` binds every server it runs to one address (-ip.bind; it has no
# per-server bind, unlike `weed server -s3.ip.bind`, whose data layout differs): the master (9333), volume
# (9340), filer (8888), admin and their gRPC ports answer on loopback only — they take no credentials —
# and S3 listens on 127.0.0.1:8333, which socat forwards from port 9000 of every address. socat is started
# first and is inherited by weed (tini, the container's init, stops both).
socat TCP-LISTEN:9000,fork,reuseaddr TCP:127.0.0.1:8333 &
exec weed mini -dir=/data -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port=8333 -bucket="${S3_BUCKET}" \
  -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.config=/etc/seaweedfs/s3.json
