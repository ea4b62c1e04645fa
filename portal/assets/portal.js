// The portal's one script: answers shown as they are written, and copy buttons. Every page works without
// it (a form posts and the answer page comes back); it only enhances. Text from the model is set as text,
// never as HTML; the HTML it inserts is the portal's own fragments, escaped where they were rendered.
(() => {
  "use strict";

  function enableCopy(root) {
    for (const button of root.querySelectorAll("button[data-copy]")) {
      button.hidden = false;
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copy);
        try {
          await navigator.clipboard.writeText(source.value ?? source.textContent);  // a field, or text
          button.textContent = button.dataset.copied;
        } catch {
          if (source.select) source.select();  // no clipboard (plain HTTP): select it instead
          else window.getSelection().selectAllChildren(source);
        }
      });
    }
  }

  function settle(name, html, target, form) {
    target.innerHTML = html;
    const quota = target.querySelector("template[data-quota]");
    if (quota) {
      document.getElementById("quota").textContent = quota.content.textContent.trim();
      quota.remove();
    }
    const next = target.querySelector("template[data-next-chat]");
    if (next) {
      form.elements.chat_id.value = next.content.textContent.trim();
      next.remove();
    }
    enableCopy(target);
    if (name === "done" && form.dataset.stream === "chat") {
      form.elements.text.value = "";
      window.history.replaceState(null, "", "/tools/chat/" + form.elements.chat_id.value);
    }
  }

  async function stream(form) {
    const data = new URLSearchParams(new FormData(form));
    data.set("tool", form.dataset.stream);
    let target = document.getElementById("answer");
    if (form.dataset.stream === "chat") {
      const log = document.getElementById("messages");
      const mine = document.createElement("article");
      mine.className = "msg user";
      const said = document.createElement("div");
      said.className = "text";
      said.textContent = form.elements.text.value;
      mine.append(said);
      target = document.createElement("div");
      log.querySelector(":scope > p.hint")?.remove();
      log.append(mine, target);
    }
    target.replaceChildren();
    const live = document.createElement("div");
    live.className = "text streaming";
    target.append(live);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/tools/stream", { method: "POST", body: data, credentials: "same-origin" });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const name = (block.match(/^event: (.*)$/m) || [])[1];
          const raw = (block.match(/^data: (.*)$/m) || [])[1];
          if (!name || raw === undefined) continue;
          const payload = JSON.parse(raw);
          if (name === "delta") live.textContent += payload;
          else settle(name, payload, target, form);
        }
      }
    } catch {
      const failed = document.createElement("p");
      failed.className = "error";
      failed.setAttribute("role", "alert");
      failed.textContent = form.dataset.failed;
      target.replaceChildren(failed);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  enableCopy(document);
  for (const form of document.querySelectorAll("form[data-stream]")) {
    form.addEventListener("submit", (event) => {
      if (!window.fetch || !window.ReadableStream || !window.TextDecoder) return;  // the plain post
      event.preventDefault();
      stream(form);
    });
  }
})();
