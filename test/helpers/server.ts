import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type Berth } from '../../src/app.js';
import { parseConfig, type ConfigInput } from '../../src/config/config.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

/** The administrator every test server starts with (account 000000000000). */
export const testAdmin = { accessKeyId: 'AKIABERTHTESTADMIN00', secretAccessKey: 'berth-test-admin-secret-key-0000' } as const;

export interface TestServer {
  berth: Berth;
  /** http://127.0.0.1:PORT (https:// when the server was given TLS settings) */
  url: string;
  /** 127.0.0.1:PORT, as registry clients write it */
  host: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface TestServerOptions extends Partial<ConfigInput> {
  /** Put metadata in a fresh PostgreSQL database instead of SQLite. */
  postgres?: boolean;
  /**
   * Reuse this data folder (e.g. to restart on the data of a stopped server). The caller
   * owns it: stop() leaves it in place. Without it each server gets a fresh folder.
   */
  dataDir?: string;
}

/** Starts a Berth in this process on a free loopback port with a fresh data folder. */
export async function startBerth(options: TestServerOptions = {}): Promise<TestServer> {
  const { postgres, dataDir: reuseDir, ...overrides } = options;
  const dataDir = reuseDir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  let database: TestDatabase | undefined;
  if (postgres) database = await createTestDatabase();
  const config = parseConfig({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    log: { level: 'warn' },
    // A copy: AWS SDK clients given testAdmin as credentials add fields to it.
    bootstrap: { accessKeyId: testAdmin.accessKeyId, secretAccessKey: testAdmin.secretAccessKey },
    // Berth requires a login on /v2 by default; test servers serve it anonymously unless the
    // test asks for `auth` itself (the large conformance suites push and pull anonymously).
    auth: { v2: false },
    ...(database ? { metadata: { kind: 'postgres', url: database.url } } : {}),
    ...overrides,
  });
  const berth = await createApp(config);
  await berth.http.listen({ host: '127.0.0.1', port: 0 });
  const address = berth.http.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  const host = `127.0.0.1:${address.port}`;
  return {
    berth,
    url: `${berth.tls ? 'https' : 'http'}://${host}`,
    host,
    dataDir,
    async stop() {
      await berth.close();
      await database?.drop();
      if (reuseDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
