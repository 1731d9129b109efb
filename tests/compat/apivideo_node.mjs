// Compatibility checks: the official api.video Node.js client against vidmock.
//
// Environment:
//   VIDMOCK_URL              base URL of a running vidmock (required)
//   VIDMOCK_APIVIDEO_KEY     api.video API key known to the mock (default: vidmock-api-key)
//   VIDMOCK_COMPAT_RESULTS   where to write the JSON results (optional)
//   VIDMOCK_COMPAT_TARGET    `vidmock` (default) or `vendor`. Against a real api.video project,
//                            which must be empty at the start (the run refuses otherwise), a
//                            scenario starts by deleting the project's upload tokens and videos
//                            (what the run made) instead of POST /__vidmock/reset; the mock's
//                            clock is read as the local clock; the steps that need the mock's
//                            admin API (clock moves, faults, state) are skipped and said so
//
// The client is used exactly as published: it authenticates every request with
// HTTP Basic (`apiKey:`), and its own AdvancedAuthenticationApi drives
// /auth/api-key and /auth/refresh. The upload scenarios point a second client
// (chunkSize 5 MiB) at a recording proxy in this script, which forwards every
// request to vidmock and keeps what the client put on the wire: Content-Range,
// Authorization scheme and the multipart parts (field name, filename, size,
// sha256, text fields such as videoId).

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const CLIENT_PACKAGE = '@api.video/nodejs-client';
const ApiVideoClient = require(CLIENT_PACKAGE);
const AdvancedAuthenticationApi = require(`${CLIENT_PACKAGE}/lib/api/AdvancedAuthenticationApi`).default;
const ApiVideoError = require(`${CLIENT_PACKAGE}/lib/ApiVideoError`).default;
const CLIENT_VERSION = require(`${CLIENT_PACKAGE}/package.json`).version;

const BASE_URL = (process.env.VIDMOCK_URL || '').replace(/\/+$/, '');
const API_KEY = process.env.VIDMOCK_APIVIDEO_KEY || 'vidmock-api-key';
const RESULTS_PATH = process.env.VIDMOCK_COMPAT_RESULTS || '';
const TARGET = process.env.VIDMOCK_COMPAT_TARGET || 'vidmock';
const VENDOR = TARGET === 'vendor';

if (!BASE_URL) {
  console.error('VIDMOCK_URL is not set');
  process.exit(2);
}

const NOT_FOUND_TITLE = 'The requested resource could not be found.';
const INVALID_ATTRIBUTE_TITLE = 'An attribute is invalid.';
const TOKEN_RE = /^to[0-9A-Za-z]{21,22}$/;

// ---------------------------------------------------------------- reporting

const results = [];
const skipped = [];

/** A step only the mock can take (its admin API); skipped against a real vendor. */
class MockOnly extends Error {}

function skip(operation, scenario, check, reason) {
  skipped.push({ operation, scenario, check, reason });
  console.log(`SKIP node ${operation} [${scenario}] ${check}: ${reason}`);
}

function record(operation, scenario, check, ok, error) {
  results.push({ operation, scenario, check, ok, error: ok ? null : String(error ?? 'check failed') });
  const line = `${ok ? 'PASS' : 'FAIL'} node ${operation} [${scenario}] ${check}`;
  console.log(ok ? line : `${line}: ${error}`);
}

