// A real OpenID provider for jwtguard's integration tests: node oidc-provider issuing
// RFC 9068 JWT access tokens by client_credentials, on 127.0.0.1 only.
//
// Environment:
//   IDP_PORT              port to listen on (default 0: a free port)
//   IDP_AUDIENCE          the default resource / audience (default https://api.example.test)
//   IDP_KEYS_FILE         JSON {"keys":[private JWKs]} to sign with (default: new RS256 + ES256 keys)
//   IDP_WRITE_KEYS_FILE   where to write the private keys in use (to restart with them, or rotate)
//   IDP_ROTATE            with IDP_KEYS_FILE: put a new RS256 key first (it signs; the old keys
//                         stay published), as a key rotation does
//   IDP_TOKEN_TTL         lifetime of the access tokens, in seconds (default 300)
//   IDP_TOKEN_DELAY_MS    wait this long before handling each POST /token (default 0)
//   IDP_CLIENT_JWKS_FILE  JSON {"keys":[public JWKs]}: registers the private_key_jwt client
//                         jwt-rs with these keys (unset: no such client)
//
// Clients: admin-rs, reader-rs, admin-es, writer-es (client_secret_basic), post-rs
// (client_secret_post only: HTTP Basic is refused for it) and, with IDP_CLIENT_JWKS_FILE,
// jwt-rs (private_key_jwt, RS256). README.md lists what a client assertion must hold.
//
// When listening it prints one line: IDP_READY {"issuer":"http://127.0.0.1:<port>","port":<port>}
// GET /__hits answers the request count per path; POST /__hits/reset clears it.
// GET /__tokens answers the POST /token counts (in total, per grant type, per client) and how
// many are in flight; POST /__tokens/reset clears them. /__hits counts none of these four.
// It exits on SIGTERM, SIGINT, or when its stdin closes.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

// Keep stdout for the ready line: the provider's notices go to stderr.
console.info = console.warn = console.log = (...args) => console.error(...args);

const audience = process.env.IDP_AUDIENCE ?? 'https://api.example.test';

