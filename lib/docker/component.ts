/**
 * `HaPostgresDockerCluster`: the HA cluster on one Docker host, declared with @pulumi/docker. Same
 * agent, same HA settings (and refusals) as `HaPostgresCluster` on AWS; containers instead of
 * instances, Docker volumes instead of EBS, a bridge network with fixed addresses instead of a
 * subnet, and HAProxy publishing the primary and replica ports on the host instead of an NLB.
 *
 *   const db = new HaPostgresDockerCluster("dev", { nodeCount: 3 });
 *   export const url = db.primaryConnectionString;
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { NODE_PORTS } from "../args/types";
import { childName } from "../naming/names";
import { PASSWORD_SPEC } from "../secrets/passwords";
import { NODE_PATHS } from "../userdata/paths";
import { HaPostgresDockerClusterArgs, validateDockerArgs, DOCKER_COMPONENT, ResolvedDockerArgs } from "./args";
import { stageBuildContext } from "./context";
import { DESIRED_CONFIG_DIR, dockerPlan, HAPROXY_CONFIG_FILE, START_AGENT, type DockerPlan, type PlannedFile } from "./plan";

export const DOCKER_COMPONENT_TYPE = `ha-postgres:index:${DOCKER_COMPONENT}`;

/** The label on every container, volume and network: `ha-postgres.cluster=<clusterName>`. */
export const DOCKER_CLUSTER_LABEL = "ha-postgres.cluster";

/** Seconds Docker waits after SIGTERM before SIGKILL: the agent stops PostgreSQL (fast, then immediate) within it. */
const STOP_TIMEOUT_S = 30;

export class HaPostgresDockerCluster extends pulumi.ComponentResource {
  /** `postgresql://postgres@<hostAddress>:<primary port>/postgres` (the password is not in it: see `superuserPassword`). */
  readonly primaryConnectionString: pulumi.Output<string>;
  /** The same for the replicas' port (read-only, round robin over the streaming replicas). */
  readonly replicaConnectionString: pulumi.Output<string>;
  readonly primaryPort: pulumi.Output<number>;
  readonly replicaPort: pulumi.Output<number>;
  /** The host address both ports are published on. */
  readonly hostAddress: pulumi.Output<string>;
  /** The superuser's (postgres) password, a secret output. */
  readonly superuserPassword: pulumi.Output<string>;
  /** Where the agents' API password is: a file in every node container (`docker exec <node> cat <file>`). */
  readonly apiPasswordLocation: pulumi.Output<{ containers: string[]; file: string }>;
  /** Container names: PostgreSQL nodes (each with its agent), etcd members, HAProxy. */
  readonly nodeContainers: pulumi.Output<string[]>;
  readonly etcdContainers: pulumi.Output<string[]>;
  readonly haproxyContainer: pulumi.Output<string>;
  /** Fixed addresses on the cluster's network, by container name. */
  readonly addresses: pulumi.Output<Record<string, string>>;
  /** The image every container runs. */
  readonly imageName: pulumi.Output<string>;

