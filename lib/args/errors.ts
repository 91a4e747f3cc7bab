/** The error of refused component args: every problem names the argument and the fix. */
export class ClusterArgsError extends Error {
  constructor(
    readonly problems: string[],
    component = "HaPostgresCluster",
  ) {
    super(`invalid ${component} args:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ClusterArgsError";
  }
}
