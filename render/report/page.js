// flowmap report: sortable tables, the session filter, diagrams drawn on
// demand by the embedded Mermaid, details of the clicked arrow. Text from
// the capture is only ever set with textContent; diagrams go through
// Mermaid with securityLevel "strict" (its labels are sanitised).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("flowmap-data").textContent);
  const byNum = new Map(data.sessions.map((s) => [s.session, s]));
  const $ = (sel, el) => (el || document).querySelector(sel);
  const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };

  // Mermaid is run from its text/plain script element once the first
  // screen is drawn (or at the first click on a session, if sooner).
  let mermaidReady = null;
  function loadMermaid() {
    if (!mermaidReady) {
      mermaidReady = new Promise((resolve, reject) => {
        try {
          const s = document.createElement("script");
          s.textContent = document.getElementById("mermaid-src").textContent;
          document.body.appendChild(s);
          window.mermaid.initialize({
            startOnLoad: false,
            securityLevel: "strict",
            maxTextSize: 10000000,
            theme: "default",
            sequence: { useMaxWidth: false },
          });
          resolve(window.mermaid);
        } catch (e) {
          reject(e);
        }
      });
    }
    return mermaidReady;
  }
  window.addEventListener("load", () => setTimeout(loadMermaid, 50));

  // Sortable tables: a click on a header sorts by that column (numbers by
  // their data-v), a second click reverses.
  for (const table of $$("table.sortable")) {
    const ths = $$("thead th", table);
    ths.forEach((th, col) => {
      th.addEventListener("click", () => {
        const asc = th.getAttribute("aria-sort") !== "ascending";
        ths.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        const tbody = table.tBodies[0];
        const rows = Array.from(tbody.rows);
        const key = (r) => {
          const c = r.cells[col];
          const v = c && c.dataset.v;
          return v !== undefined ? parseFloat(v) : (c ? c.textContent.trim().toLowerCase() : "");
        };
        const num = th.classList.contains("n");
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const d = num ? x - y : x < y ? -1 : x > y ? 1 : 0;
          return asc ? d : -d;
        });
        for (const r of rows) tbody.appendChild(r);
      });
    });
  }

  // The search box filters sessions by any text of theirs.
  $("#search").addEventListener("input", (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const tr of $$("tr[data-session]")) {
      const s = byNum.get(Number(tr.dataset.session));
      tr.hidden = q !== "" && !(s && s.text.includes(q));
    }
  });

  const rendered = new Map(); // session number -> its diagram element
  let current = null;
  let seq = 0;

  async function open(n) {
    const s = byNum.get(n);
    if (!s) return;
    current = s;
    $$("tr[data-session]").forEach((tr) => tr.classList.toggle("open", Number(tr.dataset.session) === n));
    const view = $("#view");
    view.hidden = false;
    $("#view-title").textContent =
      "Session " + n + (s.command ? " · " + s.command : "") + (s.token ? " · " + s.token : "");
    const box = $("#diagrams");
    for (const d of box.children) d.hidden = true;
    let d = rendered.get(n);
    if (!d) {
      d = el("div");
      d.dataset.diagram = String(n);
      box.appendChild(d);
      rendered.set(n, d);
      try {
        const mermaid = await loadMermaid();
        const { svg } = await mermaid.render("flowmap-d" + n + "-" + seq++, s.diagram);
        d.innerHTML = svg; // Mermaid's own output, sanitised (securityLevel strict)
        wire(d, s);
      } catch (err) {
        d.appendChild(el("div", "Mermaid could not draw this diagram: " + err, "error-box"));
      }
    }
    d.hidden = false;
    steps(s);
    details(s, -1);
    view.scrollIntoView({ block: "start" });
  }

  // wire makes each message of the diagram clickable: Mermaid draws the
  // messages' texts in the order of the steps.
  function wire(d, s) {
    const texts = $$("text.messageText", d);
    const lines = $$(".messageLine0, .messageLine1", d);
    texts.forEach((t, i) => {
      t.dataset.step = String(i);
      t.addEventListener("click", () => details(s, i));
    });
    lines.forEach((l, i) => {
      l.dataset.step = String(i);
      l.style.cursor = "pointer";
      l.addEventListener("click", () => details(s, i));
    });
  }

  function steps(s) {
    const ol = $("#steps");
    ol.textContent = "";
    s.steps.forEach((st, i) => {
      const li = el("li", "  ".repeat(st.depth) + st.from + " → " + st.to + ": " + st.text,
        st.kind + (st.failed ? " failed" : ""));
      li.style.paddingLeft = 4 + 10 * st.depth + "px";
      li.dataset.step = String(i);
      li.title = st.text;
      li.addEventListener("click", () => details(s, i));
      ol.appendChild(li);
    });
  }

  function details(s, i) {
    const box = $("[data-details]");
    box.textContent = "";
    $$(".sel").forEach((e) => e.classList.remove("sel"));
    if (i < 0 || !s.steps[i]) {
      box.appendChild(el("p", "Click an arrow or a step.", "dim"));
      return;
    }
    const st = s.steps[i];
    box.dataset.step = String(i);
    $$('[data-step="' + i + '"]', $("#view")).forEach((e) => e.classList.add("sel"));
    box.appendChild(el("p", "#" + (i + 1) + " " + st.kind + " · " + st.from + " → " + st.to + ": " + st.text, st.failed ? "bad" : ""));
    const dl = el("dl");
    for (const [k, v] of st.facts || []) {
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", v));
    }
    box.appendChild(dl);
    for (const [title, hs] of [["Request headers", st.request_headers], ["Answer headers", st.response_headers]]) {
      if (!hs || !hs.length) continue;
      box.appendChild(el("h3", title));
      box.appendChild(el("pre", hs.map(([k, v]) => k + ": " + v).join("\n")));
    }
    if (st.statements && st.statements.length) {
      box.appendChild(el("h3", "Statements"));
      for (const q of st.statements) box.appendChild(el("pre", (q.count > 1 ? "×" + q.count + "  " : "") + q.text));
      if (st.more) box.appendChild(el("p", "… and " + st.more + " more", "dim"));
    }
  }

  for (const tr of $$("tr[data-session]")) {
    tr.addEventListener("click", () => open(Number(tr.dataset.session)));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open(Number(tr.dataset.session));
    });
  }
  for (const a of $$("a[data-open]")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      open(Number(a.dataset.open));
    });
  }
  window.flowmapOpen = open; // for scripts and tests
})();
