// kumo dashboard: session, navigation, the event stream and small DOM helpers.
// Every page fetches its data in one request to /dashboard/api/pages/<page>;
// actions are the APIs' own requests under /dashboard/api/os/.
"use strict";

const K = (window.K = {
  session: null,
  page: null, // the page object shown: {name, render(data), onEvent(type, data)}
  pages: {},
  events: null,
  // the static files' version, as the page's own script URLs carry it
  version: (document.currentScript && new URL(document.currentScript.src).search) || "",
});

// h("tag.class", {attr: value, onclick: fn}, child, ...): text is always text.
K.h = function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
};

// The message of an API fault body, whatever API answered.
K.message = function (body, status) {
  if (body && typeof body === "object") {
    if (body.NeutronError) return body.NeutronError.message;
    if (body.error && body.error.message) return body.error.message;
    if (body.detail && typeof body.detail === "string") return body.detail;
    for (const v of Object.values(body)) {
      if (v && typeof v === "object" && typeof v.message === "string") return v.message;
    }
  }
  return `Request failed (${status})`;
};

K.api = async function (method, path, body, headers) {
  const opts = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
  if (method !== "GET" && K.session) opts.headers["X-CSRF-Token"] = K.session.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  return K.answer(path, await fetch(path, opts));
};

// A response's JSON, or its API's message thrown.
K.answer = async function (path, r) {
  let data = null;
  const text = await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  if (r.status === 401 && !path.endsWith("/login")) {
    K.showLogin("Your session has ended; log in again.");
    throw new Error("Session ended");
  }
  if (!r.ok) throw new Error(K.message(data, r.status));
  return data;
};

// An API request of the user's (path under the API root, e.g. "/networking/v2.0/ports").
K.os = (method, path, body, headers) => K.api(method, "/dashboard/api/os" + path, body, headers);

K.flash = function (text, bad) {
  const el = document.getElementById("flash");
  el.textContent = text;
  el.className = "flash" + (bad ? " bad" : "");
  el.hidden = false;
  clearTimeout(K._flashTimer);
  K._flashTimer = setTimeout(() => (el.hidden = true), bad ? 8000 : 3000);
};

K.badge = (s) => K.h("span.badge." + String(s).replace(/[^A-Za-z0-9_-]/g, ""), { text: s });

K.showLogin = function (why) {
  K.session = null;
  if (K.events) { K.events.close(); K.events = null; }
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = why || "";
  const u = document.querySelector("#login-form [name=username]");
  if (u) u.focus();
};

K.start = function (session) {
  K.session = session;
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("whoami").textContent = session.user.name;
  document.getElementById("admin-nav").hidden = !session.admin;
  const sel = document.getElementById("project-switch");
  sel.replaceChildren(...session.projects.map((p) =>
    K.h("option", { value: p.id, selected: p.id === session.project.id }, p.name)));
  clearTimeout(K._expiry);
  const left = session.expires_at * 1000 - Date.now();
  K._expiry = setTimeout(() => K.showLogin("Your session has expired."), Math.max(0, left));
  K.listen();
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/instances";
  else K.route();
};

// One event stream per session; pages receive its events.
K.listen = function (after) {
  if (K.events) K.events.close();
  const es = new EventSource("/dashboard/api/events" + (after === null || after === undefined ? "" : "?after=" + after));
  K.events = es;
  for (const type of ["instance", "instance-deleted", "topology", "resync", "changed"]) {
    es.addEventListener(type, (e) => {
      const data = JSON.parse(e.data);
      if (K.page && K.page.onEvent) K.page.onEvent(type, data);
    });
  }
  es.addEventListener("hello", () => document.body.setAttribute("data-live", "1"));
  es.addEventListener("expired", () => { es.close(); K.showLogin("Your session has expired."); });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED && K.session) setTimeout(() => K.listen(), 2000);
  };
};

K.route = async function () {
  if (!K.session) return;
  const hash = location.hash.replace(/^#\/?/, "") || "instances";
  const [name, query] = hash.split("?");
  const page = K.pages[name] || K.pages.instances;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + name);
    if (a.classList.contains("active")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.getElementById("nav").classList.remove("open");
  if (K.page && K.page.leave) K.page.leave();
  K.page = page;
  // Each visit draws into its own view: a slower earlier visit still
  // loading draws into a view no longer on the page.
  const main = document.getElementById("main");
  const view = K.h("div.view");
  main.replaceChildren(view);
  main.setAttribute("aria-busy", "true");
  try {
    await page.show(view, new URLSearchParams(query || ""));
  } catch (e) {
    if (K.session) view.replaceChildren(K.h("p.error", { role: "alert" }, e.message));
  }
  if (view.isConnected) main.removeAttribute("aria-busy");
};

// A list page that reads its data again when the event stream says it
// changed (``changed`` names the pages; a resync may have missed one): at
// most one request in flight, and one more if changes came meanwhile.
// The page is drawn again in its own view, unless it was left meanwhile.
K.live = function (page, names) {
  let busy = false, again = false;
  const refresh = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const view = page.view;
      if (view && view.isConnected) {
        await page.show(view, page.params);
        view.setAttribute("data-refreshed", String(Date.now()));
      }
    } catch (e) { /* the next change or visit tries again */ }
    busy = false;
    if (again) { again = false; refresh(); }
  };
  page.onEvent = (type, data) => {
    if (type === "resync" || (type === "changed" && data.pages.some((n) => names.includes(n)))) refresh();
  };
  const show = page.show;
  page.show = function (view, params) {
    page.view = view;
    page.params = params;
    return show.call(page, view, params);
  };
  return page;
};

