#!/usr/bin/env bash
# Tempest conformance run against a live kumo (one command):
#   bash scripts/conformance.sh [compute|image|volume|orchestration|trunk|port-forwarding|REGEX]
# Installs Tempest into .tempest/venv (once), starts kumo on a fresh state
# dir and a free port, writes tempest.conf, runs the network and identity API
# tests (or, with `compute`, the compute API tests; with `image`, the image API
# tests; with `volume`, the block storage API tests against kumo serve plus one
# storage agent with a pool in the state dir), and writes a summary with every skip and failure to
# .tempest/results.md (copy the figures into docs/CONFORMANCE.md).
#
# `compute` (and a REGEX naming compute tests) starts a lab of its own with
# `kumo up` (unique namespace prefix, state directory and port; `kumo down`
# at exit) so that servers really boot on its hosts. A REGEX naming
# neutron-tempest-plugin tests does too (real agents: router interfaces
# become ACTIVE, agents are listed), with routers centralized unless asked
# otherwise, as Neutron's default (KUMO_CONFORMANCE_LAB=0 runs it against
# `kumo serve` alone). The other modes run against `kumo serve` alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# install only where nothing is installed yet: a worktree shares its .venv, whose
# editable install must keep pointing where it points
[ -x .venv/bin/kumo ] || bash scripts/install.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this checkout's kumo, not the venv's
MODE=${1:-}
# Tempest itself has no tests of floating IP port forwarding: Neutron keeps
# them in neutron-tempest-plugin, installed for the runs that select them
PORT_FORWARDING_REGEX='^neutron_tempest_plugin\.api\.test_port_forwarding(s|_negative)\.'
case "$MODE" in
  compute) REGEX='^tempest\.api\.compute\.' ;;
  image) REGEX='^tempest\.api\.image\.' ;;
  volume) REGEX='^tempest\.api\.volume\.' ;;
  orchestration) REGEX='^heat_tempest_plugin\.tests\.api\.' ;;  # heat-tempest-plugin's API tests
  trunk) REGEX='^neutron_tempest_plugin\.api\.test_trunk' ;;  # neutron-tempest-plugin's trunk API tests
  port-forwarding) REGEX="$PORT_FORWARDING_REGEX" ;;  # neutron-tempest-plugin's
  '') REGEX="^(tempest\.api\.(network|identity)\.|${PORT_FORWARDING_REGEX#^})" ;;
  *) REGEX=$MODE; MODE=custom ;;
esac
LAB=0
COMPUTE=0
case "$REGEX" in *compute*) LAB=1; COMPUTE=1 ;; esac
LAB_ARGS=()
if [ "$MODE" = custom ]; then
  case "$REGEX" in
    *neutron_tempest_plugin*)
      # a distributed router's interface is on a host only once an instance
      # on its subnet is there (docs/DESIGN.md): it stays DOWN, and the
      # plugin's router tests wait for ACTIVE interfaces of routers without
      # instances; Neutron's default (router_distributed false) binds them
      # to the gateway agent's host, whose agent wires them
      LAB=${KUMO_CONFORMANCE_LAB:-1}
      LAB_ARGS=(--no-router-distributed) ;;
  esac
fi
# Tests of features kumo does not implement yet, excluded by module with the
# reason (listed in docs/CONFORMANCE.md); everything else must pass.
EXCLUDE=(
  'identity\.admin\.v3\.test_(groups|credentials|oauth_consumers|policies|domain_configuration|endpoint_groups|endpoints|endpoints_negative|regions|services|inherits|roles|trusts)\.'  # groups, credentials, OAuth, policies, domain config, catalog CRUD, inherited roles, implied-role CRUD
  'identity\.(admin\.)?v3\.test_application_credentials'   # application credentials
  'identity\.v3\.test_ec2_credentials'                       # EC2 credentials
  'identity\.admin\.v3\.test_domains\.DomainsTestJSON\.test_domain_delete_cascades_content'  # needs groups
  'identity\.admin\.v3\.test_projects\.ProjectsTestJSON\.test_create_is_domain_project'   # projects acting as domains
  'identity\.admin\.v3\.test_tokens\.TokensV3TestJSON\.test_get_available_domain_scopes'   # needs groups
)
if [ $COMPUTE = 1 ]; then
  # shellcheck source=scripts/conformance-compute-exclude.sh
  source scripts/conformance-compute-exclude.sh
  EXCLUDE+=("${COMPUTE_EXCLUDE[@]}")
fi
case "$REGEX" in
  *image*)
    # shellcheck source=scripts/conformance-image-exclude.sh
    source scripts/conformance-image-exclude.sh
    EXCLUDE+=("${IMAGE_EXCLUDE[@]}") ;;
