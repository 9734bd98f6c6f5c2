// A Fastify API protected by the identity provider's access tokens:
//   ISSUER=https://id.example.com AUDIENCE=https://orders.example node examples/fastify.mjs

import { fastifyAccessToken } from '@idp/resource-server';
import Fastify from 'fastify';

const { ISSUER: issuer, AUDIENCE: audience, PORT = '4000' } = process.env;
const app = Fastify();
app.decorateRequest('accessToken', null);
app.addHook('onRequest', fastifyAccessToken({ issuer, audience, scopes: ['orders:read'] }));
app.get('/orders', async (request) => ({ caller: request.accessToken.claims.sub }));
await app.listen({ port: Number(PORT) });
console.log(`orders API on http://localhost:${PORT}/orders`);
