import { httpRequest } from "../http/client";

/** EC2's instance metadata service (link-local, IMDSv2). */
export const IMDS = "http://169.254.169.254/latest";

/** An IMDSv2 session token (PUT /api/token), valid ttlSeconds; rejects when IMDS does not answer. */
export async function imdsToken(ttlSeconds: number, timeoutMs = 2000): Promise<string> {
  const r = await httpRequest(`${IMDS}/api/token`, {
    method: "PUT",
    headers: { "X-aws-ec2-metadata-token-ttl-seconds": String(ttlSeconds) },
    timeoutMs,
  });
  if (r.status !== 200) throw new Error(`IMDS api/token: HTTP ${r.status}`);
  return r.text;
}

/** One read of EC2's instance metadata (IMDSv2: a session token first); undefined off EC2 or on any error. */
export async function imdsGet(path: string): Promise<string | undefined> {
  try {
    const token = await imdsToken(60);
    const r = await httpRequest(`${IMDS}/${path}`, { headers: { "X-aws-ec2-metadata-token": token }, timeoutMs: 2000 });
    return r.status === 200 ? r.text.trim() : undefined;
  } catch {
    return undefined;
  }
}
