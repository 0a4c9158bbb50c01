/**
 * `ctx.fetch` on the host side: HTTP(S) only to granted origins (exact match after URL parsing),
 * redirects returned rather than followed, request and response bodies capped, aborted at the
 * event's deadline.
 */
import { CONTEXT_LIMITS, type FetchResult } from '../../sdk/context.ts';
import { CapabilityError, failureReason } from './capability-error.ts';

export const FETCH_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Headers the runtime sets itself; an agent may not. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const MAX_REQUEST_HEADERS = 64;

/** What the agent asked for, after argument validation. */
export interface FetchRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * The granted origins in canonical form (`https://a.example`, default port dropped). Throws an Error
 * naming `grants.fetchOrigins[i]` for anything that is not exactly an http(s) origin.
 */
export function parseFetchOrigins(origins: readonly string[]): ReadonlySet<string> {
  const parsed = new Set<string>();
  origins.forEach((origin, index) => {
    const field = `grants.fetchOrigins[${index}]`;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(`${field}: ${JSON.stringify(origin)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${field}: ${JSON.stringify(origin)} is not an http or https origin`);
    if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || origin.endsWith('/')) {
      throw new Error(`${field}: ${JSON.stringify(origin)} must be an origin only (scheme://host[:port], no path, query or credentials)`);
    }
    parsed.add(url.origin);
  });
  return parsed;
}

/** The URL to request, or a CapabilityError saying why the agent may not. */
export function checkFetchUrl(raw: string, allowed: ReadonlySet<string>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CapabilityError('invalid-argument', `fetch: url ${JSON.stringify(raw.slice(0, 200))} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CapabilityError('invalid-argument', `fetch: url scheme ${url.protocol} is not http or https`);
  if (url.username !== '' || url.password !== '') throw new CapabilityError('invalid-argument', 'fetch: url must not carry credentials');
  if (!allowed.has(url.origin)) throw new CapabilityError('not-granted', `fetch: origin ${url.origin} is not granted`);
  return url;
}

function requestHeaders(headers: Record<string, string> | undefined): Headers {
  const out = new Headers();
  const entries = Object.entries(headers ?? {});
  if (entries.length > MAX_REQUEST_HEADERS) throw new CapabilityError('limit', `fetch: init.headers has ${entries.length} headers; the limit is ${MAX_REQUEST_HEADERS}`);
  for (const [name, value] of entries) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new CapabilityError('invalid-argument', `fetch: init.headers.${name} is set by the runtime`);
    try {
      out.append(name, value);
    } catch (error) {
      throw new CapabilityError('invalid-argument', `fetch: init.headers.${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return out;
}

async function readCapped(response: Response, cap: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > cap) {
    await response.body?.cancel();
    throw new CapabilityError('limit', `fetch: response body of ${declared} bytes exceeds the limit of ${cap}`);
  }
  const body = response.body;
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel();
      throw new CapabilityError('limit', `fetch: response body exceeds the limit of ${cap} bytes`);
    }
    chunks.push(value);
  }
  const joined = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(joined);
}

/** Sends the request if its origin is granted; `signal` aborts it (and its body) at the event's deadline. */
export async function fetchCapability(request: FetchRequest, allowed: ReadonlySet<string>, signal: AbortSignal): Promise<FetchResult> {
  const url = checkFetchUrl(request.url, allowed);
  const method = (request.method ?? 'GET').toUpperCase();
  if (!FETCH_METHODS.has(method)) throw new CapabilityError('invalid-argument', `fetch: init.method ${JSON.stringify(request.method)} is not one of ${[...FETCH_METHODS].join(', ')}`);
  const body = request.body;
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) throw new CapabilityError('invalid-argument', `fetch: init.body is not allowed with ${method}`);
  if (body !== undefined) {
    const bytes = new TextEncoder().encode(body).length;
    if (bytes > CONTEXT_LIMITS.fetchRequestBytes) throw new CapabilityError('limit', `fetch: init.body is ${bytes} bytes; the limit is ${CONTEXT_LIMITS.fetchRequestBytes}`);
  }
  const headers = requestHeaders(request.headers);
  let response: Response;
  try {
    // Redirects come back to the agent: following one could leave the granted origin.
    response = await fetch(url, { method, headers, body, redirect: 'manual', signal });
  } catch (error) {
    if (signal.aborted) throw new CapabilityError('timeout', `fetch: ${url.origin}: the event's time budget ran out`);
    throw new CapabilityError('failed', `fetch: request to ${url.origin} failed (${failureReason(error)})`, { cause: error });
  }
  let text: string;
  try {
    text = await readCapped(response, CONTEXT_LIMITS.fetchResponseBytes);
  } catch (error) {
    if (error instanceof CapabilityError) throw error;
    if (signal.aborted) throw new CapabilityError('timeout', `fetch: ${url.origin}: the event's time budget ran out while reading the response`);
    throw new CapabilityError('failed', `fetch: reading the response from ${url.origin} failed (${failureReason(error)})`, { cause: error });
  }
  // fromEntries defines own properties, so even a header named __proto__ stays plain data.
  return { status: response.status, headers: Object.fromEntries(response.headers), text };
}
