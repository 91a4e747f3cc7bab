/** The zod check of a `pulumi.Input<string>` arg, in one place for every module that validates args. */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

export const isInputLike = (v: unknown): boolean =>
  typeof v === "string" ||
  pulumi.Output.isInstance(v) ||
  (typeof v === "object" && v !== null && typeof (v as PromiseLike<unknown>).then === "function");

export const stringInput = z.custom<pulumi.Input<string>>(isInputLike, { message: "must be a string or a Pulumi Output of one" });
