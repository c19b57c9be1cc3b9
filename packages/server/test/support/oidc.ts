/**
 * Test support for OpenID sign-in: a real OpenID provider (panva's oidc-provider) on a loopback port
 * standing in for Google, with accounts the test controls; a signer holding the provider's own key (for
 * ID tokens with chosen claims, as Google Identity Services hands them to a web page); and a tiny
 * browser (a cookie jar per origin, redirects followed by hand) that completes the provider's login
 * and consent.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, importJWK } from 'jose';
import Provider from 'oidc-provider';

export interface TestAccount {
  readonly sub: string;
  readonly email?: string;
  readonly email_verified?: boolean | string;
  readonly hd?: string;
}

export interface TestClient {
  readonly client_id: string;
  readonly client_secret: string;
}

export interface TestProvider {
  readonly issuer: string;
  readonly clients: readonly TestClient[];
  /** Accounts by subject; the login form takes the subject as the login name. */
  readonly accounts: Map<string, TestAccount>;
  /** An ID token signed with the provider's key: `iss`, `aud` (first client), `iat`, `exp` (+10 min) unless overridden. */
  signIdToken(claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export interface TestProviderOptions {
  readonly clients: readonly TestClient[];
  /**
   * Put email claims in the ID token itself, as Google does (oidc-provider's `conformIdTokenClaims: false`).
   * Otherwise they are only in UserInfo, as OpenID Connect Core §5.4 has it for the code flow.
   */
  readonly claimsInIdToken?: boolean;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

type Payload = Record<string, unknown> & { uid?: string; userCode?: string; grantId?: string; consumed?: number };

/** oidc-provider's storage interface over a Map: one test provider lives and dies with its test file. */
function mapAdapter(store: Map<string, Payload>) {
  return class MapAdapter {
    constructor(private readonly model: string) {}
    #key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Payload) {
      store.set(this.#key(id), payload);
    }
    async find(id: string) {
      return store.get(this.#key(id));
    }
    async findByUid(uid: string) {
      return [...store.values()].find((p) => p.uid === uid);
    }
    async findByUserCode(userCode: string) {
      return [...store.values()].find((p) => p.userCode === userCode);
    }
    async consume(id: string) {
      const payload = store.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, payload] of store) if (payload.grantId === grantId) store.delete(key);
    }
  };
}

export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kid = `test-${randomBytes(4).toString('hex')}`;
  const privateJwk = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid,
    alg: 'RS256',
    use: 'sig',
  };
  const accounts = new Map<string, TestAccount>();

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      ...c,
      // Native apps may use any port on a loopback redirect (RFC 8252 §7.3): Latchkey's test ports are random.
      application_type: 'native',
      redirect_uris: [
        'http://127.0.0.1/api/auth/google/callback',
        'http://127.0.0.1/api/auth/oidc/acme/callback',
        'http://127.0.0.1/app/callback',
      ],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    jwks: { keys: [privateJwk] },
    adapter: mapAdapter(new Map()),
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['hd'] },
    conformIdTokenClaims: !options.claimsInIdToken,
    features: { devInteractions: { enabled: false } },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      return account === undefined ? undefined : { accountId: id, claims: async () => ({ ...account }) };
    },
  });
  // oidc-provider reports (expected) protocol errors on these events; the tests assert on responses instead.
  provider.on('server_error', () => {});

  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/interaction\/([^/?]+)(?:\/(login|consent))?$/.exec((req.url ?? '').split('?')[0] ?? '');
    if (!match) return handle(req, res);
    void interaction(req, res, match[2]).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });

  /** The provider's own login and consent pages, reduced to what a test needs: GET tells the prompt, POST answers it. */
  async function interaction(req: IncomingMessage, res: ServerResponse, step: string | undefined): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ uid: details.uid, prompt: details.prompt.name }));
      return;
    }
    const form = await readForm(req);
    if (step === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: form.get('login') ?? '' } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? ((await provider.Grant.find(details.grantId)) as NonNullable<Awaited<ReturnType<typeof provider.Grant.find>>>)
      : new provider.Grant({ accountId: details.session?.accountId ?? '', clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }

  const signingKey = await importJWK(privateJwk, 'RS256');
  const firstClient = options.clients[0]?.client_id ?? '';
  return {
    issuer,
    clients: options.clients,
    accounts,
    async signIdToken(claims) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: firstClient, iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(signingKey);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface BrowserResponse {
  readonly status: number;
  readonly location: string | undefined;
  readonly headers: Headers;
  readonly text: string;
  readonly body: any;
}

/** A browser reduced to cookies and manual redirects. Cookies are kept per origin (host and port). */
export class TestBrowser {
  readonly jar = new Map<string, Map<string, string>>();

  cookies(url: string): Map<string, string> {
    const origin = new URL(url).origin;
    let cookies = this.jar.get(origin);
    if (!cookies) this.jar.set(origin, (cookies = new Map()));
    return cookies;
  }

  async request(method: string, url: string, form?: Record<string, string>): Promise<BrowserResponse> {
    const cookies = this.cookies(url);
    const headers: Record<string, string> = {};
    if (cookies.size > 0) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, {
      method,
      headers,
      redirect: 'manual',
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const name = pair.slice(0, pair.indexOf('=')).trim();
      const value = pair.slice(pair.indexOf('=') + 1).trim();
      const gone = attributes.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1] ?? '') < Date.now()),
      );
      if (gone || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location === null ? undefined : new URL(location, url).href,
      headers: response.headers,
      text,
      body,
    };
  }

  get(url: string): Promise<BrowserResponse> {
    return this.request('GET', url);
  }

  /**
   * From the provider's authorization URL to the redirect back to the app: follows the provider's
   * redirects, signs in as `login` and gives consent. Returns the URL the provider sends the browser to.
   */
  async authorizeAt(provider: TestProvider, authorizationUrl: string, login: string): Promise<string> {
    let url = authorizationUrl;
    for (let step = 0; step < 12; step++) {
      if (new URL(url).origin !== provider.issuer) return url;
      const interaction = /^\/interaction\/[^/?]+$/.test(new URL(url).pathname);
      let res = await this.get(url);
      if (interaction) {
        const prompt = (res.body as { prompt: string }).prompt;
        res = await this.request('POST', `${url}/${prompt}`, prompt === 'login' ? { login } : {});
      }
      if (res.location === undefined) throw new Error(`the provider stopped at ${url}: ${res.status} ${res.text.slice(0, 300)}`);
      url = res.location;
    }
    throw new Error('too many redirects at the provider');
  }
}
