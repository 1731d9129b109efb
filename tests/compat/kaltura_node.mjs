// Compatibility checks: the official Kaltura Node.js client (kaltura-client) against vidmock.
//
// Environment:
//   VIDMOCK_URL               base URL of a running vidmock (required)
//   VIDMOCK_KALTURA_PARTNER   ID:ADMIN_SECRET[:USER_SECRET] of a partner known to the mock
//                             (default: 101:vidmock-admin-secret:vidmock-user-secret)
//   VIDMOCK_COMPAT_RESULTS    where to write the JSON results (optional)
//   VIDMOCK_COMPAT_TARGET     `vidmock` (default) or `vendor`: against a real Kaltura, the steps
//                             that need the mock's admin API (reset, clock, state) are skipped and
//                             said so (SKIP lines), everything else runs as here
//
// The client is used exactly as published: JSON (format=1) with native types, a promise that
// rejects with the error object when the answer has `code` and `message`.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const CLIENT_PACKAGE = 'kaltura-client';
const kaltura = require(CLIENT_PACKAGE);
const CLIENT_VERSION = require(`${CLIENT_PACKAGE}/package.json`).version;

const BASE_URL = (process.env.VIDMOCK_URL || '').replace(/\/+$/, '');
const [PARTNER, ADMIN_SECRET, USER_SECRET = ''] =
  (process.env.VIDMOCK_KALTURA_PARTNER || '101:vidmock-admin-secret:vidmock-user-secret').split(':');
const PARTNER_ID = Number(PARTNER);
const RESULTS_PATH = process.env.VIDMOCK_COMPAT_RESULTS || '';
const TARGET = process.env.VIDMOCK_COMPAT_TARGET || 'vidmock';
const VENDOR = TARGET === 'vendor';

if (!BASE_URL) {
  console.error('VIDMOCK_URL is not set');
  process.exit(2);
}

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

async function admin(method, path, body) {
  if (VENDOR) throw new MockOnly(`${method} ${path}`);
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status;
}

function newClient() {
  const config = new kaltura.Configuration();
  config.serviceUrl = BASE_URL;
  // The client logs every request and answer to the console unless given a logger of its own.
  config.setLogger({ log() {}, error() {}, debug() {} });
  return new kaltura.Client(config);
}

async function scenario(operation, name, body) {
  const check = (op, label, ok, detail) => record(op, name, label, Boolean(ok), detail);
  check.skip = (op, label, reason) => skip(op, name, label, reason);
  try {
    if (!VENDOR) await admin('POST', '/__vidmock/reset');
    await body(check);
  } catch (err) {
    if (err instanceof MockOnly) {
      skip(operation, name, 'the rest of the scenario', `needs vidmock's admin API (${err.message})`);
      return;
    }
    const text = err && err.code ? `${err.code} ${err.message}` : (err && err.stack) || String(err);
    record(operation, name, 'scenario completed without an unexpected error', false, text);
  }
}

async function expectError(check, operation, label, code, call, messagePart) {
  try {
    const value = await call();
    check(operation, label, false, `no error, got ${JSON.stringify(value)}`);
  } catch (err) {
    const ok = err && err.code === code && (!messagePart || String(err.message).includes(messagePart));
    check(operation, label, ok, `got ${JSON.stringify(err)}`);
    errorModelCheck(check, operation, err);
  }
}

// Properties a client class declares that may be legitimately unset in an answer, by class:
// property -> a condition on the object (null: whenever). Each is explained in FIDELITY.md
// ("Kaltura client-model check") as `Class.property`.
const pending = (t) => t.status === kaltura.enums.UploadTokenStatus.PENDING;
const MAY_BE_UNSET = {
  KalturaUploadToken: {
    fileName: pending, fileSize: null, uploadedFileSize: pending, uploadUrl: null,
    attachedObjectType: null, attachedObjectId: null,
  },
  KalturaMediaEntry: Object.fromEntries([
    // unset on the server too for an entry made this way
    'adminTags', 'partnerData', 'referenceId', 'searchText', 'creditUserName', 'creditUrl', 'groupId',
    'startDate', 'endDate', 'replacingEntryId', 'replacedEntryId', 'redirectEntryId', 'parentEntryId',
    'templateEntryId', 'application', 'applicationVersion', 'multiLingual_name', 'multiLingual_description',
    'multiLingual_tags', 'defaultLanguage', 'responseLanguage', 'lastPlayedAt', 'streams', 'mediaDate',
    'searchProviderType', 'searchProviderId', 'sourceVersion', 'conversionQuality', 'isTrimDisabled',
    // set by the server, not by vidmock (no media analysis, transcoding or partner profiles)
    'conversionProfileId', 'accessControlId', 'width', 'height', 'duration', 'msDuration', 'durationType',
    'sourceType', 'dataUrl', 'downloadUrl', 'thumbnailUrl',
  ].map((name) => [name, null])),
};

