/**
 * `standby_cluster` in the dynamic configuration (Patroni's key and layout): this cluster follows
 * another one. Its leader is a *standby leader*: it holds the leader key, runs PostgreSQL in recovery
 * streaming from the source's primary endpoint (`host`/`port`), falls back to the source's WAL
 * archive (`restore_command`) when streaming is not possible, and the other members cascade from it.
 * Removing the key (`hapg promote-cluster`) makes the standby leader promote: the cluster stands alone.
 *
 * Dynamic only, never in an agent file or the component's HA settings: the file's value would come
 * back when the key is removed, and a promoted cluster must stay promoted. Pure.
 */
import { z } from "zod";

/** How a standby leader builds its data directory from the source (Patroni's create_replica_methods). */
export const STANDBY_REPLICA_METHODS = ["basebackup"] as const;

const host = z
  .string({ error: "must be the source's primary endpoint: a host name or address (or several, comma-separated)" })
  .trim()
  .min(1, "must not be empty: the source's primary endpoint, e.g. 10.1.0.10")
  .refine((h) => /^[A-Za-z0-9.:_\-[\],]+$/.test(h), "must be host names or addresses separated by commas (no spaces or quotes)");

export const standbyClusterSchema = z
  .object({
    /** The source's primary endpoint (its proxy or NLB). Several hosts, comma-separated: the writable one is used (target_session_attrs=read-write). */
    host: host.optional(),
    /** The source's PostgreSQL port. Default 5432. */
    port: z
      .number({ error: "must be a port number, e.g. 5432" })
      .int("must be a whole port number, e.g. 5432")
      .min(1, "must be between 1 and 65535")
      .max(65535, "must be between 1 and 65535")
      .default(5432),
    /** A physical replication slot on the source for the standby leader (create it there first). Default: none (the archive covers removed WAL). */
    primary_slot_name: z
      .string({ error: "must be a slot name of lower-case letters, digits and _" })
      .regex(/^[a-z0-9_]{1,63}$/, "must be a slot name of 1 to 63 lower-case letters, digits and _ (create the slot on the source first)")
      .optional(),
    /** Reads the source's WAL archive (e.g. pgBackRest's archive-get against the source's repository), run by every member of this cluster. */
    restore_command: z
      .string({ error: 'must be a shell command with %f and %p, e.g. pgbackrest --stanza=main archive-get %f "%p"' })
      .min(1, "must not be empty")
      .refine((c) => c.includes("%f") && c.includes("%p"), 'must contain %f (the file) and %p (where to put it), e.g. archive-get %f "%p"')
      .optional(),
    /** How the standby leader copies the source. Only "basebackup" (pg_basebackup from host:port). Default ["basebackup"]. */
    create_replica_methods: z
      .array(z.enum(STANDBY_REPLICA_METHODS, { error: `must be one of ${STANDBY_REPLICA_METHODS.join(", ")}` }))
      .min(1, 'must name at least one method, e.g. ["basebackup"]')
      .default(["basebackup"]),
    /** Replay delay behind the source on the standby leader (PostgreSQL's recovery_min_apply_delay): milliseconds, or a string with a unit such as "5min". Default 0. */
    recovery_min_apply_delay: z
      .union([z.number().int().min(0), z.string().regex(/^\d+\s*(ms|s|min|h|d)?$/)], {
        error: 'must be milliseconds (a whole number) or a duration such as "5min" (units ms, s, min, h, d)',
      })
      .optional(),
  })
  .strict()
  .refine((s) => s.host !== undefined || s.restore_command !== undefined, {
    error: "needs host (stream from the source's primary endpoint) or restore_command (read the source's archive), or both",
  });

export type StandbyCluster = z.output<typeof standbyClusterSchema>;
export type StandbyClusterInput = z.input<typeof standbyClusterSchema>;

/** Where a standby leader streams from; undefined for an archive-only standby cluster. */
export function standbySource(s: StandbyCluster): { host: string; port: number } | undefined {
  return s.host === undefined ? undefined : { host: s.host, port: s.port };
}
