// Compatibility checks: the official api.video Node.js client against vidmock.
//
// Environment:
//   VIDMOCK_URL              base URL of a running vidmock (required)
//   VIDMOCK_APIVIDEO_KEY     api.video API key known to the mock (default: vidmock-api-key)
//   VIDMOCK_COMPAT_RESULTS   where to write the JSON results (optional)
//
// The client is used exactly as published: it authenticates every request with
// HTTP Basic (`apiKey:`), and its own AdvancedAuthenticationApi drives
// /auth/api-key and /auth/refresh.

import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);
const CLIENT_PACKAGE = '@api.video/nodejs-client';
const ApiVideoClient = require(CLIENT_PACKAGE);
const AdvancedAuthenticationApi = require(`${CLIENT_PACKAGE}/lib/api/AdvancedAuthenticationApi`).default;
const ApiVideoError = require(`${CLIENT_PACKAGE}/lib/ApiVideoError`).default;
const CLIENT_VERSION = require(`${CLIENT_PACKAGE}/package.json`).version;

const BASE_URL = (process.env.VIDMOCK_URL || '').replace(/\/+$/, '');
const API_KEY = process.env.VIDMOCK_APIVIDEO_KEY || 'vidmock-api-key';
const RESULTS_PATH = process.env.VIDMOCK_COMPAT_RESULTS || '';

if (!BASE_URL) {
  console.error('VIDMOCK_URL is not set');
  process.exit(2);
}

const NOT_FOUND_TITLE = 'The requested resource could not be found.';
const INVALID_ATTRIBUTE_TITLE = 'An attribute is invalid.';
const TOKEN_RE = /^to[0-9A-Za-z]{21,22}$/;

// ---------------------------------------------------------------- reporting

const results = [];

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
  try {
    if (reset) await admin('POST', '/__vidmock/reset', undefined, 204);
    await body(check);
  } catch (err) {
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
    if (i > 0) await advanceClock(10);
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

// ---------------------------------------------------------------- scenarios

async function main() {
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
      isDate(token.createdAt) && Math.abs(token.createdAt - before) <= 5000,
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
    passed,
    failed,
    operations: results,
  }, null, 2)}\n`);
}
console.log(`node ${CLIENT_PACKAGE}@${CLIENT_VERSION}: ${results.length} checks, ${failed} failing`);
process.exit(failed === 0 && fatal === null ? 0 : 1);
