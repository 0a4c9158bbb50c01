/** The API tokens resource (admin only): list, create (the token is shown once), revoke. */
import { CreateTokenBodySchema, EmptyBodySchema, TokenCreatedSchema, TokenListSchema, TokenParamsSchema } from './api-schemas.ts';
import { defineRoute, jsonBody, type ApiRoute } from './route.ts';
import type { TokenStore } from './token-store.ts';

const TAG = 'tokens';

export function tokenRoutes(tokens: TokenStore): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/tokens',
      summary: 'API tokens (names and roles; never the tokens themselves)',
      tag: TAG,
      access: 'admin',
      responses: { 200: { description: 'the tokens', schema: TokenListSchema } },
      handle: () => ({ status: 200, json: { tokens: tokens.list() } }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/tokens',
      summary: 'Make a token (read-only by default); the response is the only time the token is shown',
      tag: TAG,
      access: 'admin',
      action: 'tokens.create',
      body: jsonBody(CreateTokenBodySchema),
      responses: { 201: { description: 'the new token', schema: TokenCreatedSchema } },
      handle: async ({ body, audit }) => {
        const { token, info } = await tokens.create(body);
        audit.target(info.id);
        audit.details({ name: info.name, role: info.role });
        return { status: 201, json: { ...info, token }, headers: { 'cache-control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/tokens/:id',
      summary: 'Revoke a token',
      tag: TAG,
      access: 'admin',
      action: 'tokens.revoke',
      params: TokenParamsSchema,
      body: jsonBody(EmptyBodySchema, { optional: true }),
      responses: { 204: { description: 'revoked' } },
      handle: async ({ params, audit }) => {
        audit.target(params.id);
        const info = await tokens.revoke(params.id);
        audit.details({ name: info.name, role: info.role });
        return { status: 204 };
      },
    }),
  ];
}
