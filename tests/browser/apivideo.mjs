// api.video's browser uploader, @api.video/video-uploader 1.1.6 unmodified, in headless
// Chromium (pages/apivideo.html): an upload token made through the API, a 12 MiB file sent in
// 5 MiB chunks to `https://apiHost/upload?token=…`, then the result as the admin API and the
// dashboard show it.

import { createHash } from "node:crypto";
import { join } from "node:path";
import { pattern } from "./pattern.mjs";
import { watchPage } from "./harness.mjs";

const MiB = 1024 * 1024;
const SIZE = 12 * MiB;
const CHUNK = 5 * MiB;
const PARTS = Math.ceil(SIZE / CHUNK); // 3: 5 MiB, 5 MiB, 2 MiB
const FILE_NAME = "vidmock-browser-12MiB.bin";
// The mock's default encoding delay is 3 s; onPlayable polls every 500 ms.
const PLAYABLE_WITHIN_MS = 20_000;

export const name = "apivideo: video-uploader, 12 MiB in 5 MiB chunks over https";

export async function run({ vidmock, pages, browser, checks, artifacts }) {
  const expected = createHash("sha256").update(pattern(SIZE)).digest("hex");

  // ---------------------------------------------------------------- a token, through the API
  const created = await vidmock.createApivideoUploadToken({ ttl: 3600 });
  checks.equal("POST /upload-tokens answers 200", created.status, 200);
  const token = created.body?.token;
  if (!checks.check("the upload token looks like api.video's", /^to[0-9A-Za-z]{22}$/.test(token ?? ""), created.body)) {
    return;
  }

  // ---------------------------------------------------------------- the upload, in the browser
  const page = await browser.context.newPage();
  // onPlayable's polls never read the body of a 202 (`if (status === 202) continue`); Chromium
  // reports each such fetch as aborted once the response is dropped.
  const pageProblems = watchPage(
    page,
    (request) =>
      /\/hls\/manifest\.m3u8$/.test(request.url()) && request.failure()?.errorText === "net::ERR_ABORTED",
  );
  await page.goto(`${pages.origin}/apivideo.html`);
  await page.waitForFunction(() => window.vidmockReady === true, null, { timeout: 10_000 });
  const result = await page.evaluate((args) => window.vidmockUpload(args), {
    apiHost: vidmock.host,
    uploadToken: token,
    size: SIZE,
    chunkSize: CHUNK,
    fileName: FILE_NAME,
    waitPlayable: PLAYABLE_WITHIN_MS,
  });

  checks.equal("the page uploads the bytes Node hashed", result.sha256, expected);
  const videoId = result.video?.videoId;
  if (
    !checks.check(
      "the upload resolves with a video",
      result.error === undefined && /^vi[0-9A-Za-z]+$/.test(videoId ?? ""),
      result.error ?? result.video,
    )
  ) {
    await page.screenshot({ path: join(artifacts, "apivideo-upload-failed.png") }).catch(() => {});
    checks.check("the page reports no errors", pageProblems.length === 0, pageProblems);
    return;
  }
  checks.equal("no chunk needed a retry", result.retries.length, 0);
  checks.equal("the resolved video carries the file name as its title", result.video.title, FILE_NAME);
  // uploadedBytes counts the multipart bodies of the XHRs, so it ends a little above the size.
  const last = result.progress.at(-1) ?? {};
  checks.check(
    "onProgress ends past the whole file, in 3 chunks",
    last.uploadedBytes >= SIZE && last.totalBytes === SIZE && last.chunksCount === PARTS,
    last,
  );
  checks.equal("onPlayable fires once the mock has 'encoded' the video", result.playableVideoId, videoId);
  checks.check("the upload page reports no errors (CORS, TLS, console)", pageProblems.length === 0, pageProblems);
  await page.close();

  // ---------------------------------------------------------------- the admin API
  const state = await vidmock.admin("/state");
  const video = (state.apivideo?.projects ?? [])
    .flatMap((project) => project.videos ?? [])
    .find((v) => v.videoId === videoId);
  if (checks.check("GET /__vidmock/state lists the video", video !== undefined, state)) {
    checks.equal("the video is complete", video.complete, true);
    checks.equal("the video's sha256 from the admin API is the file's", video.sha256, expected);
    checks.equal("the video's size is the file's", video.size, SIZE);
    checks.check(
      "the video was sent as parts 1..3 of 3",
      JSON.stringify([...video.receivedParts].sort()) === "[1,2,3]" && video.totalParts === PARTS,
      video,
    );
    checks.equal("the video remembers its upload token", video.uploadToken, token);
  }

  const journal = await vidmock.admin("/requests");
  const uploads = journal.filter(
    (r) => r.operation === "uploadWithUploadToken" && r.target === videoId,
  );
  const header = (r, name) => (r.headers?.[name] ?? [])[0];
  const brief = (r) => ({ method: r.method, path: r.path, query: r.query, status: r.status, fault: r.fault });
  const counted = checks.check(
    "the journal holds three chunk requests to the video, each answered 201",
    uploads.length === PARTS && uploads.every((r) => r.status === 201),
    journal.map((r) => ({ operation: r.operation, target: r.target, ...brief(r) })),
  );
  if (counted) {
    // Chromium speaks HTTP/2 to the TLS listener, where a request's URI is in absolute form.
    checks.check(
      "the journal records each chunk's path and query (/upload?token=…)",
      uploads.every((r) => r.path === "/upload" && (r.query ?? "").includes(`token=${token}`)),
      uploads.map(brief),
    );
    checks.check(
      "the chunks carry Content-Range: part n/3",
      JSON.stringify(uploads.map((r) => header(r, "content-range"))) ===
        JSON.stringify(["part 1/3", "part 2/3", "part 3/3"]),
      uploads.map((r) => header(r, "content-range")),
    );
    checks.check(
      "the chunks come from the page's origin, as the uploader",
      uploads.every(
        (r) =>
          header(r, "origin") === pages.origin &&
          header(r, "av-origin-client") === "typescript-uploader:1.1.6",
      ),
      uploads.map((r) => [header(r, "origin"), header(r, "av-origin-client")]),
    );
  }

  // ---------------------------------------------------------------- the dashboard
  const dashboard = await browser.context.newPage();
  const dashboardProblems = watchPage(dashboard);
  const offOrigin = [];
  dashboard.on("request", (request) => {
    if (!request.url().startsWith(`${vidmock.url}/`)) offOrigin.push(request.url());
  });
  dashboard.setDefaultTimeout(10_000);
  const opened = await dashboard.goto(vidmock.dashboardUrl());
  if (
    !checks.check(
      "GET /__vidmock/?token=… serves the dashboard page",
      opened?.status() === 200 && (await opened.headerValue("content-type")) === "text/html; charset=utf-8",
      { status: opened?.status(), body: (await opened?.text().catch(() => ""))?.slice(0, 200) },
    )
  ) {
    await dashboard.close();
    return;
  }
  const row = dashboard.locator(`#uploads-complete tr[data-video-id="${videoId}"]`);
  const shown = await row
    .waitFor()
    .then(() => true)
    .catch(() => false);
  if (checks.check("the dashboard lists the finished upload", shown, await dashboard.locator("#uploads-complete").innerText().catch(String))) {
    checks.equal("the dashboard marks it complete", await row.getAttribute("data-complete"), "true");
    checks.equal("the dashboard's data-sha256 is the file's", await row.getAttribute("data-sha256"), expected);
    checks.equal(
      "the dashboard shows the sha256 as text",
      (await row.locator('[data-field="sha256"]').innerText()).trim(),
      expected,
    );
    checks.equal("the dashboard's data-size is the file's", await row.getAttribute("data-size"), String(SIZE));
  }
  checks.equal(
    "the dashboard shows no upload of this video in progress",
    await dashboard.locator(`#uploads-in-progress tr[data-video-id="${videoId}"]`).count(),
    0,
  );
  const tokenRow = dashboard.locator(`#tokens tr[data-token="${token}"]`);
  checks.check(
    "the dashboard lists the token as active with time to expiry",
    (await tokenRow.count()) === 1 &&
      (await tokenRow.getAttribute("data-status")) === "active" &&
      Number(await tokenRow.getAttribute("data-seconds-to-expiry")) > 3000,
    await tokenRow.evaluateAll((rows) => rows.map((r) => r.outerHTML)),
  );
  // The journal, filtered the way a person would: operation, then status.
  await dashboard.selectOption("#filter-operation", "uploadWithUploadToken");
  await dashboard.selectOption("#filter-status", "2xx");
  const journalRows = dashboard.locator("#journal tbody tr");
  const operations = await journalRows.evaluateAll((rows) =>
    rows.map((r) => [r.dataset.operation, r.dataset.status]),
  );
  checks.check(
    "the dashboard's journal, filtered to uploadWithUploadToken and 2xx, shows the three chunks",
    operations.length === PARTS && operations.every(([op, status]) => op === "uploadWithUploadToken" && status === "201"),
    operations,
  );
  checks.equal(
    "the dashboard is live",
    await dashboard.locator("#connection").getAttribute("data-state"),
    "ok",
  );
  const screenshot = join(artifacts, "dashboard-apivideo.png");
  await dashboard.selectOption("#filter-status", "");
  await dashboard.selectOption("#filter-operation", "");
  await dashboard.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  checks.check("the dashboard fetches nothing from elsewhere", offOrigin.length === 0, offOrigin);
  checks.check("the dashboard reports no errors (CSP, console)", dashboardProblems.length === 0, dashboardProblems);
  await dashboard.close();
}
