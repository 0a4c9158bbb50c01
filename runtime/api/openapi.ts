/**
 * Builds the OpenAPI 3.1 document from the route table: paths, parameters, request bodies and
 * responses all come from the same valibot schemas the routes validate with (@valibot/to-json-schema).
 */
import { toJsonSchema, type ConversionConfig, type JsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import {
  AgentInfoSchema,
  AgentStatsSchema,
  DriverSchema,
  HealthSchema,
  InstallResultSchema,
  KeySchema,
  TokenCreatedSchema,
} from './api-schemas.ts';
import { ProblemSchema } from './problem.ts';
import { BUNDLE_CONTENT_TYPES, MAX_JSON_BYTES } from './request-pipeline.ts';
import type { ApiRoute, ResponseSpec } from './route.ts';
import { TokenInfoSchema } from './token-store.ts';

type AnySchema = v.GenericSchema<unknown, unknown>;

/** Named schemas, emitted once under `components.schemas` and referenced from the routes. */
const COMPONENTS: Record<string, AnySchema> = {
  Problem: ProblemSchema,
  Agent: AgentInfoSchema,
  AgentStats: AgentStatsSchema,
  InstallResult: InstallResultSchema,
  Key: KeySchema,
  Token: TokenInfoSchema,
  TokenCreated: TokenCreatedSchema,
  Driver: DriverSchema,
  Health: HealthSchema,
};

const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  // Custom checks (signatures, origins) have no JSON Schema form; the document states the shapes.
  errorMode: 'ignore',
  definitions: COMPONENTS,
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
};

function jsonSchema(schema: AnySchema, options: { typeMode?: 'input' | 'output' } = {}): JsonSchema {
  const { $schema: _dialect, $defs: _defs, ...rest } = toJsonSchema(schema, { ...CONVERSION, typeMode: options.typeMode ?? 'ignore' });
  return rest;
}

/** `/v1/agents/:vendor/:agent` → `/v1/agents/{vendor}/{agent}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const problem = (description: string): ResponseSpec & { problem: true } => ({ description, problem: true });

function responsesFor(route: ApiRoute): Record<string, unknown> {
  const all: Record<number, ResponseSpec & { problem?: true }> = { ...route.responses };
  if (route.params || route.query) all[route.params ? 404 : 400] ??= problem('no such resource, or an invalid path or query parameter');
  if (route.query) all[400] ??= problem('an invalid query parameter');
  if (route.access !== 'public') all[401] = problem('no token, or an invalid one');
  if (route.access === 'admin') all[403] = problem('the token is read-only');
  if (route.body) {
    all[400] ??= problem('the body is malformed');
    all[413] = problem('the body is too large');
    all[415] = problem('the body has the wrong media type');
    if (route.body.kind === 'json') all[422] ??= problem('the body is invalid; `field` and `errors[]` name the fields');
  }
  if (route.method !== 'get') {
    all[409] ??= problem('conflicts with the current state (downgrade, duplicate)');
    all[422] ??= problem('refused by the registry or trust store; `field` names the field when there is one');
  }
  const out: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(all)) {
    if (spec.problem) {
      out[status] = { description: spec.description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    } else if (spec.contentType !== undefined) {
      out[status] = { description: spec.description, content: { [spec.contentType]: { schema: { type: 'string' } } } };
    } else if (spec.schema !== undefined) {
      out[status] = { description: spec.description, content: { 'application/json': { schema: jsonSchema(spec.schema, { typeMode: 'output' }) } } };
    } else {
      out[status] = { description: spec.description };
    }
  }
  return out;
}

function parametersFor(route: ApiRoute): unknown[] {
  const out: unknown[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (schema === undefined) continue;
    for (const [name, entry] of Object.entries(schema.entries)) {
      const optional = entry.type === 'optional' || entry.type === 'exact_optional';
      out.push({ name, in: where, required: where === 'path' || !optional, schema: jsonSchema(entry as AnySchema, { typeMode: 'input' }) });
    }
  }
  return out;
}

function requestBodyFor(route: ApiRoute): unknown {
  const body = route.body;
  if (body === undefined) return undefined;
  if (body.kind === 'bundle') {
    const schema = { type: 'string', contentMediaType: 'application/vnd.sluice.agent-bundle' };
    return { required: true, description: 'a signed agent bundle file', content: Object.fromEntries(BUNDLE_CONTENT_TYPES.map((t) => [t, { schema }])) };
  }
  return {
    required: body.optional !== true,
    description: `JSON, at most ${MAX_JSON_BYTES} bytes`,
    content: { 'application/json': { schema: jsonSchema(body.schema, { typeMode: 'input' }) } },
  };
}

export function buildOpenApi(routes: readonly ApiRoute[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operation: Record<string, unknown> = {
      operationId: `${route.method}${openApiPath(route.path).replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: route.summary,
      tags: [route.tag],
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      'x-sluice-access': route.access,
      ...(route.action === undefined ? {} : { 'x-sluice-audit-action': route.action }),
    };
    const parameters = parametersFor(route);
    if (parameters.length > 0) operation.parameters = parameters;
    const requestBody = requestBodyFor(route);
    if (requestBody !== undefined) operation.requestBody = requestBody;
    operation.responses = responsesFor(route);
    (paths[openApiPath(route.path)] ??= {})[route.method] = operation;
  }
  const schemas: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    // A component's own top level is written out, not a reference to itself.
    const others = Object.fromEntries(Object.entries(COMPONENTS).filter(([n]) => n !== name));
    const { $schema: _dialect, $defs: _defs, ...rest } = toJsonSchema(schema, { ...CONVERSION, definitions: others, typeMode: 'output' });
    schemas[name] = rest;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice management API', version: info.version },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token; admin or read-only' } },
    },
  };
}