function describe(value) {
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function errorText(err) {
  if (err instanceof ApiVideoError) {
    return `ApiVideoError(code=${err.code}, problemDetails=${describe(err.problemDetails)})`;
  }
  return err && err.stack ? err.stack.split('\n').slice(0, 3).join(' | ') : String(err);
}

/** Runs one scenario: resets the mock, then `body(check)`; an unexpected throw fails the scenario. */
async function scenario(operation, name, body, { reset = true } = {}) {
  const check = (op, label, ok, detail) => record(op, name, label, Boolean(ok), detail);
  check.skip = (op, label, reason) => skip(op, name, label, reason);
  try {
    if (reset) await admin('POST', '/__vidmock/reset', undefined, 204);
    await body(check);
  } catch (err) {
    if (err instanceof MockOnly) {
      skip(operation, name, 'the rest of the scenario', `needs vidmock's admin API (${err.message})`);
      return;
    }
    record(operation, name, 'scenario completed without an unexpected error', false, errorText(err));
  }
}

/** Checks `actual === expected` (deep for plain JSON values). */
function eq(check, op, label, actual, expected) {
  const ok = describe(actual) === describe(expected);
  check(op, label, ok, `expected ${describe(expected)}, got ${describe(actual)}`);
  return ok;
}

/** Runs `fn`, expecting the client to reject with ApiVideoError of `status`. Returns the error. */
async function expectApiError(check, op, label, status, fn, expectedTitle) {
  try {
    const value = await fn();
    check(op, label, false, `expected ApiVideoError ${status}, call resolved with ${describe(value)}`);
    return null;
  } catch (err) {
    if (!(err instanceof ApiVideoError)) {
      check(op, label, false, `expected ApiVideoError ${status}, got ${errorText(err)}`);
      return null;
    }
    const title = err.problemDetails && err.problemDetails.title;
    const problems = [];
    if (err.code !== status) problems.push(`status ${err.code} != ${status}`);
    if (expectedTitle !== undefined && title !== expectedTitle) {
      problems.push(`title ${describe(title)} != ${describe(expectedTitle)}`);
    }
    if (typeof title !== 'string' || title === '') problems.push('problem title missing');
    else if (err.message !== title) problems.push(`error message ${describe(err.message)} != title`);
    check(op, label, problems.length === 0, `${problems.join('; ')} (${errorText(err)})`);
    return err;
  }
}

// ---------------------------------------------------------------- admin API (plain HTTP)

async function admin(method, path, body, expectedStatus) {
  if (VENDOR) {
    if (method === 'POST' && path === '/__vidmock/reset') return vendorReset();
    if (method === 'GET' && path === '/__vidmock/clock') return { now: new Date().toISOString() };
    throw new MockOnly(`${method} ${path}`);
  }
  const res = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (expectedStatus !== undefined && res.status !== expectedStatus) {
    throw new Error(`${method} ${path} answered ${res.status} (expected ${expectedStatus}): ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/** A plain request to the vendor with the API key (Basic); the JSON answer or null. */
async function vendorCall(method, path) {
  const res = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Basic ${Buffer.from(`${API_KEY}:`).toString('base64')}`, Accept: 'application/json' },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The project's upload tokens and videos (first 100 of each). */
async function vendorItems() {
  const tokens = (await vendorCall('GET', '/upload-tokens?pageSize=100')).data.map((t) => t.token);
  const videos = (await vendorCall('GET', '/videos?pageSize=100')).data.map((v) => v.videoId);
  return { tokens, videos };
}

/** The parity run's reset: deletes every upload token and video of the project, which held none
 * when the run started, so only what the run made. */
async function vendorReset() {
  const { tokens, videos } = await vendorItems();
  for (const token of tokens) await vendorCall('DELETE', `/upload-tokens/${token}`);
  for (const video of videos) await vendorCall('DELETE', `/videos/${video}`);
  return null;
}

const advanceClock = (seconds) => admin('POST', '/__vidmock/clock/advance', { seconds }, 200);
const mockNow = async () => new Date((await admin('GET', '/__vidmock/clock', undefined, 200)).now);

// ---------------------------------------------------------------- helpers

function newClient(apiKey = API_KEY) {
  return new ApiVideoClient({ apiKey, baseUri: BASE_URL });
}

function isDate(value) {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

/** Creates tokens with the given ttls, moving the mock clock 10 s between them so createdAt differs. */
async function createSpaced(client, ttls) {
  const tokens = [];
  for (const [i, ttl] of ttls.entries()) {
    // A real vendor's clock cannot be moved: wait past its one-second precision instead.
    if (i > 0) await (VENDOR ? new Promise((resolve) => setTimeout(resolve, 1100)) : advanceClock(10));
    tokens.push(await client.uploadTokens.createToken(ttl === undefined ? {} : { ttl }));
  }
  return tokens;
}

function queryOf(uri) {
  const q = new URL(uri, 'http://relative.invalid').searchParams;
  return { currentPage: q.get('currentPage'), pageSize: q.get('pageSize') };
}

/** Checks a pagination object against the expected numbers and the self/first/previous/next/last links. */
function checkPagination(check, label, pagination, { currentPage, pageSize, itemsTotal, currentPageItems }) {
  const op = 'listTokens';
  const pagesTotal = Math.ceil(itemsTotal / pageSize);
  if (!pagination) {
    check(op, `${label}: pagination present`, false, 'pagination missing');
    return;
  }
  eq(check, op, `${label}: pagination.currentPage`, pagination.currentPage, currentPage);
  eq(check, op, `${label}: pagination.pageSize`, pagination.pageSize, pageSize);
  eq(check, op, `${label}: pagination.pagesTotal`, pagination.pagesTotal, pagesTotal);
  eq(check, op, `${label}: pagination.itemsTotal`, pagination.itemsTotal, itemsTotal);
  eq(check, op, `${label}: pagination.currentPageItems`, pagination.currentPageItems, currentPageItems);

  const expectedRels = ['self', 'first'];
  if (currentPage > 1) expectedRels.push('previous');
  if (currentPage < pagesTotal) expectedRels.push('next');
  expectedRels.push('last');
  const links = Array.isArray(pagination.links) ? pagination.links : [];
  eq(check, op, `${label}: pagination.links rels in order`, links.map((l) => l.rel), expectedRels);

  const expectedPage = { self: currentPage, first: 1, previous: currentPage - 1, next: currentPage + 1, last: pagesTotal };
  const bad = [];
  for (const link of links) {
    if (!(link.rel in expectedPage)) continue;
    if (typeof link.uri !== 'string' || !link.uri.startsWith('/upload-tokens?')) {
      bad.push(`${link.rel}: uri ${describe(link.uri)} is not a relative /upload-tokens? URI`);
      continue;
    }
    const q = queryOf(link.uri);
    if (q.currentPage !== String(expectedPage[link.rel]) || q.pageSize !== String(pageSize)) {
      bad.push(`${link.rel}: ${link.uri} (expected currentPage=${expectedPage[link.rel]}&pageSize=${pageSize})`);
    }
  }
  check(op, `${label}: pagination.links URIs`, bad.length === 0, bad.join('; '));
}

// ---------------------------------------------------------------- uploads: test files, wire recorder, mock state

const MIB = 1024 * 1024;
const CHUNK_SIZE = 5 * MIB; // the client's chunkSize in the upload scenarios (its minimum)
const SMALL_SIZE = 300001; // one request: below the chunk size
const BIG_SIZE = 12 * MIB; // three chunks: 5 MiB, 5 MiB, 2 MiB
const VIDEO_ID_RE = /^vi[0-9A-Za-z]{22}$/;

const sha256hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** `size` deterministic pseudo-random bytes: sha256("label:0") || sha256("label:1") || ... */
function patternBytes(label, size) {
  const out = Buffer.alloc(size);
  for (let i = 0, offset = 0; offset < size; i += 1) {
    offset += createHash('sha256').update(`${label}:${i}`).digest().copy(out, offset);
  }
  return out;
}

/** Writes `bytes` to dir/name; returns {name, path, size, sha256}. */
function testFile(dir, name, bytes) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { name, path, size: bytes.length, sha256: sha256hex(bytes) };
}

/** Splits a multipart/form-data body into [{name, filename?, size, sha256, value?}]; null if not multipart. */
function parseMultipart(contentType, body) {
  const m = /^multipart\/form-data\s*;.*\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType || '');
  if (!m) return null;
  const delimiter = Buffer.from(`--${m[1] || m[2]}`);
  const parts = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString('latin1') === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const raw = body.subarray(start + 2, next - 2); // drop the CRLF after the delimiter and before the next
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, split).toString('latin1');
    const content = raw.subarray(split + 4);
    const disposition = (/^content-disposition:(.*)$/im.exec(head) || [])[1] || '';
    const name = (/\bname="([^"]*)"/i.exec(disposition) || [])[1] ?? null;
    const filename = (/\bfilename="([^"]*)"/i.exec(disposition) || [])[1];
    const part = { name, size: content.length, sha256: sha256hex(content) };
    if (filename === undefined) part.value = content.toString('utf8');
    else part.filename = filename;
    parts.push(part);
    at = next;
  }
  return parts;
}

/**
 * A recording proxy between a client and vidmock. It forwards each request as received (the
 * body is buffered, so a chunked body is re-sent with Content-Length) and keeps, per request,
 * the method, path, query, headers, multipart parts, response status and JSON response body.
 */
class WireRecorder {
  constructor(target) {
    this.target = new URL(target);
    this.requests = [];
  }

  async start() {
    this.server = createServer((req, res) => {
      this.forward(req, res).catch((err) => {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`compat recorder: ${err}`);
      });
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }

  close() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }

  clear() {
    this.requests = [];
  }

  /** The recorded uploads (POST /upload and POST /videos/{id}/source), summarised. */
  uploads() {
    return this.requests
      .filter((r) => r.method === 'POST' && (r.path === '/upload' || /^\/videos\/[^/]+\/source$/.test(r.path)))
      .map((r) => {
        const parts = r.parts || [];
        const files = parts.filter((p) => p.filename !== undefined);
        const fields = Object.fromEntries(parts.filter((p) => p.filename === undefined).map((p) => [p.name, p.value]));
        return {
          path: r.path,
          token: r.query.token ?? null,
          contentRange: r.headers['content-range'] ?? null,
          authScheme: (r.headers.authorization || '').split(' ')[0] || null,
          fileParts: files.length,
          field: files[0]?.name ?? null,
          filename: files[0]?.filename ?? null,
          size: files[0]?.size ?? null,
          sha256: files[0]?.sha256 ?? null,
          videoId: fields.videoId ?? null,
          status: r.status,
          response: r.response,
        };
      });
  }

  async forward(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://recorder.invalid');
    const entry = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      parts: parseMultipart(req.headers['content-type'], body),
      status: null,
      response: null,
    };
    this.requests.push(entry);

    const headers = { ...req.headers, host: this.target.host };
    delete headers.connection;
    if (headers['transfer-encoding'] !== undefined) {
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
    }
    const upstream = await new Promise((resolve, reject) => {
      const out = (this.target.protocol === 'https:' ? httpsRequest : httpRequest)({
        hostname: this.target.hostname, port: this.target.port, method: req.method,
        path: req.url, headers,
      }, resolve);
      out.on('error', reject);
      out.end(body);
    });
    const answer = [];
    for await (const chunk of upstream) answer.push(chunk);
    const answerBody = Buffer.concat(answer);
    entry.status = upstream.statusCode;
    try {
      entry.response = answerBody.length ? JSON.parse(answerBody.toString('utf8')) : null;
    } catch {
      entry.response = answerBody.toString('utf8');
    }
    const answerHeaders = { ...upstream.headers };
    delete answerHeaders.connection;
    delete answerHeaders['transfer-encoding'];
    delete answerHeaders['keep-alive'];
    if (upstream.statusCode !== 204 && upstream.statusCode !== 304) {
      answerHeaders['content-length'] = String(answerBody.length);
    }
    res.writeHead(upstream.statusCode, answerHeaders);
    res.end(answerBody);
  }
}

