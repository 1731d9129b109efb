// The dashboard as a frontend developer uses it, at 1280 px: the clock, fault and reset
// controls (each checked through the admin API), a request's detail with its credentials
// masked, a Kaltura error found under the "errors" filter, an upload downloaded, its player
// page linked, and a webhook's delivery shown and replayed.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { watchPage } from "./harness.mjs";

export const name = "dashboard: controls, request detail, errors filter, download, play, deliveries";

const WIDTH = 1280;
const HEIGHT = 900;

export async function run({ vidmock, browser, checks, artifacts }) {
  const admin = (path, init = {}) =>
    fetch(`${vidmock.url}/__vidmock${path}`, {
      ...init,
      headers: { "x-vidmock-admin-token": vidmock.adminToken, ...(init.headers ?? {}) },
    });
  const json = async (path) => (await admin(path)).json();
  await admin("/reset", { method: "POST" });
  await admin("/faults", { method: "DELETE" });

  const page = await browser.context.newPage();
  const problems = watchPage(page);
  await page.setViewportSize({ width: WIDTH, height: HEIGHT });
  page.setDefaultTimeout(10_000);
  const dialogs = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.accept();
  });
  await page.goto(vidmock.dashboardUrl());
  await page.locator("#connection[data-state=ok]").waitFor();

  // ---------------------------------------------------------------- layout
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    journalTop: document.querySelector("#journal").getBoundingClientRect().top,
  }));
  checks.check(
    `at ${WIDTH} px the page does not scroll sideways`,
    layout.scrollWidth <= layout.clientWidth,
    layout,
  );
  checks.check("the journal is on the first screen", layout.journalTop < HEIGHT / 3, layout);

  // ---------------------------------------------------------------- the clock
  const offset = async () => (await json("/clock")).offsetSeconds;
  const waitOffset = async (expected) => {
    for (let i = 0; i < 50; i++) {
      const now = await offset();
      if (now === expected) return now;
      await new Promise((r) => setTimeout(r, 100));
    }
    return offset();
  };
  const start = await offset();
  await page.click('[data-advance="60"]');
  checks.equal("+1 min moves the clock 60 s", await waitOffset(start + 60), start + 60);
  await page.click('[data-advance="3600"]');
  checks.equal("+1 h moves it 3600 s more", await waitOffset(start + 3660), start + 3660);
  await page.click('[data-advance="86400"]');
  checks.equal("+1 day moves it 86400 s more", await waitOffset(start + 90060), start + 90060);
  await page.fill("#advance-amount", "90");
  await page.selectOption("#advance-unit", "1");
  await page.click("#advance-custom");
  checks.equal("a custom 90 s moves it 90 s more", await waitOffset(start + 90150), start + 90150);

  // ---------------------------------------------------------------- a fault from a preset
  await page.selectOption("#fault-vendor", "apivideo");
  const operations = await page.locator("#fault-operation option").allTextContents();
  checks.check(
    "the fault form offers api.video's operations from its route table",
    operations.includes("createToken") && operations.includes("uploadWithUploadToken"),
    operations,
  );
  await page.selectOption("#fault-operation", "createToken");
  await page.selectOption("#fault-preset", { label: "503 Service Unavailable" });
  await page.fill("#fault-times", "1");
  await page.click("#fault-add");
  let faults = [];
  for (let i = 0; i < 50 && faults.length === 0; i++) {
    faults = await json("/faults");
    if (!faults.length) await new Promise((r) => setTimeout(r, 100));
  }
  checks.check(
    "adding a fault mounts it: createToken, status 503, once",
    faults.length === 1 &&
      faults[0].match?.operation === "createToken" &&
      faults[0].action?.type === "status" &&
      faults[0].action?.status === 503 &&
      faults[0].times === 1,
    faults,
  );
  const faultRow = page.locator(`#faults tr[data-fault-id="${faults[0]?.id}"]`);
  await faultRow.waitFor();
  checks.check(
    "the faults list shows what the fault matches and its delay",
    (await faultRow.locator('[data-field="match"]').innerText()).includes("operation createToken") &&
      (await faultRow.locator('[data-field="delay"]').innerText()) === "none",
    await faultRow.innerText(),
  );
  const refused = await fetch(`${vidmock.url}/upload-tokens`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${vidmock.apiKey}:`).toString("base64")}`,
      "content-type": "application/json",
    },
    body: "{}",
  });
  checks.equal("the fault answers createToken with 503", refused.status, 503);
  await page.click(`#faults [data-remove-fault="${faults[0]?.id}"]`);
  let left = faults;
  for (let i = 0; i < 50 && left.length; i++) {
    left = await json("/faults");
    if (left.length) await new Promise((r) => setTimeout(r, 100));
  }
  checks.equal("removing the fault leaves none", left.length, 0);
  await page.selectOption("#fault-vendor", "kaltura");
  await page.selectOption("#fault-operation", "uploadtoken.upload");
  await page.selectOption("#fault-preset", { label: "delay 2 s" });
  await page.click("#fault-add");
  const delayed = page.locator('#faults tr:has([data-field="delay"]:text-is("2000 ms"))');
  checks.check(
    "a Kaltura delay fault is listed with its operation and its delay",
    await delayed
      .first()
      .waitFor()
      .then(async () => (await delayed.first().innerText()).includes("uploadtoken.upload"), () => false),
    await page.locator("#faults").innerText(),
  );
  await admin("/faults", { method: "DELETE" });

  // ---------------------------------------------------------------- an upload, downloaded
  const bytes = Buffer.alloc(70_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const token = (await vidmock.createApivideoUploadToken({})).body.token;
  const form = new FormData();
  form.append("file", new Blob([bytes]), "clip.bin");
  const uploaded = await fetch(`${vidmock.url}/upload?token=${token}`, { method: "POST", body: form });
  const video = await uploaded.json();
  checks.equal("a single-request upload answers 201", uploaded.status, 201);
  const link = page.locator(`#uploads-complete tr[data-video-id="${video.videoId}"] a[data-download]`);
  const downloaded = await link
    .waitFor()
    .then(async () => {
      const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
      return readFile(await download.path());
    })
    .catch((error) => Buffer.from(String(error)));
  checks.equal(
    "the completed upload's download link gives the uploaded bytes",
    createHash("sha256").update(downloaded).digest("hex"),
    sha256,
  );

  // ---------------------------------------------------------------- a Kaltura error, found
  await fetch(`${vidmock.url}/api_v3/service/uploadtoken/action/list?format=1`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "ks=djJ8MTAxfAsecretish",
  });
  await page.selectOption("#filter-vendor", "kaltura");
  await page.selectOption("#filter-status", "error");
  const invalid = page.locator("#journal tbody tr", { hasText: "200 · INVALID_KS" }).first();
  checks.check(
    "under the errors filter the journal shows the Kaltura error answered 200",
    await invalid.waitFor().then(() => true, () => false),
    await page.locator("#journal").innerText(),
  );

  // ---------------------------------------------------------------- its detail
  await invalid.click();
  const drawer = page.locator("#detail");
  await drawer.waitFor();
  const requestLine = await page.locator("#detail-request-line").innerText();
  checks.check(
    "the detail shows the request line",
    requestLine.startsWith("POST /api_v3/service/uploadtoken/action/list?format=1"),
    requestLine,
  );
  const requestBody = await page.locator("#detail-request-body").innerText();
  checks.check(
    "the detail masks the KS in the request body",
    requestBody.includes("ks=djJ8…(masked)") && !requestBody.includes("secretish"),
    requestBody,
  );
  const answerBody = await page.locator("#detail-answer-body").innerText();
  checks.check("the detail shows the answer's body", answerBody.includes("INVALID_KS"), answerBody);
  const answerHeaders = await page.locator('[data-testid="answer-headers"]').innerText();
  checks.check(
    "the detail shows the answer's headers",
    /content-type\s+application\/json/i.test(answerHeaders),
    answerHeaders,
  );
  const summary = await page.locator('[data-testid="summary"]').innerText();
  checks.check(
    "the detail shows the status with the vendor error, the fault and the timing",
    /status\s+200 · INVALID_KS/.test(summary) && /fault applied\s+none/.test(summary) && /time\s+[\d.]+ ms/.test(summary),
    summary,
  );
  const curl = await page.locator("#detail-curl").innerText();
  checks.check(
    "copy as curl offers the request with its credentials masked",
    curl.startsWith("curl -X POST '") &&
      curl.includes("--data-binary 'ks=djJ8…(masked)'") &&
      curl.includes("-H 'content-type: application/x-www-form-urlencoded'"),
    curl,
  );
  await page.screenshot({ path: join(artifacts, "dashboard-1280-detail.png") });
  await page.click("#copy-curl");
  // The clipboard answers asynchronously: wait for the notice rather than read it at once.
  const copied = await page
    .waitForFunction(() => /copied|clipboard/.test(document.querySelector("#notice")?.innerText ?? ""))
    .then(() => page.locator("#notice").innerText(), (error) => String(error));
  checks.check("copy as curl says what it did", /copied|clipboard/.test(copied), copied);
  // An api.video request's Authorization header is masked too.
  await page.click("#detail-close");
  await page.selectOption("#filter-vendor", "apivideo");
  await page.selectOption("#filter-status", "");
  await page.selectOption("#filter-operation", "createToken");
  await page.locator("#journal tbody tr").first().click();
  await page.locator('#detail [data-testid="request-headers"]').waitFor();
  await page.waitForFunction(() => /createToken|upload-tokens/.test(document.querySelector("#detail [data-title]").textContent));
  const headers = await page.locator('#detail [data-testid="request-headers"]').innerText();
  checks.check(
    "the detail masks api.video's Authorization header",
    /authorization\s+Basic [^\s]{4}…\(masked\)/.test(headers),
    headers,
  );
  await page.click("#detail-close");
  await page.selectOption("#filter-vendor", "");
  await page.selectOption("#filter-operation", "");

  // ---------------------------------------------------------------- a screenshot at 1280 px
  // ---------------------------------------------------------------- play, deliveries
  const play = page.locator(`#uploads-complete tr[data-video-id="${video.videoId}"] a[data-play]`);
  checks.equal(
    "a completed api.video upload links to its player page",
    await play.getAttribute("href").catch((error) => String(error)),
    `/vod/${video.videoId}`,
  );
  const auth = { authorization: `Basic ${Buffer.from(`${vidmock.apiKey}:`).toString("base64")}` };
  const hook = await fetch(`${vidmock.url}/webhooks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ events: ["video.encoding.quality.completed"], url: `${vidmock.url}/hooks` }),
  });
  checks.equal("a webhook is created", hook.status, 201);
  const created = await (await fetch(`${vidmock.url}/videos`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ title: "hooked", mp4Support: false }),
  })).json();
  const source = new FormData();
  source.append("file", new Blob([bytes]), "clip.bin");
  await fetch(`${vidmock.url}/videos/${created.videoId}/source`, { method: "POST", headers: auth, body: source });
  await admin("/clock/advance", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ seconds: 60 }),
  });
  const row = page.locator("#deliveries tr[data-delivery]").first();
  const shown = await row.waitFor().then(() => row.innerText(), (error) => String(error));
  checks.check(
    "the event sent when the encoding finished shows under outbound deliveries",
    shown.includes("video.encoding.quality.completed") && shown.includes("/hooks"),
    shown,
  );
  const before = (await json("/deliveries")).length;
  await row.locator("button[data-replay]").click();
  let after = before;
  for (let i = 0; i < 50 && after === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = (await json("/deliveries")).length;
  }
  checks.equal("replay sends the delivery again as a new one", after, before + 1);
  const wide = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  checks.check(`with deliveries shown, at ${WIDTH} px the page does not scroll sideways`,
    wide.scrollWidth <= wide.clientWidth, wide);

  const screenshot = join(artifacts, "dashboard-1280.png");
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);

  // ---------------------------------------------------------------- reset, confirmed
  await page.click("#reset");
  let state = await json("/state");
  for (let i = 0; i < 50 && state.apivideo?.projects?.some((p) => p.videos?.length); i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = await json("/state");
  }
  checks.check("reset asks for a confirmation first", dialogs.some((m) => m.startsWith("Reset vidmock?")), dialogs);
  checks.check(
    "reset, confirmed, clears the videos and keeps the clock's offset",
    state.apivideo.projects.every((p) => (p.videos ?? []).length === 0) &&
      (await offset()) === start + 90150 + 60,
    state,
  );
  checks.check("the dashboard reports no errors (CSP, console)", problems.length === 0, problems);
  await page.close();
}
