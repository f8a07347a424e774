#!/usr/bin/env bash
# QoS-limited TCP throughput next to the limit, through the whole stack:
# `openstack network qos ...` and `openstack port set --qos-policy` on a
# lab, the agent's nftables policer on the sending instance's host.
# For each limit: the pair's own rate without a policy, then with an
# egress limit on the sender, then with an ingress limit on the receiver
# (the sender's port policy, traffic the other way), as ratios to the
# limit; and the time from the API call to the limit in force.
#   bash bench/qos.sh [SECONDS] [LIMITS_KBPS...]
# Needs root. Builds its own lab (prefix kbq-) and removes everything after.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
secs=${1:-5}; shift || true
limits=("${@:-10000 50000 200000}")
read -r -a limits <<<"${limits[*]}"
state=$(mktemp -d /tmp/kumo-bench-qos.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
K=".venv/bin/kumo"; OS=".venv/bin/openstack"
cleanup() { $K down --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
$K up --hosts 2 --port "$port" --prefix kbq- --state-dir "$state" --detach >/dev/null
export OS_CLIENT_CONFIG_FILE=$state/clouds.yaml OS_CLOUD=kumo
$OS network create bench >/dev/null
$OS subnet create --network bench --subnet-range 10.77.0.0/24 bench >/dev/null
$K lab instance create src --network bench --host kbq-host1 --ip 10.77.0.10 --disable-port-security --state-dir "$state" >/dev/null
$K lab instance create dst --network bench --host kbq-host2 --ip 10.77.0.20 --disable-port-security --state-dir "$state" >/dev/null
port_of() { .venv/bin/python - "$state" "$1" "$2" <<'PY'
import sys
from pathlib import Path
from kumo.compiler import names
from kumo.lab.instances import LabClient
from kumo.lab.supervisor import LabState
port = LabClient(Path(sys.argv[1])).find(sys.argv[2])
host = port["binding:host_id"]
lab = LabState.load(Path(sys.argv[1]))
print({"ns": names.instance_netns(host, port["id"]), "id": port["id"],
       "tap": names.tap_name(port["id"]),
       "hostns": next(h.netns for h in lab.topology().hosts if h.name == host)}[sys.argv[3]])
PY
}
SRC=$(port_of src ns); DST=$(port_of dst ns); SRC_PORT=$(port_of src id)
SRC_TAP=$(port_of src tap); SRC_HOST=$(port_of src hostns)
ip netns exec "$SRC" ping -c 3 -W 1 10.77.0.20 >/dev/null
rate() {  # rate NS_CLIENT NS_SERVER SERVER_IP -> Mbit/s (first second left out)
  timeout $((secs + 15)) ip netns exec "$2" iperf3 -s -1 >/dev/null 2>&1 &
  sleep 0.3
  ip netns exec "$1" iperf3 -c "$3" -t "$secs" -O 1 -J | .venv/bin/python -c \
    'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6, 2))'
  wait
}
until_applied() {  # seconds from now until the port's chain is in its host's QoS table
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 600); do
    if ip netns exec "$SRC_HOST" nft list table bridge kumo_qos 2>/dev/null | grep -q "from_$SRC_TAP"; then
      .venv/bin/python -c "import time; print(round(time.time() - $t0, 3))"; return
    fi
    sleep 0.01
  done
  echo never
}
echo "# bench/qos.sh $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) vCPU, kernel $(uname -r), ${secs}s per run (first second left out)"
echo "limit_mbit,free_mbit,egress_mbit,egress/limit,ingress_mbit,ingress/limit,applied_s"
for kbps in "${limits[@]}"; do
  $OS port unset --qos-policy "$SRC_PORT" >/dev/null
  free=$(rate "$SRC" "$DST" 10.77.0.20)
  $OS network qos policy create "q$kbps" >/dev/null
  $OS network qos rule create --type bandwidth-limit --max-kbps "$kbps" --egress "q$kbps" >/dev/null
  $OS network qos rule create --type bandwidth-limit --max-kbps "$kbps" --ingress "q$kbps" >/dev/null
  $OS port set --qos-policy "q$kbps" "$SRC_PORT" >/dev/null
  applied=$(until_applied)
  egress=$(rate "$SRC" "$DST" 10.77.0.20)
  ingress=$(rate "$DST" "$SRC" 10.77.0.10)
  .venv/bin/python -c "l=$kbps/1000; print(f'{l:g},$free,$egress,{$egress/l:.3f},$ingress,{$ingress/l:.3f},$applied')"
done
