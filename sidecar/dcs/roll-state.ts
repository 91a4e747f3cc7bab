/**
 * The `roll` key (`<ns>/<cluster>/roll`, not leased): the host being replaced and since when, so a new
 * leader continues the step rather than starts a second one, and a step that did not end in time
 * stops the roll where everyone sees it (`hapg list`, GET /cluster, the log).
 */
import { z } from "zod";

export const rollStateSchema = z
  .object({
    /** The host being replaced (a topology host name). */
    host: z.string().min(1),
    /** The revision it is being replaced with (the topology's at the step's start). */
    revision: z.string().min(1),
    /** The instance the host reported when the step started: a report with another one means it was replaced. */
    fromInstance: z.string().optional(),
    /** ISO time the step started (the replacement was asked for). */
    since: z.string().min(1),
    /** Who started it (the leader's member name), for the log. */
    by: z.string().min(1),
    /** Set when the step did not end within the limit: the roll stops here until an operator clears the key. */
    stalled: z.string().optional(),
  })
  .strict();

export type RollState = z.output<typeof rollStateSchema>;
