/** Pauses between acknowledged writes around one step of a longer operation (a rolling restart's switchover). Pure. */

export interface Pauses {
  /** Longest pause between two acks that overlaps the step [at, at + ms]. */
  duringStep: number;
  /** Longest pause anywhere else in [from, to]. */
  outsideStep: number;
}

export function pausesAround(ackTimes: readonly number[], step: { at: number; ms: number }, from: number, to: number): Pauses {
  const acks = ackTimes.filter((t) => t >= from && t <= to);
  const p: Pauses = { duringStep: 0, outsideStep: 0 };
  for (let i = 1; i < acks.length; i++) {
    const pause = acks[i] - acks[i - 1];
    if (acks[i] >= step.at && acks[i - 1] <= step.at + step.ms) p.duringStep = Math.max(p.duringStep, pause);
    else p.outsideStep = Math.max(p.outsideStep, pause);
  }
  return p;
}
