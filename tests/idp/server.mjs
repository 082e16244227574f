// A real OpenID provider for jwtguard's integration tests: node oidc-provider issuing
// RFC 9068 JWT access tokens by client_credentials, on 127.0.0.1 only. For one resource
// (IDP_OPAQUE_RESOURCE) it issues opaque access tokens instead, which a resource server checks
// by RFC 7662 introspection (POST /token/introspection); RFC 7009 revocation
// (POST /token/revocation) withdraws them.
//
// Environment:
//   IDP_PORT              port to listen on (default 0: a free port)
//   IDP_AUDIENCE          the default resource / audience (default https://api.example.test)
//   IDP_KEYS_FILE         JSON {"keys":[private JWKs]} to sign with (default: new RS256 + ES256 keys)
//   IDP_WRITE_KEYS_FILE   where to write the private keys in use (to restart with them, or rotate)
//   IDP_ROTATE            with IDP_KEYS_FILE: put a new RS256 key first (it signs; the old keys
//                         stay published), as a key rotation does
//   IDP_OPAQUE_RESOURCE   the resource whose access tokens are opaque: a token requested with
//                         resource=<it> is opaque, with that audience (default
//                         https://opaque.example.test); every other resource gets JWTs
//   IDP_TOKEN_TTL         lifetime of the access tokens (JWT and opaque), in seconds (default 300)
//   IDP_TOKEN_DELAY_MS    wait this long before handling each POST /token (default 0)
//   IDP_INTROSPECTION_DELAY_MS  wait this long before handling each introspection (default 0)
//   IDP_DPOP_NONCE        1: DPoP proofs at the token endpoint must carry the provider's nonce
//   IDP_CLIENT_JWKS_FILE  JSON {"keys":[public JWKs]}: registers the private_key_jwt client
//                         jwt-rs with these keys (unset: no such client)
//
// Clients: admin-rs, reader-rs, admin-es, writer-es (client_secret_basic), post-rs
// (client_secret_post only: HTTP Basic is refused for it) and, with IDP_CLIENT_JWKS_FILE,
// jwt-rs (private_key_jwt, RS256). README.md lists what a client assertion must hold.
// rs-introspect (client_secret_basic, secret rs-introspect-secret, no grant types) is the
// resource server of IDP_OPAQUE_RESOURCE: it may introspect every token for that audience.
// Other clients may introspect, and revoke, only their own tokens. Introspection of a live
// opaque token answers active:true with roles, sub, client_id, exp, iat, iss, aud, scope and
// token_type; an unknown, expired or revoked token, or one the caller may not see, answers
// {"active":false}; a JWT is refused (400 unsupported_token_type), as is its revocation.
// The discovery document also lists introspection_endpoint_auth_methods_supported and
// revocation_endpoint_auth_methods_supported (the token endpoint's methods).
//
// When listening it prints one line: IDP_READY {"issuer":"http://127.0.0.1:<port>","port":<port>}
// GET /__hits answers the request count per path (introspection counts under
// /token/introspection, revocation under /token/revocation); POST /__hits/reset clears it.
// GET /__tokens answers the POST /token counts (in total, per grant type, per client) and how
// many are in flight; POST /__tokens/reset clears them. /__hits counts none of these four.
// GET /__introspections answers how many introspections are in flight and the most that
// ever were at once (max_in_flight); /__hits counts it neither.
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
const opaqueResource = process.env.IDP_OPAQUE_RESOURCE ?? 'https://opaque.example.test';
if (!/^https?:\/\//.test(opaqueResource)) {
  throw new Error(`IDP_OPAQUE_RESOURCE must be an absolute http(s) URL, got ${opaqueResource}`);
}

