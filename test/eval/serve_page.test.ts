/**
 * The chat page of `rft serve` in headless Chromium (Debian's `chromium`, installed by scripts/setup.sh; the test
 * skips with a message when it is missing), driven by puppeteer-core: upload an image, ask, watch the reply stream
 * in (the text grows over several updates and ends equal to the server's reply for the same seed and image), and a
 * reply with <think>/<answer> tags shown in two parts. No request leaves the server's origin; no console error.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { tinyPng } from "./helpers.ts";
import { type ServerProcess, startServer, tinyCheckpoint } from "./serve_helpers.ts";

/** What the tests read of page elements (the project's tsconfig has no DOM library). */
interface El {
  getAttribute(name: string): string | null;
  className: string;
  hidden: boolean;
  textContent: string;
}

const CHROMIUM = process.env.RFT_CHROMIUM ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)`;

let server: ServerProcess;
let browser: Browser;
let tab: Page;
const errors: string[] = [];
const foreign: string[] = [];

before(async () => {
  if (skip) return;
  server = await startServer(["--model", await tinyCheckpoint(), "--model-name", "tiny", "--threads", "1"]);
  const profile = mkdtempSync(join(tmpdir(), "rft-chromium-"));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  tab = await browser.newPage();
  tab.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  tab.on("pageerror", (e) => errors.push(String(e)));
  tab.on("request", (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith("data:")) foreign.push(r.url());
  });
  await tab.goto(`${server.url}/`, { waitUntil: "load" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The page's text of a selector. */
const text = (sel: string) => tab.$eval(sel, (e) => (e as unknown as El).textContent);

async function setField(id: string, value: string): Promise<void> {
  await tab.evaluate(`document.getElementById(${JSON.stringify(id)}).value = ${JSON.stringify(value)}`);
}

test("chat page: upload an image, ask, the reply streams in", { skip }, async () => {
  await tab.waitForFunction(`document.getElementById("model").textContent === "tiny"`, { timeout: 20_000 });
  const png = await tinyPng(5);
  const file = join(mkdtempSync(join(tmpdir(), "rft-page-")), "scene.png");
  writeFileSync(file, png);
  const input = await tab.$("#image");
  await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(file);
  await tab.waitForFunction(`!document.getElementById("preview").hidden`, { timeout: 10_000 });
  await setField("max_tokens", "24");
  await setField("temperature", "1");
  await setField("seed", "5");
  await tab.type("#question", "How many objects are there?");
  // Every change of the reply's text, as the page renders it.
  await tab.evaluate(`window.__lens = [];
    new MutationObserver(() => {
      const a = document.querySelector(".assistant");
      if (a) window.__lens.push((a.getAttribute("data-raw") || "").length);
    }).observe(document.getElementById("log"), { subtree: true, attributes: true, attributeFilter: ["data-raw"] });`);
  await tab.click("#send");
  await tab.waitForSelector(".assistant[data-finish]", { timeout: 30_000 });
  const finish = await tab.$eval(".assistant", (e) => (e as unknown as El).getAttribute("data-finish"));
  const raw = await tab.$eval(".assistant", (e) => (e as unknown as El).getAttribute("data-raw"));
  const lens = (await tab.evaluate("window.__lens")) as number[];
  assert.ok(finish === "length" || finish === "stop", `finish ${finish}; status: ${await text("#status")}`);
  const grew = [...new Set(lens)].filter((n) => n > 0);
  assert.ok(grew.length >= 2, `the text grew over several updates: ${lens.join(", ")}`);
  assert.deepEqual(
    grew,
    [...grew].sort((a, b) => a - b),
  );
  assert.equal(await tab.$$eval(".user img.thumb", (xs) => xs.length), 1, "the question shows its image");
  assert.match(await text("#status"), /^done/);

  // The same request from here: the page sent the image and the settings it showed.
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "tiny",
      messages: [
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } },
            { type: "text", text: "How many objects are there?" },
          ],
        },
      ],
      max_tokens: 24,
      temperature: 1,
      seed: 5,
    }),
  });
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  assert.equal(raw, body.choices[0]!.message.content);
  assert.equal(await text(".assistant .answer"), raw!.trim());
});

test("chat page: the <think> part is shown apart from the <answer>", { skip }, async () => {
  await tab.click("#clear");
  // A canned streamed reply (the tiny random model writes no tags): split over chunks mid-tag.
  const pieces = ["<thi", "nk>the red cube and ", "two spheres</think>\n<ans", "wer>3</answer>"];
  const sse =
    pieces
      .map(
        (p) =>
          `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: p }, finish_reason: null }] })}\n\n`,
      )
      .join("") +
    `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n` +
    "data: [DONE]\n\n";
  await tab.setRequestInterception(true);
  const onRequest = (r: import("puppeteer-core").HTTPRequest) => {
    if (r.url().endsWith("/v1/chat/completions"))
      void r.respond({ status: 200, contentType: "text/event-stream", body: sse });
    else void r.continue();
  };
  tab.on("request", onRequest);
  try {
    await tab.type("#question", "How many?");
    await tab.click("#send");
    await tab.waitForSelector(".assistant[data-finish]", { timeout: 10_000 });
    assert.equal(await tab.$eval("details.think", (e) => (e as unknown as El).hidden), false);
    assert.equal(await text("details.think .think-text"), "the red cube and two spheres");
    assert.equal(await text(".assistant .answer"), "3");
    assert.equal(await tab.$eval(".assistant .answer", (e) => (e as unknown as El).className), "answer tagged");
  } finally {
    tab.off("request", onRequest);
    await tab.setRequestInterception(false);
  }
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, [], "the page requested nothing outside the server");
});
