import type { Kysely } from 'kysely';
import type { BerthConfig } from '../../config/config.js';
import type { IdentityService } from '../../domain/iam/identity-service.js';
import type { JsonService } from '../../edges/aws/query-edge.js';
import type { SecretCipher } from '../../stores/identity-store.js';
import { eventsService } from './api.js';
import { EventDelivery } from './delivery.js';
import { EventMappers, registerEcrMappings, type ChangeRow } from './envelope.js';
import { EventsStore } from './store.js';

// Events in EventBridge's shapes: the EventBridge API subset, ECR's events built from the
// change feed, and their delivery to API destinations (docs/events.md).

export { eventsMigrations } from './migrations.js';
export { EventMappers, type ChangeMapper, type ChangeRow, type EventEnvelope, type MappedEvent } from './envelope.js';

export interface EventsDeps {
  db: Kysely<any>;
  cipher: SecretCipher;
  identity: IdentityService;
  config: BerthConfig;
  now(): number;
  log?: { warn(obj: object, msg: string): void };
  fetch?: typeof fetch;
}

export interface Events {
  store: EventsStore;
  delivery: EventDelivery;
  /** Other modules add their change types here (scan, replication, pull-through). */
  mappers: EventMappers;
  service: JsonService;
  /** The change-feed subscriber: maps changes to events and queues their deliveries. */
  onChanges(changes: ChangeRow[]): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createEvents(deps: EventsDeps): Events {
  const c = deps.config.events;
  const store = new EventsStore(deps.db, deps.cipher);
  const delivery = new EventDelivery({
    store,
    now: deps.now,
    timeoutMs: c.deliveryTimeoutSeconds * 1000,
    concurrency: c.concurrency,
    retry: { baseDelayMs: c.retryBaseSeconds * 1000, maxDelayMs: c.retryMaxDelaySeconds * 1000, maximumEventAgeMs: c.maximumEventAgeSeconds * 1000, maximumRetryAttempts: c.maximumRetryAttempts },
    ...(deps.log ? { log: deps.log } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const mappers = registerEcrMappings(new EventMappers());
  const service = eventsService({
    store,
    identity: deps.identity,
    region: deps.config.region,
    now: deps.now,
    publish: async (events) => void (await delivery.publish(events)),
    onConnectionChanged: (arn) => delivery.forgetConnection(arn),
  });
  return {
    store,
    delivery,
    mappers,
    service,
    async onChanges(changes) {
      await delivery.publish(changes.flatMap((change) => mappers.map(change)));
    },
    start: () => delivery.start(c.pollSeconds * 1000),
    stop: () => delivery.stop(),
  };
}