esac
EXCLUDE_REGEX=$(IFS='|'; echo "${EXCLUDE[*]}")
TEMPEST_VERSION=47.0.0
work=$PWD/.tempest
# each mode its own workspace, log and summary (.tempest/results.md for the
# default run, .tempest/MODE/results.md otherwise): modes may run side by side
out=$work${MODE:+/$MODE}
mkdir -p "$out"
if [ ! -x "$work/venv/bin/tempest" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q "tempest==$TEMPEST_VERSION"
fi

state=$(mktemp -d /tmp/kumo-conformance.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ $LAB = 1 ]; then
  # a lab of its own (namespaces under a unique prefix, its own state
  # directory and port): servers are scheduled on its hosts and boot
  prefix="cf$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-"
  root=$PWD
  lab_down() {  # runs at exit, when the working directory is Tempest's workspace
    "$root/.venv/bin/kumo" down --state-dir "$state" >/dev/null 2>&1 || true
  }
  trap lab_down EXIT
  if ! .venv/bin/kumo up --hosts "${KUMO_LAB_HOSTS:-2}" --prefix "$prefix" --state-dir "$state" \
      --port "$port" --detach ${LAB_ARGS[@]+"${LAB_ARGS[@]}"} >"$state/up.log" 2>&1; then
    echo "kumo up failed; its output:" >&2
    tail -n 30 "$state/up.log" >&2
    exit 1
  fi
else
  .venv/bin/kumo serve --state-dir "$state" --port "$port" --workers "${KUMO_WORKERS:-2}" >"$state/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
  # up to two minutes: on a busy machine startup (migration, bootstrap) takes a while
  up=0
  for _ in $(seq 600); do
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
    kill -0 $server 2>/dev/null || break
    sleep 0.2
  done
  if [ $up = 0 ]; then
    echo "kumo serve did not come up; its log:" >&2
    tail -n 30 "$state/server.log" >&2
    exit 1
  fi
  if [ "$MODE" = volume ]; then
    # one storage host (this machine's files, no data path): volumes get made
    .venv/bin/kumo storage-agent --host conformance-storage --api "http://127.0.0.1:$port" \
      --pool "pool1:$state/pool1:1000" --clouds-yaml "$state/clouds.yaml" --cloud kumo \
      --heartbeat-interval 5 >"$state/storage.log" 2>&1 &
    storage=$!
    trap 'kill $server $storage 2>/dev/null || true; wait $server $storage 2>/dev/null || true' EXIT
  fi
fi
password=$(.venv/bin/python -c "import yaml,sys; print(yaml.safe_load(open('$state/clouds.yaml'))['clouds']['kumo']['auth']['password'])")
extensions=$(.venv/bin/python - "$port" "$password" <<'PY'
import sys, httpx
port, pw = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"id": "default"}, "password": pw}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
tok = httpx.post(f"{base}/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]
h = {"X-Auth-Token": tok}
# the external network the router and floating IP tests use; as the default
# external network it also lets projects get an auto-allocated topology (a
# lab has made it already)
nets = httpx.get(f"{base}/networking/v2.0/networks", headers=h,
                 params={"name": "public"}).json()["networks"]
if nets:
    net = nets[0]
else:
    net = httpx.post(f"{base}/networking/v2.0/networks", headers=h,
                     json={"network": {"name": "public", "router:external": True,
                                       "is_default": True}}).json()["network"]
    httpx.post(f"{base}/networking/v2.0/subnets", headers=h,
               json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                "cidr": "172.24.4.0/24",
                                "enable_dhcp": False}}).raise_for_status()
exts = httpx.get(f"{base}/networking/v2.0/extensions", headers=h).json()
print(",".join(sorted(e["alias"] for e in exts["extensions"])))
print(net["id"])
images = httpx.get(f"{base}/image/v2/images", headers=h).json()["images"]
print(next(i["id"] for i in images if i["name"] == "busybox"))
# a second image for image_ref_alt that boots as fast: a namespace instance
alt = httpx.post(f"{base}/image/v2/images", headers=h,
                 json={"name": "busybox-alt", "container_format": "bare", "disk_format": "raw",
                       "visibility": "public", "hypervisor_type": "namespace",
                       "kumo_instance_type": "namespace", "kumo_program": "busybox",
                       "kumo_services": "sh"}).json()
httpx.put(f"{base}/image/v2/images/{alt['id']}/file", content=b"",
          headers={**h, "Content-Type": "application/octet-stream"}).raise_for_status()
print(alt["id"])
print(httpx.get(f"{base}/compute/v2.1/", headers=h).json()["version"]["version"])
PY
)
public_network_id=$(echo "$extensions" | sed -n 2p)
image_id=$(echo "$extensions" | sed -n 3p)
image_alt_id=$(echo "$extensions" | sed -n 4p)
max_microversion=$(echo "$extensions" | sed -n 5p)
nova=False
glance=False
[ $COMPUTE = 1 ] && nova=True && glance=True
case "$REGEX" in *image*) glance=True ;; esac
cinder=False
if [ "$MODE" = volume ]; then cinder=True; glance=True; fi
volume_max_microversion=$(.venv/bin/python -c 'from kumo.volume.microversion import MAX; print(f"{MAX.major}.{MAX.minor}")')
extensions=$(echo "$extensions" | head -n 1)