/** The properties a client class declares: its getters (`getPartnerId` -> partnerId) up its chain. */
function declaredProperties(cls) {
  const names = [];
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (/^get[A-Z]/.test(key) && typeof proto[key] === 'function') {
        const name = key[3].toLowerCase() + key.slice(4);
        if (!names.includes(name)) names.push(name);
      }
    }
  }
  return names;
}

/** The client's class for an answer, by its objectType (KalturaUploadToken -> objects.UploadToken). */
const classOf = (answer) => answer && typeof answer.objectType === 'string'
  && kaltura.objects[answer.objectType.replace(/^Kaltura/, '')];

function unsetProperties(answer) {
  const cls = classOf(answer);
  const object = new cls(answer);
  const allowed = MAY_BE_UNSET[answer.objectType] || {};
  return declaredProperties(cls).filter((name) => {
    if (object[name] !== undefined && object[name] !== null) return false;
    if (!(name in allowed)) return true;
    return allowed[name] !== null && !allowed[name](object);
  });
}

/** The answer is a `className` the client has a class for, with every declared property set. */
function modelCheck(check, operation, answer, className) {
  const problems = [];
  if (!answer || answer.objectType !== className || !classOf(answer)) {
    problems.push(`objectType ${answer && answer.objectType}, expected ${className} with a client class`);
  } else {
    const unset = unsetProperties(answer);
    if (unset.length) problems.push(`unset: ${unset.join(', ')}`);
    if (className === 'KalturaUploadTokenListResponse') {
      for (const item of answer.objects || []) {
        if (item.objectType !== 'KalturaUploadToken') problems.push(`an item is ${item.objectType}`);
        else if (unsetProperties(item).length) problems.push(`item ${item.id}: unset ${unsetProperties(item).join(', ')}`);
      }
    }
  }
  check(operation, `model: ${className} parsed into the client's class, every declared property set`,
    problems.length === 0, problems.join('; '));
}

/** An error reaches the client as a KalturaAPIException object with code, message and args. */
function errorModelCheck(check, operation, err) {
  check(operation, 'model: the error is a KalturaAPIException with code, message and args',
    // `args` is an object of named arguments, or `[]` when there are none (PHP's json_encode).
    err && err.objectType === 'KalturaAPIException' && err.code && err.message
      && typeof err.args === 'object' && err.args !== null,
    JSON.stringify(err));
}

/** A check on the mock's own state: `compute()` gives [ok, detail]; skipped against a vendor. */
async function serverCheck(check, operation, label, compute) {
  if (VENDOR) {
    check.skip(operation, label, 'needs vidmock\'s admin API (GET /__vidmock/state)');
    return;
  }
  const [ok, detail] = await compute();
  check(operation, label, ok, detail);
}

const isKs = (value) => typeof value === 'string' && value.startsWith('djJ8');
const { appToken, flavorAsset, session, media, uploadToken } = kaltura.services;
const { EntryStatus, MediaType, SessionType, UploadTokenStatus } = kaltura.enums;

/** `size` deterministic pseudo-random bytes: sha256("label:0") || sha256("label:1") || ... */
function patternBytes(label, size) {
  const out = Buffer.alloc(size);
  for (let i = 0, offset = 0; offset < size; i += 1) {
    offset += createHash('sha256').update(`${label}:${i}`).digest().copy(out, offset);
  }
  return out;
}

const sha256hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Writes `bytes` to dir/name; returns {path, size, sha256}. */
function testFile(dir, name, bytes) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, size: bytes.length, sha256: sha256hex(bytes) };
}

/** The token as GET /__vidmock/state shows it (status, size, sha256, chunks). */
async function tokenState(id) {
  const state = await (await fetch(`${BASE_URL}/__vidmock/state`)).json();
  for (const partner of state.kaltura.partners) {
    const token = (partner.uploadTokens || []).find((t) => t.id === id);
    if (token) return token;
  }
  return null;
}

async function adminClient() {
  const client = newClient();
  client.setKs(await session.start(ADMIN_SECRET, 'node@example.com', SessionType.ADMIN, PARTNER_ID).execute(client));
  return client;
}

