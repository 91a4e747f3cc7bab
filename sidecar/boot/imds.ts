/** One read of EC2's instance metadata (IMDSv2: a session token first); undefined off EC2 or on any error. */
export async function imdsGet(path: string): Promise<string | undefined> {
  const imds = "http://169.254.169.254/latest";
  try {
    const token = await fetch(`${imds}/api/token`, {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
      signal: AbortSignal.timeout(2000),
    }).then((r) => r.text());
    const r = await fetch(`${imds}/${path}`, { headers: { "X-aws-ec2-metadata-token": token }, signal: AbortSignal.timeout(2000) });
    return r.ok ? (await r.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}
