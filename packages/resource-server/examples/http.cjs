// node:http and CommonJS (Node 20.19, 22.12 or newer):
//   ISSUER=https://id.example.com AUDIENCE=https://orders.example node examples/http.cjs
const { createServer } = require('node:http');
const { httpAccessToken } = require('@idp/resource-server');

const { ISSUER: issuer, AUDIENCE: audience, PORT = '4000' } = process.env;
const authenticate = httpAccessToken({ issuer, audience, scopes: ['orders:read'] });
createServer(async (req, res) => {
  const token = await authenticate(req, res); // on failure it has answered 401, 403 or 503
  if (!token) return;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ caller: token.claims.sub }));
}).listen(Number(PORT), () => console.log(`orders API on http://localhost:${PORT}/orders`));
