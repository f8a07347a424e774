#!/usr/bin/env bash
# iperf3 between two lab instances on different hosts (VXLAN through the
# kumo data plane) against a raw veth pair, in the same run, as a ratio.
#   bash bench/dataplane.sh [SECONDS] [ROUNDS]
# Needs root. Builds its own lab (prefix kbd-) and removes everything after.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
state=$(mktemp -d /tmp/kumo-bench-dp.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
K=".venv/bin/kumo"
cleanup() {
  $K down --state-dir "$state" >/dev/null 2>&1 || true
  ip netns delete kbdraw-a 2>/dev/null || true
  ip netns delete kbdraw-b 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
$K up --hosts 2 --port "$port" --prefix kbd- --state-dir "$state" --detach >/dev/null
export OS_CLIENT_CONFIG_FILE=$state/clouds.yaml OS_CLOUD=kumo
.venv/bin/openstack network create bench >/dev/null
.venv/bin/openstack subnet create --network bench --subnet-range 10.77.0.0/24 bench >/dev/null
$K lab instance create src --network bench --host kbd-host1 --ip 10.77.0.10 --disable-port-security --state-dir "$state" >/dev/null
$K lab instance create dst --network bench --host kbd-host2 --ip 10.77.0.20 --disable-port-security --state-dir "$state" >/dev/null

ip netns add kbdraw-a; ip netns add kbdraw-b
ip -n kbdraw-a link add eth0 type veth peer name eth0 netns kbdraw-b
ip -n kbdraw-a addr add 10.78.0.1/24 dev eth0; ip -n kbdraw-a link set eth0 up; ip -n kbdraw-a link set lo up
ip -n kbdraw-b addr add 10.78.0.2/24 dev eth0; ip -n kbdraw-b link set eth0 up; ip -n kbdraw-b link set lo up

rate() {  # rate NS_CLIENT NS_SERVER SERVER_IP -> Gbit/s
  ip netns exec "$2" iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
  ip netns exec "$1" iperf3 -c "$3" -t "$secs" -J | .venv/bin/python -c \
    'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 3))'
}
ns_of() { .venv/bin/python - "$state" "$1" <<'PY'
import sys
from pathlib import Path
from kumo.compiler import names
from kumo.lab.instances import LabClient
port = LabClient(Path(sys.argv[1])).find(sys.argv[2])
print(names.instance_netns(port["binding:host_id"], port["id"]))
PY
}
SRC=$(ns_of src); DST=$(ns_of dst)
ip netns exec "$SRC" ping -c 3 -W 1 10.77.0.20 >/dev/null
# Interleaved rounds: each path is set beside the raw pair measured just
# before and after it, so the machine's own swings (+-40% between minutes
# here) cancel within a round; the median of the rounds is reported.
echo "# bench/dataplane.sh $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) vCPU, kernel $(uname -r), ${secs}s per run, ${rounds} rounds"
measure() {  # measure LABEL NS_CLIENT NS_SERVER SERVER_IP -> "raw,path,raw ..." per round
  local out=""
  for r in $(seq "$rounds"); do
    local a b p
    a=$(rate kbdraw-a kbdraw-b 10.78.0.2); p=$(rate "$2" "$3" "$4"); b=$(rate kbdraw-a kbdraw-b 10.78.0.2)
    echo "round $r: raw veth $a / $b Gbit/s, $1 $p Gbit/s" >&2
    out="$out $a,$p,$b"
  done
  echo "$out"
}
plain=$(measure "two hosts, VXLAN" "$SRC" "$DST" 10.77.0.20)
# Then a pair with port security (the default group). Once a host filters a
# port, all bridged traffic there goes through conntrack (the
# bridge-netfilter switch is per namespace): the plain pair is measured first.
$K lab instance create fsrc --network bench --host kbd-host1 --ip 10.77.0.11 --state-dir "$state" >/dev/null
$K lab instance create fdst --network bench --host kbd-host2 --ip 10.77.0.21 --state-dir "$state" >/dev/null
FSRC=$(ns_of fsrc); FDST=$(ns_of fdst)
ip netns exec "$FSRC" ping -c 3 -W 1 10.77.0.21 >/dev/null
filtered=$(measure "same, security groups" "$FSRC" "$FDST" 10.77.0.21)
.venv/bin/python - "$plain" "$filtered" <<'PY'
import statistics, sys
for label, rounds in zip(("VXLAN/raw", "filtered/raw"), sys.argv[1:]):
    rows = [tuple(map(float, r.split(","))) for r in rounds.split()]
    ratios = [p / ((a + b) / 2) for a, p, b in rows]
    listed = ", ".join(f"{x:.2f}" for x in ratios)
    print(f"ratio {label:13s} median {statistics.median(ratios):.2f} (rounds: {listed})")
PY
