#!/bin/sh
# The same contract as the MinIO service: credentials in MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, the
# bucket S3_BUCKET created at start and readable without credentials (media URLs are public), S3 on 9000.
set -e
cat > /etc/seaweedfs/s3.json <<JSON
{"identities": [
  {"name": "sandbox", "credentials": [{"accessKey": "${MINIO_ROOT_USER}", "secretKey": "${MINIO_ROOT_PASSWORD}"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "anonymous", "actions": ["Read:${S3_BUCKET}"]}]}
JSON
exec weed mini -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -s3.port=9000 -bucket="${S3_BUCKET}" \
  -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.config=/etc/seaweedfs/s3.json
