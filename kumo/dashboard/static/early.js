// Inlined in the page's head by the server (its CSP allows it by its hash):
// with a session in the page, ask for the shown page's data at once, as the
// head is parsed, while the other scripts load (K.load takes this answer when
// it asks for the same URL).
"use strict";
(function () {
  const boot = document.getElementById("boot");
  if (!boot || boot.textContent.trim() === "null") return;
  const PAGES = ["overview", "instances", "topology", "networks", "routers", "ports", "floatingips",
    "security-groups", "keypairs", "volumes", "images", "stacks", "stack"];
  const [name, query] = (location.hash.replace(/^#\/?/, "") || "instances").split("?");
  if (!PAGES.includes(name)) return;
  const q = new URLSearchParams(query || "").toString();
  const url = "/dashboard/api/pages/" + name + (q ? "?" + q : "");
  window.__early = { url, response: fetch(url, { credentials: "same-origin" }) };
})();
