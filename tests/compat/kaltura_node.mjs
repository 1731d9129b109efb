// Compatibility checks: the official Kaltura Node.js client (kaltura-client) against vidmock.
//
// Environment:
//   VIDMOCK_URL               base URL of a running vidmock (required)
//   VIDMOCK_KALTURA_PARTNER   ID:ADMIN_SECRET[:USER_SECRET] of a partner known to the mock
//                             (default: 101:vidmock-admin-secret:vidmock-user-secret)
//   VIDMOCK_COMPAT_RESULTS    where to write the JSON results (optional)
//
// The client is used exactly as published: JSON (format=1) with native types, a promise that
// rejects with the error object when the answer has `code` and `message`.

import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);
const CLIENT_PACKAGE = 'kaltura-client';
const kaltura = require(CLIENT_PACKAGE);
const CLIENT_VERSION = require(`${CLIENT_PACKAGE}/package.json`).version;

const BASE_URL = (process.env.VIDMOCK_URL || '').replace(/\/+$/, '');
const [PARTNER, ADMIN_SECRET, USER_SECRET = ''] =
  (process.env.VIDMOCK_KALTURA_PARTNER || '101:vidmock-admin-secret:vidmock-user-secret').split(':');
const PARTNER_ID = Number(PARTNER);
const RESULTS_PATH = process.env.VIDMOCK_COMPAT_RESULTS || '';

if (!BASE_URL) {
  console.error('VIDMOCK_URL is not set');
  process.exit(2);
}

const results = [];

function record(operation, scenario, check, ok, error) {
  results.push({ operation, scenario, check, ok, error: ok ? null : String(error ?? 'check failed') });
  const line = `${ok ? 'PASS' : 'FAIL'} node ${operation} [${scenario}] ${check}`;
  console.log(ok ? line : `${line}: ${error}`);
}

async function admin(method, path, body) {
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
  try {
    await admin('POST', '/__vidmock/reset');
    await body(check);
  } catch (err) {
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
  }
}

const isKs = (value) => typeof value === 'string' && value.startsWith('djJ8');
const { session } = kaltura.services;
const { SessionType } = kaltura.enums;

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
    passed,
    failed,
    operations: results,
  }, null, 2)}\n`);
}
console.log(`node ${CLIENT_PACKAGE}@${CLIENT_VERSION}: ${results.length} checks, ${failed} failing`);
process.exit(failed === 0 && fatal === null ? 0 : 1);
