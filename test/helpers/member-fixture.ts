/** A valid member key value for DCS tests. */
import type { MemberData } from "../../sidecar/dcs/types";

export function sampleMemberData(extra: Partial<MemberData> = {}): MemberData {
  return {
    conn_url: "postgres://10.0.0.1:5432/postgres",
    api_url: "http://10.0.0.1:8008/patroni",
    state: "running",
    role: "replica",
    tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
    version: "0.1.0",
    ...extra,
  };
}