  constructor(name: string, args?: HaPostgresDockerClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validation first: bad args throw here, before any resource is declared.
    const resolved = validateDockerArgs(name, args);
    super(DOCKER_COMPONENT_TYPE, name, {}, opts);
    const plan = dockerPlan(resolved);
    const parent = { parent: this };
    const labels = [{ label: DOCKER_CLUSTER_LABEL, value: resolved.clusterName }];

    const image = new docker.Image(
      childName(name, "image"),
      {
        imageName: plan.image.name,
        skipPush: true,
        build: { context: stageBuildContext(), dockerfile: "Dockerfile", args: plan.image.buildArgs },
      },
      parent,
    );
    // The image's digest: a rebuilt image replaces the containers that run it.
    const imageRef = image.repoDigest.apply((d) => d || plan.image.name);

    const network = new docker.Network(
      childName(name, "network"),
      { name: plan.network.name, driver: "bridge", ipamConfigs: [{ subnet: plan.network.subnet, gateway: plan.network.gateway }], labels },
      parent,
    );
    const password = (role: string) => new random.RandomPassword(childName(name, `${role}-password`), PASSWORD_SPEC, parent).result;
    const secretFiles = pulumi
      .all([password("superuser"), password("replication"), password("api")])
      .apply(([superuser, replication, api]) => [
        { path: NODE_PATHS.superuserPasswordFile, content: superuser },
        { path: NODE_PATHS.replicationPasswordFile, content: replication },
        { path: NODE_PATHS.apiPasswordFile, content: api },
      ]);

    const volume = (role: string, volumeName: string) =>
      new docker.Volume(
        childName(name, `${role}-data`),
        { name: volumeName, labels },
        // Data outlives a container's replacement (the volume is its own resource), and with retainVolumes a destroy.
        { parent: this, retainOnDelete: resolved.retainVolumes },
      );
    const container = (
      role: string,
      c: Omit<docker.ContainerArgs, "image" | "labels" | "networksAdvanced">,
      address: string,
      deps: pulumi.Resource[],
    ) =>
      new docker.Container(
        childName(name, role),
        {
          image: imageRef,
          labels,
          networksAdvanced: [{ name: network.name, ipv4Address: address }],
          restart: "unless-stopped",
          stopTimeout: STOP_TIMEOUT_S,
          destroyGraceSeconds: STOP_TIMEOUT_S,
          init: true,
          ...c,
        },
        // A fixed name and address: the old container must go before its replacement starts.
        { parent: this, dependsOn: deps, deleteBeforeReplace: true },
      );

    // The desired dynamic config: a changed setting replaces this one-shot container only (plan.ts, DESIRED_CONFIG_DIR).
    const configVolume = volume("config", plan.config.volume);
    const config = container(
      "config",
      {
        name: plan.config.container,
        command: plan.config.command,
        uploads: uploads(plan.config.files, "0644"),
        volumes: [{ volumeName: configVolume.name, containerPath: DESIRED_CONFIG_DIR }],
        restart: "no",
        // It exits once the file is written: wait for that, and fail the update if it failed.
        mustRun: false,
        attach: true,
      },
      plan.config.address,
      [],
    );
    const etcd = plan.etcd.map((m) => {
      const v = volume(m.member, m.volume);
      return container(
        m.member,
        {
          name: m.container,
          hostname: m.member,
          user: "etcd",
          command: ["/usr/bin/etcd"],
          envs: Object.entries(m.env).map(([k, val]) => `${k}=${val}`),
          volumes: [{ volumeName: v.name, containerPath: NODE_PATHS.dataMount }],
        },
        m.address,
        [],
      );
    });
    const nodes = plan.nodes.map((n) => {
      const v = volume(n.member, n.volume);
      return container(
        n.member,
        {
          name: n.container,
          hostname: n.member,
          command: [START_AGENT],
          volumes: [
            { volumeName: v.name, containerPath: NODE_PATHS.dataMount },
            { volumeName: configVolume.name, containerPath: DESIRED_CONFIG_DIR, readOnly: true },
          ],
          uploads: secretFiles.apply((s) => [...uploads(n.files, "0644"), ...uploads(s, "0600")]),
          // PostgreSQL's shared memory: Docker's 64 MB default is too small for a real shared_buffers.
          shmSize: 256,
          healthcheck: {
            tests: ["CMD", NODE_PATHS.node, "-e", healthProbe],
            interval: "5s",
            timeout: "3s",
            retries: 3,
          },
        },
        n.address,
        [...etcd, config],
      );
    });
    const haproxy = container(
      "haproxy",
      {
        name: plan.haproxy.container,
        hostname: "haproxy",
        command: ["/usr/sbin/haproxy", "-db", "-f", HAPROXY_CONFIG_FILE],
        uploads: uploads(plan.haproxy.files, "0644"),
        ports: plan.haproxy.ports,
      },
      plan.haproxy.address,
      nodes,
    );

    this.primaryPort = pulumi.output(resolved.listenerPorts.primary);
    this.replicaPort = pulumi.output(resolved.listenerPorts.replica);
    this.hostAddress = pulumi.output(resolved.hostAddress);
    this.primaryConnectionString = haproxy.id.apply(() => connectionString(resolved, resolved.listenerPorts.primary));
    this.replicaConnectionString = haproxy.id.apply(() => connectionString(resolved, resolved.listenerPorts.replica));
    this.superuserPassword = pulumi.secret(secretFiles.apply((s) => s[0].content));
    this.apiPasswordLocation = pulumi.output({ containers: plan.nodes.map((n) => n.container), file: NODE_PATHS.apiPasswordFile });
    this.nodeContainers = pulumi.all(nodes.map((c) => c.name));
    this.etcdContainers = pulumi.all(etcd.map((c) => c.name));
    this.haproxyContainer = haproxy.name;
    this.addresses = pulumi.output(addressesOf(plan));
    this.imageName = image.imageName;
    this.registerOutputs({
      primaryConnectionString: this.primaryConnectionString,
      replicaConnectionString: this.replicaConnectionString,
      primaryPort: this.primaryPort,
      replicaPort: this.replicaPort,
      apiPasswordLocation: this.apiPasswordLocation,
    });
  }
}

/** The agent's /liveness (its loop ran within the lease's ttl), as Docker's health check. */
const healthProbe = `fetch('http://127.0.0.1:${NODE_PORTS.agentApi}/liveness').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;

/** Files uploaded as root; a node's start script hands the secret ones (0600) to postgres (START_AGENT_SCRIPT). */
function uploads(files: PlannedFile[], permissions: "0644" | "0600"): docker.types.input.ContainerUpload[] {
  return files.map((f) => ({ file: f.path, content: f.content, permissions }));
}

function connectionString(a: ResolvedDockerArgs, port: number): string {
  return `postgresql://postgres@${a.hostAddress === "0.0.0.0" ? "127.0.0.1" : a.hostAddress}:${port}/postgres`;
}

function addressesOf(plan: DockerPlan): Record<string, string> {
  return Object.fromEntries([
    ...plan.etcd.map((e) => [e.container, e.address]),
    ...plan.nodes.map((n) => [n.container, n.address]),
    [plan.haproxy.container, plan.haproxy.address],
  ]);
}