/** The api.video videos vidmock holds for the project of API_KEY (GET /__vidmock/state). */
async function mockVideos() {
  const state = await admin('GET', '/__vidmock/state', undefined, 200);
  const projects = (state && state.apivideo && state.apivideo.projects) || [];
  const project = projects.find((p) => p.apiKey === API_KEY) || projects[0] || {};
  return project.videos || [];
}

/** Checks a Video as the client's typed model returns it. */
function checkVideoModel(check, op, label, video, { videoId, title } = {}) {
  const problems = [];
  if (!video || typeof video !== 'object') problems.push(`not an object: ${describe(video)}`);
  else {
    if (!VIDEO_ID_RE.test(video.videoId || '')) problems.push(`videoId ${describe(video.videoId)}`);
    if (videoId !== undefined && video.videoId !== videoId) problems.push(`videoId ${video.videoId} != ${videoId}`);
    if (title !== undefined && video.title !== title) problems.push(`title ${describe(video.title)} != ${describe(title)}`);
    for (const field of ['createdAt', 'publishedAt', 'updatedAt']) {
      if (!isDate(video[field])) problems.push(`${field} is not a Date: ${describe(video[field])}`);
    }
    if (!Array.isArray(video.tags)) problems.push('tags is not an array');
    if (!Array.isArray(video.metadata)) problems.push('metadata is not an array');
    if (!video.source || video.source.uri !== `/videos/${video.videoId}/source`) {
      problems.push(`source.uri ${describe(video.source && video.source.uri)}`);
    }
    const assets = video.assets || {};
    for (const field of ['iframe', 'player', 'hls', 'thumbnail', 'mp4']) {
      if (typeof assets[field] !== 'string' || !assets[field]) problems.push(`assets.${field} missing`);
    }
    // The model renames the wire's `public` to `_public`.
    for (const field of ['_public', 'panoramic', 'mp4Support', 'discarded']) {
      if (typeof video[field] !== 'boolean') problems.push(`${field} is not a boolean`);
    }
  }
  check(op, `${label}: a full Video (typed model)`, problems.length === 0, `${problems.join('; ')} in ${describe(video)}`);
}

/** Runs `fn` expecting it to resolve; records a failed check with the error otherwise. Returns [ok, value]. */
async function attempt(check, op, label, fn) {
  try {
    const value = await fn();
    check(op, label, true);
    return [true, value];
  } catch (err) {
    check(op, label, false, errorText(err));
    return [false, undefined];
  }
}

// ---------------------------------------------------------------- scenarios

