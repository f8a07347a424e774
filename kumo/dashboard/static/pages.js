// The dashboard's pages: each fetches its data in one request and draws it.
"use strict";
(function () {
  const { h } = K;
  const N = "/networking/v2.0";
  const C = "/compute/v2.1";

  // Search box and pager: both ask the server again (it filters and pages).
  function toolbar(name, params, listing, extra) {
    const search = h("input", { type: "search", name: "q", placeholder: "Filter", value: listing.q || "", "aria-label": "Filter" });
    const go = (page) => {
      const p = new URLSearchParams(params);
      p.set("q", search.value.trim());
      if (page) p.set("page", page); else p.delete("page");
      if (!p.get("q")) p.delete("q");
      location.hash = "#/" + name + (p.toString() ? "?" + p : "");
    };
    const form = h("form.toolbar", { role: "search", onsubmit: (e) => { e.preventDefault(); go(0); } },
      search, h("button", { type: "submit" }, "Filter"), extra || []);
    const pager = h("div.pager", {},
      h("button", { type: "button", disabled: listing.page <= 1, onclick: () => go(listing.page - 1) }, "Previous"),
      `Page ${listing.page} of ${listing.pages} (${listing.total} items)`,
      h("button", { type: "button", disabled: listing.page >= listing.pages, onclick: () => go(listing.page + 1) }, "Next"));
    return [form, pager];
  }

  function table(columns, items, rowAttrs) {
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c[0])))),
      h("tbody", {}, items.map((it) => row(columns, it, rowAttrs))));
  }
  function row(columns, it, rowAttrs) {
    return h("tr", rowAttrs ? rowAttrs(it) : {}, columns.map((c) => h("td", { "data-col": c[0] }, c[1](it))));
  }

  async function act(fn, done) {
    try {
      await fn();
      if (done) K.flash(done);
      K.route();
    } catch (e) {
      K.flash(e.message, true);
    }
  }

  function simple(name, key, title, columns, buttons, live) {
    const page = {
      async show(main, params) {
        const data = await K.load((name.startsWith("admin/") ? "" : "pages/") + name, params);
        if (!main.isConnected) return; // left meanwhile
        const listing = data[key];
        const b = data.can_write && buttons ? buttons(data) : {};
        const [bar, pager] = toolbar(name, params, listing, b.top || []);
        const cols = b.row ? [...columns, ["Actions", (it) => b.row(it)]] : columns;
        main.replaceChildren(h("h2", {}, title), bar, table(cols, listing.items), pager);
      },
    };
    return live ? K.live(page, live) : page;
  }

  K.ui = { toolbar, table, row, act, simple };

  // -- Overview ------------------------------------------------------------------------
  K.pages.overview = {
    async show(main) {
      const data = await K.load("pages/overview");
      main.replaceChildren(h("h2", {}, "Overview"), h("div.quota", {}, data.quota.map((q) => {
        const pct = q.limit > 0 ? Math.min(100, Math.round((100 * q.used) / q.limit)) : 0;
        return h("div", {}, h("strong", {}, q.name), h("div", {}, `${q.used} of ${q.limit < 0 ? "unlimited" : q.limit}`),
          h("div.bar", { role: "progressbar", "aria-valuenow": pct, "aria-label": q.name }, h("span", { style: `width:${pct}%` })));
      })));
    },
  };

  // -- Instances -----------------------------------------------------------------------
  const instanceCols = [
    ["Name", (s) => s.name],
    ["Status", (s) => K.badge(s.status)],
    ["Addresses", (s) => s.addresses.join(", ")],
    ["Flavor", (s) => s.flavor],
    ["Key pair", (s) => s.key_name || ""],
  ];

  // The forms' choices, loaded when a form opens (the list paints without them).
  const formData = () => K.load("pages/launch");

  async function launch() {
    let opts;
    try { opts = (await formData()).launch; } catch (e) { K.flash(e.message, true); return; }
    const userData = (v) => (v && v.length > 65535 ? "At most 64 KiB." : "");
    K.form("Launch instance", [
      { name: "name", label: "Name", required: true,
        check: (v) => (v.length > 255 ? "At most 255 characters." : "") },
      { name: "image", label: "Image", required: true, options: opts.images.map((i) => ({ value: i.id, label: i.name })) },
      { name: "flavor", label: "Flavor", required: true,
        options: opts.flavors.map((f) => ({ value: f.id, label: `${f.name} (${f.vcpus} VCPU, ${f.ram} MB)` })) },
      { name: "networks", label: "Networks", multiple: true, required: opts.networks.length > 0,
        options: opts.networks.map((n, i) => ({ value: n.id, label: n.name, selected: i === 0 })) },
      { name: "security_groups", label: "Security groups", multiple: true,
        options: opts.security_groups.map((g) => ({ value: g.name, label: g.name, selected: g.name === "default" })) },
      { name: "key_name", label: "Key pair", options: opts.keypairs.map((k) => ({ value: k.name, label: k.name })) },
      { name: "user_data", label: "User data", type: "textarea", check: userData },
    ], async (v) => {
      const server = { name: v.name, imageRef: v.image, flavorRef: v.flavor,
        networks: v.networks.map((id) => ({ uuid: id })) };
      if (v.security_groups.length) server.security_groups = v.security_groups.map((name) => ({ name }));
      if (v.key_name) server.key_name = v.key_name;
      if (v.user_data) server.user_data = btoa(unescape(encodeURIComponent(v.user_data)));
      await K.os("POST", C + "/servers", { server });
      K.flash(`Launching ${v.name}`);
      K.route();
    });
  }

  async function associate(server) {
    let data;
    try { data = await formData(); } catch (e) { K.flash(e.message, true); return; }
    const free = data.floatingips.filter((f) => !f.port_id);
    const options = [
      ...free.map((f) => ({ value: f.id, label: f.floating_ip_address })),
      ...data.launch.external_networks.map((n) => ({ value: "new:" + n.id, label: `New address from ${n.name}` })),
    ];
    K.form(`Associate a floating IP with ${server.name}`, [
      { name: "fip", label: "Floating IP", required: true, options },
    ], async (v) => {
      const ports = (await K.os("GET", `${N}/ports?device_id=${encodeURIComponent(server.id)}`)).ports;
      if (!ports.length) throw new Error("The instance has no port yet.");
      if (v.fip.startsWith("new:")) {
        await K.os("POST", `${N}/floatingips`, { floatingip: { floating_network_id: v.fip.slice(4), port_id: ports[0].id } });
      } else {
        await K.os("PUT", `${N}/floatingips/${v.fip}`, { floatingip: { port_id: ports[0].id } });
      }
      K.flash("Floating IP associated");
      K.route();
    });
  }

  K.pages.instances = {
    async show(main, params) {
      const data = await K.load("pages/instances", params);
      if (!main.isConnected) return; // left meanwhile
      this.data = data;
      const listing = data.instances;
      const w = data.can_write;
      const cols = [...instanceCols];
      cols.push(["Actions", (s) => h("span", {},
        h("a", { href: `#/console?id=${s.id}&name=${encodeURIComponent(s.name)}` }, "Console"), " ",
        w && h("button", { type: "button", onclick: () => associate(s) }, "Associate floating IP"), " ",
        w && h("button.danger", { type: "button", onclick: () => {
          if (K.confirm(`Delete instance ${s.name}?`)) act(() => K.os("DELETE", `${C}/servers/${s.id}`), `Deleting ${s.name}`);
        } }, "Delete"))]);
      this.cols = cols;
      const [bar, pager] = toolbar("instances", params, listing,
        w ? [h("button.primary", { type: "button", onclick: () => launch() }, "Launch instance")] : []);
      this.tbody = table(cols, listing.items, (s) => ({ "data-id": s.id })).querySelector("tbody");
      main.replaceChildren(h("h2", {}, "Instances"), bar, this.tbody.parentNode, pager);
    },
    onEvent(type, data) {
      if (!this.tbody) return;
      if (type === "instance") {
        const old = this.tbody.querySelector(`tr[data-id="${CSS.escape(data.id)}"]`);
        const fresh = row(this.cols, data, (s) => ({ "data-id": s.id }));
        if (old) old.replaceWith(fresh);
        else if (!this.data.instances.q && this.data.instances.page === 1) this.tbody.prepend(fresh);
      } else if (type === "instance-deleted") {
        const old = this.tbody.querySelector(`tr[data-id="${CSS.escape(data.id)}"]`);
        if (old) old.remove();
      }
    },
    leave() { this.tbody = null; },
  };

  // -- Networks, routers, floating IPs, security groups, key pairs ---------------------
  const cidrCheck = (v) => (v && !/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(v) ? "A CIDR such as 10.0.0.0/24." : "");

  K.pages.networks = simple("networks", "networks", "Networks", [
    ["Name", (n) => n.name],
    ["Subnets", (n) => n.subnets.map((s) => s.cidr).join(", ")],
    ["Shared", (n) => (n.shared ? "yes" : "no")],
    ["External", (n) => (n.external ? "yes" : "no")],
    ["Status", (n) => K.badge(n.status)],
  ], () => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Create network", [
      { name: "name", label: "Name", required: true },
      { name: "cidr", label: "Subnet CIDR (optional)", check: cidrCheck },
    ], async (v) => {
      const net = (await K.os("POST", `${N}/networks`, { network: { name: v.name } })).network;
      if (v.cidr) {
        await K.os("POST", `${N}/subnets`, { subnet: { network_id: net.id, cidr: v.cidr, ip_version: v.cidr.includes(":") ? 6 : 4 } });
      }
      K.route();
    }) }, "Create network")],
    row: (n) => (n.external || n.project_id !== K.session.project.id ? "" : h("button.danger", { type: "button", onclick: () => {
      if (K.confirm(`Delete network ${n.name}?`)) act(() => K.os("DELETE", `${N}/networks/${n.id}`), "Network deleted");
    } }, "Delete")),
  }));

  K.pages.routers = {
    async show(main, params) {
      const data = await K.load("pages/routers", params);
      const listing = data.routers;
      const cols = [
        ["Name", (r) => r.name],
        ["Status", (r) => K.badge(r.status)],
        ["External gateway", (r) => (r.external_ips.join(", ") || "—")],
        ["HA", (r) => (r.ha ? "yes" : "no")],
      ];
      if (data.can_write) cols.push(["Actions", (r) => h("span", {},
        h("button", { type: "button", onclick: () => K.form(`Add interface to ${r.name}`, [
          { name: "subnet_id", label: "Subnet id", required: true },
        ], async (v) => { await K.os("PUT", `${N}/routers/${r.id}/add_router_interface`, { subnet_id: v.subnet_id }); K.route(); }) }, "Add interface"), " ",
        h("button.danger", { type: "button", onclick: () => {
          if (K.confirm(`Delete router ${r.name}?`)) act(() => K.os("DELETE", `${N}/routers/${r.id}`), "Router deleted");
        } }, "Delete"))]);
      const [bar, pager] = toolbar("routers", params, listing, data.can_write ? [h("button.primary", { type: "button", onclick: async () => {
        const ext = (await K.load("pages/floatingips")).external_networks;
        K.form("Create router", [
          { name: "name", label: "Name", required: true },
          { name: "gateway", label: "External network", options: ext.map((n) => ({ value: n.id, label: n.name })) },
        ], async (v) => {
          const router = { name: v.name };
          if (v.gateway) router.external_gateway_info = { network_id: v.gateway };
          await K.os("POST", `${N}/routers`, { router });
          K.route();
        });
      } }, "Create router")] : []);
      main.replaceChildren(h("h2", {}, "Routers"), bar, table(cols, listing.items), pager);
    },
  };

  K.pages.floatingips = simple("floatingips", "floatingips", "Floating IPs", [
    ["Address", (f) => f.floating_ip_address],
    ["Mapped to", (f) => f.fixed_ip_address || "—"],
    ["Status", (f) => K.badge(f.status)],
  ], (data) => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Allocate floating IP", [
      { name: "net", label: "External network", required: true,
        options: data.external_networks.map((n) => ({ value: n.id, label: n.name })) },
    ], async (v) => { await K.os("POST", `${N}/floatingips`, { floatingip: { floating_network_id: v.net } }); K.route(); }) }, "Allocate")],
    row: (f) => h("span", {},
      f.port_id && h("button", { type: "button", onclick: () => act(() => K.os("PUT", `${N}/floatingips/${f.id}`, { floatingip: { port_id: null } }), "Disassociated") }, "Disassociate"), " ",
      h("button.danger", { type: "button", onclick: () => {
        if (K.confirm(`Release ${f.floating_ip_address}?`)) act(() => K.os("DELETE", `${N}/floatingips/${f.id}`), "Released");
      } }, "Release")),
  }));

  const ipCheck = (v) => (v && !/^[0-9a-fA-F:.]+$/.test(v) ? "An IP address." : "");

  K.pages.ports = simple("ports", "ports", "Ports", [
    ["Name", (p) => p.name || p.id.slice(0, 8)],
    ["Network", (p) => p.network],
    ["Fixed IPs", (p) => p.fixed_ips.join(", ")],
    ["Attached to", (p) => (p.device_owner ? `${p.device_owner} ${p.device_id.slice(0, 8)}` : "—")],
    ["Status", (p) => K.badge(p.status)],
  ], (data) => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Create port", [
      { name: "name", label: "Name" },
      { name: "network", label: "Network", required: true,
        options: data.networks.map((n) => ({ value: n.id, label: n.name })) },
      { name: "ip", label: "Fixed IP (optional)", check: ipCheck },
    ], async (v) => {
      const port = { network_id: v.network };
      if (v.name) port.name = v.name;
      if (v.ip) port.fixed_ips = [{ ip_address: v.ip }];
      await K.os("POST", `${N}/ports`, { port });
      K.flash("Port created");
      K.route();
    }) }, "Create port")],
    // a port in use is its owner's to delete (an instance's, a router's)
    row: (p) => (p.device_owner ? "" : h("button.danger", { type: "button", onclick: () => {
      if (K.confirm(`Delete port ${p.name || p.id}?`)) act(() => K.os("DELETE", `${N}/ports/${p.id}`), "Port deleted");
    } }, "Delete")),
  }), ["ports"]);

  K.pages["security-groups"] = simple("security-groups", "security_groups", "Security Groups", [
    ["Name", (g) => g.name],
    ["Rules", (g) => h("ul", {}, g.rules.map((r) => h("li", {},
      `${r.direction} ${r.ethertype} ${r.protocol || "any"} ${r.port_range_min ? r.port_range_min + "-" + r.port_range_max : ""} ${r.remote_ip_prefix || (r.remote_group_id ? "group" : "")}`)))],
  ], () => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Create security group", [
      { name: "name", label: "Name", required: true },
    ], async (v) => { await K.os("POST", `${N}/security-groups`, { security_group: { name: v.name } }); K.route(); }) }, "Create group")],
    row: (g) => h("span", {},
      h("button", { type: "button", onclick: () => K.form(`Add rule to ${g.name}`, [
        { name: "protocol", label: "Protocol", options: ["tcp", "udp", "icmp"].map((p) => ({ value: p, label: p })) },
        { name: "port", label: "Port (tcp/udp)", check: (v) => (v && !(+v >= 1 && +v <= 65535) ? "1 to 65535." : "") },
        { name: "cidr", label: "Remote CIDR", value: "0.0.0.0/0", check: cidrCheck },
      ], async (v) => {
        const rule = { security_group_id: g.id, direction: "ingress", remote_ip_prefix: v.cidr || null };
        if (v.protocol) rule.protocol = v.protocol;
        if (v.port) { rule.port_range_min = +v.port; rule.port_range_max = +v.port; }
        await K.os("POST", `${N}/security-group-rules`, { security_group_rule: rule });
        K.route();
      }) }, "Add rule"), " ",
      g.name !== "default" && h("button.danger", { type: "button", onclick: () => {
        if (K.confirm(`Delete group ${g.name}?`)) act(() => K.os("DELETE", `${N}/security-groups/${g.id}`), "Group deleted");
      } }, "Delete")),
  }));

  K.pages.keypairs = simple("keypairs", "keypairs", "Key Pairs", [
    ["Name", (k) => k.name],
    ["Fingerprint", (k) => k.fingerprint],
    ["Type", (k) => k.type],
  ], () => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Import key pair", [
      { name: "name", label: "Name", required: true },
      { name: "public_key", label: "Public key", type: "textarea", required: true,
        check: (v) => (/^(ssh-|ecdsa-)/.test(v) ? "" : "An OpenSSH public key.") },
    ], async (v) => { await K.os("POST", `${C}/os-keypairs`, { keypair: { name: v.name, public_key: v.public_key } }); K.route(); }) }, "Import key pair")],
    row: (k) => h("button.danger", { type: "button", onclick: () => {
      if (K.confirm(`Delete key pair ${k.name}?`)) act(() => K.os("DELETE", `${C}/os-keypairs/${encodeURIComponent(k.name)}`), "Key pair deleted");
    } }, "Delete"),
  }));

  // -- Admin ---------------------------------------------------------------------------
  K.pages["admin/hypervisors"] = simple("admin/hypervisors", "hypervisors", "Hypervisors", [
    ["Host", (x) => x.name],
    ["State", (x) => K.badge(x.state)],
    ["Status", (x) => x.status],
    ["VCPUs used", (x) => `${x.vcpus_used} / ${x.vcpus}`],
    ["RAM used (MB)", (x) => `${x.memory_mb_used} / ${x.memory_mb}`],
    ["Instances", (x) => x.running_vms],
  ]);
  K.pages["admin/agents"] = simple("admin/agents", "agents", "Agents", [
    ["Host", (a) => a.host],
    ["Type", (a) => a.agent_type],
    ["Alive", (a) => K.badge(a.alive ? "up" : "down")],
    ["Last heartbeat", (a) => a.heartbeat_timestamp || ""],
  ]);
  K.pages["admin/projects"] = simple("admin/projects", "projects", "Projects", [
    ["Name", (p) => p.name],
    ["Id", (p) => p.id],
    ["Enabled", (p) => (p.enabled ? "yes" : "no")],
    ["Description", (p) => p.description],
  ]);
})();
