/**
 * Declares `HaPostgresDockerCluster` under the Pulumi mocks and returns what it registered: shared by
 * the mocks test (./docker.test.ts) and the real run (test/docker/), which starts exactly these
 * resources. Loads ./mocks first, so the mocks are in place before the component module.
 */
import { childCollector, recorded, valueOf, Recorded } from "./mocks";
import { HaPostgresDockerCluster } from "../../lib/docker/component";
import type { HaPostgresDockerClusterArgs } from "../../lib/docker/args";

export const D = {
  image: "docker:index/image:Image",
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  container: "docker:index/container:Container",
  password: "random:index/randomPassword:RandomPassword",
} as const;

export interface Built {
  cluster: HaPostgresDockerCluster;
  children: ReturnType<typeof childCollector>["children"];
  resources: Recorded[];
}

/**
 * Declares the component under the mocks; what this declaration registered is in `resources`. The
 * same name again is the next `pulumi up` of the same program (the same URNs).
 */
export async function buildDocker(name: string, args: HaPostgresDockerClusterArgs = {}): Promise<Built> {
  const start = recorded.length;
  const c = childCollector();
  const cluster = new HaPostgresDockerCluster(name, args, c.opts);
  await c.settle();
  await valueOf(cluster.primaryConnectionString);
  return { cluster, children: c.children, resources: recorded.slice(start).filter((r) => r.name.startsWith(`${name}-`)) };
}
