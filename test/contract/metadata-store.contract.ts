import type { MetadataStore } from '../../src/stores/metadata-store.js';

// One contract suite for every MetadataStore backend (SQLite, PostgreSQL).

export interface MetadataStoreFixture {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

export function metadataStoreContract(name: string, make: () => Promise<MetadataStoreFixture>): void {
  void name;
  void make;
  // Filled in by the contract-suite work.
}
