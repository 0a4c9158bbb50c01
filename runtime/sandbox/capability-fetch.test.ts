// ctx.fetch on the host side, against real HTTP servers on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTEXT_LIMITS } from '../../sdk/context.ts';
import { CapabilityError } from './capability-error.ts';
import { checkFetchUrl, fetchCapability, parseFetchOrigins } from './capability-fetch.ts';

type Server = { origin: string; hits: string[]; close(): Promise<void> };

async function serve(handler: http.RequestListener): Promise<Server> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const never = new AbortController().signal;

function refused(code: CapabilityError['code'], pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof CapabilityError && error.code === code && pattern.test(error.message);
}

test('granted origins must be exactly http(s) origins; the grant field is named', () => {
  assert.deepEqual([...parseFetchOrigins(['https://a.example:443', 'http://127.0.0.1:8080'])], ['https://a.example', 'http://127.0.0.1:8080']);
  assert.throws(() => parseFetchOrigins(['https://a.example', 'nope']), /^Error: grants\.fetchOrigins\[1\]: "nope" is not a URL$/);
  assert.throws(() => parseFetchOrigins(['ftp://a.example']), /grants\.fetchOrigins\[0\]: .* is not an http or https origin/);
  assert.throws(() => parseFetchOrigins(['https://a.example/path']), /origin only/);
  assert.throws(() => parseFetchOrigins(['https://a.example/']), /origin only/);
  assert.throws(() => parseFetchOrigins(['https://user@a.example']), /origin only/);
});

test('a URL is allowed only when its parsed origin is granted exactly', () => {
  const allowed = parseFetchOrigins(['https://a.example', 'http://127.0.0.1:8080']);
  assert.equal(checkFetchUrl('https://A.EXAMPLE:443/x?y', allowed).href, 'https://a.example/x?y');
  assert.throws(() => checkFetchUrl('http://a.example/', allowed), refused('not-granted', /^fetch: origin http:\/\/a\.example is not granted$/));
  assert.throws(() => checkFetchUrl('http://127.0.0.1:8081/', allowed), refused('not-granted', /8081/));
  assert.throws(() => checkFetchUrl('https://a.example.evil.test/', allowed), refused('not-granted', /evil/));
  assert.throws(() => checkFetchUrl('https://user:pw@a.example/', allowed), refused('invalid-argument', /credentials/));
  assert.throws(() => checkFetchUrl('file:///etc/passwd', allowed), refused('invalid-argument', /scheme file:/));
  assert.throws(() => checkFetchUrl('/relative', allowed), refused('invalid-argument', /not an absolute URL/));
});

test('a request to a granted origin returns status, lower-case headers and text; method, headers and body go through', async () => {
  const server = await serve((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      res.writeHead(201, { 'X-Echo': String(req.headers['x-token']), 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${req.method} ${body} ✓`);
    });
  });
  try {
    const result = await fetchCapability({ url: `${server.origin}/echo`, method: 'post', headers: { 'X-Token': 't1' }, body: 'hi' }, parseFetchOrigins([server.origin]), never);
    assert.equal(result.status, 201);
    assert.equal(result.headers['x-echo'], 't1');
    assert.equal(result.text, 'POST hi ✓');
  } finally {
    await server.close();
  }
});

test('another port of the same host is refused before any connection', async () => {
  const granted = await serve((_, res) => res.end('granted'));
  const other = await serve((_, res) => res.end('other'));
  try {
    await assert.rejects(fetchCapability({ url: `${other.origin}/` }, parseFetchOrigins([granted.origin]), never), refused('not-granted', /is not granted/));
    assert.deepEqual(other.hits, []);
  } finally {
    await granted.close();
    await other.close();
  }
});

test('a redirect is returned with its location, not followed', async () => {
  const elsewhere = await serve((_, res) => res.end('you followed it'));
  const server = await serve((_, res) => {
    res.writeHead(302, { Location: `${elsewhere.origin}/target` });
    res.end();
  });
  try {
    const result = await fetchCapability({ url: `${server.origin}/go` }, parseFetchOrigins([server.origin, elsewhere.origin]), never);
    assert.equal(result.status, 302);
    assert.equal(result.headers.location, `${elsewhere.origin}/target`);
    assert.deepEqual(elsewhere.hits, [], 'not followed even to a granted origin');
  } finally {
    await server.close();
    await elsewhere.close();
  }
});

test('bodies over the caps are refused: the request before sending, the response while reading', async () => {
  const big = 'x'.repeat(CONTEXT_LIMITS.fetchResponseBytes + 1);
  const server = await serve((req, res) => {
    if (req.url === '/chunked') {
      res.write(big.slice(0, 600_000));
      res.end(big.slice(600_000));
    } else res.end(big);
  });
  const allowed = parseFetchOrigins([server.origin]);
  try {
    await assert.rejects(fetchCapability({ url: `${server.origin}/`, method: 'PUT', body: 'b'.repeat(CONTEXT_LIMITS.fetchRequestBytes + 1) }, allowed, never), refused('limit', /init\.body is 262145 bytes/));
    assert.deepEqual(server.hits, []);
    await assert.rejects(fetchCapability({ url: `${server.origin}/` }, allowed, never), refused('limit', /response body/));
    await assert.rejects(fetchCapability({ url: `${server.origin}/chunked` }, allowed, never), refused('limit', /response body exceeds the limit of 1048576 bytes/));
  } finally {
    await server.close();
  }
});

test('bad methods, bodies with GET and runtime-owned headers are refused with the field named', async () => {
  const allowed = parseFetchOrigins(['http://127.0.0.1:9']);
  await assert.rejects(fetchCapability({ url: 'http://127.0.0.1:9/', method: 'CONNECT' }, allowed, never), refused('invalid-argument', /^fetch: init\.method "CONNECT" is not one of/));
  await assert.rejects(fetchCapability({ url: 'http://127.0.0.1:9/', body: 'x' }, allowed, never), refused('invalid-argument', /init\.body is not allowed with GET/));
  await assert.rejects(fetchCapability({ url: 'http://127.0.0.1:9/', headers: { Host: 'evil.test' } }, allowed, never), refused('invalid-argument', /init\.headers\.Host is set by the runtime/));
  await assert.rejects(fetchCapability({ url: 'http://127.0.0.1:9/', headers: { 'bad name': 'x' } }, allowed, never), refused('invalid-argument', /init\.headers\.bad name/));
});

test('an abort signal ends a request whose server does not answer', async () => {
  const server = await serve(() => {});
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = performance.now();
    await assert.rejects(fetchCapability({ url: `${server.origin}/hang` }, parseFetchOrigins([server.origin]), controller.signal), refused('timeout', /time budget ran out/));
    assert.ok(performance.now() - started < 150 + 1500);
  } finally {
    await server.close();
  }
});

test('a connection refused is a failure with its reason', async () => {
  const server = await serve((_, res) => res.end());
  const origin = server.origin;
  await server.close();
  await assert.rejects(fetchCapability({ url: `${origin}/` }, parseFetchOrigins([origin]), never), refused('failed', /^fetch: request to http:\/\/127\.0\.0\.1:\d+ failed \(.+\)$/));
});
