/**
 * PostgreSQL parameters a user may set (`postgres.parameters`), and the ones we refuse. One list for
 * the agent (which writes postgresql.conf) and the component (which refuses them before deploying).
 */

export type ParamValue = string | number | boolean;

/**
 * Parameters the agent must control: a user value would break replication, failover or our process
 * handling (ports and sockets, standby settings, rewind prerequisites, password hashing, log capture).
 */
export const CONTROLLED_PARAMETERS: ReadonlySet<string> = new Set([
  "data_directory",
  "config_file",
  "hba_file",
  "ident_file",
  "external_pid_file",
  "listen_addresses",
  "port",
  "unix_socket_directories",
  "hot_standby",
  "wal_log_hints",
  "password_encryption",
  "logging_collector",
  "primary_conninfo",
  "primary_slot_name",
  "promote_trigger_file",
  "recovery_target",
  "recovery_target_lsn",
  "recovery_target_name",
  "recovery_target_time",
  "recovery_target_xid",
  "recovery_target_inclusive",
  "recovery_target_action",
  "recovery_target_timeline",
  "synchronous_standby_names",
  // Continuous archiving through pgBackRest (the agent config's `backup`): only the leader uploads.
  "archive_mode",
  "archive_command",
  "archive_library",
  "restore_command",
]);

/** Parameters the agent derives from a setting: the user sets the setting instead. */
export const PARAMETERS_FROM_SETTINGS: Readonly<Record<string, string>> = {
  synchronous_standby_names: "synchronousMode",
  wal_sender_timeout: "timing.replicationTimeout",
  wal_receiver_timeout: "timing.replicationTimeout",
  archive_timeout: "backupPolicy.archiveTimeout",
};

export const PARAMETER_NAME = /^[a-z_][a-z0-9_.]*$/;

/** One problem per bad parameter, as [name, message]; the caller prefixes the field path. Pure. */
export function parameterProblems(parameters: Readonly<Record<string, ParamValue>>): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(parameters)) {
    const setting = PARAMETERS_FROM_SETTINGS[name];
    if (!PARAMETER_NAME.test(name)) {
      problems.push([name, "not a PostgreSQL parameter name: use lower-case names such as shared_buffers"]);
    } else if (setting !== undefined) {
      problems.push([name, `derived from the setting ${setting}: remove it and set ${setting} instead`]);
    } else if (CONTROLLED_PARAMETERS.has(name)) {
      problems.push([name, "set by the agent (replication, failover and process handling depend on it): remove it"]);
    } else if (name === "wal_level" && value !== "replica" && value !== "logical") {
      problems.push([name, 'must be "replica" or "logical" (streaming replication needs at least replica)']);
    } else if (typeof value === "number" && !Number.isFinite(value)) {
      problems.push([name, "must be a finite number"]);
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    } else if (typeof value === "string" && /[\x00-\x1f]/.test(value)) {
      problems.push([name, "must not contain control characters such as newlines"]);
    }
  }
  return problems;
}
