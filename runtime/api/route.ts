/**
 * A management API route as data: method, path, who may call it, the valibot schemas of its inputs and
 * responses, and its handler. The app registers routes from these and the OpenAPI document is built
 * from the same objects, so the two cannot drift apart.
 */
import type * as v from 'valibot';
import type { TokenInfo } from './token-store.ts';

type AnySchema = v.GenericSchema<unknown, unknown>;
type ObjectSchema = v.ObjectSchema<v.ObjectEntries, undefined> | v.StrictObjectSchema<v.ObjectEntries, undefined>;

/** `public`: no token; `read`: any valid token; `admin`: an admin token. */
export type Access = 'public' | 'read' | 'admin';
export type Method = 'get' | 'post' | 'put' | 'delete';

/** How a route takes its body: JSON (required, or optional for routes that take nothing), or a raw agent bundle. */
export type BodySpec = { kind: 'json'; schema: AnySchema; optional?: boolean } | { kind: 'bundle' };

export interface ResponseSpec {
  description: string;
  /** JSON body schema; absent for empty responses and non-JSON ones. */
  schema?: AnySchema;
  /** Overrides `application/json` (the metrics exposition is text). */
  contentType?: string;
}

/** What a handler returns: a JSON body (or none) with a status, or a ready Response. */
export type RouteResult = { status: number; json?: unknown; headers?: Record<string, string> } | Response;

/** Handlers record what the audit log says a change was about. */
export interface AuditNote {
  target(name: string | null): void;
  details(facts: Record<string, string | number | boolean | null>): void;
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  token: TokenInfo | null;
  audit: AuditNote;
  /** The request's own URL (for `Location` headers and the like). */
  url: URL;
}

export interface RouteSpec<P extends AnySchema | undefined, Q extends AnySchema | undefined, B extends BodySpec | undefined> {
  method: Method;
  /** A hono path: `/v1/agents/:vendor/:agent`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  /** The audit log's name for this change (`agents.enable`); every non-GET route has one. */
  action?: string;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, ResponseSpec>;
  handle(
    input: RouteInput<
      P extends AnySchema ? v.InferOutput<P> : Record<string, never>,
      Q extends AnySchema ? v.InferOutput<Q> : Record<string, never>,
      B extends { kind: 'json'; schema: infer S extends AnySchema } ? v.InferOutput<S> : B extends { kind: 'bundle' } ? Uint8Array : undefined
    >,
  ): RouteResult | Promise<RouteResult>;
}

/** A route with its types erased, as the app and the OpenAPI builder see it. */
export interface ApiRoute {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  access: Access;
  action: string | undefined;
  params: ObjectSchema | undefined;
  query: ObjectSchema | undefined;
  body: BodySpec | undefined;
  responses: Record<number, ResponseSpec>;
  handle(input: RouteInput<unknown, unknown, unknown>): RouteResult | Promise<RouteResult>;
}

/** Declares a route; the handler's inputs are typed from the schemas. */
export function defineRoute<
  P extends ObjectSchema | undefined = undefined,
  Q extends ObjectSchema | undefined = undefined,
  B extends BodySpec | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): ApiRoute {
  if (spec.method !== 'get' && spec.action === undefined) throw new Error(`route ${spec.method} ${spec.path} needs an audit action`);
  return {
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    tag: spec.tag,
    access: spec.access,
    action: spec.action,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    responses: spec.responses,
    handle: spec.handle as ApiRoute['handle'],
  };
}

/** Body spec helper that keeps the schema's type. */
export function jsonBody<S extends AnySchema>(schema: S, options: { optional?: boolean } = {}): { kind: 'json'; schema: S; optional?: boolean } {
  return { kind: 'json', schema, ...options };
}
