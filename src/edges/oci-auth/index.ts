import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { admit } from '../../auth/front-door.js';
import { requiredAccess, type RepositoryAccess } from '../../auth/registry-access.js';
import type { RegistryTokens } from '../../auth/registry-token.js';
import { deniedMessage, type EcrAccess, type EcrAccessCheck } from '../../domain/ecr/access.js';
import { errorTable } from '../../domain/errors.js';
import type { Decision } from '../../domain/iam/evaluate.js';
import type { Caller, RequestFacts } from '../../domain/iam/identity-service.js';
import { noteAuditError } from '../audit-context.js';
import { mountSource, resolveRegistryAddress } from '../oci/addressing.js';

// Authentication and authorization in front of the /v2 edge, as one onRequest hook on
// the root instance (the /v2 routes themselves stay unaware of it). Clients log in with
// `Basic AWS:<password>` (the password from GetAuthorizationToken, as with ECR) or send
// the same token as `Bearer` (from GET /token, the distribution token flow). Requests
// with neither are anonymous: they pass only where a repository policy allows "*".

export interface RegistryAuthOptions {
  tokens: RegistryTokens;
  /**
   * The one authorization of ECR actions, as the ECR API uses it: the same policies, the
   * same repository facts (resource tags as condition keys), the same ARNs.
   */
  access: Pick<EcrAccess, 'decide' | 'resource' | 'createOnPushChecks'>;
  /**
   * The challenge of 401 answers: `basic` (as ECR) or `bearer` (the distribution token
   * flow, pointing clients at GET /token).
   */
  challenge?: 'basic' | 'bearer';
  /** The account whose registry /v2 serves when the address names none (see oci/addressing.ts). */
  registryId: string;
  /**
   * False (config auth.v2=false): /v2 is open; requests are only named (actor.operation)
   * from the route table, not authenticated or authorized.
   */
  enforce?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller of a /v2 request; null when anonymous. */
    registryCaller?: Caller | null;
  }
}

const REALM = 'berth';
/** What a public repository lets anyone do: pull (and the blob and tag look-ups of a pull). */
const ANONYMOUS_ACTIONS = new Set(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:ListImages']);

export function installRegistryAuth(app: FastifyInstance, opts: RegistryAuthOptions): void {
  app.decorateRequest('registryCaller', null);
  const enforce = opts.enforce ?? true;

  app.addHook('onRequest', async (req, reply) => {
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== '/v2' && !path.startsWith('/v2/')) return;

    // The account addressed (host or path form), and the route within its registry.
    const address = resolveRegistryAddress(req.headers.host, path, opts.registryId);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const from = query.get('from');
    if (from !== null) {
      // A mount source is read in the addressed registry; one in another registry is not mounted.
      const source = mountSource(from, address, req.headers.host, opts.registryId);
      if (source === null) query.delete('from');
      else query.set('from', source);
    }
    const registryId = address.registryId;
    const access = requiredAccess(req.method, address.path, query);
    if (!enforce) return admit(req, null, access.operation);
    const challenge = challengeFor(req, opts, access.kind === 'repository' ? access.needs : []);
    const who = await authenticate(req, opts.tokens);
    if (who === 'invalid') return deny(reply, 'Unauthorized', 'the credentials are invalid or expired: log in again', challenge);
    req.registryCaller = who;
    admit(req, who, access.operation);

    if (access.kind === 'unknown') {
      // Not a route the table serves: nothing to authorize it by, so nobody may.
      if (!who) return deny(reply, 'Unauthorized', 'authentication required', challenge);
      return deny(reply, 'Denied', `${req.method} ${address.path.slice(0, 300)} is not an operation of this registry`);
    }
    if (access.kind === 'login' || access.kind === 'invalid') {
      if (!who) return deny(reply, 'Unauthorized', 'authentication required', challenge);
      return;
    }
    const facts: RequestFacts = { sourceIp: req.ip, secureTransport: req.protocol === 'https' };
    const needs: RepositoryAccess[] = access.kind === 'catalog' ? [{ repository: '*', action: access.action }] : access.needs;
    const checks: EcrAccessCheck[] = needs.map((n) => ({ action: n.action, registryId, repository: n.repository }));
    // The routes that may create the repository (starting an upload, putting a manifest).
    const creating = needs.find((n) => n.action === 'ecr:InitiateLayerUpload' || n.action === 'ecr:PutImage');
    let createChecks: EcrAccessCheck[] = [];
    for (const check of checks) {
      const decision = await decide(opts, who, check, facts);
      if (!decision.allowed) return refuse(reply, who, check, decision, challenge, opts);
      if (check.repository === creating?.repository && check.action === creating.action) {
        // Allowed to push: creating it as well takes what ECR's create-on-push takes.
        createChecks = await opts.access.createOnPushChecks(registryId, check.repository);
      }
    }
    for (const check of createChecks) {
      const decision = await decide(opts, who, check, facts);
      if (!decision.allowed) return refuse(reply, who, check, decision, challenge, opts, ' (the repository does not exist: a push creates it, which needs this action too)');
    }
  });

  // The distribution token flow: Basic AWS:<password> in, the same token back as a Bearer
  // token. Scopes are not baked in: every request is authorized against policies anyway.
  // Without credentials the token is an anonymous one (public repositories only).
  if (!enforce) return;
  app.get('/token', async (req, reply) => {
    const who = await authenticate(req, opts.tokens);
    if (who === 'invalid') return deny(reply, 'Unauthorized', 'log in with the user AWS and a password from GetAuthorizationToken', `Basic realm="${REALM}"`);
    const issued = who ? await opts.tokens.issue(who) : opts.tokens.issueAnonymous();
    const expiresIn = Math.max(0, Math.floor((issued.expiresAt.getTime() - Date.now()) / 1000));
    return reply.send({ token: issued.password, access_token: issued.password, expires_in: expiresIn, issued_at: new Date().toISOString() });
  });
}

