// The self-healing modes, a value every layer names (the config schema, the decisions, the metrics): a
// leaf of core, so nothing has to reach up into the configuration for it.

export const modes = ['observe', 'dry-run', 'repair'] as const

/** observe: metrics and logs only; dry-run: decide and report, never act; repair: act. */
export type Mode = (typeof modes)[number]
