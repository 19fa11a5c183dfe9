/**
 * The chat page of `rft serve` (at `/`): one self-contained HTML document (inline CSS and script, no CDN, no
 * external request but the server's own API). Pick an image, ask, watch the reply stream in; the `<think>` part is
 * shown in its own box, apart from the `<answer>`. The conversation is kept in the page and sent whole each turn.
 */

/**
 * Splits a (possibly still streaming) reply into its reasoning and its answer. The think part is the text inside
 * `<think>...</think>` (to the end while unclosed); the answer is the text inside `<answer>...</answer>` (to the
 * end while unclosed), or, without answer tags, the text outside the think block. Plain JavaScript: the page
 * inlines it, and the tests run the same text (test/eval/serve.test.ts).
 */
export const SPLIT_THINK_JS = String.raw`function splitThinkAnswer(text) {
  var think = null, thinking = false, rest = text;
  var a = text.indexOf("<think>");
  if (a >= 0) {
    var b = text.indexOf("</think>", a + 7);
    if (b >= 0) {
      think = text.slice(a + 7, b);
      rest = text.slice(0, a) + text.slice(b + 8);
    } else {
      think = text.slice(a + 7);
      thinking = true;
      rest = text.slice(0, a);
    }
  }
  var answer = rest, tagged = false;
  var c = rest.indexOf("<answer>");
  if (c >= 0) {
    tagged = true;
    var d = rest.indexOf("</answer>", c + 8);
    answer = d >= 0 ? rest.slice(c + 8, d) : rest.slice(c + 8);
  }
  return { think: think === null ? null : think.trim(), thinking: thinking, answer: answer.trim(), tagged: tagged };
}`;