async function decide(opts: RegistryAuthOptions, who: Caller | null, check: EcrAccessCheck, facts: RequestFacts): Promise<Decision> {
  // Anonymous callers may at most read, whatever a policy grants "*": never push or delete.
  if (!who && !ANONYMOUS_ACTIONS.has(check.action)) return { allowed: false, reason: 'implicit-deny' };
  return opts.access.decide(who, check, facts);
}

function refuse(reply: FastifyReply, who: Caller | null, check: EcrAccessCheck, decision: Decision, challenge: string, opts: RegistryAuthOptions, note = '') {
  if (!who) return deny(reply, 'Unauthorized', 'authentication required', challenge);
  return deny(reply, 'Denied', deniedMessage(who, check.action, opts.access.resource(check), decision) + note);
}

function decodeBasic(encoded: string): { user: string; password: string } | null {
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function authenticate(req: FastifyRequest, tokens: RegistryTokens): Promise<Caller | null | 'invalid'> {
  const header = req.headers.authorization;
  if (!header) return null;
  const [scheme, value = ''] = header.split(/\s+/, 2) as [string, string?];
  let password: string;
  if (/^basic$/i.test(scheme)) {
    const basic = decodeBasic(value);
    // Clients without a login answer a Basic challenge with empty credentials (skopeo, containerd).
    if (basic && basic.user === '' && basic.password === '') return null;
    if (!basic || basic.user !== 'AWS') return 'invalid';
    password = basic.password;
  } else if (/^bearer$/i.test(scheme)) {
    password = value;
  } else {
    return 'invalid';
  }
  const result = await tokens.verify(password);
  return result.ok ? result.caller : 'invalid';
}

function challengeFor(req: FastifyRequest, opts: RegistryAuthOptions, needs: RepositoryAccess[]): string {
  if (opts.challenge !== 'bearer') return `Basic realm="${REALM}"`;
  const host = req.headers.host ?? 'localhost';
  const scopes = [...new Set(needs.map((n) => `repository:${n.repository}:${/PutImage|Layer(Upload|Part)|Initiate|Complete|Delete/.test(n.action) ? 'pull,push' : 'pull'}`))];
  return `Bearer realm="${req.protocol}://${host}/token",service="${host}"${scopes.length ? `,scope="${scopes.join(' ')}"` : ''}`;
}

function deny(reply: FastifyReply, name: 'Unauthorized' | 'Denied', message: string, challenge = `Basic realm="${REALM}"`) {
  const spec = errorTable[name];
  noteAuditError(reply.request, spec.ecr, message);
  if (name === 'Unauthorized') reply.header('www-authenticate', challenge);
  return reply
    .code(spec.status)
    .header('docker-distribution-api-version', 'registry/2.0')
    .header('content-type', 'application/json')
    .send({ errors: [{ code: spec.oci, message, detail: null }] });
}
