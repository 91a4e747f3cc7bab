/**
 * Loaded first by the CLI. Node 20 has no global `navigator`; node-postgres then probes for the
 * Cloudflare runtime by constructing a fetch `Response`, which loads Node's whole fetch
 * implementation (undici) into every agent for nothing — a few MB of resident memory. Node 21+
 * defines `navigator` itself; this gives Node 20 the same answer.
 */
if (typeof (globalThis as { navigator?: unknown }).navigator === "undefined") {
  Object.defineProperty(globalThis, "navigator", { value: { userAgent: `Node.js/${process.versions.node}` }, configurable: true });
}
