#!/usr/bin/env bash
# iperf3 between two lab instances on different hosts (VXLAN through the
# kumo data plane) against a raw veth pair, in the same run, as a ratio.
# Also measured in the same rounds: the same path built by hand from the
# plain kernel recipe (bridge + VXLAN with static FDB entries, no kumo),
# so that kumo/recipe shows what kumo itself costs; and, once filtered
# ports exist on the hosts in another network, the plain pair again.
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
  for ns in kbdraw-a kbdraw-b kbdref-ul kbdref-h1 kbdref-h2 kbdref-i1 kbdref-i2; do
    ip netns delete "$ns" 2>/dev/null || true
  done
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

# The reference recipe: an underlay bridge, per host a bridge and a VXLAN
# device (nolearning, static FDB entries), an instance veth each.
R=kbdref
for ns in ul h1 h2 i1 i2; do ip netns add $R-$ns; ip -n $R-$ns link set lo up; done
for ns in ul h1 h2; do ip netns exec $R-$ns sysctl -qw net.bridge.bridge-nf-call-iptables=0; done
ip -n $R-ul link add br0 type bridge; ip -n $R-ul link set br0 up
for i in 1 2; do
  ip -n $R-ul link add u$i type veth peer name eth0 netns $R-h$i; ip -n $R-ul link set u$i master br0 up
  ip -n $R-h$i addr add 192.0.2.$i/24 dev eth0; ip -n $R-h$i link set eth0 up
  ip -n $R-h$i link add br1 type bridge; ip -n $R-h$i link set br1 up
  ip -n $R-h$i link add vx1 type vxlan id 101 local 192.0.2.$i dev eth0 dstport 4789 nolearning
  ip -n $R-h$i link set vx1 master br1 mtu 1450 up
  ip netns exec $R-h$i bridge link set dev vx1 learning off
  ip -n $R-h$i link add t$i type veth peer name eth0 netns $R-i$i; ip -n $R-h$i link set t$i master br1 mtu 1450 up
  ip -n $R-i$i link set eth0 mtu 1450 address 02:00:00:00:00:0$i up; ip -n $R-i$i addr add 10.79.0.$i/24 dev eth0
done
for i in 1 2; do j=$((3 - i))
  ip netns exec $R-h$i bridge fdb replace 02:00:00:00:00:0$j dev vx1 dst 192.0.2.$j self permanent
  ip netns exec $R-h$i bridge fdb replace 02:00:00:00:00:0$j dev vx1 master static
  ip -n $R-i$i neigh replace 10.79.0.$j lladdr 02:00:00:00:00:0$j dev eth0 nud permanent
done
ip netns exec $R-i1 ping -c 3 -W 1 10.79.0.2 >/dev/null

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
# Interleaved rounds: each round measures the raw pair, every path, and the
# raw pair again, so the machine's own swings (+-40% between minutes here)
# cancel within a round; the median of the rounds is reported.
echo "# bench/dataplane.sh $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) vCPU, kernel $(uname -r), ${secs}s per run, ${rounds} rounds"
measure() {  # measure "LABEL CLIENT SERVER IP" ... -> per path one line "raw,rate,raw ..."
  local -a paths=("$@") labels=() out=()
  local r a b i client server ip line
  for r in $(seq "$rounds"); do
    local -a got=()
    a=$(rate kbdraw-a kbdraw-b 10.78.0.2)
    for i in "${!paths[@]}"; do
      read -r "labels[i]" client server ip <<<"${paths[i]}"
      got[i]=$(rate "$client" "$server" "$ip")
    done
    b=$(rate kbdraw-a kbdraw-b 10.78.0.2)
    line=""
    for i in "${!paths[@]}"; do
      out[i]="${out[i]:-} $a,${got[i]},$b"; line="$line ${labels[i]} ${got[i]}"
    done
    echo "round $r: raw veth $a / $b Gbit/s;$line Gbit/s" >&2
  done
  printf '%s\n' "${out[@]}"
}
mapfile -t first < <(measure "kumo $SRC $DST 10.77.0.20" "recipe $R-i1 $R-i2 10.79.0.2")
# Then a pair with port security (the default group), in another network on
# the same hosts: the plain pair's network keeps its bridge out of conntrack.
.venv/bin/openstack network create bench-sg >/dev/null
.venv/bin/openstack subnet create --network bench-sg --subnet-range 10.76.0.0/24 bench-sg >/dev/null
$K lab instance create fsrc --network bench-sg --host kbd-host1 --ip 10.76.0.11 --state-dir "$state" >/dev/null
$K lab instance create fdst --network bench-sg --host kbd-host2 --ip 10.76.0.21 --state-dir "$state" >/dev/null
FSRC=$(ns_of fsrc); FDST=$(ns_of fdst)
ip netns exec "$FSRC" ping -c 3 -W 1 10.76.0.21 >/dev/null
mapfile -t second < <(measure "filtered $FSRC $FDST 10.76.0.21" "kumo $SRC $DST 10.77.0.20")
.venv/bin/python - "${first[0]}" "${first[1]}" "${second[0]}" "${second[1]}" <<'PY'
import statistics, sys
labels = ("VXLAN/raw", "recipe/raw", "filtered/raw", "VXLAN/raw, host filtering another network")
rows = [[tuple(map(float, r.split(","))) for r in arg.split()] for arg in sys.argv[1:]]
def ratios(rs): return [p / ((a + b) / 2) for a, p, b in rs]
for label, rs in zip(labels, rows):
    rr = ratios(rs)
    listed = ", ".join(f"{x:.2f}" for x in rr)
    print(f"ratio {label:42s} median {statistics.median(rr):.2f} (rounds: {listed})")
kumo_vs_recipe = [k[1] / r[1] for k, r in zip(rows[0], rows[1])]
listed = ", ".join(f"{x:.2f}" for x in kumo_vs_recipe)
print(f"ratio {'kumo/recipe (same rounds)':42s} median {statistics.median(kumo_vs_recipe):.2f} (rounds: {listed})")
PY