function wholeNumber(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a whole number >= 0, got ${process.env[name]}`);
  }
  return value;
}
const tokenTTL = wholeNumber('IDP_TOKEN_TTL', 300);
const tokenDelayMs = wholeNumber('IDP_TOKEN_DELAY_MS', 0);
const introspectionDelayMs = wholeNumber('IDP_INTROSPECTION_DELAY_MS', 0);
const dpopNonce = process.env.IDP_DPOP_NONCE === '1';
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

// The resource server of the opaque tokens: it authenticates at the introspection endpoint
// only (no grant types, so POST /token refuses it).
const INTROSPECTION_CLIENT = ['rs-introspect', 'rs-introspect-secret'];

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
  clients: [
    ...Object.entries(CLIENTS).map(clientMetadata),
    {
      client_id: INTROSPECTION_CLIENT[0],
      client_secret: INTROSPECTION_CLIENT[1],
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
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
        if (resourceIndicator === opaqueResource) {
          return {
            scope: 'read write',
            audience: resourceIndicator,
            accessTokenTTL: tokenTTL,
            accessTokenFormat: 'opaque',
          };
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
    // RFC 7662. The caller may see a token if it is the token's own client, or the resource
    // server of the token's audience (rs-introspect for IDP_OPAQUE_RESOURCE). Otherwise the
    // answer is {"active":false}.
    introspection: {
      enabled: true,
      allowedPolicy: (ctx, client, token) => {
        if (client.clientId === token.clientId) return true;
        const audiences = [token.aud].flat();
        return client.clientId === INTROSPECTION_CLIENT[0] && audiences.includes(opaqueResource);
      },
    },
    // RFC 9449. A token request with a DPoP proof gets a token bound to the proof's key
    // (token_type DPoP; cnf.jkt in a JWT, and in an opaque token's introspection). With
    // IDP_DPOP_NONCE=1 every proof must carry the provider's nonce (use_dpop_nonce first).
    dPoP: {
      enabled: true,
      nonceSecret: dpopNonce ? randomBytes(32) : undefined,
      requireNonce: () => dpopNonce,
    },
    // RFC 7009. Only the token's own client may revoke it (another client gets
    // 400 invalid_request); revoking an unknown token answers 200 all the same.
    revocation: {
      enabled: true,
      allowedPolicy: (ctx, client, token) => {
        if (client.clientId !== token.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
  },
  ttl: { ClientCredentials: tokenTTL },
  // JWTs carry these in their payload; opaque tokens keep them and introspection shows them.
  // An opaque client_credentials token has no account, so `sub` (the client id, as in the
  // JWTs) is added here for its introspection answer.
  extraTokenClaims: (ctx, token) => ({
    roles: CLIENTS[token.clientId]?.[2] ?? [],
    ...(token.resourceServer?.accessTokenFormat === 'opaque' ? { sub: token.clientId } : {}),
  }),
});

// oidc-provider authenticates clients at the introspection and revocation endpoints the way it
// does at the token endpoint, but its discovery document only says so for the token endpoint:
// copy that list to introspection_endpoint_auth_methods_supported and
// revocation_endpoint_auth_methods_supported (RFC 8414), for resource servers that read them.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/.well-known/openid-configuration' || ctx.status !== 200) return;
  const methods = ctx.body?.token_endpoint_auth_methods_supported;
  if (!Array.isArray(methods)) return;
  ctx.body.introspection_endpoint_auth_methods_supported ??= [...methods];
  ctx.body.revocation_endpoint_auth_methods_supported ??= [...methods];
});

const introspections = { in_flight: 0, max_in_flight: 0 };
provider.use(async (ctx, next) => {
  if (ctx.path === '/__introspections' && ctx.method === 'GET') {
    ctx.body = introspections;
    return;
  }
  if (ctx.path !== '/token/introspection' || ctx.method !== 'POST') {
    await next();
    return;
  }
  introspections.in_flight += 1;
  introspections.max_in_flight = Math.max(introspections.max_in_flight, introspections.in_flight);
  try {
    if (introspectionDelayMs > 0) await sleep(introspectionDelayMs);
    await next();
  } finally {
    introspections.in_flight -= 1;
  }
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
