import type { Actor } from '../actor.js';

// The change feed's vocabulary. A change event is appended by the same transaction that
// makes the change (stores/metadata/change-log.ts), so a subscriber (webhooks, scan on push,
// replication, metering) sees every acknowledged change, after a crash too, and none that
// was rolled back. Capabilities add types of their own (`scan.completed`, ...).

export const ChangeTypes = {
  /** A manifest was stored or a tag now names it. detail: ImagePushed */
  imagePushed: 'image.pushed',
  /** A tag was removed (the manifest stays). detail: { tag, digest } */
  tagRemoved: 'image.tag-removed',
  /** A manifest was deleted, with the tags that named it. detail: ImageDeleted */
  imageDeleted: 'image.deleted',
  /** detail: { digests, storageClass } */
  imageArchived: 'image.archived',
  imageRestored: 'image.restored',
  repositoryCreated: 'repository.created',
  repositoryDeleted: 'repository.deleted',
  /** A repository setting (tag mutability, scanning, tags) changed. detail: { setting, value } */
  repositoryChanged: 'repository.changed',
  /** A repository, registry or lifecycle policy was set or deleted. detail: { policy: 'repository'|'registry'|'lifecycle', action: 'set'|'deleted' } */
  policyChanged: 'policy.changed',
} as const;

export interface ChangeEvent {
  type: string;
  /** The account whose registry changed. */
  registryId: string;
  region: string;
  repository: string | null;
  detail: Record<string, unknown>;
}

/** A change as the feed hands it to subscribers. */
export interface StoredChange extends ChangeEvent {
  /** Position in the feed: commit order. */
  seq: number;
  /** Unique: subscribers dedupe by it (delivery is at least once). */
  id: string;
  time: number;
  actor: Actor;
}

/** What a store appends with its change, in its transaction. */
export interface Changes {
  actor: Actor;
  events: ChangeEvent[];
  now: number;
}

/** A store write's events: given as they are, or made from the write's result (null: none). */
export type ChangesFor<T> = Changes | null | ((result: T) => Changes | null);

export interface ImagePushed {
  digest: string;
  tag: string | null;
  mediaType: string;
  artifactMediaType: string | null;
  subjectDigest: string | null;
  /** The digest the tag named before, when the push moved it. */
  previousDigest: string | null;
}

export interface ImageDeleted {
  digest: string;
  tags: string[];
  mediaType: string | null;
  artifactMediaType: string | null;
  /** Which path deleted it: `oci-delete`, `batch-delete`, `lifecycle`, `repository-delete`. */
  reason: string;
}
