import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '../../domain/errors.js';
import { OPERATOR_ACTIONS } from '../../domain/iam/identity-service.js';
import { registerOperatorAction, streamJob } from '../../edges/operator/routes.js';
import { cycloneDx, spdx } from './sbom.js';
import type { ScanningStore } from './store/sql-store.js';
import type { VulnDb } from './vulndb/vulndb.js';

// Operator endpoints of the scanning module (SigV4-signed like every /_berth/ route):
//   POST /_berth/vulndb/import?source=<absolute path on the server>  NDJSON progress, then the summary
//   POST /_berth/vulndb/status                                       what is loaded and when
//   POST /_berth/sbom?registryId=&repository=&digest=&format=cyclonedx|spdx

export function scanningOperatorRoutes(app: FastifyInstance, opts: { vulndb: VulnDb; store: ScanningStore; registryId: string; registryHost: () => string; now: () => number }): void {
  registerOperatorAction('/_berth/vulndb/import', OPERATOR_ACTIONS.vulndbImport);
  registerOperatorAction('/_berth/vulndb/status', OPERATOR_ACTIONS.vulndbStatus);
  registerOperatorAction('/_berth/sbom', OPERATOR_ACTIONS.sbom);

  app.post('/_berth/vulndb/import', async (req, reply) => {
    const source = (req.query as Record<string, string | undefined>).source;
    return streamJob(reply, async (progress, signal) => {
      if (!source || !isAbsolute(source)) throw new DomainError('InvalidParameter', 'source must be an absolute path on the server (a .zip export, a .json record or a folder)');
      return opts.vulndb.import(source, { onProgress: (p) => progress(p), signal });
    });
  });

  app.post('/_berth/vulndb/status', async (_req, reply) => streamJob(reply, async () => opts.vulndb.status()));

  app.post('/_berth/sbom', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    return streamJob(reply, async () => {
      if (!q.repository || !q.digest) throw new DomainError('InvalidParameter', 'repository and digest are required');
      const inventory = await opts.store.getInventory(q.digest);
      if (!inventory) throw new DomainError('ScanNotFound', `no scan has read ${q.digest} yet: start one with aws ecr start-image-scan`);
      const subject = { repository: q.repository, digest: q.digest, registryHost: opts.registryHost(), createdAt: opts.now() };
      return { document: q.format === 'spdx' ? spdx(inventory, subject) : cycloneDx(inventory, subject) };
    });
  });
}
