"""The one table of Neutron API extensions kumo implements (alias, name, description).

A feature adds its row when it lands; ``GET /v2.0/extensions`` lists
exactly these.
"""

from __future__ import annotations

EXTENSIONS: list[tuple[str, str, str]] = [
    (
        "address-group",
        "Address group",
        "Named lists of CIDRs, with add_addresses and remove_addresses.",
    ),
    (
        "address-scope",
        "Address scope",
        "Address scopes: subnet pools bound to them, ipv4/ipv6_address_scope on networks; "
        "routers do not translate between subnets of their external network's scope.",
    ),
    ("agent", "agent", "Host agents: list, show, update, delete."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Extra MAC/IP pairs a port may send from."),
    (
        "availability_zone",
        "Availability Zone",
        "The availability zones of networks and routers: the zones of the hosts' agents.",
    ),
    ("binding", "Port Binding", "Which host a port is bound to and how it is plugged."),
    (
        "default-subnetpools",
        "Default Subnetpools",
        "is_default on subnet pools; use_default_subnetpool on subnets.",
    ),
    (
        "dns-integration",
        "DNS Integration",
        "dns_name and dns_assignment on ports, dns_domain on networks, dns_name and "
        "dns_domain on floating IPs; each host's resolver answers a project's names on its "
        "networks (no external DNS service is told).",
    ),
    (
        "dns-domain-ports",
        "dns_domain for ports",
        "dns_domain on ports (kept and shown; no external DNS service is told).",
    ),
    (
        "dns-integration-domain-keywords",
        "DNS domain names with keywords",
        "<project_id>, <project_name>, <user_id> and <user_name> in dns_domain, replaced by "
        "the values of the request that set it where the domain is used (a network's names on "
        "the hosts' resolvers and in DHCP).",
    ),
    ("dvr", "Distributed Virtual Router", "distributed on routers (admin only)."),
    ("external-net", "Neutron external network", "Networks marked as external (router:external)."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "enable_snat on gateways."),
    ("extraroute", "Neutron Extra Route", "Extra routes (routes) on routers."),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "add_extraroutes and remove_extraroutes on routers.",
    ),
    (
        "flavors",
        "Neutron Service Flavors",
        "Flavors of an advanced service (admins write, everyone reads) and service profiles "
        "(admin only) naming kumo's driver or one of Neutron's L3 provider drivers.",
    ),
    (
        "floatingip-pools",
        "Floating IP Pools",
        "The subnets of the external networks a project may take floating IPs from.",
    ),
    ("fip-port-details", "Floating IP Port Details", "port_details on floating IPs."),
    (
        "floating-ip-port-forwarding",
        "Floating IP Port Forwarding",
        "TCP and UDP ports of a floating IP forwarded to an internal port's fixed IP and port "
        "(/v2.0/floatingips/{id}/port_forwardings), served on the internal port's host.",
    ),
    (
        "floating-ip-port-forwarding-description",
        "Floating IP Port Forwarding Description",
        "description on port forwardings.",
    ),
    (
        "floating-ip-port-forwarding-port-ranges",
        "Floating IP Port Forwarding support port ranges",
        "internal_port_range and external_port_range on port forwardings: a range of external "
        "ports forwarded to as many internal ports, or to one.",
    ),
    (
        "floating-ip-port-forwarding-detail",
        "Floating IP Port Forwarding Detail",
        "id and internal_port_id in the floating IPs' port_forwardings.",
    ),
    (
        "expose-port-forwarding-in-fip",
        "Expose port forwardings in floating IP",
        "port_forwardings (protocol, internal_ip_address, internal_port, external_port) on "
        "floating IPs.",
    ),
    (
        "empty-string-filtering",
        "Empty String Filtering Extension",
        "An empty filter value (?name=) matches resources whose attribute is empty.",
    ),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Per-port extra DHCP options."),
    ("filter-validation", "Filter parameters validation", "Unknown filter attributes are refused."),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "fixed_ips=ip_address_substr=... on port lists.",
    ),
    ("l3-ha", "HA Router extension", "ha on routers (admin only)."),
    (
        "l3-flavors",
        "Router Flavor Extension",
        "flavor_id on routers (set at creation): the driver of the flavor's service profile "
        "chooses the router's mode (centralized, HA, distributed).",
    ),
    (
        "kumo-distributed-snat",
        "Distributed SNAT with leased port blocks",
        "kumo_distributed_snat and kumo_snat_leases (host, port range) on routers (admin only).",
    ),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "Which gateway agent hosts each router."),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "availability_zone_hints (checked) and availability_zones (of the hosts with its "
        "ports) on networks.",
    ),
    ("net-mtu", "Network MTU", "The MTU of each network."),
    ("net-mtu-writable", "Network MTU (writable)", "The MTU of a network can be set and changed."),
    (
        "network-ip-availability",
        "Network IP Availability",
        "Total and used addresses per network and subnet.",
    ),
    (
        "network-ip-availability-details",
        "Network IP Availability Details Extension",
        "ip_availability_details on each network and subnet: addresses in the CIDR and in the "
        "allocation pools, used in the subnet and in its pools.",
    ),
    (
        "metering",
        "Neutron Metering",
        "Metering labels and rules (admin only): each label counts the traffic crossing the "
        "external side of its project's routers (shared: every router) on every host "
        "where it crosses, summed by the API (GET /v2.0/metering/metering-labels/{id}/counts).",
    ),
    (
        "metering_source_and_destination_fields",
        "Metering source and destination filtering fields",
        "source_ip_prefix and destination_ip_prefix on metering label rules.",
    ),
    (
        "ip_allocation",
        "IP Allocation",
        "ip_allocation on ports: immediate; deferred (a port on a routed network made "
        "without a host gets its addresses from its host's segment when bound); none.",
    ),
    (
        "l2_adjacency",
        "L2 Adjacency",
        "l2_adjacency on networks: false when its subnets are on segments (routed).",
    ),
    (
        "multi-provider",
        "Multi Provider Network",
        "segments (several provider segments) on networks, at creation (admin only).",
    ),
    ("pagination", "Pagination support", "limit, marker and page_reverse on lists."),
    (
        "port-mac-address-regenerate",
        "Neutron Port MAC address regenerate",
        "mac_address null on a port update gives it a new random MAC.",
    ),
    (
        "port-resource-request",
        "Port Resource Request",
        "resource_request on ports (admins): the minimum bandwidth a port's QoS policy asks "
        "of its host's physical network, which the compute scheduler honours.",
    ),
    (
        "port-resource-request-groups",
        "Port Resource Request Groups",
        "resource_request as request groups (request_groups, same_subtree): minimum "
        "bandwidth and minimum packet rate asks in groups of their own.",
    ),
    (
        "port-device-profile",
        "Port device profile",
        "device_profile on ports (set on create; kept and shown for a compute scheduler).",
    ),
    (
        "port-numa-affinity-policy",
        "Port NUMA affinity policy",
        "numa_affinity_policy (required, preferred, legacy or null) on ports, kept and shown.",
    ),
    (
        "port-mac-override",
        "Neutron Port MAC address override",
        "A direct-physical port takes the MAC named by device_mac_address in its binding "
        "profile (bound or not).",
    ),
    ("port-security", "Port Security", "port_security_enabled on networks and ports."),
    ("project-id", "project_id field enabled", "project_id next to tenant_id."),
    ("provider", "Provider Network", "Network type, physical network and segmentation id."),
    (
        "qos",
        "Quality of Service",
        "QoS policies with bandwidth-limit, packet-rate-limit, DSCP-marking and minimum-bandwidth "
        "rules (the latter a scheduling attribute), "
        "on ports and networks, enforced on the port's host.",
    ),
    (
        "qos-bw-limit-direction",
        "Direction for QoS bandwidth limit rule",
        "direction (egress, ingress) on bandwidth-limit rules.",
    ),
    (
        "qos-bw-minimum-ingress",
        "Ingress direction for QoS minimum bandwidth rule",
        "direction (egress, ingress) on minimum bandwidth rules.",
    ),
    (
        "qos-default",
        "QoS default policy",
        "is_default on QoS policies: a project's new networks get it.",
    ),
    (
        "qos-fip",
        "Floating IP QoS",
        "qos_policy_id on floating IPs: its bandwidth limits on the host that translates the "
        "floating IP.",
    ),
    (
        "qos-fip-network-policy",
        "QoS floating IP network policy",
        "qos_network_policy_id on floating IPs: without a policy of its own a floating IP "
        "follows its external network's.",
    ),
    (
        "qos-gateway-ip",
        "Router gateway IP QoS",
        "qos_policy_id in a router's external_gateway_info: its bandwidth limits on the "
        "gateway leg that translates the router's SNAT.",
    ),
    (
        "qos-pps",
        "QoS packet rate limit rule",
        "Packet rate limit rules (max_kpps, max_burst_kpps, direction), enforced on the "
        "port's host.",
    ),
    (
        "qos-pps-minimum",
        "QoS minimum packet rate rule",
        "Minimum packet rate rules (min_kpps; direction egress, ingress or any), a scheduling "
        "attribute shown in the ports' resource_request.",
    ),
    (
        "qos-rule-type-details",
        "Details of QoS rule types",
        "The parameters each rule type supports (GET /v2.0/qos/rule-types/{type}).",
    ),
    (
        "qos-rules-alias",
        "QoS rules alias API",
        "QoS rules by their id alone (/v2.0/qos/alias_*_rules).",
    ),
    ("quotas", "Quota management support", "Per-project quotas."),
    (
        "quota-check-limit",
        "Quota engine limit check",
        "check_limit (refuse a limit below the usage) and force on quota updates.",
    ),
    ("quota_details", "Quota details management support", "Limit, used and reserved per resource."),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Updates conditional on revision.",
    ),
    (
        "rbac-policies",
        "RBAC Policies",
        "Share networks and security groups with chosen projects (access_as_shared, "
        "access_as_external).",
    ),
    (
        "rbac-address-scope",
        "Add address_scope type to RBAC",
        "Share address scopes with chosen projects (access_as_shared); a project binds its "
        "subnet pools to an address scope shared with it.",
    ),
    (
        "rbac-subnetpool",
        "Add subnetpool type to RBAC",
        "Share subnet pools with chosen projects (access_as_shared).",
    ),
    (
        "router_availability_zone",
        "Router Availability Zone",
        "availability_zone_hints on routers, which are scheduled to gateway agents of those "
        "zones only; availability_zones (of their agents).",
    ),
    ("router", "Neutron L3 Router", "Routers, interfaces, gateways and floating IPs."),
    (
        "router-admin-state-down-before-update",
        "Enforce Router's Admin State Down Before Update Extension",
        "distributed and ha change only on a router already down (admin_state_up false).",
    ),
    ("security-group", "security-group", "Security groups and their rules."),
    (
        "segment",
        "Segment",
        "Network segments (/v2.0/segments, admin only) and segment_id on subnets: routed "
        "provider networks, each host wiring the segment of a physical network it maps and "
        "its ports taking addresses from that segment's subnets.",
    ),
    (
        "segments-peer-subnet-host-routes",
        "Segments peer-subnet host routes",
        "Subnets on segments carry host routes to the other segments' subnets via their "
        "gateway (served by DHCP).",
    ),
    (
        "security-groups-default-rules",
        "Default rules for security groups",
        "default-security-group-rules: the templates of the rules new security groups start "
        "with (used_in_default_sg, used_in_non_default_sg, PARENT as the remote group).",
    ),
    (
        "security-groups-normalized-cidr",
        "Security group rule normalized CIDR",
        "normalized_cidr on security group rules.",
    ),
    (
        "security-groups-remote-address-group",
        "Remote address group id field for security group rules",
        "remote_address_group_id on security group rules, enforced by the host's firewall.",
    ),
    (
        "security-groups-shared-filtering",
        "Security group filtering on the shared field",
        "shared on security groups, usable as a filter.",
    ),
    (
        "subnet-external-network",
        "Subnet External Network",
        "router:external on subnets: the flag of the subnet's network (read-only, a filter).",
    ),
    (
        "subnet-service-types",
        "Subnet service types",
        "service_types on subnets (device owners; admin only to set): a port takes addresses "
        "from the subnets naming its device owner, else from those naming none.",
    ),
    (
        "subnet_allocation",
        "Subnet Allocation",
        "Subnet pools: subnets allocated from them by CIDR or prefix length.",
    ),
    (
        "subnet_onboard",
        "Subnet Onboard",
        "onboard_network_subnets moves a network's subnets into a subnet pool.",
    ),
    (
        "subnetpool-prefix-ops",
        "Subnet Pool Prefix Operations",
        "add_prefixes and remove_prefixes on subnet pools.",
    ),
    (
        "service-type",
        "Neutron Service Type Management",
        "The provider of each advanced service (GET /v2.0/service-providers).",
    ),
    ("sorting", "Sorting support", "sort_key and sort_dir on lists."),
    ("stateful-security-group", "Stateful security group", "stateful on security groups."),
    ("standard-attr-description", "standard-attr-description", "A description on every resource."),
    ("standard-attr-revisions", "Resource revision numbers", "revision_number on every resource."),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute",
        "Tags on resources.",
    ),
    ("tag", "Tag support", "Tags on networks."),
    (
        "tag-creation",
        "Tag support for resource creation",
        "tags in the create bodies of networks, subnets, ports, security groups, routers and "
        "floating IPs.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "created_at and updated_at on every resource.",
    ),
    (
        "trunk",
        "Trunk Extension",
        "Trunks: a parent port carrying subports of other networks, each on its own VLAN id, "
        "wired on the parent's host.",
    ),
    ("trunk-details", "Trunk port details", "trunk_details on a trunk's parent port."),
]


AUTO_ALLOCATED_TOPOLOGY = (
    "auto-allocated-topology",
    "Auto Allocated Topology Services",
    "A project's network, subnet and router made on demand (get me a network).",
)
"""Listed only while it can work: a default external network with a subnet exists."""


def as_dicts(*, auto_allocation: bool = False) -> list[dict[str, object]]:
    rows = EXTENSIONS + [AUTO_ALLOCATED_TOPOLOGY] if auto_allocation else EXTENSIONS
    return [
        {
            "alias": alias,
            "name": name,
            "description": description,
            "updated": "2025-01-01T00:00:00-00:00",
            "links": [],
        }
        for alias, name, description in sorted(rows)
    ]
