/**
 * SSM Parameter Store's tiers: a Standard parameter's value holds at most 4 KB, an Advanced one's 8 KB
 * ("Managing parameter tiers", AWS Systems Manager User Guide:
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
 * Advanced parameters cost a monthly fee, so a value goes there only when it does not fit. Pure.
 */
export const SSM_VALUE_MAX_BYTES = { Standard: 4096, Advanced: 8192 } as const;

export type SsmTier = keyof typeof SSM_VALUE_MAX_BYTES;

/** The cheapest tier that holds `value`, or undefined when none does. */
export function ssmTierFor(value: string): SsmTier | undefined {
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes <= SSM_VALUE_MAX_BYTES.Standard) return "Standard";
  if (bytes <= SSM_VALUE_MAX_BYTES.Advanced) return "Advanced";
  return undefined;
}
