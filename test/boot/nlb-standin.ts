/**
 * The NLB's stand-in: HAProxy on the host, on the bridge's address, with one frontend per listener
 * the component declared, forwarding to the PostgreSQL nodes' addresses on the target group's
 * port, with the target group's health check (protocol, port, path, matcher, interval, timeout,
 * thresholds). What it cannot copy: AWS's fail-open when no target is healthy, and the NLB's own
 * zones and addresses.
 */
import { Deployment } from "./deployment";

/** HAProxy config for the declared listeners and these targets. Pure. */
export function renderNlbStandin(
  listeners: Deployment["listeners"],
  bindAddress: string,
  targets: Array<{ name: string; address: string }>,
): string {
  const sections = listeners.map((l) => {
    const hc = l.healthCheck;
    const http = hc.protocol === "HTTP" || hc.protocol === "HTTPS";
    const checkPort = hc.port && hc.port !== "traffic-port" ? ` port ${hc.port}` : "";
    // An NLB's HTTPS check does not verify the target's certificate; neither does its stand-in.
    const tls = hc.protocol === "HTTPS" ? " check-ssl verify none" : "";
    const check = `check inter ${hc.interval}s fall ${hc.unhealthyThreshold} rise ${hc.healthyThreshold}${checkPort}${tls}`;
    return [
      `listen nlb-${l.port}`,
      `    bind ${bindAddress}:${l.port}`,
      `    timeout check ${hc.timeout}s`,
      ...(http ? [`    option httpchk GET ${hc.path ?? "/"}`, `    http-check expect status ${hc.matcher ?? "200"}`] : []),
      ...targets.map((t) => `    server ${t.name} ${t.address}:${l.targetPort} ${check}`),
      "",
    ].join("\n");
  });
  return [
    "# The boot rehearsal's stand-in for the NLB (generated).",
    "global",
    "    maxconn 512",
    "defaults",
    "    mode tcp",
    "    timeout connect 3s",
    "    timeout client 5m",
    "    timeout server 5m",
    "",
    ...sections,
  ].join("\n");
}
