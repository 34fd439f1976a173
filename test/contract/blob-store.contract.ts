import type { BlobStore } from '../../src/stores/blob-store.js';

// One contract suite for every BlobStore backend. A backend's test file is three lines:
//   blobStoreContract('fs', async () => ({ store, cleanup }));

export interface BlobStoreFixture {
  store: BlobStore;
  /** Removes everything the fixture created. */
  cleanup(): Promise<void>;
}

export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  void name;
  void make;
  // Filled in by the contract-suite work.
}
