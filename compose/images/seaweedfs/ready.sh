#!/bin/bash
# The health check: S3 answers on the port other containers reach and, once per start, an object write has
# gone through. Seen after a snapshot restore, under load: SeaweedFS held the first write after a start for
# 13 s, past Mastodon's S3 read timeout (5 s, config/initializers/paperclip.rb), and the uploads of that
# time were 503s "temporary problem". The write goes outside the bucket, into the default collection's
# volumes, which the snapshots do not read for changed objects (sandbox/data/snapshots.py, OBJECT_FILES);
# once per start, not per check. The entrypoint removes the marker at each start.
set -e
MARK=/run/s3-written

answer() {  # port, request -> the status line
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%b' "$2" >&3
  read -r line <&3
  exec 3>&-
  printf '%s' "$line"
}

[[ $(answer 9000 'GET /status HTTP/1.0\r\n\r\n') == HTTP/* ]]
[[ -e $MARK ]] && exit 0
# Through the filer on loopback (no credentials there; entrypoint.sh keeps it off the network), as S3
# writes go: a file id from the master, the bytes to a volume.
probe=/sandbox/write-probe
[[ $(answer 8888 "PUT $probe HTTP/1.0\r\nContent-Length: 2\r\n\r\nok") == "HTTP/1."?" 201"* ]]
[[ $(answer 8888 "DELETE $probe HTTP/1.0\r\n\r\n") == "HTTP/1."?" 204"* ]]
touch "$MARK"
