/**
 * The systemd units of etcd and the agent never start on the root disk: both need the data volume
 * mounted (found by the boot rehearsal: without a mount unit, RequiresMountsFor binds to nothing and
 * the agent rebuilt a replica into the root disk's empty /srv/hapg).
 */
import assert from "node:assert/strict";
import { hostSpecs, renderFiles } from "../../lib";
import { NODE_PATHS, UNITS } from "../../lib/userdata/paths";
import { HA_DEFAULTS } from "../../sidecar/settings/schema";

function colocatedNode() {
  const nodes = [0, 1, 2].map((i) => ({ name: `pg-${i}`, privateIp: `10.0.0.${i + 1}` }));
  return hostSpecs({
    clusterName: "orders",
    ssmParameterPrefix: "/ha-postgres",
    architecture: "x86_64",
    sessionManager: false,
    bundle: { bucket: "b", key: "k" },
    nodes,
    etcdMembers: nodes,
    etcdPlacement: "colocated",
    volumeIds: { "pg-0": "vol-1", "pg-1": "vol-2", "pg-2": "vol-3" },
    postgres: {
      version: 17,
      allowedCidrs: ["10.0.0.0/16"],
      settings: {
        ...HA_DEFAULTS,
        maximumLagOnFailover: 1048576,
        synchronousMode: "on",
        watchdog: { ...HA_DEFAULTS.watchdog, mode: "off" },
      },
      routing: "haproxy",
    },
  })[0];
}

describe("user-data: units that keep data on the data volume", () => {
  for (const unit of [UNITS.agent, UNITS.etcd]) {
    it(`${unit} requires the data volume and refuses to start while it is not mounted`, () => {
      const text = renderFiles(colocatedNode()).find((f) => f.path === `${NODE_PATHS.systemdDir}/${unit}`)?.content ?? "";
      const unitSection = text.split(/^\[Service\]$/m)[0];
      assert.match(unitSection, new RegExp(`^RequiresMountsFor=${NODE_PATHS.dataMount}$`, "m"));
      assert.match(unitSection, new RegExp(`^AssertPathIsMountPoint=${NODE_PATHS.dataMount}$`, "m"));
    });
  }
});
