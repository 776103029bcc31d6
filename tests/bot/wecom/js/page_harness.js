// Runs the simulator's page script (sim.js) in Node with a tiny fake DOM against a live simulator, and reports what
// the page rendered. No browser is needed; fetch is Node's own, so the page really polls the simulator over HTTP.
//   node page_harness.js <base_url> <chat|staff> <script_path> <texts_json_path> <steps_json>
// steps: [{"do": "say", "text": "..."}, {"do": "wait", "selector": "msg bot", "count": 1}, ...]
"use strict";
const fs = require("fs");
const vm = require("vm");

const [base, page, scriptPath, textsPath, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);

class El {
  constructor(tag, id) {
    this.tagName = tag;
    this.id = id || "";
    this.children = [];
    this.className = "";
    this._text = "";
    this.value = "";
    this.hidden = false;
    this.dataset = {};
    this.listeners = {};
    this.parent = null;
  }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) { this._text = String(v); this.children = []; }
  get firstChild() { return this.children[0] || null; }
  appendChild(c) { c.parent = this; this.children.push(c); return c; }
  prepend(c) { c.parent = this; this.children.unshift(c); }
  removeChild(c) { this.children = this.children.filter((x) => x !== c); c.parent = null; return c; }
  remove() { if (this.parent) this.parent.removeChild(this); }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  dispatch(type) { for (const fn of this.listeners[type] || []) fn({ preventDefault() {} }); }
  scrollIntoView() {}
  walk(fn) { fn(this); for (const c of this.children) c.walk(fn); }
  querySelector(sel) {
    let found = null;
    const cls = sel.replace(/^\./, "");
    this.walk((n) => { if (!found && n !== this && n.className.split(" ").includes(cls)) found = n; });
    return found;
  }
}

const body = new El("body");
body.dataset.page = page;
function add(tag, id, props) {
  const e = new El(tag, id);
  Object.assign(e, props || {});
  body.appendChild(e);
  return e;
}
const texts = add("script", "texts");
texts.textContent = fs.readFileSync(textsPath, "utf8");
add("p", "error", { hidden: true });
if (page === "chat") {
  add("input", "client", { value: "wmHARNESS" });
  add("input", "kf", { value: steps.kf || "wkSIMKF000000000000000001" });
  add("form", "who");
  const log = add("main", "log");
  const empty = new El("p", "empty");
  empty.className = "empty";
  log.appendChild(empty);
  add("form", "say");
  add("input", "text");
  add("b", "state");
} else {
  for (const id of ["app", "templates", "states"]) {
    const box = add("div", id);
    const empty = new El("p");
    empty.className = "empty";
    box.appendChild(empty);
  }
  for (const id of ["s-client", "s-userid", "s-kf", "s-text"]) add("input", id);
  add("form", "servicer");
  add("button", "s-end");
}

const document = {
  body,
  getElementById(id) {
    let found = null;
    body.walk((n) => { if (!found && n.id === id) found = n; });
    return found;
  },
  createElement: (tag) => new El(tag),
  createTextNode: (text) => { const n = new El("#text"); n._text = String(text); return n; },
};
const store = {};
const context = {
  document,
  localStorage: { getItem: (k) => (k in store ? store[k] : null), setItem: (k, v) => { store[k] = String(v); } },
  fetch: (url, init) => fetch(base + url, init),
  setTimeout, clearTimeout, console, JSON, Math, Date, encodeURIComponent, Error,
};
vm.createContext(context);
vm.runInContext(fs.readFileSync(scriptPath, "utf8"), context);

const byClass = (cls) => { const out = []; body.walk((n) => { if (n.className === cls) out.push(n); }); return out; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  for (const step of steps.steps) {
    if (step.do === "say") {
      document.getElementById("text").value = step.text;
      document.getElementById("say").dispatch("submit");
    } else if (step.do === "servicer") {
      document.getElementById("s-client").value = step.client;
      document.getElementById("s-userid").value = step.userid;
      document.getElementById("s-kf").value = step.kf || "wkSIMKF000000000000000001";
      document.getElementById("s-text").value = step.text;
      document.getElementById("servicer").dispatch("submit");
    } else if (step.do === "sleep") {
      await sleep(step.ms);
    } else if (step.do === "wait") {
      const deadline = Date.now() + 10000;
      while (byClass(step.cls).length < (step.count || 1)) {
        if (Date.now() > deadline) {
          console.log(JSON.stringify({ error: "timeout waiting for " + step.cls, body: body.textContent }));
          process.exit(1);
        }
        await sleep(50);
      }
    }
  }
  const rendered = {};
  for (const cls of ["msg client", "msg bot", "msg servicer", "note", "card"]) {
    rendered[cls] = byClass(cls).map((n) => n.textContent);
  }
  rendered.state = page === "chat" ? document.getElementById("state").textContent : null;
  console.log(JSON.stringify(rendered));
  process.exit(0);
})();
