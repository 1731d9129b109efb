// What every browser case shares: the vidmock under test (its address, credentials and admin
// API), a static server for the test pages, headless Chromium driven by playwright-core, and
// a list of named checks that run.sh counts.

import { createServer } from "node:http";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));

export function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new Error(`${name} is not set (run.sh sets it)`);
  return value;
}

// ------------------------------------------------------------------ checks
export class Checks {
  constructor() {
    this.results = [];
  }

  // Records one check; `detail` is shown when it fails.
  check(name, ok, detail) {
    const passed = ok === true;
    this.results.push({ name, ok: passed, ...(passed ? {} : { detail: describe(detail) }) });
    console.log(`${passed ? "ok  " : "FAIL"} ${name}${passed ? "" : `: ${describe(detail)}`}`);
    return passed;
  }

  equal(name, actual, expected) {
    return this.check(name, actual === expected, { expected, actual });
  }

  get failed() {
    return this.results.filter((r) => !r.ok).length;
  }
}

function describe(detail) {
  if (detail === undefined) return "";
  if (typeof detail === "string") return detail;
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}

// ------------------------------------------------------------------ vidmock
export class Vidmock {
  constructor() {
    this.url = env("VIDMOCK_URL"); // https://127.0.0.1:PORT
    this.apiKey = env("VIDMOCK_APIVIDEO_KEY");
    this.adminToken = process.env.VIDMOCK_ADMIN_TOKEN || "";
    this.host = new URL(this.url).host; // what a browser uploader takes as apiHost
  }

  // Node trusts the printed certificate through NODE_EXTRA_CA_CERTS (set by run.sh).
  async admin(path) {
    const headers = this.adminToken ? { "x-vidmock-admin-token": this.adminToken } : {};
    const answer = await fetch(`${this.url}/__vidmock${path}`, { headers });
    if (!answer.ok) throw new Error(`GET /__vidmock${path} answered ${answer.status}`);
    return answer.json();
  }

  // The first partner the mock printed (`kaltura partner: ID admin secret: SECRET`).
  kalturaPartner() {
    return {
      partnerId: Number(env("VIDMOCK_KALTURA_PARTNER")),
      adminSecret: env("VIDMOCK_KALTURA_ADMIN_SECRET"),
    };
  }

  dashboardUrl() {
    const query = this.adminToken ? `?token=${encodeURIComponent(this.adminToken)}` : "";
    return `${this.url}/__vidmock/${query}`;
  }

  // `POST /upload-tokens` with Basic auth, as a frontend's backend does.
  async createApivideoUploadToken(body = {}) {
    const answer = await fetch(`${this.url}/upload-tokens`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${this.apiKey}:`).toString("base64")}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
    return { status: answer.status, body: await answer.json() };
  }
}

// ------------------------------------------------------------------ static pages
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
};

// Serves pages/* at /, pattern.mjs, and the uploaders' browser builds under /vendor/, on
// 127.0.0.1 at a free port. An http page may call the https mock (not the reverse).
export async function startPageServer() {
  const files = new Map([
    ["/pattern.mjs", join(HERE, "pattern.mjs")],
    // @api.video/video-uploader ships one UMD bundle; loaded by a plain <script> it defines
    // window.VideoUploader and window.ProgressiveUploader.
    [
      "/vendor/video-uploader.js",
      join(HERE, "node_modules/@api.video/video-uploader/dist/index.js"),
    ],
  ]);
  const server = createServer(async (request, response) => {
    const path = new URL(request.url, "http://page.invalid").pathname;
    const file =
      files.get(path) ?? (/^\/[a-z0-9_-]+\.html$/.test(path) ? join(HERE, "pages", path) : null);
    try {
      if (!file || request.method !== "GET") throw new Error("not found");
      const body = await readFile(file);
      response.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      response.end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// ------------------------------------------------------------------ browser
// Debian's Chromium, never a downloaded one. The flags are the ones known to work on these
// machines (no network beyond loopback), plus --ignore-certificate-errors for the mock's
// self-signed certificate and a host resolver rule that plays a DNS-rebinding attacker.
export async function launchBrowser() {
  const executablePath = env("VIDMOCK_CHROMIUM", "/usr/bin/chromium");
  const userDataDir = await mkdtemp(join(tmpdir(), "vidmock-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
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
      "--ignore-certificate-errors",
      // crossorigin.mjs: a name that resolves to the mock, as a DNS-rebinding attacker's does.
      "--host-resolver-rules=MAP rebind.test 127.0.0.1",
    ],
    viewport: { width: 1400, height: 1000 },
  });
  return {
    context,
    version: context.browser()?.version() ?? "",
    close: async () => {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

// Collects what a page reports that a test should not ignore: uncaught errors, console errors
// (CSP violations and CORS failures show there) and failed requests, but those `expected`
// says are the page's own doing.
export function watchPage(page, expected = () => false) {
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("requestfailed", (request) => {
    if (!expected(request)) {
      problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  return problems;
}
