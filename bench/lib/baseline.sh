#!/usr/bin/env bash
# The operator's shell loop the shipper is measured against: for each episode, in turn,
#   tar -cf - ID | zstd -LEVEL -T2 | curl -T - https://receiver/v1/episodes/ID
# streamed end to end (no archive on disk), with the same mutual TLS as the shipper.
#
# usage: baseline.sh URL CA CERT KEY HOST_ID EPISODES_DIR LEVEL THREADS ID...
set -euo pipefail

url=$1 ca=$2 cert=$3 key=$4 host=$5 episodes=$6 level=$7 threads=$8
shift 8
cd -- "$episodes"
for id in "$@"; do
  tar -cf - -- "$id" \
    | zstd -q "-$level" "-T$threads" \
    | curl -sS --fail -o /dev/null --cacert "$ca" --cert "$cert" --key "$key" \
        -H "X-Shipper-Host: $host" -T - "$url/v1/episodes/$id"
done