async function main() {
  if (VENDOR) {
    let items;
    try {
      items = await vendorItems();
    } catch (err) {
      items = { error: errorText(err) };
    }
    const empty = items.tokens && items.tokens.length === 0 && items.videos.length === 0;
    record('authenticate', 'parity', "the vendor's project is empty at the start", empty,
      `refusing to run against a project that holds upload tokens or videos: ${describe(items)}`);
    if (!empty) return;
  }
  const client = newClient();
  const auth = new AdvancedAuthenticationApi(client.httpClient);

  await scenario('authenticate', 'basic auth with the api key', async (check) => {
    const list = await client.uploadTokens.list();
    check('authenticate', 'a request authenticated with Basic apiKey: succeeds', Array.isArray(list.data), describe(list));

    const bad = newClient('not-a-known-api-key');
    await expectApiError(check, 'authenticate', 'an unknown api key is rejected with 401', 401, () => bad.uploadTokens.list());
  });

  await scenario('authenticate', 'bearer token from /auth/api-key', async (check) => {
    const token = await client.getAccessToken();
    eq(check, 'authenticate', 'getAccessToken(): tokenType', token.tokenType, 'Bearer');
    eq(check, 'authenticate', 'getAccessToken(): expiresIn', token.expiresIn, 3600);
    check('authenticate', 'getAccessToken(): accessToken and refreshToken are non-empty strings',
      typeof token.accessToken === 'string' && token.accessToken.length > 0 &&
      typeof token.refreshToken === 'string' && token.refreshToken.length > 0, describe(token));

    const viaApi = await auth.authenticate({ apiKey: API_KEY });
    eq(check, 'authenticate', 'AdvancedAuthenticationApi.authenticate(): tokenType', viaApi.tokenType, 'Bearer');
    check('authenticate', 'AdvancedAuthenticationApi.authenticate(): returns a new access token',
      typeof viaApi.accessToken === 'string' && viaApi.accessToken.length > 0 && viaApi.accessToken !== token.accessToken,
      describe(viaApi));

    await expectApiError(check, 'authenticate', 'a wrong api key on /auth/api-key is rejected with 400',
      400, () => auth.authenticate({ apiKey: 'not-a-known-api-key' }), 'The user credentials were incorrect.');
  });

  await scenario('refreshToken', 'refresh a bearer token', async (check) => {
    const first = await auth.authenticate({ apiKey: API_KEY });
    const refreshed = await auth.refresh({ refreshToken: first.refreshToken });
    eq(check, 'refreshToken', 'refresh(): tokenType', refreshed.tokenType, 'Bearer');
    eq(check, 'refreshToken', 'refresh(): expiresIn', refreshed.expiresIn, 3600);
    check('refreshToken', 'refresh(): returns new access and refresh tokens',
      typeof refreshed.accessToken === 'string' && refreshed.accessToken.length > 0 &&
      refreshed.accessToken !== first.accessToken &&
      typeof refreshed.refreshToken === 'string' && refreshed.refreshToken.length > 0 &&
      refreshed.refreshToken !== first.refreshToken, describe({ first, refreshed }));

    await expectApiError(check, 'refreshToken', 'an unknown refresh token is rejected with 400',
      400, () => auth.refresh({ refreshToken: 'def502-not-a-known-refresh-token' }), 'The user credentials were incorrect.');
  });

  await scenario('createToken', 'create without ttl', async (check) => {
    const before = await mockNow();
    const token = await client.uploadTokens.createToken();
    check('createToken', 'token id has the to + base62 form', TOKEN_RE.test(token.token || ''), describe(token.token));
    eq(check, 'createToken', 'ttl is 0', token.ttl, 0);
    check('createToken', 'expiresAt is null', token.expiresAt === null, describe(token.expiresAt));
    check('createToken', 'createdAt is a date close to the mock clock',
      isDate(token.createdAt) && Math.abs(token.createdAt - before) <= (VENDOR ? 300000 : 5000),
      `createdAt ${describe(token.createdAt)}, mock clock ${describe(before)}`);
  });

  await scenario('createToken', 'create with ttl 3600', async (check) => {
    const token = await client.uploadTokens.createToken({ ttl: 3600 });
    check('createToken', 'token id has the to + base62 form', TOKEN_RE.test(token.token || ''), describe(token.token));
    eq(check, 'createToken', 'ttl is 3600', token.ttl, 3600);
    check('createToken', 'expiresAt = createdAt + 1 h',
      isDate(token.createdAt) && isDate(token.expiresAt) && token.expiresAt - token.createdAt === 3600 * 1000,
      `createdAt ${describe(token.createdAt)}, expiresAt ${describe(token.expiresAt)}`);
  });

  await scenario('createToken', 'invalid ttl', async (check) => {
    await expectApiError(check, 'createToken', 'ttl -1 is rejected with 400 and a problem title', 400,
      () => client.uploadTokens.createToken({ ttl: -1 }), INVALID_ATTRIBUTE_TITLE);
    await expectApiError(check, 'createToken', 'ttl 2147483648 is rejected with 400 and a problem title', 400,
      () => client.uploadTokens.createToken({ ttl: 2147483648 }), INVALID_ATTRIBUTE_TITLE);
    const list = await client.uploadTokens.list();
    eq(check, 'listTokens', 'rejected creations left no token behind', list.pagination && list.pagination.itemsTotal, 0);
  });

  await scenario('listTokens', 'list with sortBy/sortOrder', async (check) => {
    // Created in this order, 10 s apart on the mock clock.
    const [a, b, c] = await createSpaced(client, [600, undefined, 3600]);
    const ids = (list) => list.data.map((t) => t.token);

    const createdAsc = await client.uploadTokens.list({ sortBy: 'createdAt', sortOrder: 'asc' });
    eq(check, 'listTokens', 'sortBy=createdAt sortOrder=asc', ids(createdAsc), [a.token, b.token, c.token]);
    const createdDesc = await client.uploadTokens.list({ sortBy: 'createdAt', sortOrder: 'desc' });
    eq(check, 'listTokens', 'sortBy=createdAt sortOrder=desc', ids(createdDesc), [c.token, b.token, a.token]);
    const ttlAsc = await client.uploadTokens.list({ sortBy: 'ttl', sortOrder: 'asc' });
    eq(check, 'listTokens', 'sortBy=ttl sortOrder=asc (0 first)', ids(ttlAsc), [b.token, a.token, c.token]);
    const ttlDesc = await client.uploadTokens.list({ sortBy: 'ttl', sortOrder: 'desc' });
    eq(check, 'listTokens', 'sortBy=ttl sortOrder=desc', ids(ttlDesc), [c.token, a.token, b.token]);

    const listed = createdAsc.data.find((t) => t.token === b.token) || {};
    check('listTokens', 'listed items carry ttl, createdAt and expiresAt like the created token',
      listed.ttl === 0 && listed.expiresAt === null && isDate(listed.createdAt) &&
      listed.createdAt.getTime() === b.createdAt.getTime(), describe(listed));

    const plain = await client.uploadTokens.list();
    checkPagination(check, 'default page', plain.pagination, { currentPage: 1, pageSize: 25, itemsTotal: 3, currentPageItems: 3 });
  });

  await scenario('listTokens', 'list with pagination', async (check) => {
    const tokens = await createSpaced(client, [100, 200, 300]);
    const sort = { sortBy: 'createdAt', sortOrder: 'asc' };
    for (const currentPage of [1, 2, 3]) {
      const page = await client.uploadTokens.list({ ...sort, pageSize: 1, currentPage });
      eq(check, 'listTokens', `pageSize=1 currentPage=${currentPage}: data`,
        page.data.map((t) => t.token), [tokens[currentPage - 1].token]);
      checkPagination(check, `pageSize=1 currentPage=${currentPage}`, page.pagination,
        { currentPage, pageSize: 1, itemsTotal: 3, currentPageItems: 1 });
    }
    const second = await client.uploadTokens.list({ ...sort, pageSize: 2, currentPage: 2 });
    eq(check, 'listTokens', 'pageSize=2 currentPage=2: data', second.data.map((t) => t.token), [tokens[2].token]);
    checkPagination(check, 'pageSize=2 currentPage=2', second.pagination, { currentPage: 2, pageSize: 2, itemsTotal: 3, currentPageItems: 1 });

    await expectApiError(check, 'listTokens', 'pageSize=0 is rejected with 400', 400,
      () => client.uploadTokens.list({ pageSize: 0 }));
    await expectApiError(check, 'listTokens', 'pageSize=101 is rejected with 400', 400,
      () => client.uploadTokens.list({ pageSize: 101 }));
  });

  await scenario('getToken', 'get a token', async (check) => {
    const created = await client.uploadTokens.createToken({ ttl: 3600 });
    const got = await client.uploadTokens.getToken(created.token);
    eq(check, 'getToken', 'token', got.token, created.token);
    eq(check, 'getToken', 'ttl', got.ttl, 3600);
    check('getToken', 'createdAt and expiresAt match the created token',
      isDate(got.createdAt) && isDate(got.expiresAt) &&
      got.createdAt.getTime() === created.createdAt.getTime() &&
      got.expiresAt.getTime() === created.expiresAt.getTime(), describe({ got, created }));

    const forever = await client.uploadTokens.createToken({ ttl: 0 });
    const gotForever = await client.uploadTokens.getToken(forever.token);
    check('getToken', 'a ttl 0 token reads back with expiresAt null',
      gotForever.ttl === 0 && gotForever.expiresAt === null, describe(gotForever));

    await expectApiError(check, 'getToken', 'an unknown token gives 404', 404,
      () => client.uploadTokens.getToken('to0000000000000000000000'), NOT_FOUND_TITLE);
  });

  await scenario('deleteToken', 'delete a token', async (check) => {
    const victim = await client.uploadTokens.createToken();
    const keeper = await client.uploadTokens.createToken({ ttl: 3600 });
    let deleted = false;
    try {
      await client.uploadTokens.deleteToken(victim.token);
      deleted = true;
      check('deleteToken', 'deleteToken() resolves (204 without a body)', true);
    } catch (err) {
      check('deleteToken', 'deleteToken() resolves (204 without a body)', false, errorText(err));
    }
    if (deleted) {
      await expectApiError(check, 'getToken', 'get after delete gives 404', 404,
        () => client.uploadTokens.getToken(victim.token), NOT_FOUND_TITLE);
      const list = await client.uploadTokens.list();
      eq(check, 'listTokens', 'a deleted token is absent from the list', list.data.map((t) => t.token), [keeper.token]);
      await expectApiError(check, 'deleteToken', 'deleting it again gives 404', 404,
        () => client.uploadTokens.deleteToken(victim.token), NOT_FOUND_TITLE);
    }
  });

  await scenario('getToken', 'token expiry', async (check) => {
    const shortLived = await client.uploadTokens.createToken({ ttl: 60 });
    const forever = await client.uploadTokens.createToken();
    // createdAt has second precision, so stay clear of the boundary before expiry.
    await advanceClock(55);
    const stillThere = await client.uploadTokens.getToken(shortLived.token);
    eq(check, 'getToken', 'a ttl 60 token is still readable after 55 s', stillThere.token, shortLived.token);

    await advanceClock(6);
    await expectApiError(check, 'getToken', 'a ttl 60 token gives 404 after 61 s', 404,
      () => client.uploadTokens.getToken(shortLived.token), NOT_FOUND_TITLE);
    const list = await client.uploadTokens.list();
    eq(check, 'listTokens', 'an expired token is absent from the list', list.data.map((t) => t.token), [forever.token]);
    eq(check, 'listTokens', 'itemsTotal counts only active tokens', list.pagination && list.pagination.itemsTotal, 1);
  });

  await scenario('createWebhook', 'webhooks: create, get, list with a filter, delete', async (check) => {
    const created = await client.webhooks.create({
      events: ['video.encoding.quality.completed'],
      url: 'https://example.com/vidmock-compat/hooks',
    });
    check('createWebhook', 'a webhookId, the events, the url and a signatureSecret',
      typeof created.webhookId === 'string' && created.webhookId.startsWith('webhook_') &&
      typeof created.signatureSecret === 'string' && created.signatureSecret.length > 0 &&
      created.url === 'https://example.com/vidmock-compat/hooks' && isDate(created.createdAt),
      describe(created));
    eq(check, 'createWebhook', 'events', created.events, ['video.encoding.quality.completed']);
    const other = await client.webhooks.create({
      events: ['live-stream.broadcast.started'],
      url: 'https://example.com/vidmock-compat/live',
    });
    try {
      const got = await client.webhooks.get(created.webhookId);
      eq(check, 'getWebhook', 'get reads back the created webhook',
        [got.webhookId, got.url, got.signatureSecret, got.createdAt.getTime()],
        [created.webhookId, created.url, created.signatureSecret, created.createdAt.getTime()]);
      const filtered = await client.webhooks.list({ events: 'video.encoding.quality.completed' });
      eq(check, 'listWebhooks', 'the events filter keeps the subscribed webhook',
        filtered.data.map((w) => w.webhookId), [created.webhookId]);
      const paged = await client.webhooks.list({ pageSize: 1, currentPage: 2 });
      eq(check, 'listWebhooks', 'page 2 of size 1 holds the second webhook',
        paged.data.map((w) => w.webhookId), [other.webhookId]);
      eq(check, 'listWebhooks', 'itemsTotal', paged.pagination && paged.pagination.itemsTotal, 2);
      await expectApiError(check, 'createWebhook', 'a webhook without events gives 400', 400,
        () => client.webhooks.create({ url: 'https://example.com/x' }));
    } finally {
      await client.webhooks.delete(created.webhookId);
      await client.webhooks.delete(other.webhookId);
    }
    check('deleteWebhook', 'delete() resolves (204 without a body)', true);
    await expectApiError(check, 'getWebhook', 'get after delete gives 404', 404,
      () => client.webhooks.get(created.webhookId));
  });

  const dir = mkdtempSync(join(tmpdir(), 'vidmock-compat-node-'));
  const recorder = new WireRecorder(BASE_URL);
  await recorder.start();
  try {
    await uploadScenarios(dir, recorder);
    await videoApiScenarios(dir, client);
  } finally {
    await recorder.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- upload and video scenarios

/** Checks the videos vidmock holds after an upload that should have produced exactly `file` in one video. */
async function checkOneCompleteVideo(check, op, videoId, title, file, totalParts) {
  if (VENDOR) {
    check.skip(op, 'server: the video, its parts and sha256', 'needs vidmock\'s admin API (GET /__vidmock/state)');
    return;
  }
  const videos = await mockVideos();
  eq(check, op, 'server: exactly one video, the one answered', videos.map((v) => v.videoId), [videoId]);
  const v = videos[0] || {};
  eq(check, op, 'server: complete', v.complete, true);
  eq(check, op, 'server: title', v.title, title);
  eq(check, op, 'server: size', v.size, file.size);
  if (totalParts !== undefined) {
    eq(check, op, 'server: parts received / total parts', [v.receivedParts, v.totalParts],
      [Array.from({ length: totalParts }, (_, i) => i + 1), totalParts]);
  }
  eq(check, op, 'server: sha256 = the file\'s', v.sha256, file.sha256);
}

/** Checks the status of each recorded upload; a failure shows every request and its answer. */
function checkStatuses(check, op, label, sent, expected) {
  const got = sent.map((s) => s.status);
  check(op, label, describe(got) === describe(expected), `expected ${describe(expected)}, got ${describe(sent.map((s) => ({
    path: s.path, contentRange: s.contentRange, videoId: s.videoId, size: s.size, status: s.status, response: s.response,
  })))}`);
}

const wireFiles = (sent) => sent.map((s) => [s.fileParts, s.field, s.filename]);
const responseKeys = (sent) => sent.map((s) => (s.response && typeof s.response === 'object' ? Object.keys(s.response) : s.response));

async function uploadScenarios(dir, recorder) {
  const bigBytes = patternBytes('vidmock-compat 12mib', BIG_SIZE);
  const small = testFile(dir, 'compat-small.bin', patternBytes('vidmock-compat small', SMALL_SIZE));
  const big = testFile(dir, 'compat-12mib.bin', bigBytes);
  const pieces = [0, 1, 2].map((i) => testFile(dir, `compat-12mib.bin.part.${'abc'[i]}`,
    bigBytes.subarray(i * CHUNK_SIZE, Math.min((i + 1) * CHUNK_SIZE, BIG_SIZE))));
  // The client configures its chunk size in the constructor (5 MiB is its minimum).
  const wired = new ApiVideoClient({ apiKey: API_KEY, baseUri: recorder.url, chunkSize: CHUNK_SIZE });

  await scenario('uploadWithUploadToken', 'upload token, small file in one request', async (check) => {
    const op = 'uploadWithUploadToken';
    const token = await wired.uploadTokens.createToken();
    recorder.clear();
    const [ok, video] = await attempt(check, op, 'uploadWithUploadToken() resolves',
      () => wired.videos.uploadWithUploadToken(token.token, small.path));
    const sent = recorder.uploads();
    eq(check, op, 'wire: one request to /upload?token=', sent.map((s) => [s.path, s.token]), [['/upload', token.token]]);
    eq(check, op, 'wire: no Content-Range header', sent.map((s) => s.contentRange), [null]);
    eq(check, op, 'wire: no videoId field', sent.map((s) => s.videoId), [null]);
    eq(check, op, 'wire: Authorization Basic sent to /upload as well', sent.map((s) => s.authScheme), ['Basic']);
    eq(check, op, 'wire: one file part, field name and filename = the file name', wireFiles(sent),
      [[1, small.name, small.name]]);
    eq(check, op, 'wire: the part holds the whole file (size, sha256)', sent.map((s) => [s.size, s.sha256]),
      [[small.size, small.sha256]]);
    checkStatuses(check, op, 'answered 201', sent, [201]);
    if (ok) checkVideoModel(check, op, 'returned value', video, { title: small.name });
    await checkOneCompleteVideo(check, op, video && video.videoId, small.name, small);
  });

  await scenario('uploadWithUploadToken', 'upload token, 12 MiB in 5 MiB chunks (no videoId after chunk 1)', async (check) => {
    const op = 'uploadWithUploadToken';
    const token = await wired.uploadTokens.createToken();
    recorder.clear();
    const [ok, video] = await attempt(check, op, 'uploadWithUploadToken() resolves',
      () => wired.videos.uploadWithUploadToken(token.token, big.path));
    const sent = recorder.uploads();
    eq(check, op, 'wire: three requests to /upload?token=', sent.map((s) => [s.path, s.token]),
      [0, 1, 2].map(() => ['/upload', token.token]));
    eq(check, op, 'wire: Content-Range per chunk', sent.map((s) => s.contentRange), ['part 1/3', 'part 2/3', 'part 3/3']);
    eq(check, op, 'wire: videoId field per chunk (never sent)', sent.map((s) => s.videoId), [null, null, null]);
    eq(check, op, 'wire: one file part per chunk, field name and filename = the file name', wireFiles(sent),
      [0, 1, 2].map(() => [1, big.name, big.name]));
    eq(check, op, 'wire: chunk sizes', sent.map((s) => s.size), pieces.map((p) => p.size));
    eq(check, op, 'wire: the chunks are the file\'s consecutive slices (sha256)', sent.map((s) => s.sha256),
      pieces.map((p) => p.sha256));
    checkStatuses(check, op, 'every chunk answered 201', sent, [201, 201, 201]);
    const answered = sent.map((s) => s.response && s.response.videoId);
    check(op, 'each chunk answered a different new videoId', answered.length === 3 &&
      answered.every((id) => VIDEO_ID_RE.test(id || '')) && new Set(answered).size === 3, describe(answered));
    eq(check, op, 'each answer is only {videoId} (no chunk completes a video)', responseKeys(sent),
      [['videoId'], ['videoId'], ['videoId']]);
    if (ok) {
      eq(check, op, 'the client returns the last answer: videoId of the third video, nothing else',
        [video.videoId, video.title, video.assets], [answered[2], undefined, undefined]);
    }

    const videos = await mockVideos();
    const byId = new Map(videos.map((v) => [v.videoId, v]));
    eq(check, op, 'server: three videos, the ones answered', videos.map((v) => v.videoId).sort(), [...answered].sort());
    eq(check, op, 'server: none complete', answered.map((id) => byId.get(id)?.complete), [false, false, false]);
    eq(check, op, 'server: video n holds only part n of 3', answered.map((id) => [byId.get(id)?.receivedParts, byId.get(id)?.totalParts]),
      [[[1], 3], [[2], 3], [[3], 3]]);
    eq(check, op, 'server: bytes received per video', answered.map((id) => byId.get(id)?.receivedBytes),
      pieces.map((p) => p.size));
    eq(check, op, 'server: every title = the file name', answered.map((id) => byId.get(id)?.title), [big.name, big.name, big.name]);
    check(op, 'server: no video has the file\'s sha256', videos.length > 0 && videos.every((v) => v.sha256 !== big.sha256),
      describe(videos.map((v) => v.sha256)));

    if (answered.length === 3 && answered[2]) {
      const status = await wired.videos.getStatus(answered[2]);
      eq(check, 'getVideoStatus', 'getStatus(third video): uploading, received part 3 of 3',
        [status.ingest && status.ingest.status, status.ingest && status.ingest.receivedParts],
        ['uploading', { parts: [3], total: 3 }]);
    }
  });

  await scenario('uploadWithUploadToken', 'upload token progressive session, 12 MiB in 5 MiB parts', async (check) => {
    const op = 'uploadWithUploadToken';
    const token = await wired.uploadTokens.createToken();
    recorder.clear();
    const session = wired.videos.createUploadWithUploadTokenProgressiveSession(token.token);
    const first = await session.uploadPart(pieces[0].path);
    const second = await session.uploadPart(pieces[1].path);
    const last = await session.uploadLastPart(pieces[2].path);
    const sent = recorder.uploads();
    eq(check, op, 'wire: three requests to /upload?token=', sent.map((s) => [s.path, s.token]),
      [0, 1, 2].map(() => ['/upload', token.token]));
    eq(check, op, 'wire: Content-Range per part', sent.map((s) => s.contentRange), ['part 1/*', 'part 2/*', 'part 3/3']);
    eq(check, op, 'wire: videoId field per part (from the first answer)', sent.map((s) => s.videoId),
      [null, first.videoId, first.videoId]);
    eq(check, op, 'wire: one file part per request, field name and filename = the part\'s file name', wireFiles(sent),
      pieces.map((p) => [1, p.name, p.name]));
    eq(check, op, 'wire: part sizes and sha256', sent.map((s) => [s.size, s.sha256]), pieces.map((p) => [p.size, p.sha256]));
    checkStatuses(check, op, 'every part answered 201', sent, [201, 201, 201]);
    check(op, 'part 1 answered a videoId', VIDEO_ID_RE.test(first.videoId || ''), describe(first));
    eq(check, op, 'parts 1 and 2 answered only {videoId}', responseKeys(sent).slice(0, 2), [['videoId'], ['videoId']]);
    eq(check, op, 'part 2 answered the same videoId', second.videoId, first.videoId);
    checkVideoModel(check, op, 'uploadLastPart()', last, { videoId: first.videoId, title: pieces[0].name });
    await checkOneCompleteVideo(check, op, first.videoId, pieces[0].name, big, 3);
  });

  await scenario('uploadVideo', 'videos.create then videos.upload, small file', async (check) => {
    const op = 'uploadVideo';
    const title = 'compat source small';
    const created = await wired.videos.create({ title });
    checkVideoModel(check, 'createVideo', 'create()', created, { title });
    recorder.clear();
    const [ok, uploaded] = await attempt(check, op, 'upload() resolves', () => wired.videos.upload(created.videoId, small.path));
    const sent = recorder.uploads();
    eq(check, op, 'wire: one request to /videos/{id}/source', sent.map((s) => s.path), [`/videos/${created.videoId}/source`]);
    eq(check, op, 'wire: Authorization Basic', sent.map((s) => s.authScheme), ['Basic']);
    eq(check, op, 'wire: no Content-Range header', sent.map((s) => s.contentRange), [null]);
    eq(check, op, 'wire: one file part, field name and filename = the file name', wireFiles(sent), [[1, small.name, small.name]]);
    eq(check, op, 'wire: the part holds the whole file (size, sha256)', sent.map((s) => [s.size, s.sha256]),
      [[small.size, small.sha256]]);
    checkStatuses(check, op, 'answered 201', sent, [201]);
    if (ok) checkVideoModel(check, op, 'returned value', uploaded, { videoId: created.videoId, title });
    await checkOneCompleteVideo(check, op, created.videoId, title, small);
  });

  await scenario('uploadVideo', 'videos.create then videos.upload, 12 MiB in 5 MiB chunks', async (check) => {
    const op = 'uploadVideo';
    const title = 'compat source 12 MiB';
    const created = await wired.videos.create({ title });
    recorder.clear();
    const [ok, uploaded] = await attempt(check, op, 'upload() resolves', () => wired.videos.upload(created.videoId, big.path));
    const sent = recorder.uploads();
    const path = `/videos/${created.videoId}/source`;
    eq(check, op, 'wire: three requests to /videos/{id}/source', sent.map((s) => s.path), [path, path, path]);
    eq(check, op, 'wire: Authorization Basic on every chunk', sent.map((s) => s.authScheme), ['Basic', 'Basic', 'Basic']);
    eq(check, op, 'wire: Content-Range per chunk', sent.map((s) => s.contentRange), ['part 1/3', 'part 2/3', 'part 3/3']);
    eq(check, op, 'wire: no videoId field (the id is in the path)', sent.map((s) => s.videoId), [null, null, null]);
    eq(check, op, 'wire: one file part per chunk, field name and filename = the file name', wireFiles(sent),
      [0, 1, 2].map(() => [1, big.name, big.name]));
    eq(check, op, 'wire: chunk sizes and sha256', sent.map((s) => [s.size, s.sha256]), pieces.map((p) => [p.size, p.sha256]));
    checkStatuses(check, op, 'every chunk answered 201', sent, [201, 201, 201]);
    eq(check, op, 'chunks 1 and 2 answered only {videoId} of the video', sent.slice(0, 2).map((s) => s.response),
      [{ videoId: created.videoId }, { videoId: created.videoId }]);
    if (ok) checkVideoModel(check, op, 'returned value (last answer)', uploaded, { videoId: created.videoId, title });
    await checkOneCompleteVideo(check, op, created.videoId, title, big, 3);

    const status = await wired.videos.getStatus(created.videoId);
    const ingest = status.ingest || {};
    eq(check, 'getVideoStatus', 'getStatus(): ingest status, filesize, received parts',
      [ingest.status, ingest.filesize, ingest.receivedParts], ['uploaded', big.size, { parts: [1, 2, 3], total: 3 }]);
  });

  await scenario('getVideo', 'video round trip: create, get, update, list, status, delete', async (check) => {
    const created = await wired.videos.create({
      title: 'compat round trip', description: 'made by the compat suite', tags: ['compat'],
      metadata: [{ key: 'suite', value: 'node' }],
    });
    const id = created.videoId;
    checkVideoModel(check, 'createVideo', 'create()', created, { title: 'compat round trip' });
    eq(check, 'createVideo', 'create(): description, tags, metadata',
      [created.description, created.tags, created.metadata],
      ['made by the compat suite', ['compat'], [{ key: 'suite', value: 'node' }]]);
    await wired.videos.upload(id, small.path);

    const got = await wired.videos.get(id);
    checkVideoModel(check, 'getVideo', 'get()', got, { videoId: id, title: 'compat round trip' });
    eq(check, 'getVideo', 'get(): description, tags, metadata as created',
      [got.description, got.tags, got.metadata], [created.description, created.tags, created.metadata]);
    check('getVideo', 'get(): createdAt as created', isDate(got.createdAt) && isDate(created.createdAt) &&
      got.createdAt.getTime() === created.createdAt.getTime(), describe({ got: got.createdAt, created: created.createdAt }));

    const updated = await wired.videos.update(id, { title: 'compat renamed' });
    checkVideoModel(check, 'updateVideo', 'update()', updated, { videoId: id, title: 'compat renamed' });
    eq(check, 'updateVideo', 'update(): other fields kept', [updated.description, updated.tags, updated.metadata],
      [created.description, created.tags, created.metadata]);
    eq(check, 'getVideo', 'get() after update shows the new title', (await wired.videos.get(id)).title, 'compat renamed');

    const listing = await wired.videos.list();
    eq(check, 'listVideos', 'list(): the one video', (listing.data || []).map((v) => v.videoId), [id]);
    checkVideoModel(check, 'listVideos', 'list() item', (listing.data || [])[0], { videoId: id, title: 'compat renamed' });
    const p = listing.pagination || {};
    eq(check, 'listVideos', 'list(): pagination currentPage, pageSize, pagesTotal, itemsTotal, currentPageItems',
      [p.currentPage, p.pageSize, p.pagesTotal, p.itemsTotal, p.currentPageItems], [1, 25, 1, 1, 1]);

    const status = await wired.videos.getStatus(id);
    const ingest = status.ingest || {};
    const encoding = status.encoding || {};
    eq(check, 'getVideoStatus', 'getStatus(): ingest status and filesize', [ingest.status, ingest.filesize], ['uploaded', small.size]);
    check('getVideoStatus', 'getStatus(): typed model (receivedBytes, receivedParts, playable, qualities, metadata)',
      Array.isArray(ingest.receivedBytes) && ingest.receivedBytes.every((r) => Number.isInteger(r.from) &&
        Number.isInteger(r.to) && Number.isInteger(r.total)) &&
      ingest.receivedParts && Array.isArray(ingest.receivedParts.parts) &&
      typeof encoding.playable === 'boolean' && Array.isArray(encoding.qualities) &&
      encoding.metadata && typeof encoding.metadata === 'object', describe(status));

    const [deleted] = await attempt(check, 'deleteVideo', 'delete() resolves (204)', () => wired.videos.delete(id));
    if (deleted) {
      await expectApiError(check, 'getVideo', 'get after delete gives 404', 404, () => wired.videos.get(id), NOT_FOUND_TITLE);
      eq(check, 'listVideos', 'a deleted video is absent from the list', ((await wired.videos.list()).data || []).length, 0);
      await expectApiError(check, 'deleteVideo', 'deleting it again gives 404', 404, () => wired.videos.delete(id), NOT_FOUND_TITLE);
      eq(check, 'deleteVideo', 'server: no video left', (await mockVideos()).length, 0);
    }
  });

  await scenario('getVideoStatus', 'lifecycle: ingest, then qualities encoded as the clock moves, with the file\'s metadata', async (check) => {
    const op = 'getVideoStatus';
    const fixture = fileURLToPath(new URL('../../fixtures/media/sample-640x360-audio.mp4', import.meta.url));
    const created = await wired.videos.create({ title: 'compat lifecycle' });
    const id = created.videoId;
    await wired.videos.upload(id, fixture);
    const before = await wired.videos.getStatus(id);
    check(op, 'getStatus() right after the upload: uploaded or ingesting, not playable',
      ['uploaded', 'ingesting'].includes(before.ingest.status) && before.encoding.playable === false, describe(before));

    await admin('POST', '/__vidmock/clock/advance', { seconds: 3 }, 200);
    const playable = await wired.videos.getStatus(id);
    eq(check, op, 'getStatus() 3 s later: ingested and playable', [playable.ingest.status, playable.encoding.playable], ['ingested', true]);
    eq(check, op, 'getStatus(): the lowest quality of each type encoded first',
      (playable.encoding.qualities || []).filter((q) => q.quality === '240p').map((q) => [q.type, q.status]),
      [['hls', 'encoded'], ['mp4', 'encoded']]);
    const m = playable.encoding.metadata || {};
    eq(check, op, 'getStatus(): metadata read from the uploaded file',
      [m.width, m.height, m.duration, m.framerate, m.samplerate, m.videoCodec, m.audioCodec, m.aspectRatio],
      [640, 360, 1, 30, 48000, 'h264', 'aac', '16/9']);

    await admin('POST', '/__vidmock/clock/advance', { seconds: 60 }, 200);
    const done = await wired.videos.getStatus(id);
    eq(check, op, 'getStatus() a minute later: every quality encoded',
      (done.encoding.qualities || []).map((q) => `${q.type} ${q.quality} ${q.status}`),
      ['hls 240p encoded', 'hls 360p encoded', 'mp4 240p encoded', 'mp4 360p encoded']);

    const video = await wired.videos.get(id);
    const mp4 = await fetch(video.assets.mp4, { headers: { Range: 'bytes=0-99' } });
    eq(check, 'getVideo', 'assets.mp4 answers a range of the uploaded file', [mp4.status, (await mp4.arrayBuffer()).byteLength], [206, 100]);
    const thumb = await fetch(video.assets.thumbnail);
    const jpeg = Buffer.from(await thumb.arrayBuffer());
    eq(check, 'getVideo', 'assets.thumbnail is a JPEG', [thumb.status, jpeg[0], jpeg[1]], [200, 0xff, 0xd8]);

    const dir = mkdtempSync(join(tmpdir(), 'vidmock-thumb-'));
    try {
      const file = join(dir, 'thumbnail.jpg');
      writeFileSync(file, jpeg);
      const [ok, withThumbnail] = await attempt(check, 'uploadThumbnail', 'uploadThumbnail() resolves', () => wired.videos.uploadThumbnail(id, file));
      if (ok) checkVideoModel(check, 'uploadThumbnail', 'returned value', withThumbnail, { videoId: id, title: 'compat lifecycle' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const [picked, pickedVideo] = await attempt(check, 'pickThumbnail', 'pickThumbnail() resolves', () => wired.videos.pickThumbnail(id, { timecode: '00:00:00.50' }));
    if (picked) checkVideoModel(check, 'pickThumbnail', 'returned value', pickedVideo, { videoId: id, title: 'compat lifecycle' });
  });
}

// ---------------------------------------------------------------- the rest of the video API

const VTT = 'WEBVTT\n\n1\n00:00:01.000 --> 00:00:10.000\nHello from the compat suite\n';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da636060f80f0000010100005d0d4f470000000049454e44ae426082', 'hex');

async function videoApiScenarios(dir, client) {
  const vtt = testFile(dir, 'en.vtt', Buffer.from(VTT));
  const png = testFile(dir, 'logo.png', PNG);

  await scenario('uploadCaption', 'captions: upload, get, set default, list, delete', async (check) => {
    const video = await client.videos.create({ title: 'compat captions' });
    const caption = await client.captions.upload(video.videoId, 'en', vtt.path);
    eq(check, 'uploadCaption', 'upload(): srclang, uri, default', [caption.srclang, caption.uri, caption._default],
      ['en', `/videos/${video.videoId}/captions/en`, false]);
    check('uploadCaption', 'upload(): src and languageName are strings',
      typeof caption.src === 'string' && caption.languageName === 'English', describe(caption));
    eq(check, 'getCaption', 'get(): srclang', (await client.captions.get(video.videoId, 'en')).srclang, 'en');
    const updated = await client.captions.update(video.videoId, 'en', { _default: true });
    eq(check, 'updateCaption', 'update({_default: true}) makes it the default', updated._default, true);
    const listing = await client.captions.list({ videoId: video.videoId });
    eq(check, 'listCaptions', 'list(): the one caption, default', (listing.data || []).map((c) => [c.srclang, c._default]), [['en', true]]);
    eq(check, 'listCaptions', 'list(): pagination itemsTotal', listing.pagination && listing.pagination.itemsTotal, 1);
    await expectApiError(check, 'uploadCaption', 'a language with an underscore is an invalid attribute', 400,
      () => client.captions.upload(video.videoId, 'fr_CA', vtt.path), INVALID_ATTRIBUTE_TITLE);
    await attempt(check, 'deleteCaption', 'delete() resolves (204)', () => client.captions.delete(video.videoId, 'en'));
    await expectApiError(check, 'getCaption', 'get after delete gives 404', 404,
      () => client.captions.get(video.videoId, 'en'), NOT_FOUND_TITLE);
  });

  await scenario('uploadChapter', 'chapters: upload, get, list, delete', async (check) => {
    const video = await client.videos.create({ title: 'compat chapters' });
    const chapter = await client.chapters.upload(video.videoId, 'fr', vtt.path);
    eq(check, 'uploadChapter', 'upload(): language and uri', [chapter.language, chapter.uri],
      ['fr', `/videos/${video.videoId}/chapters/fr`]);
    eq(check, 'getChapter', 'get(): language', (await client.chapters.get(video.videoId, 'fr')).language, 'fr');
    const listing = await client.chapters.list({ videoId: video.videoId });
    eq(check, 'listChapters', 'list(): the one chapter', (listing.data || []).map((c) => c.language), ['fr']);
    await attempt(check, 'deleteChapter', 'delete() resolves (204)', () => client.chapters.delete(video.videoId, 'fr'));
    await expectApiError(check, 'getChapter', 'get after delete gives 404', 404,
      () => client.chapters.get(video.videoId, 'fr'), NOT_FOUND_TITLE);
  });

  await scenario('uploadWatermark', 'watermarks: upload, list, use in a video, delete', async (check) => {
    const watermark = await client.watermarks.upload(png.path);
    check('uploadWatermark', 'upload(): a watermark_ id and a date',
      /^watermark_[0-9A-Za-z]+$/.test(watermark.watermarkId || '') && isDate(watermark.createdAt), describe(watermark));
    const listing = await client.watermarks.list({ sortBy: 'createdAt', sortOrder: 'desc' });
    eq(check, 'listWatermarks', 'list(): the one watermark', (listing.data || []).map((w) => w.watermarkId), [watermark.watermarkId]);
    const video = await client.videos.create({
      title: 'compat watermark',
      watermark: { id: watermark.watermarkId, top: '0px', left: '0px', width: '100px', height: '100px' },
    });
    eq(check, 'createVideo', 'create() with a watermark', video.title, 'compat watermark');
    await expectApiError(check, 'createVideo', 'create() with an unknown watermark is refused', 400,
      () => client.videos.create({ title: 'no', watermark: { id: 'watermark_unknown' } }), INVALID_ATTRIBUTE_TITLE);
    await attempt(check, 'deleteWatermark', 'delete() resolves (204)', () => client.watermarks.delete(watermark.watermarkId));
    await expectApiError(check, 'deleteWatermark', 'deleting it again gives 404', 404,
      () => client.watermarks.delete(watermark.watermarkId), NOT_FOUND_TITLE);
  });

  await scenario('createPlayer', 'player themes: create, get, update, logo, list, delete', async (check) => {
    const theme = await client.playerThemes.create({ name: 'compat' });
    check('createPlayer', 'create(): a pl id, the name and the documented defaults',
      /^pl[0-9A-Za-z]+$/.test(theme.playerId || '') && theme.name === 'compat' && theme.enableApi === true &&
      theme.forceLoop === false && isDate(theme.createdAt), describe(theme));
    eq(check, 'getPlayer', 'get(): the name', (await client.playerThemes.get(theme.playerId)).name, 'compat');
    const updated = await client.playerThemes.update(theme.playerId, { name: 'compat 2', hideTitle: true, link: 'rgba(255, 0, 0, .95)' });
    eq(check, 'updatePlayer', 'update(): name, hideTitle, link', [updated.name, updated.hideTitle, updated.link],
      ['compat 2', true, 'rgba(255, 0, 0, .95)']);
    const withLogo = await client.playerThemes.uploadLogo(theme.playerId, png.path, 'https://api.video');
    eq(check, 'uploadLogo', 'uploadLogo(): assets.link', withLogo.assets && withLogo.assets.link, 'https://api.video');
    await attempt(check, 'deleteLogo', 'deleteLogo() resolves (204)', () => client.playerThemes.deleteLogo(theme.playerId));
    const listing = await client.playerThemes.list({ sortBy: 'name', sortOrder: 'asc' });
    eq(check, 'listPlayers', 'list(): the one theme', (listing.data || []).map((p) => p.playerId), [theme.playerId]);
    await attempt(check, 'deletePlayer', 'delete() resolves (204)', () => client.playerThemes.delete(theme.playerId));
    await expectApiError(check, 'getPlayer', 'get after delete gives 404', 404,
      () => client.playerThemes.get(theme.playerId), NOT_FOUND_TITLE);
  });

  await scenario('listTags', 'tags and list filters', async (check) => {
    const both = await client.videos.create({ title: 'compat tags', tags: ['tag1', 'tag2'], metadata: [{ key: 'Author', value: 'John Doe' }] });
    const one = await client.videos.create({ title: 'compat tag', tags: ['tag1'] });
    eq(check, 'listVideos', 'list({tags: [tag1]}): both videos', ((await client.videos.list({ tags: ['tag1'] })).data || []).length, 2);
    eq(check, 'listVideos', 'list({tags: [tag1, tag2]}): the video with both',
      ((await client.videos.list({ tags: ['tag1', 'tag2'] })).data || []).map((v) => v.videoId), [both.videoId]);
    eq(check, 'listVideos', 'list({metadata: {Author: John Doe}})',
      ((await client.videos.list({ metadata: { Author: 'John Doe' } })).data || []).map((v) => v.videoId), [both.videoId]);
    eq(check, 'listVideos', 'list({title: "compat tag"}) matches part of the title',
      ((await client.videos.list({ title: 'compat tag' })).data || []).length, 2);
    const tags = await client.tags.list({ sortBy: 'value', sortOrder: 'asc' });
    eq(check, 'listTags', 'list(): values and counts', (tags.data || []).map((t) => [t.value, t.videoCount]), [['tag1', 2], ['tag2', 1]]);
    const discarded = await client.videos.listDiscarded();
    eq(check, 'listDiscardedVideos', 'listDiscarded(): empty without Video Restore', (discarded.data || []).length, 0);
    await expectApiError(check, 'getDiscardedVideo', 'getDiscarded() of a live video gives 404', 404,
      () => client.videos.getDiscarded(one.videoId), NOT_FOUND_TITLE);
  });
}

// ---------------------------------------------------------------- entry point

let fatal = null;
try {
  await main();
} catch (err) {
  fatal = err;
  record('authenticate', 'harness', 'suite ran to the end', false, errorText(err));
}

const failed = results.filter((r) => !r.ok).length;
const passed = results.length - failed;
if (RESULTS_PATH) {
  mkdirSync(dirname(RESULTS_PATH), { recursive: true });
  writeFileSync(RESULTS_PATH, `${JSON.stringify({
    client: CLIENT_PACKAGE,
    version: CLIENT_VERSION,
    language: 'node',
    target: TARGET,
    passed,
    failed,
    operations: results,
    skipped,
  }, null, 2)}\n`);
}
console.log(`node ${CLIENT_PACKAGE}@${CLIENT_VERSION}: ${results.length} checks, ${failed} failing`);
process.exit(failed === 0 && fatal === null ? 0 : 1);
