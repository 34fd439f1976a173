import type { Migration } from 'kysely';
import { auditMigrations } from './audit/migrations.js';
import { eventsMigrations } from './events/migrations.js';
import { keysMigrations } from './keys/migrations.js';
import { pullTimeMigrations } from './pull-time/migrations.js';
import { scanningMigrations } from './scanning/store/migrations.js';
import { signingMigrations, signingProfileMigrations } from './signing/migrations.js';

// Every capability module's tables, one line each (the migrations live in the module's own
// folder, numbered in its own range: see docs/architecture.md). The metadata store runs them
// with the core's, so every tool that opens the database (server, admin, migrate, tests)
// sees one schema.
export function moduleMigrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  return {
    ...auditMigrations(dialect),
    ...eventsMigrations(dialect),
    ...keysMigrations(),
    ...pullTimeMigrations(),
    ...scanningMigrations(dialect),
    ...signingMigrations(),
    ...signingProfileMigrations(),
  };
}
