#!/bin/bash
# Health: S3 answers on 9000 and, once per start, a write has gone through (after a start SeaweedFS held the
# first for 13 s, past Mastodon's 5 s S3 read timeout: uploads were 503s). The write goes to the default
# collection, which snapshots do not list (sandbox/data/snapshots.py); entrypoint.sh clears the marker.
set -e
MARK=/run/s3-written

answer() {  # port, request -> the status line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return
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
