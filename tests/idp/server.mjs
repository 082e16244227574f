// A real OpenID provider for jwtguard's integration tests: node oidc-provider issuing
// RFC 9068 JWT access tokens by client_credentials, on 127.0.0.1 only.
//
// Environment:
//   IDP_PORT             port to listen on (default 0: a free port)
//   IDP_AUDIENCE         the default resource / audience (default https://api.example.test)
//   IDP_KEYS_FILE        JSON {"keys":[private JWKs]} to sign with (default: new RS256 + ES256 keys)
//   IDP_WRITE_KEYS_FILE  where to write the private keys in use (to restart with them, or rotate)
//   IDP_ROTATE           with IDP_KEYS_FILE: put a new RS256 key first (it signs; the old keys
//                        stay published), as a key rotation does
//
// When listening it prints one line: IDP_READY {"issuer":"http://127.0.0.1:<port>","port":<port>}
// GET /__hits answers the request count per path; POST /__hits/reset clears it.
// It exits on SIGTERM, SIGINT, or when its stdin closes.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

// Keep stdout for the ready line: the provider's notices go to stderr.
console.info = console.warn = console.log = (...args) => console.error(...args);

const audience = process.env.IDP_AUDIENCE ?? 'https://api.example.test';

// client id -> [secret, scope, roles, signing alg]
const CLIENTS = {
  'admin-rs': ['admin-rs-secret', 'read write', ['admin'], 'RS256'],
  'reader-rs': ['reader-rs-secret', 'read', ['reader'], 'RS256'],
  'admin-es': ['admin-es-secret', 'read write', ['admin'], 'ES256'],
  'writer-es': ['writer-es-secret', 'read write', ['user'], 'ES256'],
};

async function newKey(alg, prefix) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `${prefix}-${randomBytes(4).toString('hex')}`, alg, use: 'sig' };
}

const keys = process.env.IDP_KEYS_FILE
  ? JSON.parse(readFileSync(process.env.IDP_KEYS_FILE, 'utf8')).keys
  : [await newKey('RS256', 'rs'), await newKey('ES256', 'es')];
if (process.env.IDP_KEYS_FILE && process.env.IDP_ROTATE) {
  keys.unshift(await newKey('RS256', 'rs'));
}
if (process.env.IDP_WRITE_KEYS_FILE) {
  writeFileSync(process.env.IDP_WRITE_KEYS_FILE, JSON.stringify({ keys }));
}

const server = createServer();
await new Promise((resolve) => server.listen(Number(process.env.IDP_PORT ?? 0), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: Object.entries(CLIENTS).map(([client_id, [client_secret, scope]]) => ({
    client_id,
    client_secret,
    scope,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys },
  scopes: ['openid', 'read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        if (!/^https?:\/\//.test(resourceIndicator)) {
          throw new errors.InvalidTarget('resource indicators are absolute http(s) URLs');
        }
        return {
          scope: 'read write',
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: CLIENTS[client.clientId]?.[3] ?? 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: 300 },
  extraTokenClaims: (ctx, token) => ({ roles: CLIENTS[token.clientId]?.[2] ?? [] }),
});

const hits = {};
provider.use(async (ctx, next) => {
  if (ctx.path === '/__hits' && ctx.method === 'GET') {
    ctx.body = hits;
    return;
  }
  if (ctx.path === '/__hits/reset' && ctx.method === 'POST') {
    for (const path of Object.keys(hits)) delete hits[path];
    ctx.status = 204;
    return;
  }
  hits[ctx.path] = (hits[ctx.path] ?? 0) + 1;
  await next();
});

server.on('request', provider.callback());

const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

process.stdout.write(`IDP_READY ${JSON.stringify({ issuer, port })}\n`);
