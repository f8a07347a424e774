// The serial console of an instance in xterm.js, on the one-time console
// websocket the compute API hands out (os-getSerialConsole).
"use strict";
(function () {
  // xterm.js is loaded with the first console opened, not with every page.
  function loadXterm() {
    if (window.Terminal) return Promise.resolve();
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/dashboard/static/vendor/xterm/xterm.css" + K.version;
    document.head.append(css);
    return new Promise((resolve, reject) => {
      const js = document.createElement("script");
      js.src = "/dashboard/static/vendor/xterm/xterm.js" + K.version;
      js.onload = resolve;
      js.onerror = () => reject(new Error("The terminal failed to load."));
      document.head.append(js);
    });
  }

  K.pages.console = {
    async show(main, params) {
      const id = params.get("id");
      const name = params.get("name") || id;
      const box = K.h("div.console", { "aria-label": "Console of " + name });
      const status = K.h("p", { role: "status" }, "Connecting…");
      main.replaceChildren(K.h("h2", {}, "Console: " + name), status, box);
      const [out] = await Promise.all([K.os("POST", `/compute/v2.1/servers/${encodeURIComponent(id)}/action`,
        { "os-getSerialConsole": { type: "serial" } }), loadXterm()]);
      const term = new window.Terminal({ convertEol: false, cursorBlink: true, fontSize: 14 });
      term.open(box);
      const ws = new WebSocket(out.console.url, ["binary"]);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => { status.textContent = "Connected"; term.focus(); };
      ws.onclose = () => { status.textContent = "Disconnected"; };
      ws.onmessage = (e) => term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      const enc = new TextEncoder();
      term.onData((d) => { if (ws.readyState === 1) ws.send(enc.encode(d)); });
      this.ws = ws;
      this.term = term;
      window.kumoTerminal = term; // lets tests read the screen
    },
    leave() {
      if (this.ws) this.ws.close();
      if (this.term) this.term.dispose();
      this.ws = this.term = null;
    },
  };
})();