// A page's data in one round trip (the one early.js started, if it is this one).
K.load = async (name, params) => {
  const q = params && params.toString() ? "?" + params.toString() : "";
  const path = "/dashboard/api/" + name + q;
  const early = window.__early;
  window.__early = null;
  let r = null;
  if (early && early.url === path) {
    try { r = await early.response; } catch (e) { r = null; } // could not connect: ask again
  }
  const data = r ? await K.answer(path, r) : await K.api("GET", path);
  return data;
};

// A modal form: fields [{name, label, type, options, required, multiple, check}], onsubmit(values).
K.form = function (title, fields, onsubmit) {
  const dlg = K.h("dialog", { "aria-label": title });
  const errors = {};
  const inputs = {};
  const rows = fields.map((f) => {
    let input;
    if (f.options) {
      input = K.h("select", { name: f.name, multiple: f.multiple, required: f.required },
        f.multiple || f.required ? [] : [K.h("option", { value: "" }, "—")],
        f.options.map((o) => K.h("option", { value: o.value, selected: o.selected }, o.label)));
    } else if (f.type === "textarea") {
      input = K.h("textarea", { name: f.name, rows: f.rows || 4, placeholder: f.placeholder });
      if (f.value) input.value = f.value;
    } else {
      input = K.h("input", { name: f.name, type: f.type || "text", required: f.required, value: f.value });
    }
    inputs[f.name] = input;
    errors[f.name] = K.h("span.field-error", { "aria-live": "polite" });
    return K.h("label", {}, f.label, input, errors[f.name]);
  });
  const err = K.h("p.error", { role: "alert" });
  const values = () => {
    const out = {};
    for (const f of fields) {
      const el = inputs[f.name];
      out[f.name] = f.multiple ? [...el.selectedOptions].map((o) => o.value)
        : f.type === "file" ? el.files[0] || "" : el.value.trim();
    }
    return out;
  };
  const form = K.h("form.form", { novalidate: true },
    K.h("h2", {}, title), rows, err,
    K.h("div.row", {},
      K.h("button", { type: "button", onclick: () => { dlg.close(); dlg.remove(); } }, "Cancel"),
      K.h("button.primary", { type: "submit" }, "Submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values();
    let ok = true;
    for (const f of fields) {
      let problem = "";
      const val = v[f.name];
      if (f.required && (!val || (Array.isArray(val) && !val.length))) problem = "Required.";
      else if (f.check) problem = f.check(val, v) || "";
      errors[f.name].textContent = problem;
      if (problem) ok = false;
    }
    if (!ok) return;
    err.textContent = "";
    try {
      await onsubmit(v, dlg);
      dlg.close();
      dlg.remove();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  dlg.append(form);
  document.body.append(dlg);
  dlg.showModal();
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
  return dlg;
};

K.confirm = (text) => window.confirm(text);

// Deferred scripts all run before DOMContentLoaded: the pages are defined by then.
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = {};
    for (const k of ["username", "password", "project"]) body[k] = f.elements[k].value.trim();
    const missing = Object.keys(body).filter((k) => !body[k]);
    const err = document.getElementById("login-error");
    if (missing.length) { err.textContent = "Give " + missing.join(", ") + "."; return; }
    try {
      const s = await K.api("POST", "/dashboard/api/login", body);
      f.elements.password.value = "";
      K.start(s);
    } catch (e) {
      err.textContent = e.message;
    }
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try { await K.api("POST", "/dashboard/api/logout"); } catch (e) { /* ended anyway */ }
    K.showLogin("");
  });
  document.getElementById("project-switch").addEventListener("change", async (ev) => {
    try {
      K.start(await K.api("POST", "/dashboard/api/switch-project", { project: ev.target.value }));
      K.route();
    } catch (e) { K.flash(e.message, true); }
  });
  document.getElementById("menu").addEventListener("click", () =>
    document.getElementById("nav").classList.toggle("open"));
  window.addEventListener("hashchange", K.route);
  // The server puts the session in the page when the cookie holds a valid one.
  const boot = JSON.parse(document.getElementById("boot").textContent || "null");
  if (boot) K.start(boot);
  else K.showLogin("");
});