const SCRIPT = String.raw`
"use strict";
${SPLIT_THINK_JS}
var $ = function (id) { return document.getElementById(id); };
var conversation = [];
var imageUrl = null;
var busy = null;
var modelName = null;

function headers() {
  var h = { "content-type": "application/json" };
  var key = $("key").value.trim();
  if (key) h.authorization = "Bearer " + key;
  return h;
}
function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}
async function apiError(res) {
  try { var j = await res.json(); if (j && j.error && j.error.message) return j.error.message; } catch (e) {}
  return "HTTP " + res.status;
}
async function loadModel() {
  try {
    var res = await fetch("/v1/models", { headers: headers() });
    if (!res.ok) { setStatus(await apiError(res), true); return; }
    var j = await res.json();
    modelName = j.data[0].id;
    $("model").textContent = modelName;
    setStatus("ready");
  } catch (e) { setStatus(String(e), true); }
}
function el(tag, cls, text) {
  var x = document.createElement(tag);
  if (cls) x.className = cls;
  if (text !== undefined) x.textContent = text;
  return x;
}
function addUser(text, img) {
  var d = el("div", "msg user");
  if (img) { var i = el("img", "thumb"); i.src = img; i.alt = "image"; d.appendChild(i); }
  d.appendChild(el("div", "text", text));
  $("log").appendChild(d);
}
function addAssistant() {
  var d = el("div", "msg assistant");
  var det = el("details", "think");
  det.open = true;
  det.hidden = true;
  det.appendChild(el("summary", "", "reasoning (<think>)"));
  var think = el("div", "think-text");
  det.appendChild(think);
  var answer = el("div", "answer");
  d.appendChild(det);
  d.appendChild(answer);
  $("log").appendChild(d);
  return {
    render: function (text) {
      var s = splitThinkAnswer(text);
      det.hidden = s.think === null;
      think.textContent = s.think || "";
      det.querySelector("summary").textContent = s.thinking ? "reasoning (<think>) …" : "reasoning (<think>)";
      answer.textContent = s.answer;
      answer.className = s.tagged ? "answer tagged" : "answer";
      $("log").scrollTop = $("log").scrollHeight;
    },
    raw: function (text) { d.setAttribute("data-raw", text); },
    finish: function (reason) { d.setAttribute("data-finish", reason || ""); },
  };
}
async function send() {
  var q = $("question").value;
  if (!q.trim() && !imageUrl) return;
  if (!modelName) await loadModel();
  if (!modelName) return;
  var content = [];
  if (imageUrl) content.push({ type: "image_url", image_url: { url: imageUrl } });
  content.push({ type: "text", text: q });
  addUser(q, imageUrl);
  var messages = conversation.concat([{ role: "user", content: content }]);
  var body = { model: modelName, messages: messages, stream: true, stream_options: { include_usage: true } };
  var mt = parseInt($("max_tokens").value, 10); if (mt > 0) body.max_tokens = mt;
  var t = parseFloat($("temperature").value); if (!isNaN(t)) body.temperature = t;
  var seed = parseInt($("seed").value, 10); if (!isNaN(seed)) body.seed = seed;
  var view = addAssistant();
  var text = "";
  busy = new AbortController();
  $("send").disabled = true; $("stop").disabled = false;
  setStatus("waiting…");
  try {
    var res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: busy.signal });
    if (!res.ok) throw new Error(await apiError(res));
    var reader = res.body.getReader();
    var dec = new TextDecoder();
    var buf = "", finish = null, usage = null, doneSeen = false;
    while (!doneSeen) {
      var r = await reader.read();
      if (r.done) break;
      buf += dec.decode(r.value, { stream: true });
      var cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        var ev = buf.slice(0, cut); buf = buf.slice(cut + 2);
        var data = ev.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
          .map(function (l) { return l.slice(5).trim(); }).join("\n");
        if (!data) continue;
        if (data === "[DONE]") { doneSeen = true; break; }
        var j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        if (j.usage) usage = j.usage;
        (j.choices || []).forEach(function (c) {
          if (c.index !== 0) return;
          if (c.delta && c.delta.content) { text += c.delta.content; view.render(text); view.raw(text); setStatus("streaming…"); }
          if (c.finish_reason) finish = c.finish_reason;
        });
      }
    }
    view.render(text); view.raw(text); view.finish(finish);
    conversation = messages.concat([{ role: "assistant", content: text }]);
    setStatus("done (" + (finish || "?") + (usage ? ", " + usage.completion_tokens + " tokens" : "") + ")");
    $("question").value = "";
    clearImage();
  } catch (e) {
    view.finish("error");
    setStatus(e && e.name === "AbortError" ? "stopped" : String(e && e.message ? e.message : e), !(e && e.name === "AbortError"));
  } finally {
    busy = null;
    $("send").disabled = false; $("stop").disabled = true;
  }
}
function clearImage() {
  imageUrl = null;
  $("image").value = "";
  $("preview").hidden = true;
  $("preview").removeAttribute("src");
}
$("image").addEventListener("change", function () {
  var f = $("image").files[0];
  if (!f) { clearImage(); return; }
  var fr = new FileReader();
  fr.onload = function () { imageUrl = fr.result; $("preview").src = imageUrl; $("preview").hidden = false; };
  fr.onerror = function () { setStatus("cannot read " + f.name, true); };
  fr.readAsDataURL(f);
});
$("send").addEventListener("click", function () { send(); });
$("stop").addEventListener("click", function () { if (busy) busy.abort(); });
$("question").addEventListener("keydown", function (e) { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(); });
$("clear").addEventListener("click", function () { conversation = []; $("log").textContent = ""; setStatus("ready"); });
$("key").addEventListener("change", loadModel);
loadModel();
`;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f6f8;color:#1d2330;display:flex;flex-direction:column;height:100vh}
header{padding:10px 16px;background:#1d2330;color:#fff;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
header h1{font-size:16px;margin:0;font-weight:600}
header .model{font-family:ui-monospace,monospace;opacity:.85}
header input{width:180px}
#log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:12px}
.msg{max-width:820px;padding:10px 14px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}
.user{align-self:flex-end;background:#dbe7ff}
.assistant{align-self:flex-start;background:#fff;border:1px solid #dde1e8;min-width:200px}
.thumb{max-width:220px;max-height:160px;display:block;margin-bottom:6px;border-radius:6px}
details.think{background:#f3f0e6;border-left:3px solid #c9a94b;padding:4px 10px;margin-bottom:8px;border-radius:4px;color:#5a4a1c;font-size:14px}
details.think summary{cursor:pointer;font-weight:600}
.answer.tagged{font-weight:600}
footer{padding:10px 16px;background:#fff;border-top:1px solid #dde1e8;display:flex;flex-direction:column;gap:8px}
.row{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
textarea{width:100%;min-height:60px;font:inherit;padding:8px;border-radius:6px;border:1px solid #c5cad3}
input[type=number]{width:90px}
#preview{max-height:60px;border-radius:4px}
button{font:inherit;padding:6px 16px;border-radius:6px;border:1px solid #2d5bd7;background:#2d5bd7;color:#fff;cursor:pointer}
button:disabled{opacity:.5;cursor:default}
button.secondary{background:#fff;color:#2d5bd7}
#status{font-size:13px;color:#555}
#status.error{color:#b3261e}
`;

/** The page served at `/`. */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rft serve — chat</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>rft serve</h1><span class="model" id="model">…</span>
  <label>API key <input id="key" type="password" autocomplete="off" placeholder="(if the server needs one)"></label>
</header>
<main id="log" aria-live="polite"></main>
<footer>
  <div class="row">
    <label>Image <input id="image" type="file" accept="image/png,image/jpeg,image/webp,image/gif"></label>
    <img id="preview" alt="selected image" hidden>
  </div>
  <textarea id="question" placeholder="Ask about the image (Ctrl+Enter sends)"></textarea>
  <div class="row">
    <button id="send">Send</button>
    <button id="stop" class="secondary" disabled>Stop</button>
    <button id="clear" class="secondary">New chat</button>
    <label>max tokens <input id="max_tokens" type="number" min="1" value="256"></label>
    <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.1"></label>
    <label>seed <input id="seed" type="number" min="0" placeholder="random"></label>
    <span id="status"></span>
  </div>
</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