/** Moves the mock's clock forward; against a real vendor, waits that long instead. */
async function advanceClock(seconds) {
  if (VENDOR) {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return;
  }
  await admin('POST', '/__vidmock/clock/advance', { seconds });
}

/** The entry once READY (or ERROR_CONVERTING), moving the clock 5 s between reads. */
async function waitReady(client, entryId) {
  let entry = await media.get(entryId).execute(client);
  for (let round = 0; round < 40; round += 1) {
    const status = entry.status.toString();
    if (status === EntryStatus.READY || status === EntryStatus.ERROR_CONVERTING) break;
    await advanceClock(5);
    entry = await media.get(entryId).execute(client);
  }
  return entry;
}

function videoEntry(name) {
  return new kaltura.objects.MediaEntry({ mediaType: MediaType.VIDEO, name });
}

/** The Node client's own test suite, scenario by scenario (kaltura-client test/media.js). */
async function uploadScenarios(dir) {
  const small = testFile(dir, 'DemoVideo.mp4', patternBytes('node-demo', 200001));

  await scenario('uploadToken.upload', 'upload to a token attached to an entry', async (check) => {
    const client = await adminClient();
    const entry = await media.add(videoEntry('test \u05e2\u05d1\u05e8\u05d9\u05ea')).execute(client);
    modelCheck(check, 'media.add', entry, 'KalturaMediaEntry');
    check('media.add', 'a new entry is NO_CONTENT', entry.status.toString() === EntryStatus.NO_CONTENT,
      JSON.stringify(entry.status));
    const token = await uploadToken.add(new kaltura.objects.UploadToken({})).execute(client);
    modelCheck(check, 'uploadToken.add', token, 'KalturaUploadToken');
    check('uploadToken.add', 'a new token is PENDING', token.status === UploadTokenStatus.PENDING,
      JSON.stringify(token));
    const resource = new kaltura.objects.UploadedFileTokenResource({ token: token.id });
    const attached = await media.addContent(entry.id, resource).execute(client);
    modelCheck(check, 'media.addContent', attached, 'KalturaMediaEntry');
    check('media.addContent', 'the entry waits for the token (IMPORT)', attached.status.toString() === EntryStatus.IMPORT,
      JSON.stringify(attached.status));
    const uploaded = await uploadToken.upload(token.id, small.path).execute(client);
    modelCheck(check, 'uploadToken.upload', uploaded, 'KalturaUploadToken');
    check('uploadToken.upload', 'the upload that completes the token answers CLOSED',
      uploaded.status === UploadTokenStatus.CLOSED, JSON.stringify(uploaded));
    check('uploadToken.upload', 'uploadedFileSize is the file size (a string)',
      uploaded.uploadedFileSize === String(small.size), JSON.stringify(uploaded.uploadedFileSize));
    await serverCheck(check, 'uploadToken.upload', 'server: the sha256 is the file\'s', async () => {
      const server = await tokenState(token.id);
      return [server && server.sha256 === small.sha256, JSON.stringify(server)];
    });
    const got = await uploadToken.get(token.id).execute(client);
    modelCheck(check, 'uploadToken.get', got, 'KalturaUploadToken');
    const listed = await uploadToken.listAction().execute(client);
    check('uploadToken.list', 'the list holds the token', (listed.objects || []).some((t) => t.id === token.id),
      JSON.stringify(listed));
    modelCheck(check, 'uploadToken.list', listed, 'KalturaUploadTokenListResponse');
    const ready = await waitReady(client, entry.id);
    modelCheck(check, 'media.get', ready, 'KalturaMediaEntry');
    check('media.get', 'the entry is READY once the clock has moved', ready.status.toString() === EntryStatus.READY,
      JSON.stringify(ready.status));
    const filter = new kaltura.objects.AssetFilter({ entryIdEqual: entry.id });
    const flavors = (await flavorAsset.listAction(filter).execute(client)).objects || [];
    check('flavorAsset.list', 'a READY source flavor and READY converted flavors',
      flavors.length >= 2 && flavors.filter((f) => f.isOriginal).length === 1
        && flavors.every((f) => f.status === kaltura.enums.FlavorAssetStatus.READY),
      JSON.stringify(flavors.map((f) => [f.flavorParamsId, f.status])));
    const served = Buffer.from(await (await fetch(ready.dataUrl)).arrayBuffer());
    check('media.get', 'dataUrl serves the uploaded file (sha256)', sha256hex(served) === small.sha256,
      String(served.length));
    await expectError(check, 'uploadToken.upload', 'a closed token refuses uploads', 'UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD',
      () => uploadToken.upload(token.id, small.path).execute(client));
  });

  await scenario('multirequest', 'add, attach and upload in one multirequest', async (check) => {
    const client = await adminClient();
    const resource = new kaltura.objects.UploadedFileTokenResource({ token: '{2:result:id}' });
    const results = await media.add(videoEntry('test'))
      .add(uploadToken.add(new kaltura.objects.UploadToken({})))
      .add(media.addContent('{1:result:id}', resource))
      .add(uploadToken.upload('{2:result:id}', small.path))
      .execute(client);
    check('multirequest', 'four answers come back', Array.isArray(results) && results.length === 4,
      JSON.stringify(results));
    if (Array.isArray(results) && results.length === 4) {
      check('media.add', 'the entry is NO_CONTENT', results[0].status.toString() === EntryStatus.NO_CONTENT,
        JSON.stringify(results[0]));
      check('uploadToken.add', 'the token is PENDING', results[1].status === UploadTokenStatus.PENDING,
        JSON.stringify(results[1]));
      check('media.addContent', 'the entry waits (IMPORT)', results[2].status.toString() === EntryStatus.IMPORT,
        JSON.stringify(results[2]));
      check('uploadToken.upload', 'the upload answers CLOSED', results[3].status === UploadTokenStatus.CLOSED,
        JSON.stringify(results[3]));
      modelCheck(check, 'uploadToken.upload', results[3], 'KalturaUploadToken');
      await serverCheck(check, 'uploadToken.upload', 'server: the sha256 is the file\'s', async () => {
        const server = await tokenState(results[1].id);
        return [server && server.sha256 === small.sha256, JSON.stringify(server)];
      });
    }
  });

  await scenario('uploadToken.upload', 'every chunk at once from buffers', async (check) => {
    const file = testFile(dir, 'DemoVideo-3mib.mp4', patternBytes('node-buffers', 3 * 1024 * 1024 + 777));
    const client = await adminClient();
    const token = await uploadToken.add(new kaltura.objects.UploadToken()).execute(client);
    const opened = await uploadToken.upload(token.id, Buffer.alloc(0), false, false, 0).execute(client);
    check('uploadToken.upload', 'a 0-byte first part opens the upload (PARTIAL_UPLOAD)',
      opened.status === UploadTokenStatus.PARTIAL_UPLOAD, JSON.stringify(opened));
    const entry = await media.add(videoEntry('from buffers')).execute(client);
    const resource = new kaltura.objects.UploadedFileTokenResource();
    resource.token = token.id;
    await media.addContent(entry.id, resource).execute(client);
    const answers = await new Promise((resolve, reject) => {
      const uploads = [];
      const stats = statSync(file.path);
      const rs = createReadStream(file.path);
      let resumeAt = 0;
      rs.on('data', (data) => {
        uploads.push(uploadToken.upload(token.id, data, true, rs.bytesRead === stats.size, resumeAt).execute(client));
        resumeAt += data.length;
      });
      rs.once('close', () => resolve(Promise.all(uploads)));
      rs.once('error', reject);
    });
    const last = answers.pop();
    check('uploadToken.upload', `${answers.length} concurrent chunks answer PARTIAL_UPLOAD`,
      answers.length > 10 && answers.every((t) => t.status === UploadTokenStatus.PARTIAL_UPLOAD),
      JSON.stringify(answers.map((t) => t.status)));
    check('uploadToken.upload', 'the final chunk answers CLOSED', last.status === UploadTokenStatus.CLOSED,
      JSON.stringify(last));
    await serverCheck(check, 'uploadToken.upload', 'server: the chunks reassemble to the file\'s sha256', async () => {
      const server = await tokenState(token.id);
      return [server && server.sha256 === file.sha256 && server.size === file.size, JSON.stringify(server)];
    });
  });
}

