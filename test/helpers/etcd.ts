/** etcd member restarts and stops that only the tests do (the local cluster starts and stops etcd whole). */
import { EtcdMemberInfo, findEtcdBinary, isAlive, spawnEtcd, stopProcess, waitMemberHealthy } from "../../local/etcd";

/** Starts a stopped member again on its existing data dir; resolves with its new pid once healthy. */
export async function restartEtcdMember(
  member: EtcdMemberInfo,
  opts: { timeoutMs?: number; onProgress?: (msg: string) => void } = {},
): Promise<EtcdMemberInfo> {
  if (isAlive(member.pid)) throw new Error(`${member.name} is still running (pid ${member.pid}): stop it first`);
  // With a data dir present etcd ignores the --initial-* flags; "existing" makes that explicit.
  const args = member.args.map((a) => (a === "--initial-cluster-state=new" ? "--initial-cluster-state=existing" : a));
  const restarted: EtcdMemberInfo = { ...member, args };
  restarted.pid = spawnEtcd(findEtcdBinary(), restarted);
  opts.onProgress?.(`restarted ${member.name} (pid ${restarted.pid})`);
  try {
    await waitMemberHealthy(restarted, opts.timeoutMs ?? 30_000);
  } catch (err) {
    await stopProcess(restarted.pid, 3000).catch(() => undefined);
    throw err;
  }
  return restarted;
}

export function stopEtcdMember(pid: number, timeoutMs = 5000): Promise<void> {
  return stopProcess(pid, timeoutMs);
}
