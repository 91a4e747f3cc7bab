/** A deterministic clock for the simulated cluster: timers fire only when the test advances time. */
import type { Clock } from "../../sidecar/ha/clock";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];
  /**
   * Timers fire this many ms before they are due, as real ones may: libuv compares against the
   * loop's cached time and rounds delays to whole ms, so performance.now() inside a callback can
   * still be a fraction of a ms short of the deadline it was set for.
   */
  earlyMs = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms - this.earlyMs), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /**
   * Advances time to now + ms, firing due timers in order; after each, lets promise chains settle
   * (the fakes resolve at once, so a few macrotask turns are enough for a whole HA loop).
   */
  async advance(ms: number, afterEach?: () => void): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.t = next.at;
      next.fn();
      await settle();
      afterEach?.();
    }
    this.t = end;
    await settle();
    afterEach?.();
  }
}

export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