async function appTokenScenario() {
  await scenario('appToken.startSession', 'app-token session', async (check) => {
    const client = await adminClient();
    const token = await appToken.add(new kaltura.objects.AppToken({
      hashType: kaltura.enums.AppTokenHashType.SHA256,
    })).execute(client);
    check('appToken.add', 'the new app token has an id and a token', Boolean(token.id && token.token),
      JSON.stringify(token.id));
    const anonymous = newClient();
    const widget = await session.startWidgetSession(`_${PARTNER_ID}`).execute(anonymous);
    check('session.startWidgetSession', 'the widget session answers a KS', isKs(widget.ks), JSON.stringify(widget));
    anonymous.setKs(widget.ks);
    const hash = createHash('sha256').update(widget.ks + token.token).digest('hex');
    const started = await appToken.startSession(token.id, hash).execute(anonymous);
    check('appToken.startSession', 'the app token starts a session', isKs(started.ks), JSON.stringify(started));
    anonymous.setKs(started.ks);
    const listed = await media.listAction().execute(anonymous);
    check('appToken.startSession', 'its KS is accepted by media.list', typeof listed.totalCount === 'number',
      JSON.stringify(listed.totalCount));
  });
}

async function main() {
  await scenario('session.start', 'start and end sessions', async (check) => {
    const client = newClient();
    const ks = await session.start(ADMIN_SECRET, 'alice@example.com', SessionType.ADMIN, PARTNER_ID).execute(client);
    check('session.start', 'an admin secret starts an ADMIN session (v2 KS)', isKs(ks), JSON.stringify(ks));
    if (USER_SECRET) {
      const userKs = await session.start(USER_SECRET, 'bob', SessionType.USER, PARTNER_ID).execute(client);
      check('session.start', 'the user secret starts a USER session', isKs(userKs), JSON.stringify(userKs));
    }
    await expectError(check, 'session.start', 'a wrong secret is START_SESSION_ERROR', 'START_SESSION_ERROR',
      () => session.start('wrong', '', SessionType.USER, PARTNER_ID).execute(client));
    client.setKs(ks);
    const ended = await session.end().execute(client);
    check('session.end', 'ending the session resolves to null', ended === null, JSON.stringify(ended));
    await expectError(check, 'session.end', 'the ended KS is refused as LOGOUT', 'INVALID_KS',
      () => session.end().execute(client), 'LOGOUT');
  });

  await scenario('session.end', 'expired KS', async (check) => {
    const client = newClient();
    const ks = await session.start(ADMIN_SECRET, '', SessionType.ADMIN, PARTNER_ID, 60).execute(client);
    client.setKs(ks);
    await admin('POST', '/__vidmock/clock/advance', { seconds: 61 });
    await expectError(check, 'session.end', 'a KS past its expiry on the mock clock is INVALID_KS EXPIRED',
      'INVALID_KS', () => session.end().execute(client), 'EXPIRED');
  });

  await scenario('session.nosuchaction', 'unknown action', async (check) => {
    const client = newClient();
    await expectError(check, 'session.nosuchaction', 'an unknown action is ACTION_DOES_NOT_EXISTS',
      'ACTION_DOES_NOT_EXISTS', () => new kaltura.RequestBuilder('session', 'nosuchaction', {}).execute(client));
  });

  const dir = mkdtempSync(join(tmpdir(), 'vidmock-compat-kaltura-node-'));
  try {
    await uploadScenarios(dir);
    await appTokenScenario();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  await scenario('multirequest', 'multirequest', async (check) => {
    const client = newClient();
    const answers = await session.start(ADMIN_SECRET, 'dave', SessionType.ADMIN, PARTNER_ID)
      .add(session.end().setKs('{1:result}'))
      .add(new kaltura.RequestBuilder('session', 'nosuchaction', {}))
      .execute(client);
    check('multirequest', 'three answers come back', Array.isArray(answers) && answers.length === 3,
      JSON.stringify(answers));
    if (Array.isArray(answers) && answers.length === 3) {
      check('multirequest', 'the first is a KS', isKs(answers[0]), JSON.stringify(answers[0]));
      check('multirequest', 'the second used it through {1:result} and succeeded', answers[1] === null,
        JSON.stringify(answers[1]));
      check('multirequest', 'the third is an error object of its own',
        answers[2] && answers[2].code === 'ACTION_DOES_NOT_EXISTS' && answers[2].objectType === 'KalturaAPIException',
        JSON.stringify(answers[2]));
      errorModelCheck(check, 'multirequest', answers[2]);
      client.setKs(answers[0]);
      await expectError(check, 'session.end', 'the KS ended inside the multirequest is refused', 'INVALID_KS',
        () => session.end().execute(client), 'LOGOUT');
    }
  });
}

let fatal = null;
try {
  await main();
} catch (err) {
  fatal = err;
  record('session.start', 'harness', 'suite ran to the end', false, err && err.stack ? err.stack : String(err));
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
