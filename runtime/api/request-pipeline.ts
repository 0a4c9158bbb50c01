/**
 * The steps every route runs, as hono middleware, in this order: audit (around everything, for
 * changes) → bearer auth and role → media type → body size (hono's bodyLimit, counted while reading)
 * → input validation → handler. A request is refused before its body is read whenever possible.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { parseJsonBytesStrict } from '../../sdk/bundle/json-strict.ts';
import type { AuditLog } from './audit-log.ts';
import { problemFor } from './error-mapping.ts';
import { ApiProblem } from './problem.ts';
import type { ApiRoute, AuditNote, RouteResult } from './route.ts';
import type { TokenInfo, TokenStore } from './token-store.ts';
import { validateInput } from './validate.ts';

/** JSON request bodies are small; bundles have their own limit. */
export const MAX_JSON_BYTES = 64 * 1024;
export const BUNDLE_CONTENT_TYPES = ['application/octet-stream', 'application/vnd.sluice.agent-bundle'];

export type ApiEnv = { Variables: { token: TokenInfo | null; note: Note } };

interface Note extends AuditNote {
  readonly value: { target: string | null; details: Record<string, string | number | boolean | null> | undefined };
}

function newNote(): Note {
  const value: Note['value'] = { target: null, details: undefined };
  return {
    value,
    target: (name) => {
      value.target = name;
    },
    details: (facts) => {
      value.details = { ...value.details, ...facts };
    },
  };
}

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** True when the request announces a body (a non-zero length, or chunked). */
function hasBody(c: Context): boolean {
  const length = c.req.header('content-length');
  return c.req.header('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

/** Appends one audit line per change attempt, after the response is decided (problems included). */
export function auditStep(route: ApiRoute, audit: AuditLog): MiddlewareHandler<ApiEnv> {
  const action = route.action!;
  return async (c, next) => {
    const note = newNote();
    c.set('note', note);
    await next();
    const status = c.res.status;
    const token = c.get('token') ?? null;
    await audit.append({
      time: new Date().toISOString(),
      token: token && { name: token.name, role: token.role },
      method: c.req.method,
      path: c.req.path,
      action,
      target: note.value.target,
      outcome: status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'error',
      status,
      error: c.error === undefined ? null : problemFor(c.error).code,
      ...(note.value.details === undefined ? {} : { details: note.value.details }),
    });
  };
}

/** Bearer-token authentication and the route's role check; then refuses a wrong media type before the body is read. */
export function gateStep(route: ApiRoute, tokens: TokenStore | undefined): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    c.set('token', null);
    if (route.access !== 'public') {
      const header = c.req.header('authorization');
      const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
      if (match === null) {
        throw new ApiProblem(401, 'UNAUTHENTICATED', 'this request needs an API token: send "Authorization: Bearer <token>"', {
          headers: { 'www-authenticate': 'Bearer realm="sluice"' },
        });
      }
      const token = tokens?.verify(match[1]!);
      if (token === undefined) {
        // Never echo the token: not in the detail, not in the log.
        throw new ApiProblem(401, 'INVALID_TOKEN', 'the API token is not valid (unknown or revoked)', {
          headers: { 'www-authenticate': 'Bearer realm="sluice", error="invalid_token"' },
        });
      }
      c.set('token', token);
      if (route.access === 'admin' && token.role !== 'admin') {
        throw new ApiProblem(403, 'FORBIDDEN', `token "${token.name}" is ${token.role}; ${route.method.toUpperCase()} ${route.path} needs an admin token`, {
          headers: { 'www-authenticate': 'Bearer realm="sluice", error="insufficient_scope"' },
        });
      }
    }
    const body = route.body;
    if (body?.kind === 'bundle' && !BUNDLE_CONTENT_TYPES.includes(mediaType(c))) {
      throw new ApiProblem(415, 'UNSUPPORTED_MEDIA_TYPE', `an agent bundle is sent as ${BUNDLE_CONTENT_TYPES.join(' or ')}, not "${mediaType(c) || 'none'}"`, {
        field: 'content-type',
        headers: { 'accept-post': BUNDLE_CONTENT_TYPES.join(', ') },
      });
    }
    if (body?.kind === 'json' && (!body.optional || hasBody(c)) && mediaType(c) !== 'application/json') {
      throw new ApiProblem(415, 'UNSUPPORTED_MEDIA_TYPE', `the request body must be application/json, not "${mediaType(c) || 'none'}"`, {
        field: 'content-type',
      });
    }
    await next();
  };
}

/** hono's bodyLimit: refuses by Content-Length up front, and counts a chunked body while reading it. */
export function sizeStep(route: ApiRoute, maxBundleBytes: number): MiddlewareHandler<ApiEnv> {
  const maxSize = route.body?.kind === 'bundle' ? maxBundleBytes : MAX_JSON_BYTES;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiProblem(413, 'TOO_LARGE', `the request body is larger than ${maxSize} bytes`, { field: 'body' });
    },
  });
}

/** Validates path, query and body, runs the handler and renders its result. */
export function handlerStep(route: ApiRoute): (c: Context<ApiEnv>) => Promise<Response> {
  return async (c) => {
    const params = route.params ? validateInput('path', route.params, c.req.param()) : {};
    const query = route.query ? validateInput('query', route.query, c.req.query()) : {};
    let body: unknown;
    if (route.body?.kind === 'bundle') {
      body = new Uint8Array(await c.req.arrayBuffer());
      if ((body as Uint8Array).byteLength === 0) throw new ApiProblem(400, 'EMPTY_BODY', 'the request has no bundle in its body', { field: 'body' });
    } else if (route.body?.kind === 'json') {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      let json: unknown = {};
      if (bytes.byteLength > 0 || !route.body.optional) {
        const parsed = parseJsonBytesStrict(bytes);
        if (!parsed.ok) throw new ApiProblem(400, 'MALFORMED_JSON', `the request body is not valid JSON: ${parsed.error}`, { field: 'body' });
        json = parsed.value;
      }
      body = validateInput('body', route.body.schema, json);
    }
    const note = c.get('note') ?? newNote();
    const result = await route.handle({ params, query, body, token: c.get('token') ?? null, audit: note, url: new URL(c.req.url) });
    return render(result);
  };
}

function render(result: RouteResult): Response {
  if (result instanceof Response) return result;
  if (result.json === undefined) return new Response(null, { status: result.status, headers: result.headers });
  return new Response(JSON.stringify(result.json), {
    status: result.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...result.headers },
  });
}
