#!/usr/bin/env bash
# Starts the test S3 server of S3Server.cs: OpenStack Swift 2.30 (Debian's swift, swift-proxy, swift-account, swift-container,
# swift-object, python3-swift) with its s3api and tempauth middleware, single node, one replica, a plain folder as the device,
# no replicators, auditors or updaters, everything on 127.0.0.1, everything under DIR.
#
# Usage: start-swift.sh DIR PORT SECRET
#   S3 on PORT; account, container and object servers on PORT+1..PORT+3; a private memcached (tempauth needs one) on PORT+4.
#   Access key "test:tester" (tempauth's ACCOUNT:USER), secret SECRET, region us-east-1, path-style addressing.
#   Writes one process id a line to DIR/pids as it starts them (S3Server stops exactly those), logs to DIR/log/, and returns once
#   every server answers its health check. Nothing outside DIR is written; Swift reads /etc/swift/swift.conf (its hash prefix and
#   suffix; the path is compiled in) from package swift.
set -euo pipefail

DIR=${1:?usage: start-swift.sh DIR PORT SECRET}
PORT=${2:?usage: start-swift.sh DIR PORT SECRET}
SECRET=${3:?usage: start-swift.sh DIR PORT SECRET}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3 # Debian's python3, which has the swift module (a pyenv or venv python3 first on PATH has not)
A_PORT=$((PORT + 1)); C_PORT=$((PORT + 2)); O_PORT=$((PORT + 3)); M_PORT=$((PORT + 4))
ME=$(id -un)

[ -f /etc/swift/swift.conf ] || { echo "start-swift: /etc/swift/swift.conf is missing (package swift installs it)" >&2; exit 3; }
for p in "$PORT" "$A_PORT" "$C_PORT" "$O_PORT" "$M_PORT"; do
  # a stale server answering on one of the ports would pass the health checks below
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "start-swift: 127.0.0.1:$p is in use" >&2; exit 4; fi
done

mkdir -p "$DIR/etc" "$DIR/srv/d1" "$DIR/log"
: > "$DIR/pids"

setsid memcached -l 127.0.0.1 -p "$M_PORT" -U 0 -m 64 -c 1024 -t 1 -u "$ME" > "$DIR/log/memcached.log" 2>&1 &
echo $! >> "$DIR/pids"

defaults() { # PORT
  # syslog goes to memcached's port, whose UDP is off: nothing is sent anywhere; the console log is in DIR/log
  cat <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $ME
swift_dir = $DIR/etc
devices = $DIR/srv
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_udp_host = 127.0.0.1
log_udp_port = $M_PORT
log_level = WARNING
log_requests = false
eventlet_debug = false
CONF
}

backend() { # KIND PORT
  defaults "$2"
  cat <<CONF
[pipeline:main]
pipeline = healthcheck $1-server
[filter:healthcheck]
use = egg:swift#healthcheck
[app:$1-server]
use = egg:swift#$1
CONF
}
backend account "$A_PORT" > "$DIR/etc/account-server.conf"
backend container "$C_PORT" > "$DIR/etc/container-server.conf"
backend object "$O_PORT" > "$DIR/etc/object-server.conf"

{ defaults "$PORT"; cat <<CONF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck cache listing_formats s3compat s3api tempauth copy slo dlo proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
node_timeout = 30
conn_timeout = 2
recoverable_node_timeout = 30
[filter:s3compat]
paste.filter_factory = s3compat:filter_factory
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
storage_domain =
dns_compliant_bucket_names = false
max_bucket_listing = 1000
max_multi_delete_objects = 1000
multi_delete_concurrency = 4
max_upload_part_num = 10000
allowable_clock_skew = 900
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$M_PORT
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
} > "$DIR/etc/proxy-server.conf"

# Rings: one device d1, one replica, 2^6 partitions, every partition on device 0, in Swift's ring file format version 1 (gzip of
# "R1NG", a big-endian u16 version 1, a big-endian u32 length, the ring's JSON, then the replica-to-part-to-device table as
# little-endian u16s). What RingBuilder writes for the same ring, without the seconds swift-ring-builder takes per call.
ring() { # FILE PORT
  local json="{\"byteorder\": \"little\", \"devs\": [{\"device\": \"d1\", \"id\": 0, \"ip\": \"127.0.0.1\", \"meta\": \"\", \"port\": $2, \"region\": 1, \"weight\": 100.0, \"zone\": 1}], \"part_shift\": 26, \"replica_count\": 1, \"version\": 2}"
  local n=${#json}
  { printf 'R1NG\000\001'
    printf "\\$(printf %03o $((n >> 24 & 255)))\\$(printf %03o $((n >> 16 & 255)))\\$(printf %03o $((n >> 8 & 255)))\\$(printf %03o $((n & 255)))"
    printf '%s' "$json"
    head -c 128 /dev/zero # 64 partitions x u16 device 0
  } | gzip -n -1 > "$1"
}
ring "$DIR/etc/account.ring.gz" "$A_PORT"
ring "$DIR/etc/container.ring.gz" "$C_PORT"
ring "$DIR/etc/object.ring.gz" "$O_PORT"

# Two processes: the three backends in one, the proxy in the other (swift_node.py). EVENTLET_NO_GREENDNS skips eventlet's DNS
# imports (half a second of CPU each); libeatmydata, when installed, makes fsync a no-op (a test store needs no durability).
export EVENTLET_NO_GREENDNS=yes
NOSYNC=()
for lib in /usr/lib/*/libeatmydata.so; do
  [ -e "$lib" ] && NOSYNC=(env "LD_PRELOAD=$lib") && break
done
serve() { # NAME CONFIG SECTION [CONFIG SECTION...]
  local name=$1; shift
  PYTHONPATH="$HERE" setsid "${NOSYNC[@]}" "$PY" "$HERE/swift_node.py" "$@" > "$DIR/log/$name.log" 2>&1 &
  echo $! >> "$DIR/pids"
}
serve backends "$DIR/etc/account-server.conf" account-server "$DIR/etc/container-server.conf" container-server \
  "$DIR/etc/object-server.conf" object-server
serve proxy "$DIR/etc/proxy-server.conf" proxy-server

# Ready when every port accepts connections (each is bound only once its app is loaded); S3Server then asks each /healthcheck.
deadline=$(( $(date +%s) + 60 ))
for p in "$PORT" "$A_PORT" "$C_PORT" "$O_PORT" "$M_PORT"; do
  until (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null || { echo "start-swift: process $pid ended; its log:" >&2; tail -n 30 "$DIR"/log/*.log >&2; exit 5; }
    done < "$DIR/pids"
    [ "$(date +%s)" -lt "$deadline" ] || { echo "start-swift: nothing answers on 127.0.0.1:$p after 60 s" >&2; exit 6; }
    sleep 0.05
  done
done
