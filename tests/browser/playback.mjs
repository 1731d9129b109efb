// An uploaded file plays from its api.video assets: the player page's <video> loads the `mp4`
// asset (served by vidmock with Range) far enough to play, with the file's own duration, its
// caption's `src` loads as a <track> with its cues, and the thumbnail decodes as an image of
// the video's shape.

import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { watchPage } from "./harness.mjs";

export const name =
  "api.video playback: the mp4 asset plays in a <video> with its caption track, the thumbnail decodes";

const CAPTION = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nHello from vidmock\n";

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
  const captionForm = new FormData();
  captionForm.append("file", new Blob([CAPTION], { type: "text/vtt" }), "en.vtt");
  const captioned = await fetch(`${vidmock.url}/videos/${video.videoId}/captions/en`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${vidmock.apiKey}:`).toString("base64")}` },
    body: captionForm,
  });
  const caption = await captioned.json();
  checks.equal("a caption is uploaded", captioned.status, 200);
  checks.check("its src points at vidmock", caption.src?.startsWith(vidmock.url), caption);

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
  const track = await page.evaluate(async (src) => {
    const element = document.querySelector(`track[src="${src}"]`);
    if (!element) return { error: "the player page has no <track> for the caption" };
    // A hidden track loads its cues without showing them.
    element.track.mode = "hidden";
    for (let waited = 0; element.readyState < 2 && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cues = element.track.cues ? Array.from(element.track.cues, (cue) => cue.text) : [];
    return { readyState: element.readyState, cues };
  }, caption.src);
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
  checks.check("the caption's <track> loads (readyState 2)", track.readyState === 2, track);
  checks.check(
    "its cue is the uploaded caption's",
    track.cues?.length === 1 && track.cues[0] === "Hello from vidmock",
    track,
  );
  checks.check(
    "the thumbnail decodes as a 16:9 image",
    image.width === 640 && image.height === 360,
    image,
  );
}
