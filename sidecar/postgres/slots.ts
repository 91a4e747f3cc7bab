/** Physical replication slots on the primary: one per member, so a replica never misses WAL it needs. */
import type { Logger } from "./postmaster";
import type { LocalSql } from "./sql";

/** Pure: which slots to create and which to drop, given the wanted and the existing ones. */
export function planSlots(
  want: ReadonlySet<string>,
  have: readonly { slot_name: string; active: boolean }[],
): { create: string[]; drop: string[] } {
  return {
    create: [...want].filter((s) => !have.some((h) => h.slot_name === s)),
    // An active slot is in use by a standby right now: never pull it from under it.
    drop: have.filter((h) => !want.has(h.slot_name) && !h.active).map((h) => h.slot_name),
  };
}

export async function syncPhysicalSlots(sql: LocalSql, want: ReadonlySet<string>, log: Logger): Promise<void> {
  const have = await sql.query<{ slot_name: string; active: boolean }>(
    "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary",
  );
  const { create, drop } = planSlots(want, have);
  // Reserve WAL at once: the member may connect later and must find everything since.
  for (const s of create) await sql.query("SELECT pg_create_physical_replication_slot($1, true)", [s]);
  for (const s of drop) await sql.query("SELECT pg_drop_replication_slot($1)", [s]);
  if (create.length || drop.length) log.info({ created: create, dropped: drop }, "replication slots synced");
}
