// The admin API answers its owner only: a page served from another origin (the test pages'
// http://127.0.0.1:PORT) can neither read the mock's state and journal nor change anything,
// even knowing the admin token; and a page that reaches the mock through DNS rebinding (a name
// Chromium resolves to 127.0.0.1, `--host-resolver-rules`) is refused on every route.

import { watchPage } from "./harness.mjs";

export const name = "cross-origin: another origin can neither read nor change the admin API";

// A name mapped to 127.0.0.1 in launchBrowser, as a rebinding attacker's DNS would.
export const REBOUND = "rebind.test";

async function adminPost(vidmock, path, body) {
  const answer = await fetch(`${vidmock.url}/__vidmock${path}`, {
    method: "POST",
    headers: { "x-vidmock-admin-token": vidmock.adminToken, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return answer.status;
}

export async function run({ vidmock, pages, browser, checks }) {
  // ---------------------------------------------------------------- what must survive
  const created = await vidmock.createApivideoUploadToken({ ttl: 3600 });
  const token = created.body?.token;
  checks.equal("an upload token is made through the API", created.status, 200);
  checks.equal(
    "a fault is planted by the owner",
    await adminPost(vidmock, "/faults", {
      name: "kept",
      match: { path: "/never-requested" },
      action: { type: "status", status: 418 },
    }),
    201,
  );
  const faultsBefore = (await vidmock.admin("/faults")).map((f) => f.name).sort();

  // ---------------------------------------------------------------- the attack, in Chromium
  const page = await browser.context.newPage();
  // The refused reads and the failed preflight are what the page is made to cause.
  watchPage(page);
  await page.goto(`${pages.origin}/crossorigin.html`);
  await page.waitForFunction(() => window.vidmockReady === true, null, { timeout: 10_000 });
  const tried = await page.evaluate((args) => window.vidmockAttack(args), {
    base: vidmock.url,
    token: vidmock.adminToken,
  });
  await page.close();

  // ---------------------------------------------------------------- nothing read
  for (const read of ["readState", "readJournal"]) {
    checks.check(
      `the page cannot read ${read === "readState" ? "/__vidmock/state" : "/__vidmock/requests"}`,
      tried[read]?.error !== undefined && tried[read]?.body === undefined,
      tried[read],
    );
  }
  checks.check(
    "the page cannot send DELETE /__vidmock/faults (its preflight fails)",
    tried.clearFaults?.error !== undefined,
    tried.clearFaults,
  );
  checks.check(
    "the no-cors POSTs leave the page nothing to read",
    ["reset", "plantFault"].every((n) => tried[n]?.body == null),
    { reset: tried.reset, plantFault: tried.plantFault },
  );
  checks.equal("a vendor route still answers the page through CORS", tried.vendor?.status, 401);

  // ---------------------------------------------------------------- nothing changed
  const state = await vidmock.admin("/state");
  const tokens = (state.apivideo?.projects ?? []).flatMap((p) => p.uploadTokens ?? p.tokens ?? []);
  checks.check(
    "the mock was not reset: the upload token is still there",
    tokens.some((t) => (t.token ?? t.id) === token),
    tokens,
  );
  const faultsAfter = (await vidmock.admin("/faults")).map((f) => f.name).sort();
  checks.check(
    "no fault was planted or removed",
    JSON.stringify(faultsAfter) === JSON.stringify(faultsBefore),
    { before: faultsBefore, after: faultsAfter },
  );

  // ---------------------------------------------------------------- DNS rebinding
  const port = new URL(vidmock.url).port;
  const rebound = await browser.context.newPage();
  for (const path of [`/__vidmock/state?token=${encodeURIComponent(vidmock.adminToken)}`, "/upload-tokens"]) {
    const answer = await rebound.goto(`https://${REBOUND}:${port}${path}`);
    const text = (await answer?.text()) ?? "";
    checks.check(
      `a page at https://${REBOUND}:${port} gets 403 for ${path.split("?")[0]}, naming --allowed-host`,
      answer?.status() === 403 && text.includes(`--allowed-host ${REBOUND}`),
      { status: answer?.status(), text: text.slice(0, 300) },
    );
  }
  await rebound.close();
}
