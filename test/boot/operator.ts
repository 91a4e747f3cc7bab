/**
 * What an operator does on a booted node, checked as they would: the agent's API answers HTTPS with
 * the component's CA (and refuses a client without it), `hapg list` works in a shell with no flag for
 * a user who is neither root nor postgres (as a Session Manager shell), only root may change
 * something, and `hapg switchover` run as root hands over while HAProxy's TLS health checks route the
 * NLB's writes to the new primary.
 */
import { NODE_PORTS } from "../../lib/args/types";
import { apiRequest } from "../../sidecar/http/transport";
import { query } from "./checks";
import { RehearsalCluster } from "./cluster";
import { inContainer, waitFor } from "./hosts";
import { Topology } from "./plan";
import { Check, record, settledRoles, viaNlb } from "./steps";

/** A login shell's PATH: `hapg` must be found there, not by its full path. */
const SHELL_ENV = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"];

export async function operatorChecks(rc: RehearsalCluster, topology: Topology, results: Check[]): Promise<boolean> {
  const t = (name: string) => `${topology}: ${name}`;
  const d = rc.deployment;
  const nodes = d.hosts.filter((h) => h.runsPostgres);
  const shellOn = rc.containers.get(nodes[nodes.length - 1].name)!;
  const ca = Buffer.from(d.caCertificatePem);

  const url = (address: string) => `https://${address}:${NODE_PORTS.agentApi}/patroni`;
  const served = await Promise.all(nodes.map((h) => apiRequest(url(h.address), { ca, timeoutMs: 5000 }).then((r) => r.status)));
  const unverified = await apiRequest(url(nodes[0].address), { timeoutMs: 5000 }).then(
    () => "accepted",
    (e: Error) => e.message,
  );
  record(results, {
    name: t(`every agent API serves HTTPS with the component's CA (${nodes.length} nodes); a client without the CA is refused`),
    ok: served.every((s) => s === 200) && /self[- ]signed|unable to verify|issuer/i.test(unverified),
    detail: `statuses ${served.join(", ")}; without the CA: ${unverified}`,
  });

  const asUser = (user: string, args: string[]) =>
    inContainer(shellOn, ["runuser", "-u", user, "--", ...SHELL_ENV, "hapg", ...args], { timeoutMs: 60_000 }).then(
      (out) => ({ ok: true, out }),
      (e: Error) => ({ ok: false, out: e.message }),
    );
  const table = await asUser("nobody", ["list"]);
  const listed = await asUser("nobody", ["list", "--json"]);
  let members: { member: string; role: string }[] = [];
  try {
    members = (JSON.parse(listed.out) as { members: { member: string; role: string }[] }).members;
  } catch {
    // reported below
  }
  record(results, {
    name: t(`\`hapg list\` with no flag in a shell on ${shellOn.host}, as an unprivileged user: every member, one leader`),
    ok:
      table.ok &&
      nodes.every((h) => table.out.includes(h.name)) &&
      members.length === nodes.length &&
      members.filter((m) => m.role === "Leader").length === 1,
    detail: `${table.out}\n${listed.out}`,
  });

  const before = (await settledRoles(rc)).find((r) => !r.inRecovery)!.name;
  const refused = await asUser("nobody", ["switchover", "--force"]);
  const done = await asUser("root", ["switchover", "--force"]);
  let after = before;
  let writtenOn: string;
  try {
    after = (await settledRoles(rc)).find((r) => !r.inRecovery)!.name;
    const newPrimary = nodes.find((h) => h.name === after)!.address;
    // HAProxy on every node follows /primary over TLS: the NLB's writes reach the new primary.
    writtenOn = await waitFor(
      "a write through the NLB stand-in on the new primary",
      60_000,
      async () => {
        const [row] = await query<{ at: string }>(
          viaNlb(rc),
          "INSERT INTO rehearsal_writes (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET at = now() RETURNING host(inet_server_addr()) AS at",
        );
        return row.at === newPrimary ? row.at : undefined;
      },
      1000,
    );
  } catch (e) {
    writtenOn = (e as Error).message;
  }
  return record(results, {
    name: t(
      "`hapg switchover --force` with no flag: refused for an unprivileged user (the API password is root's), " +
        "done as root; HAProxy's TLS checks route the NLB's writes to the new primary",
    ),
    ok:
      !refused.ok && /sudo/.test(refused.out) && done.ok && after !== before && writtenOn === nodes.find((h) => h.name === after)?.address,
    detail: `unprivileged: ${refused.out}\nroot: ${done.out}\nprimary ${before} → ${after}; write landed on ${writtenOn}`,
  });
}
