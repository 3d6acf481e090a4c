// An MCP client with OAuth support (the official TypeScript SDK) against orderpay's /mcp, headless.
//
// Run: node client.mjs '<json config>'; prints one JSON line with what it saw.
//   mcpUrl      the MCP endpoint
//   mode        "authorization_code": discovers the authorization server from the 401 and the
//               protected resource metadata, registers itself (RFC 7591), signs `login`/`password`
//               in through the provider's form (as a browser would, following redirects with a
//               cookie jar), exchanges the code with PKCE and the resource indicator;
//               "client_credentials": `clientId`/`clientSecret`, a pre-registered confidential client.
//   calls       [[toolName, arguments], ...] made once connected
// The access token is never printed: only its claims.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const config = JSON.parse(process.argv[2]);
const REDIRECT = 'http://127.0.0.1:9/oauth/callback'; // never reached: the code is read from the redirect

async function signInHeadlessly(authorizationUrl, login, password) {
  const jar = new Map();
  const go = async (url, init = {}) => {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { ...init, headers: { ...(init.headers ?? {}), cookie }, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0];
      jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return response;
  };
  let current = new URL(authorizationUrl);
  let response = await go(current);
  while (response.status >= 300 && response.status < 400) {
    current = new URL(response.headers.get('location'), current);
    response = await go(current);
  }
  const page = await response.text();
  const action = page.match(/action="([^"]+)"/)?.[1];
  if (!action) throw new Error(`no sign-in form at ${current}: ${response.status} ${page.slice(0, 300)}`);
  current = new URL(action, current);
  response = await go(current, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login, password }).toString(),
  });
  while (response.status >= 300 && response.status < 400) {
    const next = new URL(response.headers.get('location'), current);
    if (next.href.startsWith(REDIRECT)) {
      if (next.searchParams.get('error')) throw new Error(`authorization refused: ${next.search}`);
      return next.searchParams.get('code');
    }
    current = next;
    response = await go(current);
  }
  throw new Error(`sign-in did not complete: ${response.status} ${(await response.text()).slice(0, 300)}`);
}

class HeadlessAuthorizationCodeProvider {
  constructor(login, password) {
    Object.assign(this, { login, password, code: undefined, _client: undefined, _tokens: undefined, _verifier: undefined });
    this.discoveries = [];
  }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return {
      client_name: 'orderpay OAuth test client', redirect_uris: [REDIRECT], response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  saveCodeVerifier(verifier) { this._verifier = verifier; }
  codeVerifier() { return this._verifier; }
  async redirectToAuthorization(url) {
    this.authorizationUrl = url.href;
    this.code = await signInHeadlessly(url, this.login, this.password);
  }
}

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

async function connect(provider) {
  const transport = new StreamableHTTPClientTransport(new URL(config.mcpUrl), { authProvider: provider });
  const client = new Client({ name: 'orderpay-oauth-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

const seen = { mode: config.mode };
let provider;
let client;
if (config.mode === 'client_credentials') {
  provider = new ClientCredentialsProvider({ clientId: config.clientId, clientSecret: config.clientSecret });
  client = await connect(provider);
} else {
  provider = new HeadlessAuthorizationCodeProvider(config.login, config.password);
  try {
    client = await connect(provider);
    throw new Error('connected without authorizing');
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  seen.authorizationUrl = provider.authorizationUrl;
  seen.registeredClient = Boolean(provider.clientInformation()?.client_id);
  const transport = new StreamableHTTPClientTransport(new URL(config.mcpUrl), { authProvider: provider });
  await transport.finishAuth(provider.code);
  client = await connect(provider);
}
seen.claims = claimsOf(provider.tokens().access_token);
seen.tools = (await client.listTools()).tools.map((tool) => tool.name);
seen.results = [];
for (const [name, args] of config.calls ?? []) {
  const result = await client.callTool({ name, arguments: args });
  seen.results.push({ isError: Boolean(result.isError), structuredContent: result.structuredContent ?? null,
                      text: result.content?.filter((c) => c.type === 'text').map((c) => c.text).join('\n') });
}
await client.close();
process.stdout.write(`${JSON.stringify(seen)}\n`);
