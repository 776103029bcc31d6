// WeCom simulator pages: the client's chat (/sim/) and the staff view (/sim/staff).
// Everything shown is set with textContent, never as HTML.
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("texts").textContent);
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stateName(n) {
    const key = "state_" + n;
    return T[key] || String(n);
  }

  async function postJSON(url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  }

  function showError(on) {
    $("error").hidden = !on;
  }

  // Chat ---------------------------------------------------------------------------------------------------
  function chatPage() {
    let client = localStorage.getItem("sim.client") || $("client").value;
    let kf = localStorage.getItem("sim.kf") || $("kf").value;
    let after = 0;
    let timer = null;
    $("client").value = client;
    $("kf").value = kf;

    function reset() {
      after = 0;
      const log = $("log");
      while (log.firstChild) log.removeChild(log.firstChild);
      const empty = el("p", "empty", T.empty);
      empty.id = "empty";
      log.appendChild(empty);
    }

    function render(ev) {
      const log = $("log");
      const empty = $("empty");
      if (empty) empty.remove();
      let node;
      if (ev.kind === "client") {
        node = el("div", "msg client");
        node.appendChild(el("span", "who", T.me));
        node.appendChild(document.createTextNode(ev.msgtype === "text" ? ev.text : "[" + ev.msgtype + "]"));
      } else if (ev.kind === "bot") {
        node = el("div", "msg bot");
        node.appendChild(el("span", "who", T.bot));
        node.appendChild(document.createTextNode(ev.text));
      } else if (ev.kind === "servicer") {
        node = el("div", "msg servicer");
        node.appendChild(el("span", "who", T.servicer + "（" + ev.servicer_userid + "）"));
        node.appendChild(document.createTextNode(ev.text));
      } else if (ev.kind === "state") {
        let text = T.state_change + "：" + stateName(ev.from_state) + " → " + stateName(ev.to_state);
        if (ev.servicer_userid) text += "（" + ev.servicer_userid + "）";
        node = el("div", "note", text);
      } else {
        return;
      }
      log.appendChild(node);
      node.scrollIntoView({ block: "end" });
    }

    async function poll() {
      try {
        const url = "/sim/api/conversation?external_userid=" + encodeURIComponent(client) +
          "&open_kfid=" + encodeURIComponent(kf) + "&after=" + after;
        const res = await fetch(url);
        if (res.ok) {
          const data = await res.json();
          for (const ev of data.events) {
            render(ev);
            after = Math.max(after, ev.seq);
          }
          $("state").textContent = stateName(data.service_state);
        }
      } catch (e) {
        /* the simulator restarted or is stopping: try again next tick */
      }
      timer = setTimeout(poll, POLL_MS);
    }

    $("who").addEventListener("submit", (e) => {
      e.preventDefault();
      client = $("client").value.trim();
      kf = $("kf").value.trim();
      localStorage.setItem("sim.client", client);
      localStorage.setItem("sim.kf", kf);
      clearTimeout(timer);
      reset();
      postJSON("/sim/api/enter", { external_userid: client, open_kfid: kf }).catch(() => {});
      poll();
    });

    $("say").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("text").value.trim();
      if (!text) return;
      try {
        await postJSON("/sim/api/say", { external_userid: client, open_kfid: kf, text: text });
        $("text").value = "";
        showError(false);
      } catch (err) {
        showError(true);
      }
    });

    poll();
  }

  // Staff --------------------------------------------------------------------------------------------------
  function appMessageText(ev) {
    const c = ev.content || {};
    if (ev.msgtype === "text" || ev.msgtype === "markdown") return c.content || "";
    if (ev.msgtype === "textcard") return [c.title, c.description, c.url].filter(Boolean).join("\n");
    if (ev.msgtype === "template_card") {
      const parts = [];
      if (c.main_title) parts.push(c.main_title.title, c.main_title.desc);
      if (c.sub_title_text) parts.push(c.sub_title_text);
      for (const item of c.horizontal_content_list || []) parts.push(item.keyname + "：" + (item.value || ""));
      if (c.card_action && c.card_action.url) parts.push(c.card_action.url);
      return parts.filter(Boolean).join("\n");
    }
    return JSON.stringify(c);
  }

  function staffPage() {
    let after = 0;

    function card(container, meta, body) {
      const box = $(container);
      const empty = box.querySelector(".empty");
      if (empty) empty.remove();
      const node = el("div", "card");
      node.appendChild(el("span", "meta", meta));
      node.appendChild(document.createTextNode(body));
      box.prepend(node);
    }

    function when(ev) {
      return new Date(ev.at * 1000).toLocaleString("zh-CN");
    }

    async function poll() {
      try {
        const res = await fetch("/sim/api/staff?after=" + after);
        if (res.ok) {
          const data = await res.json();
          for (const ev of data.events) {
            after = Math.max(after, ev.seq);
            if (ev.kind === "app") {
              card("app", when(ev) + " · " + T.to + " " + ev.touser + " · " + ev.msgtype, appMessageText(ev));
            } else if (ev.kind === "template") {
              card("templates", when(ev) + " · " + T.sender + " " + ev.sender + " · " + T.to + " " +
                ev.external_userids.join("、"), ev.text);
            } else if (ev.kind === "state") {
              let text = ev.external_userid + "：" + stateName(ev.from_state) + " → " + stateName(ev.to_state);
              if (ev.servicer_userid) text += "（" + ev.servicer_userid + "）";
              card("states", when(ev), text);
            }
          }
        }
      } catch (e) {
        /* try again next tick */
      }
      setTimeout(poll, POLL_MS);
    }

    $("servicer").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("s-text").value.trim();
      if (!text) return;
      try {
        await postJSON("/sim/api/servicer/say", {
          external_userid: $("s-client").value.trim(),
          servicer_userid: $("s-userid").value.trim(),
          open_kfid: $("s-kf").value,
          text: text,
        });
        $("s-text").value = "";
        showError(false);
      } catch (err) {
        showError(true);
      }
    });

    $("s-end").addEventListener("click", async () => {
      try {
        await postJSON("/sim/api/servicer/end", { external_userid: $("s-client").value.trim(), open_kfid: $("s-kf").value });
        showError(false);
      } catch (err) {
        showError(true);
      }
    });

    poll();
  }

  if (document.body.dataset.page === "chat") chatPage();
  if (document.body.dataset.page === "staff") staffPage();
})();
