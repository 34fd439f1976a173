import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics for one app instance (its own registry, so tests can run several). */
export function installMetrics(app: FastifyInstance, storageRequests?: ReadonlyMap<string, number>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests served, by edge, method and status',
    labelNames: ['edge', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP request latency, by edge and method',
    labelNames: ['edge', 'method'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  if (storageRequests) {
    new Counter({
      name: 'berth_storage_requests_total',
      help: 'Requests sent to the storage engine (S3), by operation',
      labelNames: ['operation'] as const,
      registers: [registry],
      // The store keeps the running totals; copy them in at scrape time.
      collect() {
        this.reset();
        for (const [operation, count] of storageRequests) this.inc({ operation }, count);
      },
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    const edge = req.url.startsWith('/v2') ? 'oci' : 'other';
    requests.inc({ edge, method: req.method, status: String(reply.statusCode) });
    duration.observe({ edge, method: req.method }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('Content-Type', registry.contentType).send(await registry.metrics());
  });
  return registry;
}
