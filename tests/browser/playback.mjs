// An uploaded file plays from its api.video assets: the player page's <video> loads the `mp4`
// asset (served by vidmock with Range) far enough to play, with the file's own duration, and
// the thumbnail decodes as an image of the video's shape.

import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { watchPage } from "./harness.mjs";

export const name = "api.video playback: the mp4 asset plays in a <video>, the thumbnail decodes";

const FIXTURE = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "fixtures",
  "media",
  "sample-640x360-audio.mp4",
);

export async function run({ vidmock, browser, checks }) {
  // ---------------------------------------------------------------- upload and encode
  const created = await vidmock.createApivideoUploadToken({});
  const form = new FormData();
  form.append("file", new Blob([await readFile(FIXTURE)], { type: "video/mp4" }), "clip.mp4");
  const uploaded = await fetch(`${vidmock.url}/upload?token=${created.body.token}`, {
    method: "POST",
    body: form,
  });
  const video = await uploaded.json();
  checks.equal("the file is uploaded with an upload token", uploaded.status, 201);
  const headers = vidmock.adminToken ? { "x-vidmock-admin-token": vidmock.adminToken } : {};
  const finished = await fetch(
    `${vidmock.url}/__vidmock/vendors/apivideo/videos/${video.videoId}/encoding/finish`,
    { method: "POST", headers },
  );
  checks.equal("the admin API finishes its encoding", finished.status, 200);
  checks.check(
    "every asset URL points at vidmock",
    ["mp4", "hls", "thumbnail", "player"].every((k) => video.assets?.[k]?.startsWith(vidmock.url)),
    video.assets,
  );

  // ---------------------------------------------------------------- in Chromium
  const page = await browser.context.newPage();
  watchPage(page);
  await page.goto(video.assets.player);
  const played = await page.evaluate(async () => {
    const element = document.querySelector("video");
    element.muted = true;
    element.preload = "auto";
    element.load();
    // Muted playback needs no gesture; playing makes the element fetch media data.
    await element.play().catch(() => {});
    for (let waited = 0; element.readyState < 2 && !element.error && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
      readyState: element.readyState,
      duration: element.duration,
      width: element.videoWidth,
      height: element.videoHeight,
      error: element.error ? element.error.message || String(element.error.code) : null,
    };
  });
  const image = await page.evaluate(async (src) => {
    const img = new Image();
    img.src = src;
    try {
      await img.decode();
      return { width: img.naturalWidth, height: img.naturalHeight };
    } catch (error) {
      return { error: String(error) };
    }
  }, video.assets.thumbnail);
  await page.close();

  checks.check("the <video> has data to play (readyState >= 2)", played.readyState >= 2, played);
  checks.check(
    "its duration is the file's (1 s)",
    Math.abs(played.duration - 1) < 0.1,
    played,
  );
  checks.check("its picture is the file's (640x360)", played.width === 640 && played.height === 360, played);
  checks.check(
    "the thumbnail decodes as a 16:9 image",
    image.width === 640 && image.height === 360,
    image,
  );
}
