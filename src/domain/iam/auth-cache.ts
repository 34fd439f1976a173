// What authorization reads on every request (credentials, parsed identity policies,
// repository and registry policies, a repository's tags), kept in memory so a pull does
// not re-read and re-parse them each time. Correct across nodes: every change to those
// tables bumps one generation counter in the database, in the same transaction (triggers,
// stores/metadata/auth-generation.ts). Each node reads the counter every `refreshMs` and
// drops everything when it moved; writes through this node drop it at once. Entries are
// served only while the last check is recent, so a node that cannot reach the database
// (or whose event loop stalled) does not keep serving old decisions.
//
// Bound: a change committed at time t is in force on every node by t + refreshMs + one
// database round trip (docs/identity.md).

export interface AuthCacheOptions {
  /** Reads the current generation (one small query). */
  readGeneration: () => Promise<number>;
  /** How often to read it; 0 disables caching. */
  refreshMs: number;
  now?: () => number;
  /** Entries per kind before that kind is emptied (a bound on memory, not a policy). */
  maxEntries?: number;
  onError?: (err: unknown) => void;
}

type Kind = 'credential' | 'identityPolicies' | 'repository' | 'registryPolicy' | 'account' | 'token';

export class AuthCache {
  private maps = new Map<Kind, Map<string, Promise<unknown>>>();
  private generation: number | null = null;
  private checkedAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly maxEntries: number;
  /** How many times the caches were dropped (tests and metrics). */
  clears = 0;

  constructor(private readonly options: AuthCacheOptions) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 50_000;
  }

  get enabled(): boolean {
    return this.options.refreshMs > 0;
  }

  /** Starts the periodic check (unref'd); the first one runs at once. */
  start(): void {
    if (!this.enabled || this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the generation now; drops everything when it moved. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const generation = await this.options.readGeneration();
        if (generation !== this.generation) {
          this.generation = generation;
          this.clear();
        }
        this.checkedAt = this.now();
      } catch (err) {
        this.options.onError?.(err);
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  /** Drops every entry (a write through this node, or the generation moved). */
  clear(): void {
    this.maps = new Map();
    this.clears++;
  }

  /**
   * The cached value for key, or load() (once, shared by concurrent callers). `keep`
   * says whether a loaded value may be kept (e.g. not "does not exist", which a later
   * creation would not invalidate everywhere at once).
   */
  get<T>(kind: Kind, key: string, load: () => Promise<T>, keep: (value: T) => boolean = () => true): Promise<T> {
    if (!this.fresh()) return load();
    let map = this.maps.get(kind);
    if (!map) this.maps.set(kind, (map = new Map()));
    const hit = map.get(key);
    if (hit) return hit as Promise<T>;
    if (map.size >= this.maxEntries) map.clear();
    const owner = map;
    const pending = load().then(
      (value) => {
        if (!keep(value) && owner.get(key) === pending) owner.delete(key);
        return value;
      },
      (err: unknown) => {
        if (owner.get(key) === pending) owner.delete(key);
        throw err;
      },
    );
    map.set(key, pending);
    return pending;
  }

  /** Entries are trusted only while the generation was read recently. */
  private fresh(): boolean {
    const allowance = Math.max(3 * this.options.refreshMs, this.options.refreshMs + 2000);
    return this.enabled && this.generation !== null && this.now() - this.checkedAt <= allowance;
  }
}

/** A cache that never keeps anything (caching off, or tools that drive the domain directly). */
export const NO_AUTH_CACHE = new AuthCache({ readGeneration: async () => 0, refreshMs: 0 });
