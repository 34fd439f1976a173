// Time as a dependency: services read the clock they are given, so tests move time forward
// (grace periods, retention, retries, key deletion) instead of sleeping through it.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to (tests). */
export class ManualClock implements Clock {
  constructor(private current: number = Date.now()) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): number {
    this.current += ms;
    return this.current;
  }

  set(ms: number): void {
    this.current = ms;
  }
}

/** The `() => number` form older services take. */
export function nowOf(clock: Clock | undefined): () => number {
  const c = clock ?? systemClock;
  return () => c.now();
}
