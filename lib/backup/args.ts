/**
 * Validation of the `backup` arg's AWS fields (the bucket, its prefix and key). Pure; used by
 * lib/args/validate.ts, so a bad value is refused before any resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { stringInput } from "../args/inputs";
import { normalizedPrefix } from "./policies";

/** The AWS side of `backup`: beside the backup settings of the settings schema. */
export const backupAwsShape = {
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  bucketName: stringInput.optional(),
  prefix: z.string({ error: 'must be a key prefix such as "orders"' }).optional(),
  kmsKeyArn: stringInput.optional(),
  forceDestroy: z.boolean({ error: "must be true or false" }).optional(),
};

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A KMS key's ARN (IAM grants name keys by ARN, not by alias or id). */
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
/** S3's "safe characters" for keys (no spaces, no characters that need URL encoding in pgBackRest's requests). */
const PREFIX = /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/;

/** Problems of the backup arg's AWS fields (values that are Outputs are checked by AWS at deploy time). Pure. */
export function backupArgProblems(b: {
  bucketName?: pulumi.Input<string>;
  prefix?: string;
  kmsKeyArn?: pulumi.Input<string>;
  forceDestroy?: boolean;
}): string[] {
  const out: string[] = [];
  if (typeof b.bucketName === "string" && (!BUCKET_NAME.test(b.bucketName) || b.bucketName.includes(".."))) {
    out.push(
      `backup.bucketName: "${b.bucketName}" is not an S3 bucket name: 3–63 lower-case letters, digits, "." and "-", ` +
        "starting and ending with a letter or digit",
    );
  }
  if (b.prefix !== undefined) {
    const p = normalizedPrefix(b.prefix);
    if (!PREFIX.test(p) || p.split("/").some((s) => s === "." || s === "..")) {
      out.push(
        `backup.prefix: "${b.prefix}" is not a usable key prefix: use letters, digits and !_.*'()- in "/"-separated parts, e.g. "prod/orders"`,
      );
    }
  }
  if (typeof b.kmsKeyArn === "string" && !KMS_KEY_ARN.test(b.kmsKeyArn)) {
    const alias = /alias\//.test(b.kmsKeyArn);
    out.push(
      `backup.kmsKeyArn: "${b.kmsKeyArn}" is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)` +
        (alias
          ? ": an alias cannot be granted in IAM; give the key's ARN (aws kms describe-key --key-id ALIAS --query KeyMetadata.Arn)"
          : ""),
    );
  }
  if (b.forceDestroy !== undefined && b.bucketName !== undefined) {
    out.push("backup.forceDestroy: applies only to a bucket the component creates: remove it, or remove backup.bucketName");
  }
  return out;
}
