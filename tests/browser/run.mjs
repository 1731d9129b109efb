// Runs every browser case against the vidmock that run.sh started, and writes the checks to
// $VIDMOCK_BROWSER_RESULTS as {"browser": …, "checks": [{"case", "name", "ok", "detail"?}]}.
// Exits non-zero when any check failed or a case crashed.

import { writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { Checks, Vidmock, env, launchBrowser, startPageServer } from "./harness.mjs";

// One module per page under pages/, each exporting `name` and `run(context)`.
const CASES = ["./apivideo.mjs", "./kaltura.mjs", "./crossorigin.mjs", "./playback.mjs", "./dashboard.mjs"];

const only = (process.env.VIDMOCK_BROWSER_CASES ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

async function main() {
  const resultsPath = env("VIDMOCK_BROWSER_RESULTS");
  const artifacts = env("VIDMOCK_BROWSER_ARTIFACTS");
  await mkdir(artifacts, { recursive: true });
  const vidmock = new Vidmock();
  const pages = await startPageServer();
  const browser = await launchBrowser();
  console.log(`browser: Chromium ${browser.version}; pages at ${pages.origin}; vidmock at ${vidmock.url}`);

  const all = [];
  try {
    for (const path of CASES) {
      if (only.length && !only.some((o) => path.includes(o))) continue;
      const testCase = await import(path);
      const checks = new Checks();
      console.log(`\n== ${testCase.name}`);
      try {
        await testCase.run({ vidmock, pages, browser, checks, artifacts });
      } catch (error) {
        checks.check("the case runs to its end", false, error?.stack ?? String(error));
      }
      all.push(...checks.results.map((r) => ({ case: testCase.name, ...r })));
    }
  } finally {
    await browser.close();
    await pages.close();
  }

  await mkdir(dirname(resultsPath), { recursive: true });
  await writeFile(resultsPath, JSON.stringify({ browser: browser.version, checks: all }, null, 2));
  const failed = all.filter((r) => !r.ok).length;
  console.log(`\nbrowser: ${all.length - failed} of ${all.length} checks passed`);
  return failed === 0 && all.length > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`browser: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
