// Pages of the block storage, image and orchestration services: volumes,
// images (uploaded from the browser straight to the Image API), stacks.
"use strict";
(function () {
  const { h } = K;
  const { simple, act, table } = K.ui;
  const C = "/compute/v2.1";
  const V = "/volume/v3";
  const G = "/image/v2";
  const O = () => `/orchestration/v1/${K.session.project.id}`;

  // -- Volumes -------------------------------------------------------------------------
  function attach(vol, data) {
    K.form(`Attach ${vol.name || vol.id} to an instance`, [
      { name: "server", label: "Instance", required: true,
        options: data.instances.map((s) => ({ value: s.id, label: s.name || s.id })) },
    ], async (v) => {
      await K.os("POST", `${C}/servers/${v.server}/os-volume_attachments`, { volumeAttachment: { volumeId: vol.id } });
      K.flash("Attaching");
      K.route();
    });
  }

  const whole = (min) => (v) => (/^[1-9][0-9]*$/.test(v) && +v >= min ? "" : `A whole number of GiB, ${min} or more.`);

  function extend(vol) {
    K.form(`Extend ${vol.name || vol.id}`, [
      { name: "size", label: `New size (GiB, more than ${vol.size})`, type: "number", required: true,
        value: String(vol.size + 1), check: whole(vol.size + 1) },
    ], async (v) => {
      await K.os("POST", `${V}/volumes/${vol.id}/action`, { "os-extend": { new_size: +v.size } }, { "OpenStack-API-Version": "volume 3.42" });
      K.flash(`Extending ${vol.name || vol.id}`);
      K.route();
    });
  }

  function snapshot(vol) {
    K.form(`Snapshot ${vol.name || vol.id}`, [
      { name: "name", label: "Snapshot name", required: true, check: (v) => (v.length > 255 ? "At most 255 characters." : "") },
    ], async (v) => {
      // an attached volume is snapshotted as it is (force), as the CLI's --force does
      await K.os("POST", `${V}/snapshots`, { snapshot: { volume_id: vol.id, name: v.name, force: vol.attachments.length > 0 } });
      K.flash(`Snapshotting ${vol.name || vol.id}`);
      K.route();
    });
  }

  const volumeCols = [
    ["Name", (v) => v.name || v.id.slice(0, 8)],
    ["Size (GiB)", (v) => v.size],
    ["Status", (v) => K.badge(v.status)],
    ["Attached to", (v) => v.attachments.map((a) => `${a.server_name}${a.device ? " on " + a.device : ""}`).join(", ") || "—"],
    ["Bootable", (v) => (v.bootable ? "yes" : "no")],
  ];

  function volumeActions(v, data) {
    const settled = v.status === "available" || v.status === "in-use";
    return h("span", {},
      data.can_attach && v.status === "available" && data.instances.length > 0 &&
        h("button", { type: "button", onclick: () => attach(v, data) }, "Attach"), " ",
      data.can_attach && v.attachments.map((a) => h("button", { type: "button", onclick: () => {
        if (K.confirm(`Detach ${v.name || v.id} from ${a.server_name}?`)) {
          act(() => K.os("DELETE", `${C}/servers/${a.server_id}/os-volume_attachments/${v.id}`), "Detaching");
        }
      } }, "Detach")), " ",
      data.can_extend && settled && h("button", { type: "button", onclick: () => extend(v) }, "Extend"), " ",
      data.can_snapshot && settled && h("button", { type: "button", onclick: () => snapshot(v) }, "Snapshot"), " ",
      data.can_write && v.attachments.length === 0 && h("button.danger", { type: "button", onclick: () => {
        if (K.confirm(`Delete volume ${v.name || v.id}?`)) act(() => K.os("DELETE", `${V}/volumes/${v.id}`), "Deleting volume");
      } }, "Delete"));
  }

  const snapshotCols = [
    ["Name", (x) => x.name || x.id.slice(0, 8)],
    ["Volume", (x) => x.volume_name],
    ["Size (GiB)", (x) => x.size],
    ["Status", (x) => K.badge(x.status)],
  ];

  // Volumes and their snapshots; every action is the APIs' own request,
  // with the user's token (buttons only where the user's roles allow).
  K.pages.volumes = K.live({
    async show(main, params) {
      const data = await K.load("pages/volumes", params);
      if (!main.isConnected) return; // left meanwhile
      const listing = data.volumes;
      const acts = data.can_write || data.can_attach || data.can_extend || data.can_snapshot;
      const cols = acts ? [...volumeCols, ["Actions", (v) => volumeActions(v, data)]] : volumeCols;
      const top = data.can_write ? [h("button.primary", { type: "button", onclick: () => K.form("Create volume", [
        { name: "name", label: "Name", required: true, check: (v) => (v.length > 255 ? "At most 255 characters." : "") },
        { name: "size", label: "Size (GiB)", type: "number", required: true, value: "1", check: whole(1) },
      ], async (v) => {
        await K.os("POST", `${V}/volumes`, { volume: { name: v.name, size: +v.size } });
        K.flash(`Creating volume ${v.name}`);
        K.route();
      }) }, "Create volume")] : [];
      const [bar, pager] = K.ui.toolbar("volumes", params, listing, top);
      const scols = data.can_snapshot ? [...snapshotCols, ["Actions", (x) => h("button.danger", { type: "button", onclick: () => {
        if (K.confirm(`Delete snapshot ${x.name || x.id}?`)) act(() => K.os("DELETE", `${V}/snapshots/${x.id}`), "Deleting snapshot");
      } }, "Delete")]] : snapshotCols;
      main.replaceChildren(h("h2", {}, "Volumes"), bar, table(cols, listing.items, (v) => ({ "data-volume": v.name })), pager,
        h("h3", {}, "Volume snapshots"),
        data.snapshots.length ? table(scols, data.snapshots, (x) => ({ "data-snapshot": x.name })) : h("p", {}, "No snapshots."));
    },
  }, ["volumes"]);

  // -- Images --------------------------------------------------------------------------
  // The file goes from the browser to the Image API's upload in one streamed
  // request (the page holds no copy of it); progress is shown as it goes.
  function put(path, file, progress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open("PUT", "/dashboard/api/os" + path);
      x.setRequestHeader("Content-Type", "application/octet-stream");
      x.setRequestHeader("X-CSRF-Token", K.session.csrf);
      x.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded, e.total); };
      x.onload = () => {
        if (x.status < 300) return resolve();
        let body = null;
        try { body = JSON.parse(x.responseText); } catch (e) { body = x.responseText; }
        reject(new Error(K.message(body, x.status)));
      };
      x.onerror = () => reject(new Error("The upload failed (connection lost)."));
      x.send(file);
    });
  }

  const FORMATS = ["qcow2", "raw", "iso", "vmdk", "vdi", "vhd", "vhdx", "ami", "ari", "aki"];

  function upload() {
    K.form("Upload image", [
      { name: "name", label: "Name", required: true },
      { name: "disk_format", label: "Disk format", required: true,
        options: FORMATS.map((f, i) => ({ value: f, label: f, selected: i === 0 })) },
      { name: "file", label: "File", type: "file", required: true },
    ], async (v, dlg) => {
      const image = await K.os("POST", `${G}/images`, {
        name: v.name, disk_format: v.disk_format, container_format: "bare", visibility: "private",
      });
      const bar = h("progress", { max: 100, value: 0, "aria-label": "Upload progress" });
      dlg.querySelector("form").append(bar);
      try {
        await put(`${G}/images/${image.id}/file`, v.file, (done, all) => { bar.value = Math.round((100 * done) / all); });
      } catch (e) {
        // no half-made image left behind
        try { await K.os("DELETE", `${G}/images/${image.id}`); } catch (e2) { /* reported below */ }
        bar.remove();
        throw e;
      }
      K.flash(`Image ${v.name} uploaded`);
      K.route();
    });
  }

  const size = (n) => (n === null || n === undefined ? "—" : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} B`);

  K.pages.images = simple("images", "images", "Images", [
    ["Name", (i) => i.name || i.id.slice(0, 8)],
    ["Status", (i) => K.badge(i.status)],
    ["Size", (i) => size(i.size)],
    ["Visibility", (i) => i.visibility],
    ["Format", (i) => i.disk_format || "—"],
  ], () => ({
    top: [h("button.primary", { type: "button", onclick: upload }, "Upload image")],
    row: (i) => (i.mine && !i.protected ? h("button.danger", { type: "button", onclick: () => {
      if (K.confirm(`Delete image ${i.name || i.id}?`)) act(() => K.os("DELETE", `${G}/images/${i.id}`), "Image deleted");
    } }, "Delete") : ""),
  }), ["images"]);

  // -- Stacks --------------------------------------------------------------------------
  const STACK_NAME = /^[a-zA-Z][a-zA-Z0-9_.-]*$/;
  const EXAMPLE = "heat_template_version: 2018-08-31\nresources:\n  net:\n    type: OS::Neutron::Net\n";

  // "key=value" per line -> {key: value}
  function parameters(text) {
    const out = {};
    for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const i = line.indexOf("=");
      if (i < 1) throw new Error(`A parameter is key=value: ${line}`);
      out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return out;
  }

  function deleteStack(s, after) {
    if (K.confirm(`Delete stack ${s.name}?`)) {
      act(async () => {
        await K.os("DELETE", `${O()}/stacks/${encodeURIComponent(s.name)}/${s.id}`);
        if (after) location.hash = after;
      }, `Deleting stack ${s.name}`);
    }
  }

  K.pages.stacks = simple("stacks", "stacks", "Stacks", [
    ["Name", (s) => h("a", { href: `#/stack?id=${encodeURIComponent(s.id)}` }, s.name)],
    ["Status", (s) => K.badge(s.status)],
    ["Reason", (s) => s.reason],
    ["Created", (s) => s.created || ""],
  ], () => ({
    top: [h("button.primary", { type: "button", onclick: () => K.form("Launch stack", [
      { name: "stack_name", label: "Stack name", required: true,
        check: (v) => (STACK_NAME.test(v) ? "" : "Starts with a letter; letters, digits, _ - . only.") },
      { name: "template", label: "Template (YAML)", type: "textarea", rows: 10, required: true, value: EXAMPLE },
      { name: "parameters", label: "Parameters (key=value, one a line)", type: "textarea",
        check: (v) => { try { parameters(v); return ""; } catch (e) { return e.message; } } },
    ], async (v) => {
      await K.os("POST", `${O()}/stacks`, { stack_name: v.stack_name, template: v.template, parameters: parameters(v.parameters) });
      K.flash(`Launching stack ${v.stack_name}`);
      K.route();
    }) }, "Launch stack")],
    row: (s) => h("button.danger", { type: "button", onclick: () => deleteStack(s) }, "Delete"),
  }), ["stacks"]);

  K.pages.stack = K.live({
    async show(main, params) {
      const data = await K.load("pages/stack", params);
      const s = data.stack;
      const kv = (rows) => table([["Name", (r) => r[0]], ["Value", (r) => (typeof r[1] === "string" ? r[1] : JSON.stringify(r[1]))]], rows);
      main.replaceChildren(
        h("p", {}, h("a", { href: "#/stacks" }, "Stacks")),
        h("h2", {}, `Stack ${s.name}`),
        h("p", {}, K.badge(s.status), " ", s.reason),
        s.description && h("p", {}, s.description),
        data.can_write && h("div.row", {}, h("button.danger", { type: "button", onclick: () => deleteStack(s, "#/stacks") }, "Delete stack")),
        h("h3", {}, "Resources"),
        table([
          ["Name", (r) => r.name], ["Type", (r) => r.type], ["Status", (r) => K.badge(r.status)],
          ["Physical id", (r) => r.physical_id], ["Reason", (r) => r.reason],
        ], s.resources),
        h("h3", {}, "Outputs"),
        table([["Key", (o) => o.key], ["Value", (o) => (o.error ? `error: ${o.error}` : JSON.stringify(o.value))], ["Description", (o) => o.description]], s.outputs),
        h("h3", {}, "Parameters"),
        kv(Object.entries(s.parameters)));
    },
  }, ["stacks"]);
})();
