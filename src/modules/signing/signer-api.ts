import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignerError, type SigningProfiles } from './profiles.js';

// The AWS Signer API subset ECR managed signing needs (REST-JSON, signing name `signer`, as
// botocore's signer model has it): PutSigningProfile PUT /signing-profiles/{profileName},
// GetSigningProfile GET /signing-profiles/{profileName}, ListSigningProfiles GET
// /signing-profiles, CancelSigningProfile DELETE /signing-profiles/{profileName}.

export interface SignerApiOptions {
  profiles: SigningProfiles;
  /** SigV4 for service `signer`; resolves to the caller's account or throws a SignerError. */
  authenticate(req: FastifyRequest): Promise<{ accountId: string }>;
}

export async function signerApi(app: FastifyInstance, opts: SignerApiOptions): Promise<void> {
  // This scope reads its JSON bodies itself (SigV4 needs the exact bytes).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof SignerError) return send(reply, err.status, err.type, err.message);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return send(reply, 400, 'ValidationException', (err as Error).message);
    reply.log.error({ err }, 'signer API failed');
    return send(reply, 500, 'InternalServiceErrorException', 'An internal error occurred');
  });
  const name = (req: FastifyRequest) => (req.params as { profileName: string }).profileName;

  app.put('/signing-profiles/:profileName', async (req, reply) => {
    const { accountId } = await opts.authenticate(req);
    const out = await opts.profiles.put(accountId, name(req), parseJson(req.body));
    return json(reply, 200, out);
  });
  app.get('/signing-profiles/:profileName', async (req, reply) => {
    const { accountId } = await opts.authenticate(req);
    return json(reply, 200, await opts.profiles.get(accountId, name(req)));
  });
  app.get('/signing-profiles', async (req, reply) => {
    const { accountId } = await opts.authenticate(req);
    const includeCanceled = (req.query as { includeCanceled?: string }).includeCanceled === 'true';
    return json(reply, 200, await opts.profiles.list(accountId, includeCanceled));
  });
  app.delete('/signing-profiles/:profileName', async (req, reply) => {
    const { accountId } = await opts.authenticate(req);
    await opts.profiles.cancel(accountId, name(req));
    return reply.code(200).send();
  });
}

function parseJson(body: unknown): Record<string, any> {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  if (text.trim() === '') return {};
  try {
    const value = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // below
  }
  throw new SignerError('ValidationException', 400, 'The request body is not a JSON object');
}

function json(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).header('Content-Type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

function send(reply: FastifyReply, status: number, type: string, message: string) {
  return reply.code(status).header('x-amzn-ErrorType', type).header('Content-Type', 'application/json').send(Buffer.from(JSON.stringify({ message })));
}
