/**
 * The systemd units of etcd and the agent never start on the root disk: both need the data volume
 * mounted (found by the boot rehearsal: without a mount unit, RequiresMountsFor binds to nothing and
 * the agent rebuilt a replica into the root disk's empty /srv/hapg).
 */
import assert from "node:assert/strict";
import { colocatedPgNode } from "../helpers/host-spec";
import { renderFiles } from "../../lib/userdata/render";
import { NODE_PATHS, UNITS } from "../../lib/userdata/paths";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";

function colocatedNode() {
  return colocatedPgNode({
    ...HA_DEFAULTS,
    maximumLagOnFailover: 1048576,
    synchronousMode: "on",
    watchdog: { ...HA_DEFAULTS.watchdog, mode: "off" },
  });
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