function wholeNumber(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a whole number >= 0, got ${process.env[name]}`);
  }
  return value;
}
const tokenTTL = wholeNumber('IDP_TOKEN_TTL', 300);
const tokenDelayMs = wholeNumber('IDP_TOKEN_DELAY_MS', 0);
if (tokenTTL === 0) throw new Error('IDP_TOKEN_TTL must be at least 1');

// client id -> [secret, scope, roles, signing alg, token endpoint auth method]
const CLIENTS = {
  'admin-rs': ['admin-rs-secret', 'read write', ['admin'], 'RS256', 'client_secret_basic'],
  'reader-rs': ['reader-rs-secret', 'read', ['reader'], 'RS256', 'client_secret_basic'],
  'admin-es': ['admin-es-secret', 'read write', ['admin'], 'ES256', 'client_secret_basic'],
  'writer-es': ['writer-es-secret', 'read write', ['user'], 'ES256', 'client_secret_basic'],
  'post-rs': ['post-rs-secret', 'read', ['reader'], 'RS256', 'client_secret_post'],
};

// The private_key_jwt client's public keys (any private members are dropped).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const clientJwks = process.env.IDP_CLIENT_JWKS_FILE
  ? {
    keys: JSON.parse(readFileSync(process.env.IDP_CLIENT_JWKS_FILE, 'utf8')).keys.map(
      (jwk) => Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name))),
    ),
  }
  : undefined;
if (clientJwks) {
  CLIENTS['jwt-rs'] = [undefined, 'read write', ['service'], 'RS256', 'private_key_jwt'];
}

function clientMetadata([client_id, [client_secret, scope, , , method]]) {
  const metadata = {
    client_id,
    scope,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: method,
  };
  if (method === 'private_key_jwt') {
    return { ...metadata, jwks: clientJwks, token_endpoint_auth_signing_alg: 'RS256' };
  }
  return { ...metadata, client_secret };
}

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
  clients: Object.entries(CLIENTS).map(clientMetadata),
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
          accessTokenTTL: tokenTTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: CLIENTS[client.clientId]?.[3] ?? 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: tokenTTL },
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
  if (ctx.path === '/__tokens' || ctx.path === '/__tokens/reset') {
    await next();
    return;
  }
  hits[ctx.path] = (hits[ctx.path] ?? 0) + 1;
  await next();
});

// POST /token counts. A request is counted once answered (in `requests`, and in `succeeded`
// when the status is 200), under its grant type and its client; until then it is `in_flight`.
// A reset clears the counts of answered requests; those in flight are counted when answered.
const newTokenCounts = () => ({
  requests: 0, succeeded: 0, in_flight: 0, grant_types: Object.create(null), clients: Object.create(null),
});
let tokens = newTokenCounts();

// The user of an HTTP Basic Authorization header, form-decoded as RFC 6749 says (or undefined).
function basicClientId(ctx) {
  const authorization = ctx.get('authorization');
  if (!/^basic /i.test(authorization)) return undefined;
  const basic = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return decodeURIComponent(basic.slice(0, colon).replace(/\+/g, '%20'));
  } catch {
    return basic.slice(0, colon);
  }
}

// The client a token request names: the authenticated client if the provider got that far,
// else the Basic user, the client_id field, or the sub of the client assertion (unverified).
function tokenClientId(ctx) {
  const oidc = ctx.oidc;
  if (oidc?.client?.clientId) return oidc.client.clientId;
  const basicUser = basicClientId(ctx);
  if (basicUser) return basicUser;
  const body = oidc?.body;
  if (typeof body?.client_id === 'string' && body.client_id) return body.client_id;
  if (typeof body?.client_assertion === 'string') {
    try {
      const { sub } = decodeJwt(body.client_assertion);
      if (typeof sub === 'string' && sub) return sub;
    } catch {
      // not a JWT: no client
    }
  }
  return '(none)';
}

function bump(table, key, ok) {
  const counts = (table[key] ??= { requests: 0, succeeded: 0 });
  counts.requests += 1;
  if (ok) counts.succeeded += 1;
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__tokens' && ctx.method === 'GET') {
    ctx.body = tokens;
    return;
  }
  if (ctx.path === '/__tokens/reset' && ctx.method === 'POST') {
    tokens = { ...newTokenCounts(), in_flight: tokens.in_flight };
    ctx.status = 204;
    return;
  }
  if (ctx.path !== '/token' || ctx.method !== 'POST') {
    await next();
    return;
  }
  tokens.in_flight += 1;
  try {
    if (tokenDelayMs > 0) await sleep(tokenDelayMs);
    // oidc-provider takes client_secret_basic and client_secret_post for one another; the
    // client_secret_post clients here refuse HTTP Basic, so a test sees which one was used.
    const basicUser = basicClientId(ctx);
    if (basicUser !== undefined && CLIENTS[basicUser]?.[4] === 'client_secret_post') {
      ctx.status = 401;
      ctx.set('www-authenticate', `Basic realm="${issuer}", error="invalid_client", error_description="client authentication failed"`);
      ctx.set('cache-control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
      return;
    }
    await next();
  } finally {
    const counts = tokens;
    counts.in_flight -= 1;
    const ok = ctx.status === 200;
    counts.requests += 1;
    if (ok) counts.succeeded += 1;
    const grantType = ctx.oidc?.body?.grant_type;
    bump(counts.grant_types, typeof grantType === 'string' && grantType ? grantType : '(none)', ok);
    let clientId = '(none)';
    try {
      clientId = tokenClientId(ctx);
    } catch {
      // keep '(none)'
    }
    bump(counts.clients, clientId, ok);
  }
});

server.on('request', provider.callback());

const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

process.stdout.write(`IDP_READY ${JSON.stringify({ issuer, port })}\n`);
