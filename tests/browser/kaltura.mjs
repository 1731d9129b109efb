// Kaltura's browser client's parallel chunked upload in headless Chromium (pages/kaltura.html):
// session.start, uploadToken.add, media.add and media.addContent as JSON POSTs, then a 12 MiB
// file in 2 MiB chunks through uploadToken.upload, chunk 0 alone and the other five together;
// then the result as the page saw it, the journal, `GET /__vidmock/state` and the dashboard show it.

import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pattern } from "./pattern.mjs";
import { watchPage } from "./harness.mjs";

const MiB = 1024 * 1024;
const SIZE = 12 * MiB;
const CHUNK = 2 * MiB;
const CHUNKS = Math.ceil(SIZE / CHUNK); // 6
const FILE_NAME = "vidmock-kaltura-12MiB.bin";
const USER_ID = "browser-user@example.com";
// The field order of the client's FormData: request options, the action's parameters in their
// declared order, apiVersion and format, then the adapter's fileName and the file part.
const FIELDS = ["ks", "uploadTokenId", "resume", "finalChunk", "resumeAt", "apiVersion", "format", "fileName", "fileData"];

export const name = "kaltura: browser client's parallel chunked upload, 12 MiB in 2 MiB chunks over https";

export async function run({ vidmock, pages, browser, checks, artifacts }) {
  const expected = createHash("sha256").update(pattern(SIZE)).digest("hex");
  const partner = vidmock.kalturaPartner();

  // ---------------------------------------------------------------- the upload, in the browser
  const page = await browser.context.newPage();
  const pageProblems = watchPage(page);
  await page.goto(`${pages.origin}/kaltura.html`);
  await page.waitForFunction(() => window.vidmockReady === true, null, { timeout: 10_000 });
  const result = await page.evaluate((args) => window.vidmockUpload(args), {
    endpointUrl: vidmock.url,
    partnerId: partner.partnerId,
    secret: partner.adminSecret,
    userId: USER_ID,
    size: SIZE,
    chunkSize: CHUNK,
    fileName: FILE_NAME,
  });
  // What the page sent and got, for a person reading the run.
  await writeFile(
    join(artifacts, "kaltura-upload.json"),
    JSON.stringify({ ...result, progress: (result.progress ?? []).length }, null, 2),
  );
  const steps = result.steps ?? {};
  const uploaded = steps["uploadToken.upload"];
  checks.equal("the page uploads the bytes Node hashed", result.sha256, expected);
  if (!checks.check("the page runs every step without an error", result.error === undefined, result.error)) {
    await page.screenshot({ path: join(artifacts, "kaltura-upload-failed.png") }).catch(() => {});
    checks.check("the upload page reports no errors", pageProblems.length === 0, pageProblems);
    reportChunks(checks, result.chunks);
    return;
  }

  const ks = steps["session.start"];
  checks.check("session.start answers a v2 KS (a JSON string)", typeof ks === "string" && ks.startsWith("djJ8"), ks);
  const added = steps["uploadToken.add"] ?? {};
  const tokenId = added.id;
  checks.check(
    "uploadToken.add answers a PENDING KalturaUploadToken with the file's name and size",
    /^0_[0-9a-f]{32}$/.test(tokenId ?? "") &&
      added.objectType === "KalturaUploadToken" &&
      added.status === 0 &&
      added.fileName === FILE_NAME &&
      Number(added.fileSize) === SIZE &&
      added.partnerId === partner.partnerId &&
      added.userId === USER_ID,
    added,
  );
  const entry = steps["media.add"] ?? {};
  const attached = steps["media.addContent"] ?? {};
  checks.check(
    "media.addContent attaches the token to the new entry",
    typeof entry.id === "string" && attached.id === entry.id && attached.objectType === "KalturaMediaEntry",
    { entry, attached },
  );

  // ---------------------------------------------------------------- what the page sent
  const chunks = [...(result.chunks ?? [])].sort((a, b) => a.index - b.index);
  checks.check(
    `the page sends ${CHUNKS} chunks, each once`,
    JSON.stringify(chunks.map((c) => c.index)) === JSON.stringify([...Array(CHUNKS).keys()]),
    chunks.map((c) => c.index),
  );
  const fieldsOf = (c) => Object.fromEntries(c.fields);
  const shapeProblems = chunks.flatMap((c) => {
    const f = fieldsOf(c);
    const last = c.index === CHUNKS - 1;
    const want = {
      ks,
      uploadTokenId: tokenId,
      resume: String(c.index > 0),
      finalChunk: String(last),
      resumeAt: String(c.index * CHUNK),
      format: "1",
      fileName: FILE_NAME,
    };
    const problems = Object.entries(want)
      .filter(([k, v]) => f[k] !== v)
      .map(([k, v]) => `chunk ${c.index}: ${k}=${JSON.stringify(f[k])}, want ${JSON.stringify(v)}`);
    if (JSON.stringify(c.fields.map(([k]) => k)) !== JSON.stringify(FIELDS)) {
      problems.push(`chunk ${c.index}: fields ${c.fields.map(([k]) => k).join(",")}`);
    }
    const file = f.fileData ?? {};
    if (file.filename !== "blob" || file.size !== (last ? SIZE - c.index * CHUNK : CHUNK)) {
      problems.push(`chunk ${c.index}: file part ${JSON.stringify(file)}`);
    }
    return problems;
  });
  checks.check(
    "each chunk is a flat multipart form: ks, uploadTokenId, resume, finalChunk, resumeAt=i*2MiB, apiVersion, format=1, fileName, fileData (\"blob\")",
    shapeProblems.length === 0,
    shapeProblems,
  );
  const partProblems = chunks.flatMap((c) => {
    const parts = c.multipart?.parts ?? [];
    const dispositions = parts.map((p) => p.headers[0]);
    const wanted = FIELDS.map((k) =>
      k === "fileData"
        ? 'Content-Disposition: form-data; name="fileData"; filename="blob"'
        : `Content-Disposition: form-data; name="${k}"`,
    );
    const problems = [];
    if (JSON.stringify(dispositions) !== JSON.stringify(wanted)) problems.push({ chunk: c.index, dispositions });
    const filePart = parts.at(-1);
    if (JSON.stringify(filePart?.headers) !== JSON.stringify([wanted.at(-1), "Content-Type: application/octet-stream"])) {
      problems.push({ chunk: c.index, filePart: filePart?.headers });
    }
    return problems;
  });
  checks.check(
    "Chromium encodes each chunk as plain form-data parts, the file last with filename \"blob\"",
    partProblems.length === 0,
    partProblems,
  );
  const first = chunks[0];
  const rest = chunks.slice(1);
  checks.check(
    "chunk 0 goes alone; the others start only after it has answered",
    first?.inFlightAtStart === 1 && rest.every((c) => c.startedAt >= first.endedAt && c.chunksAnsweredBefore >= 1),
    chunks.map(timing),
  );
  const concurrent = Math.max(...rest.map((c) => c.inFlightAtStart));
  checks.check(
    `chunks 1..${CHUNKS - 1} are in flight together (${Math.min(6, CHUNKS - 1)} at once)`,
    concurrent === Math.min(6, CHUNKS - 1) && rest.every((c) => c.chunksAnsweredBefore === 1),
    chunks.map(timing),
  );
  reportChunks(checks, chunks);
  const finalChunk = chunks.at(-1)?.response ?? {};
  checks.check(
    "the non-final chunks answer PARTIAL_UPLOAD (1)",
    chunks.slice(0, -1).every((c) => c.response?.status === 1),
    chunks.map((c) => c.response?.status),
  );
  checks.check(
    "the final chunk answers CLOSED (3): the whole file, consumed by the entry it was attached to",
    finalChunk.status === 3 && Number(finalChunk.uploadedFileSize) === SIZE,
    finalChunk,
  );
  checks.check(
    "the upload resolves with the token",
    uploaded?.objectType === "KalturaUploadToken" && uploaded.id === tokenId,
    uploaded,
  );
  const progress = result.progress ?? [];
  checks.check(
    "the progress callback ends at the whole file",
    progress.length > 0 && progress.at(-1)[0] >= SIZE && progress.at(-1)[1] === SIZE,
    progress.slice(-3),
  );
  checks.check("the upload page reports no errors (CORS, TLS, console)", pageProblems.length === 0, pageProblems);
  await page.close();

  // ---------------------------------------------------------------- the journal
  const journal = await vidmock.admin("/requests");
  const header = (r, name) => (r.headers?.[name] ?? [])[0];
  const brief = (r) => ({ method: r.method, path: r.path, query: r.query, operation: r.operation, status: r.status });
  const kaltura = journal.filter((r) => (r.path ?? "").startsWith("/api_v3/"));
  const posts = kaltura.filter((r) => r.method === "POST");
  await writeFile(
    join(artifacts, "kaltura-journal.json"),
    JSON.stringify(
      kaltura.map((r) => ({
        seq: r.seq,
        ...brief(r),
        origin: header(r, "origin"),
        contentType: header(r, "content-type"),
        acrm: header(r, "access-control-request-method"),
        acrh: header(r, "access-control-request-headers"),
        bodySize: r.bodySize,
        durationMs: r.durationMs,
      })),
      null,
      2,
    ),
  );
  checks.check(
    "the journal holds session.start, uploadtoken.add, media.add, media.addcontent, then 6 uploadtoken.upload, each answered 200",
    JSON.stringify(posts.map((r) => r.operation)) ===
      JSON.stringify(["session.start", "uploadtoken.add", "media.add", "media.addcontent", ...Array(CHUNKS).fill("uploadtoken.upload")]) &&
      posts.every((r) => r.status === 200),
    posts.map(brief),
  );
  checks.check(
    "every request comes from the page's origin with clientTag=ng-app",
    posts.every((r) => header(r, "origin") === pages.origin && (r.query ?? "") === "clientTag=ng-app"),
    posts.map((r) => [header(r, "origin"), r.query]),
  );
  // Each JSON call has a non-safelisted Content-Type, and each chunk's XHR has an upload
  // listener (the progress callback): every path is preflighted once, then cached (Max-Age).
  const preflights = kaltura.filter((r) => r.method === "OPTIONS");
  const paths = (list) => [...new Set(list.map((r) => r.path))].sort();
  checks.check(
    "every action's path was preflighted (OPTIONS, Access-Control-Request-Method: POST, answered 200)",
    JSON.stringify(paths(preflights)) === JSON.stringify(paths(posts)) &&
      preflights.every((r) => header(r, "access-control-request-method") === "POST" && r.status === 200 && header(r, "origin") === pages.origin),
    kaltura.map((r) => ({ ...brief(r), acrm: header(r, "access-control-request-method"), acrh: header(r, "access-control-request-headers") })),
  );
  const firstUpload = posts.find((r) => r.operation === "uploadtoken.upload");
  checks.check(
    "the first chunk waited for its preflight",
    preflights.some((r) => r.path === firstUpload?.path && r.seq < firstUpload.seq),
    preflights.map((r) => ({ seq: r.seq, path: r.path })).concat([{ firstUpload: firstUpload?.seq }]),
  );
  const uploads = posts.filter((r) => r.operation === "uploadtoken.upload");
  const bySize = new Map(chunks.map((c) => [c.multipart?.size, c.index]));
  checks.check(
    "the chunks reach the mock as multipart/form-data with the bodies Chromium encoded",
    uploads.length === CHUNKS &&
      uploads.every((r) => /^multipart\/form-data; boundary=----WebKitFormBoundary/.test(header(r, "content-type") ?? "")) &&
      JSON.stringify(uploads.map((r) => r.bodySize).sort()) === JSON.stringify(chunks.map((c) => c.multipart?.size).sort()),
    uploads.map((r) => ({ contentType: header(r, "content-type"), bodySize: r.bodySize, chunk: bySize.get(r.bodySize) })),
  );

  // ---------------------------------------------------------------- the admin API
  const state = await vidmock.admin("/state");
  const partnerState = (state.kaltura?.partners ?? []).find((p) => p.partnerId === partner.partnerId);
  const token = (partnerState?.uploadTokens ?? []).find((t) => t.id === tokenId);
  if (checks.check("GET /__vidmock/state lists the upload token under the partner", token !== undefined, state.kaltura)) {
    checks.check("the token is CLOSED (3) and complete", token.status === 3 && token.complete === true, token);
    checks.equal("the token's sha256 from the admin API is the file's", token.sha256, expected);
    checks.equal("the token's size is the file's", token.size, SIZE);
    checks.check(
      "the token took 6 chunks, none left waiting",
      token.chunks === CHUNKS && token.receivedBytes === SIZE && (token.waitingChunks ?? []).length === 0,
      token,
    );
    // As on the server, a token added to a video entry before it was complete is attached to
    // the entry's source flavor.
    const entryState = (partnerState?.entries ?? []).find((e) => e.id === entry.id);
    checks.check(
      "the token is attached to the entry's source flavor",
      token.attachedObjectType === "flavorAsset" &&
        typeof entryState?.sourceFlavorId === "string" &&
        token.attachedObjectId === entryState.sourceFlavorId,
      { token, entry: entryState },
    );
  }
  const storedEntry = (partnerState?.entries ?? []).find((e) => e.id === entry.id);
  checks.check(
    "the entry holds the file (its sha256 is the file's)",
    storedEntry?.uploadTokenId === tokenId && storedEntry?.sha256 === expected && storedEntry?.size === SIZE,
    storedEntry,
  );

  // ---------------------------------------------------------------- the dashboard
  const dashboard = await browser.context.newPage();
  const dashboardProblems = watchPage(dashboard);
  dashboard.setDefaultTimeout(10_000);
  const opened = await dashboard.goto(vidmock.dashboardUrl());
  if (!checks.equal("GET /__vidmock/?token=… serves the dashboard page", opened?.status(), 200)) {
    await dashboard.close();
    return;
  }
  const row = dashboard.locator(`#uploads-complete tr[data-upload-token-id="${tokenId}"]`);
  const shown = await row
    .waitFor()
    .then(() => true)
    .catch(() => false);
  if (
    checks.check(
      "the dashboard lists the finished Kaltura upload by its token id",
      shown,
      await dashboard.locator("#uploads-complete").innerText().catch(String),
    )
  ) {
    checks.check(
      "the dashboard marks it complete, Kaltura, partner " + partner.partnerId,
      (await row.getAttribute("data-complete")) === "true" &&
        (await row.getAttribute("data-vendor")) === "kaltura" &&
        (await row.getAttribute("data-tenant")) === String(partner.partnerId),
      await row.evaluate((r) => r.outerHTML),
    );
    checks.equal("the dashboard's data-sha256 is the file's", await row.getAttribute("data-sha256"), expected);
    checks.equal(
      "the dashboard shows the sha256 as text",
      (await row.locator('[data-field="sha256"]').innerText()).trim(),
      expected,
    );
    checks.equal("the dashboard's data-size is the file's", await row.getAttribute("data-size"), String(SIZE));
  }
  checks.equal(
    "the dashboard shows no upload of this token in progress",
    await dashboard.locator(`#uploads-in-progress tr[data-upload-token-id="${tokenId}"]`).count(),
    0,
  );
  const tokenRow = dashboard.locator(`#tokens tr[data-token="${tokenId}"]`);
  checks.check(
    "the dashboard lists the token as closed",
    (await tokenRow.count()) === 1 && (await tokenRow.getAttribute("data-status")) === "closed",
    await tokenRow.evaluateAll((rows) => rows.map((r) => r.outerHTML)),
  );
  await dashboard.selectOption("#filter-vendor", "kaltura");
  await dashboard.selectOption("#filter-operation", "uploadtoken.upload");
  await dashboard.selectOption("#filter-status", "2xx");
  const operations = await dashboard
    .locator("#journal tbody tr")
    .evaluateAll((rows) => rows.map((r) => [r.dataset.operation, r.dataset.status]));
  checks.check(
    "the dashboard's journal, filtered to kaltura, uploadtoken.upload and 2xx, shows the six chunks",
    operations.length === CHUNKS && operations.every(([op, status]) => op === "uploadtoken.upload" && status === "200"),
    operations,
  );
  // A Kaltura error is an HTTP 200: the dashboard names it, and its errors filter finds it.
  await fetch(`${vidmock.url}/api_v3/service/uploadtoken/action/list?format=1`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "ks=not-a-ks",
  });
  await dashboard.selectOption("#filter-operation", "");
  await dashboard.selectOption("#filter-status", "error");
  const invalid = dashboard.locator("#journal tbody tr", { hasText: "200 · INVALID_KS" });
  const named = await invalid
    .first()
    .waitFor()
    .then(() => true, () => false);
  checks.check(
    "the dashboard's journal, filtered to errors, shows a Kaltura error answered 200 as `200 · INVALID_KS`",
    named && (await invalid.getAttribute("data-operation")) === "uploadtoken.list",
    await dashboard.locator("#journal tbody tr").evaluateAll((rows) => rows.map((r) => r.textContent)),
  );
  const screenshot = join(artifacts, "dashboard-kaltura.png");
  await dashboard.selectOption("#filter-status", "");
  await dashboard.selectOption("#filter-operation", "");
  await dashboard.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  checks.check("the dashboard reports no errors (CSP, console)", dashboardProblems.length === 0, dashboardProblems);
  await dashboard.close();
}

function timing(c) {
  return {
    chunk: c.index,
    startedMs: Math.round(c.startedAt),
    endedMs: Math.round(c.endedAt),
    inFlightAtStart: c.inFlightAtStart,
    answeredBefore: c.chunksAnsweredBefore,
  };
}

// The adapter's own rule: every chunk's answer carries uploadedFileSize.
function reportChunks(checks, chunks = []) {
  checks.check(
    "every chunk answer is a KalturaUploadToken with uploadedFileSize",
    chunks.length > 0 &&
      chunks.every(
        (c) =>
          c.httpStatus === 200 &&
          c.response?.objectType === "KalturaUploadToken" &&
          c.response.uploadedFileSize !== undefined &&
          c.response.uploadedFileSize !== null,
      ),
    chunks.map((c) => ({ chunk: c.index, httpStatus: c.httpStatus, error: c.error, response: c.response })),
  );
}
