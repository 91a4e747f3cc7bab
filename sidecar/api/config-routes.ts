/**
 * PATCH /config and PUT /config: change etcd's `config` key (the dynamic configuration), as
 * Patroni's API does. PATCH merges the body into the key (objects recursively; `null` deletes a
 * key), PUT replaces it. The result is checked by the settings schema (merged over this member's
 * agent file) before anything is written; a refusal is a 400 naming each field with the schema's
 * message. The write is a compare-and-swap on the key's mod revision: an edit that raced another
 * is merged again on top of it, so neither is lost. GET /config is in ./read-routes.ts.
 */
import type { Dcs } from "../dcs/types";
import type { Logger } from "../log";
import { effectiveSettings, mergePatch, problemsText, type DynamicConfig } from "../contract/settings/dynamic";
import type { HaSettings } from "../contract/settings/schema";

/** An HTTP answer (the same shape as the other mutations' Reply). */
export interface ConfigReply {
  status: number;
  body: unknown;
}

export interface ConfigRouteDeps {
  dcs: Pick<Dcs, "load" | "attemptWriteConfig">;
  /** The agent file's HA settings, which the dynamic config overrides (the schema checks the merge). */
  base: HaSettings;
  log: Logger;
}

/** Compare-and-swap attempts before answering 409 (each one re-reads and re-merges). */
const MAX_ATTEMPTS = 5;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export async function changeConfig(method: "PATCH" | "PUT", body: unknown, d: ConfigRouteDeps): Promise<ConfigReply> {
  if (!isObject(body)) {
    return {
      status: 400,
      body: { error: 'body: must be a JSON object such as {"loop_wait": 2} or {"postgresql": {"parameters": {"work_mem": "8MB"}}}' },
    };
  }
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const cluster = await d.dcs.load();
    const current = cluster.config ?? {};
    const next: DynamicConfig = method === "PATCH" ? mergePatch(current, body) : mergePatch({}, body);
    const checked = effectiveSettings(d.base, next);
    if (!checked.ok) {
      d.log.info({ method, problems: checked.problems }, `${method} /config refused: ${problemsText(checked.problems)}`);
      return { status: 400, body: { error: `refused, nothing written: ${problemsText(checked.problems)}`, problems: checked.problems } };
    }
    if (JSON.stringify(next) === JSON.stringify(current) && cluster.config !== undefined) return { status: 200, body: next };
    if (await d.dcs.attemptWriteConfig(next, cluster.configModRevision)) {
      d.log.info({ method, config: next }, `dynamic config changed through the API (${method} /config)`);
      return { status: 200, body: next };
    }
  }
  return { status: 409, body: { error: `the config key kept changing under this edit (${MAX_ATTEMPTS} attempts): try again` } };
}
