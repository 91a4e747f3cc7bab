/**
 * What the rehearsal's AWS Query-API stand-ins (EC2, Auto Scaling) share: an HTTP server on the
 * bridge whose handler's failures answer 500, its stop, and the form-encoded body every Query-API
 * request carries (`Action=...&...`).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";

export function listen(
  address: string,
  port: number,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const s = createServer((req, res) => {
      handle(req, res).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    s.once("error", reject);
    s.listen(port, address, () => resolve(s));
  });
}

export async function close(s: Server | undefined): Promise<void> {
  if (s) await new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}
