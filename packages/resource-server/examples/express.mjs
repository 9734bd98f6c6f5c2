// An Express API protected by the identity provider's access tokens:
//   ISSUER=https://id.example.com AUDIENCE=https://orders.example node examples/express.mjs

import { expressAccessToken } from '@idp/resource-server';
import express from 'express';

const { ISSUER: issuer, AUDIENCE: audience, PORT = '4000' } = process.env;
const app = express();
app.get('/orders', expressAccessToken({ issuer, audience, scopes: ['orders:read'] }), (_req, res) => {
  const { claims } = res.locals.accessToken;
  res.json({ caller: claims.sub, client: claims.client_id });
});
app.listen(Number(PORT), () => console.log(`orders API on http://localhost:${PORT}/orders`));
