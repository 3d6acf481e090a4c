// A real OpenID provider for the tests: the certified `oidc-provider` package on loopback.
//
// Run: node provider.mjs '<json config>'   (or the config in the OIDC_PROVIDER_CONFIG variable)
// It prints one JSON line {"ready": true, "issuer": ...} on stdout once it serves, and stops on SIGTERM.
//
// Config (every key optional except port):
//   port          the loopback port to serve on
//   issuer        default http://127.0.0.1:<port>
//   accounts      [{sub, email, name, roles, password}]: who may sign in; `sub` must be a UUID for
//                 orderpay. The login form accepts the email or the sub; a password is checked when set.
//   clients       oidc-provider client metadata, e.g.
//                 {client_id, client_secret, grant_types: ["client_credentials"], redirect_uris: [...]}.
//                 A client_credentials token's `sub` is its client_id: use a UUID to act as a user.
//   registration  true: dynamic client registration (RFC 7591) is open, as MCP clients expect.
//   audience      the `aud` of access tokens; default: the resource indicator the client asked for
//                 (RFC 8707), else `defaultResource`.
//   defaultResource  the resource of a token request that names none.
//   scope         space-separated scopes a resource server accepts (default "orderpay").
//   accessTokenTtl   seconds (default 3600).
//   refreshTokens true: refresh tokens for every authorization code grant (not only offline_access).
//
// Access tokens are RS256 JWTs (resourceIndicators with accessTokenFormat "jwt") carrying the
// account's email, name and roles, which is what orderpay's TokenVerifier reads. Sign-in is one
// small HTML form (no consent screen: grants are given at once), easy to drive from a browser
// test or from plain HTTP.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? process.env.OIDC_PROVIDER_CONFIG ?? '{}');
if (!config.port) throw new Error('config.port is required');
const issuer = config.issuer ?? `http://127.0.0.1:${config.port}`;
const accounts = config.accounts ?? [];
const scope = config.scope ?? 'orderpay';
const accessTokenTtl = config.accessTokenTtl ?? 3600;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

function findAccountRecord(idOrEmail) {
  return accounts.find((a) => a.sub === idOrEmail || (a.email && a.email === idOrEmail));
}

function profileClaims(account) {
  const claims = {};
  if (account.email) claims.email = account.email;
  if (account.name) claims.name = account.name;
  if (account.roles) claims.roles = account.roles;
  return claims;
}

const provider = new Provider(issuer, {
  clients: config.clients ?? [],
  jwks: { keys: [signingKey] },
  findAccount: async (ctx, sub) => {
    const account = findAccountRecord(sub);
    if (!account) return undefined;
    return { accountId: account.sub, claims: async () => ({ sub: account.sub, ...profileClaims(account) }) };
  },
  claims: { openid: ['sub'], email: ['email'], profile: ['name', 'roles'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', ...scope.split(' ')],
  ttl: { AccessToken: accessTokenTtl, ClientCredentials: accessTokenTtl },
  clientBasedCORS: () => true, // browser MCP clients (the Inspector) call the token endpoint
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') &&
    (config.refreshTokens || code.scopes.has('offline_access')),
  pkce: { required: () => true },
  extraTokenClaims: async (ctx, token) => {
    if (!token.accountId) return undefined;
    const account = findAccountRecord(token.accountId);
    return account ? profileClaims(account) : undefined;
  },
  features: {
    devInteractions: { enabled: false }, // ours below: no consent screen, email or sub as login
    clientCredentials: { enabled: true },
    registration: { enabled: Boolean(config.registration) },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? config.defaultResource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => ({
        scope,
        audience: config.audience ?? resourceIndicator,
        accessTokenTTL: accessTokenTtl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Sign in</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// Gives the client everything it asked for: the test provider has no consent screen.
async function grantAll(details) {
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (details.prompt.name === 'consent') {
    const consent = { grantId: await grantAll(details) };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = findAccountRecord(form.get('login') ?? '');
    if (!account || (account.password !== undefined && account.password !== form.get('password'))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(uid, 'Unknown user or wrong password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  return res.end(loginPage(uid));
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (!url.pathname.startsWith('/interaction/')) return callback(req, res);
  interaction(req, res, url).catch((error) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.message}`);
  });
});
provider.on('server_error', (ctx, error) => console.error('oidc-provider server_error', error));
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
