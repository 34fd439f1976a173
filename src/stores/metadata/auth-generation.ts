import { sql, type Kysely, type KyselyPlugin, type Migration, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';

// One counter row that moves, in the same transaction, whenever anything authorization
// reads changes: IAM users, roles, access keys, policies and their attachments, accounts,
// repositories (created or deleted), repository and registry policies, resource tags.
// Triggers do it, so every path (the APIs, `berth admin`, another node, a migration) moves
// it and none can forget to. Nodes read it to know when their auth caches are stale
// (domain/iam/auth-cache.ts).

/** Tables whose changes authorization must see, and which changes (repositories: only creation and deletion). */
const WATCHED: Record<string, readonly ('INSERT' | 'UPDATE' | 'DELETE')[]> = {
  accounts: ['INSERT', 'UPDATE', 'DELETE'],
  iam_users: ['INSERT', 'UPDATE', 'DELETE'],
  iam_roles: ['INSERT', 'UPDATE', 'DELETE'],
  iam_access_keys: ['INSERT', 'UPDATE', 'DELETE'],
  // New sessions are never cached as missing; a session's end is checked on every use.
  iam_sessions: ['UPDATE', 'DELETE'],
  iam_managed_policies: ['INSERT', 'UPDATE', 'DELETE'],
  iam_inline_policies: ['INSERT', 'UPDATE', 'DELETE'],
  iam_policy_attachments: ['INSERT', 'UPDATE', 'DELETE'],
  repositories: ['INSERT', 'DELETE'],
  ecr_repository_policies: ['INSERT', 'UPDATE', 'DELETE'],
  ecr_registry_policies: ['INSERT', 'UPDATE', 'DELETE'],
  ecr_resource_tags: ['INSERT', 'UPDATE', 'DELETE'],
};

export function authGenerationMigration(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  return {
    '0040_auth_generation': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('auth_generation')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('generation', 'bigint', (c) => c.notNull())
          .execute();
        await db.insertInto('auth_generation').values({ id: 1, generation: 0 }).execute();
        if (dialect === 'postgres') {
          await sql`CREATE OR REPLACE FUNCTION berth_bump_auth_generation() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN UPDATE auth_generation SET generation = generation + 1 WHERE id = 1; RETURN NULL; END $$`.execute(db);
          for (const [table, ops] of Object.entries(WATCHED)) {
            await sql`CREATE TRIGGER ${sql.raw(`${table}_auth_generation`)} AFTER ${sql.raw(ops.join(' OR '))} ON ${sql.table(table)}
              FOR EACH STATEMENT EXECUTE FUNCTION berth_bump_auth_generation()`.execute(db);
          }
        } else {
          for (const [table, ops] of Object.entries(WATCHED)) {
            for (const op of ops) {
              await sql`CREATE TRIGGER ${sql.raw(`${table}_${op.toLowerCase()}_auth_generation`)} AFTER ${sql.raw(op)} ON ${sql.table(table)}
                BEGIN UPDATE auth_generation SET generation = generation + 1 WHERE id = 1; END`.execute(db);
            }
          }
        }
      },
    },
  };
}

export async function readAuthGeneration(db: Kysely<any>): Promise<number> {
  const row = await db.selectFrom('auth_generation').select('generation').where('id', '=', 1).executeTakeFirst();
  return Number(row?.generation ?? 0);
}

/**
 * A kysely plugin that calls onWrite after any insert, update or delete of a watched table
 * through this node: its caches drop at once, without waiting for the next check (which
 * still follows, and catches a read that raced the write's commit).
 */
export function authWriteWatcher(onWrite: () => void): KyselyPlugin {
  const writes = new WeakSet<object>();
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const table = writtenTable(args.node);
      if (table && Object.hasOwn(WATCHED, table)) writes.add(args.queryId);
      return args.node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      if (writes.has(args.queryId)) onWrite();
      return args.result;
    },
  };
}

function writtenTable(node: RootOperationNode): string | undefined {
  const n = node as unknown as Record<string, any>;
  const name = (t: any): string | undefined => t?.table?.identifier?.name ?? t?.node?.table?.identifier?.name ?? t?.identifier?.name;
  if (n.kind === 'InsertQueryNode') return name(n.into);
  if (n.kind === 'UpdateQueryNode') return name(n.table);
  if (n.kind === 'DeleteQueryNode') return name(n.from?.froms?.[0]);
  return undefined;
}

/** Who to tell about writes seen by authWriteWatcher. */
export class AuthWriteListeners {
  private readonly listeners = new Set<() => void>();
  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  notify(): void {
    for (const listener of this.listeners) listener();
  }
}