ws="$out/workspace"
rm -rf "$ws"; mkdir -p "$ws/etc"
cat >"$ws/etc/tempest.conf" <<CONF
[DEFAULT]
log_dir = $ws
[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = $password
admin_project_name = admin
admin_domain_name = Default
tempest_roles = member
[identity]
uri_v3 = http://127.0.0.1:$port/identity/v3
auth_version = v3
region = RegionOne
admin_role = admin
[identity-feature-enabled]
api_v2 = False
api_v3 = True
security_compliance = False
project_tags = True
application_credentials = False
access_rules = False
trust = False
[network]
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8:8000::/48
project_network_v6_mask_bits = 64
public_network_id = $public_network_id
floating_network_name = public
[network-feature-enabled]
api_extensions = $extensions
ipv6 = True
ipv6_subnet_attributes = True
[service_available]
neutron = True
nova = $nova
glance = $glance
cinder = $cinder
swift = False
heat = False
placement = False
[validation]
run_validation = False
CONF
if [ "$MODE" = volume ]; then
  cat >>"$ws/etc/tempest.conf" <<CONF
[volume]
catalog_type = block-storage
build_timeout = 60
min_microversion = 3.0
max_microversion = $volume_max_microversion
storage_protocol = nbd
vendor_name = kumo
[volume-feature-enabled]
backup = False
snapshot = True
clone = True
manage_volume = False
manage_snapshot = False
extend_attached_volume = False
multi_backend = False
[compute]
# the image the volume tests make volumes from (Nova stays off)
image_ref = $image_id
CONF
fi
if [ $COMPUTE = 1 ]; then
  cat >>"$ws/etc/tempest.conf" <<CONF
[compute]
image_ref = $image_id
image_ref_alt = $image_alt_id
flavor_ref = 1
flavor_ref_alt = 2
build_timeout = 60
min_microversion = 2.1
max_microversion = $max_microversion
fixed_network_name =
[compute-feature-enabled]
# what kumo's compute does not do (docs/CONFORMANCE.md)
change_password = False
resize = True
pause = True
shelve = False
suspend = True
cold_migration = False
live_migration = False
rescue = False
snapshot = False
personality = False
vnc_console = False
spice_console = False
serial_console = False
attach_encrypted_volume = False
disk_config = False
ide_bus = False
CONF
fi
# orchestration: heat-tempest-plugin's API tests (gabbi) as the admin
if [ "$MODE" = orchestration ]; then
  HEAT_PLUGIN_VERSION=3.0.0
  "$work/venv/bin/pip" show heat-tempest-plugin 2>/dev/null | grep -qx "Version: $HEAT_PLUGIN_VERSION" ||
    "$work/venv/bin/pip" install -q "heat-tempest-plugin==$HEAT_PLUGIN_VERSION"
  sed -i 's/^heat = False$/heat = True/' "$ws/etc/tempest.conf"
  cat >>"$ws/etc/tempest.conf" <<CONF
[heat_plugin]
auth_url = http://127.0.0.1:$port/identity/v3
auth_version = 3
username = admin
password = $password
project_name = admin
admin_username = admin
admin_password = $password
admin_project_name = admin
user_domain_name = Default
project_domain_name = Default
region = RegionOne
image_ref = $image_id
minimal_image_ref = $image_id
instance_type = m1.tiny
minimal_instance_type = m1.tiny
floating_network_name = public
CONF
fi
case "$REGEX" in
  *neutron_tempest_plugin*)
    NEUTRON_PLUGIN_VERSION=3.3.0
    "$work/venv/bin/pip" show neutron-tempest-plugin 2>/dev/null | grep -qx "Version: $NEUTRON_PLUGIN_VERSION" ||
      "$work/venv/bin/pip" install -q "neutron-tempest-plugin==$NEUTRON_PLUGIN_VERSION" "tempest==$TEMPEST_VERSION"
    # trunk: tenant networks are VXLAN; VLAN stays off there, since its trunk
    # tests need the 'inherit' segmentation type, which kumo does not offer
    types=vxlan,flat,vlan
    [ "$MODE" = trunk ] && types=vxlan
    cat >>"$ws/etc/tempest.conf" <<CONF
[neutron_plugin_options]
available_type_drivers = $types
CONF
    ;;
esac
cd "$ws"
"$work/venv/bin/stestr" init >/dev/null 2>&1 || true
cat > .stestr.conf <<CONF
[DEFAULT]
test_path=$("$work/venv/bin/python" -c 'import tempest, os; print(os.path.dirname(tempest.__file__))')/test_discover
top_dir=$("$work/venv/bin/python" -c 'import tempest, os; print(os.path.dirname(os.path.dirname(tempest.__file__)))')
CONF
export TEMPEST_CONFIG_DIR="$ws/etc"
set +e
"$work/venv/bin/tempest" run --workspace-path "$out/workspace.yaml" --regex "$REGEX" --exclude-regex "$EXCLUDE_REGEX" --concurrency 2 >"$out/run.log" 2>&1
rc=$?
set -e
"$work/venv/bin/stestr" last --subunit > "$out/last.subunit" 2>/dev/null || true
"$work/venv/bin/python" "$OLDPWD/scripts/subunit_summary.py" "$out/last.subunit" > "$out/results.md"
tail -n 5 "$out/run.log"
echo "summary: $out/results.md"
exit $rc
