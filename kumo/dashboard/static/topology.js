// Network Topology: networks as bands, routers above them, instances grouped
// under their first network, floating IPs on their instances, external
// networks on top. The graph comes with each network's count of instances
// and only the newest GROUP of each; the rest are behind "+N more", fetched
// (MORE at a time) when opened, and a search asks the server for its matches
// and draws them in their groups. Drawn as SVG; wheel or buttons zoom,
// dragging pans. Changes come from the event stream as patches of the drawn
// data (the graph is fetched once per visit) and are drawn on the next frame.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const GROUP = 40, MORE = 200;
  const groupOf = (i) => (i.network_id !== undefined ? i.network_id : i.ports.length ? i.ports[0].network_id : "");
  const BOX_W = 120, BOX_H = 38, GAP = 10, ROUTER_W = 110;

  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
    for (const c of kids) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  const clip = (t, n) => (t.length > n ? t.slice(0, n - 1) + "…" : t);

  function layout(data, width) {
    const byNet = {};
    const fipOf = {};
    for (const f of data.floatingips) if (f.port_id) fipOf[f.port_id] = f.floating_ip_address;
    for (const i of data.instances) (byNet[groupOf(i)] = byNet[groupOf(i)] || []).push(i);
    const counts = data.groups || {};
    const external = data.networks.filter((n) => n.external);
    const internal = data.networks.filter((n) => !n.external);
    const cols = Math.max(1, Math.floor((width - 40) / (BOX_W + GAP)));
    const nets = {};
    let y = 20;
    for (const n of external) { nets[n.id] = { net: n, y, x: 20, w: width - 40 }; y += 40; }
    const routerY = y + 20;
    y = routerY + 80;
    const rows = [];
    for (const n of internal) {
      const shown = byNet[n.id] || [];
      const total = Math.max(shown.length, counts[n.id] || 0);
      const lines = Math.ceil(shown.length / cols);
      nets[n.id] = { net: n, y, x: 20, w: width - 40, total, shown };
      rows.push(nets[n.id]);
      y += 30 + lines * (BOX_H + GAP) + (total > shown.length ? 24 : 0) + 24;
    }
    const orphans = byNet[""] || [];
    return { nets, rows, external, routerY, cols, height: y + 40 + Math.ceil(orphans.length / cols) * (BOX_H + GAP), fipOf, orphans };
  }

  function draw(svg, data, state) {
    const width = Math.max(900, svg.clientWidth || 900);
    const L = layout(data, width);
    const q = state.search.toLowerCase();
    const g = s("g", { class: "topo" });
    const links = s("g");
    g.append(links);
    const netBand = (info) => {
      const n = info.net;
      const sub = n.subnets.map((x) => x.cidr).join(", ");
      return s("g", { class: "topo-net" + (n.external ? " external" : ""), "data-network-id": n.id, "data-network-name": n.name },
        s("rect", { class: "bar", x: info.x, y: info.y, width: info.w, height: 20, rx: 4 }),
        s("text", { x: info.x + 6, y: info.y + 14 }, `${n.name || n.id.slice(0, 8)} ${sub ? "(" + sub + ")" : ""}`));
    };
    for (const n of L.external) g.append(netBand(L.nets[n.id]));
    data.routers.forEach((r, idx) => {
      const x = 20 + idx * (ROUTER_W + 30);
      const y = L.routerY;
      const cx = x + ROUTER_W / 2;
      for (const leg of r.interfaces) {
        const info = L.nets[leg.network_id];
        if (!info) continue;
        links.append(s("line", { class: "topo-link", x1: cx, y1: leg.gateway ? y : y + 40, x2: cx, y2: leg.gateway ? info.y + 20 : info.y }));
      }
      if (r.external_network_id && L.nets[r.external_network_id] && !r.interfaces.some((l) => l.gateway)) {
        links.append(s("line", { class: "topo-link", x1: cx, y1: y, x2: cx, y2: L.nets[r.external_network_id].y + 20 }));
      }
      const gws = r.gateways.map((g) => g.host + (g.ha_state ? ` (${g.ha_state})` : ""));
      const hosts = gws.length ? "gw " + gws.join(", ") : "";
      g.append(s("g", { class: "topo-router", "data-router-id": r.id, "data-router-name": r.name },
        s("title", {}, `router ${r.name}${hosts ? "\n" + hosts : ""}\n${r.interfaces.map((l) => l.ips.join(",") + (l.host ? " @" + l.host : "")).join("\n")}`),
        s("rect", { x, y, width: ROUTER_W, height: 40, rx: 6 }),
        s("text", { x: x + 6, y: y + 16 }, "⇄ " + clip(r.name || r.id.slice(0, 8), 14)),
        s("text", { x: x + 6, y: y + 32 }, clip(hosts || r.external_ips.join(","), 18))));
    });
    const drawInst = (i, x, y) => {
      const ips = i.ports.flatMap((p) => p.ips);
      const fip = i.ports.map((p) => L.fipOf[p.port_id]).find(Boolean);
      const hit = q && (i.name.toLowerCase().includes(q) || i.id.includes(q) || ips.some((a) => a.includes(q)) || (fip && fip.includes(q)));
      const el = s("g", { class: `topo-inst ${i.status}${hit ? " hit" : ""}`, "data-instance-id": i.id, "data-instance-name": i.name },
        s("title", {}, `${i.name} ${i.status}\n${ips.join(", ")}${fip ? "\nfloating " + fip : ""}${i.host ? "\nhost " + i.host : ""}`),
        s("rect", { x, y, width: BOX_W, height: BOX_H, rx: 4 }),
        s("text", { x: x + 5, y: y + 14 }, clip(i.name || i.id.slice(0, 8), 18)),
        s("text", { x: x + 5, y: y + 30 }, clip((fip ? fip + " " : "") + (ips[0] || "") + (data.show_hosts && i.host ? " @" + i.host : ""), 22)));
      if (fip) el.append(s("circle", { class: "topo-fip", cx: x + BOX_W - 6, cy: y + 6, r: 4 }));
      return el;
    };
    for (const info of L.rows) {
      g.append(netBand(info));
      info.shown.forEach((i, k) => {
        const x = info.x + (k % L.cols) * (BOX_W + GAP);
        const y = info.y + 30 + Math.floor(k / L.cols) * (BOX_H + GAP);
        links.append(s("line", { class: "topo-link", x1: x + BOX_W / 2, y1: info.y + 20, x2: x + BOX_W / 2, y2: y }));
        g.append(drawInst(i, x, y));
      });
      const more = info.total - info.shown.length;
      if (more > 0) {
        const y = info.y + 30 + Math.ceil(info.shown.length / L.cols) * (BOX_H + GAP) + 14;
        const label = `+${more} more instances on ${info.net.name || info.net.id.slice(0, 8)} (show ${Math.min(more, MORE)} more)`;
        const t = s("text", { x: info.x, y, tabindex: 0, role: "button" }, label);
        const open = () => state.more(info.net.id);
        t.addEventListener("click", open);
        t.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
        g.append(s("g", { class: "topo-more" }, t));
      }
    }
    L.orphans.forEach((i, k) => g.append(drawInst(i, 20 + (k % L.cols) * (BOX_W + GAP), L.height - 40 - BOX_H + Math.floor(k / L.cols) * (BOX_H + GAP))));
    svg.replaceChildren(g);
    if (!state.view) state.view = { x: 0, y: 0, w: width, h: Math.max(L.height, 400) };
    setView(svg, state.view);
    return L;
  }

  // Apply a patch from the event stream: {networks, routers, instances,
  // floatingips: [entry], removed: {kind: [id]}}. Another project's network
  // is drawn only while something of the project uses it.
  function applyPatch(data, patch) {
    const upsert = (list, entry) => {
      const i = list.findIndex((x) => x.id === entry.id);
      if (i >= 0) list[i] = entry; else list.push(entry);
    };
    for (const kind of ["networks", "routers", "instances", "floatingips"]) {
      const gone = new Set((patch.removed || {})[kind] || []);
      if (gone.size) data[kind] = data[kind].filter((x) => !gone.has(x.id));
    }
    for (const kind of ["routers", "floatingips"]) for (const e of patch[kind] || []) upsert(data[kind], e);
    // An instance not drawn yet is drawn if its group shows all its
    // instances, or fewer than GROUP: else it only adds to the count.
    for (const e of patch.instances || []) {
      const at = data.instances.findIndex((x) => x.id === e.id);
      if (at >= 0) { data.instances[at] = e; continue; }
      const net = groupOf(e);
      const loaded = data.instances.filter((x) => groupOf(x) === net).length;
      if (loaded < GROUP || loaded >= ((data.groups || {})[net] || 0)) data.instances.unshift(e);
    }
    if (patch.groups) data.groups = patch.groups;
    const mine = K.session && K.session.project.id;
    if (patch.hint) { // new networks from the events alone: drawn until the patch
      for (const n of patch.networks) if (!data.networks.some((x) => x.id === n.id)) data.networks.push(n);
      return;
    }
    for (const n of patch.networks || []) {
      const entry = Object.assign({}, n);
      delete entry.referenced;
      if (n.project_id === mine || n.referenced || data.networks.some((x) => x.id === n.id)) upsert(data.networks, entry);
    }
  }

  function setView(svg, v) { svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`); }

  K.pages.topology = {
    async show(main) {
      const state = (this.state = { search: "", view: null, data: null });
      const svg = s("svg", { role: "img", "aria-label": "Network topology" });
      const wrap = K.h("div.topo-wrap", {}, svg);
      const zoom = (f) => {
        const v = state.view;
        const cx = v.x + v.w / 2, cy = v.y + v.h / 2;
        v.w *= f; v.h *= f; v.x = cx - v.w / 2; v.y = cy - v.h / 2;
        setView(svg, v);
      };
      const search = K.h("input", { type: "search", placeholder: "Find instance, address", "aria-label": "Search the topology" });
      const focusHit = () => {
        const hit = svg.querySelector(".topo-inst.hit rect");
        if (hit) {
          const v = state.view;
          v.x = +hit.getAttribute("x") - v.w / 2; v.y = +hit.getAttribute("y") - v.h / 3;
          setView(svg, v);
        }
      };
      // Draw fetched instances (and the floating IPs on them) in their groups.
      const merge = (got) => {
        if (!state.data || !svg.isConnected) return 0;
        const have = new Set(state.data.instances.map((i) => i.id));
        const add = got.instances.filter((i) => !have.has(i.id));
        state.data.instances.push(...add);
        const fips = new Set(state.data.floatingips.map((f) => f.id));
        for (const f of got.floatingips) if (!fips.has(f.id)) state.data.floatingips.push(f);
        return add.length;
      };
      // The next window of a group (newest first). Instances made or deleted
      // meanwhile shift the windows: one that adds nothing starts over.
      state.next = {};
      state.more = async (network) => {
        const start = state.next[network] === undefined ? GROUP : state.next[network];
        const got = await K.load("pages/network-members", new URLSearchParams({ network, start, per: MORE }));
        state.next[network] = merge(got) ? start + MORE : 0;
        state.redraw();
      };
      // Matches among the drawn instances are marked at once; the server's
      // (any of the project's) are fetched, drawn in their groups and marked.
      let searching = 0;
      search.addEventListener("input", () => {
        state.search = search.value.trim();
        state.redraw();
        focusHit();
        const q = state.search, ticket = ++searching;
        if (!q) return;
        setTimeout(async () => {
          if (ticket !== searching) return; // typed on meanwhile
          const got = await K.load("pages/network-members", new URLSearchParams({ q, per: MORE }));
          if (ticket !== searching) return;
          merge(got);
          state.redraw();
          focusHit();
        }, 150);
      });
      const tools = K.h("div.toolbar", {}, search,
        K.h("button", { type: "button", onclick: () => zoom(0.8), "aria-label": "Zoom in" }, "+"),
        K.h("button", { type: "button", onclick: () => zoom(1.25), "aria-label": "Zoom out" }, "−"),
        K.h("button", { type: "button", onclick: () => { state.view = null; state.redraw(); } }, "Fit"));
      main.replaceChildren(K.h("h2", {}, "Network Topology"), tools, wrap);
      svg.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 0.9 : 1.1); }, { passive: false });
      let drag = null;
      svg.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, v: { ...state.view } }; });
      svg.addEventListener("pointermove", (e) => {
        if (!drag) return;
        const scale = state.view.w / (svg.clientWidth || 1);
        state.view.x = drag.v.x - (e.clientX - drag.x) * scale;
        state.view.y = drag.v.y - (e.clientY - drag.y) * scale;
        setView(svg, state.view);
      });
      for (const ev of ["pointerup", "pointerleave"]) svg.addEventListener(ev, () => (drag = null));
      state.redraw = () => { if (state.data) draw(svg, state.data, state); };
      state.queue = [];
      state.reload = async () => {
        state.fetching = true;
        let data;
        try { data = await K.load("pages/topology"); } finally { state.fetching = false; }
        if (!svg.isConnected) return; // left meanwhile
        for (const p of state.queue.splice(0)) applyPatch(data, p);
        state.data = data;
        state.redraw();
        svg.setAttribute("data-loaded", String(Date.now()));
      };
      state.reloadSoon = () => {
        if (state.loading) { state.dirty = true; return; }
        state.loading = true;
        state.reload().catch(() => {}).finally(() => {
          state.loading = false;
          if (state.dirty) { state.dirty = false; state.reloadSoon(); }
        });
      };
      await state.reload();
    },
    onEvent(type, data) {
      // A topology event carries the changed entries and the ids gone: they
      // are applied to the drawn data and drawn on the next frame, without
      // fetching the graph again. A resync (the stream missed changes)
      // fetches it again.
      const st = this.state;
      if (!st) return;
      if (type === "resync") { st.reloadSoon(); return; }
      if (type !== "topology") return;
      // changes while the graph is being fetched are applied to it too
      if (st.fetching) st.queue.push(data);
      if (!st.data) return;
      applyPatch(st.data, data);
      if (!st.frame) {
        st.frame = requestAnimationFrame(() => {
          st.frame = null;
          st.redraw();
          document.querySelector("svg[data-loaded]")?.setAttribute("data-patched", String(Date.now()));
        });
      }
    },
    leave() { if (this.state && this.state.frame) cancelAnimationFrame(this.state.frame); this.state = null; },
  };
})();
