/**
 * GET /metrics scraped from the agents of a running local cluster, checked against /patroni. Used by
 * local-cluster.test.ts (one cluster for both). Prints each agent's RSS before and after its first
 * scrape (prom-client loads on the first one), as a figure, not an assertion.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import type { ClusterFile } from "../../local/state";

/** Sample lines of a Prometheus text exposition: "name{labels}" → value. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export async function checkMetricsAgainstPatroni(c: ClusterFile, leader: string, log: (s: string) => void): Promise<void> {
  for (const n of c.nodes) {
    const before = rssKb(n.agentPid);
    const res = await fetch(`${n.apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await res.text());
    const after = rssKb(n.agentPid);
    log(`${n.name}: agent RSS ${before} kB before its first /metrics scrape, ${after} kB after`);
    const patroni = (await (await fetch(`${n.apiUrl}/patroni`, { signal: AbortSignal.timeout(5000) })).json()) as {
      role: string;
      timeline: number;
      patroni: { scope: string; name: string };
    };
    const labels = `{scope="${patroni.patroni.scope}",name="${n.name}"}`;
    const v = (name: string) => {
      const x = m.get(`${name}${labels}`);
      assert.ok(x !== undefined, `${n.name}: no ${name}${labels}`);
      return x;
    };
    const isLeader = n.name === leader;
    assert.equal(patroni.role, isLeader ? "primary" : "replica", `${n.name}: /patroni role`);
    assert.equal(v("patroni_primary"), isLeader ? 1 : 0, `${n.name}: patroni_primary`);
    assert.equal(v("patroni_replica"), isLeader ? 0 : 1, `${n.name}: patroni_replica`);
    assert.equal(v("patroni_postgres_running"), 1);
    assert.equal(v("patroni_postgres_timeline"), patroni.timeline, `${n.name}: timeline agrees with /patroni`);
    assert.equal(v("patroni_cluster_unlocked"), 0);
    if (isLeader) assert.ok(v("patroni_xlog_location") > 0, "the leader's xlog location");
    else assert.ok(v("patroni_xlog_received_location") > 0, `${n.name}: received location`);
    assert.ok(v("patroni_postmaster_start_time") > 1_600_000_000);
    assert.ok(v("hapg_lease_renewal_seconds_count") > 0, "renewals counted");
    assert.ok(v("hapg_ha_loop_duration_seconds_count") > 0, "loops counted");
    assert.ok(v("hapg_seconds_since_last_decision") >= 0);
    assert.equal(v("patroni_is_paused"), 0);
  }
}
