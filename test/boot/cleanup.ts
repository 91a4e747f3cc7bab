/**
 * What the rehearsal created, as undo steps run in reverse order at the end — on success, on
 * failure and on SIGINT/SIGTERM — so nothing (container, namespace, bridge, cgroup, loop device,
 * mount, emulator) outlives a run.
 */
export class Cleanup {
  private steps: Array<{ what: string; undo: () => Promise<void> | void }> = [];
  private running?: Promise<string[]>;

  /** True once `runAll` began: nothing new may start (it would outlive the run). */
  get closing(): boolean {
    return this.running !== undefined;
  }

  /** Registers an undo step right after the thing it undoes was created. */
  add(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Removes one step early (its thing was removed in the normal course of the run). */
  async runNow(what: string): Promise<void> {
    const i = this.steps.map((s) => s.what).lastIndexOf(what);
    if (i < 0) return;
    const [step] = this.steps.splice(i, 1);
    await step.undo();
  }

  /** Runs every step, newest first; returns the steps that failed (it never throws). */
  runAll(): Promise<string[]> {
    this.running ??= (async () => {
      const failed: string[] = [];
      while (this.steps.length) {
        const step = this.steps.pop()!;
        try {
          await step.undo();
        } catch (e) {
          failed.push(`${step.what}: ${(e as Error).message}`);
        }
      }
      return failed;
    })();
    return this.running;
  }
}
