/**
 * Reading the backup repository's secrets from files (the cluster's own repository and a restore
 * source): errors name the config field and the file, never the content.
 */
import * as fs from "node:fs";
import type { S3Keys } from "./pgbackrest-conf";

/** A secret file's first line. */
export function readSecret(field: string, file: string): string {
  let v: string;
  try {
    v = fs.readFileSync(file, "utf8").trim();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(`${field}: cannot read ${file} (${why}): make it readable by the agent`, { cause: e });
  }
  if (!v) throw new Error(`${field}: ${file} is empty`);
  return v;
}

/** An S3 key pair from a JSON file {"accessKeyId": "...", "secretAccessKey": "..."}. */
export function readKeys(field: string, file: string): S3Keys {
  let k: Partial<S3Keys> = {};
  try {
    k = JSON.parse(readSecret(field, file)) as Partial<S3Keys>;
  } catch (e) {
    if ((e as Error).message.startsWith(field)) throw e;
  }
  if (typeof k.accessKeyId !== "string" || typeof k.secretAccessKey !== "string" || !k.accessKeyId || !k.secretAccessKey) {
    throw new Error(`${field}: ${file} must hold {"accessKeyId": "...", "secretAccessKey": "..."}`);
  }
  return { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey };
}
