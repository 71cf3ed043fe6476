// Which containers the watchdog watches: (container name + labels, target config) -> why it is a
// target, or undefined. Pure. Names come from docs/reference/netbird.md, "Containers and volumes": `netbird-management`
// (quickstart v0.62–v0.64), `netbird-server` (combined v0.65+) and compose-generated names of the
// legacy `management` service (`<project>-management-1` with compose v2, `<project>_management_1`
// with v1).

export interface TargetSelector {
  readonly names: readonly string[]
  readonly composeServices: readonly string[]
  /** `key` or `key=value`. */
  readonly label: string
  readonly autoDetect: boolean
}

export type TargetReason = 'name' | 'compose-service' | 'label' | 'auto-detect'

export const composeServiceLabel = 'com.docker.compose.service'

const autoNames = new Set(['netbird-management', 'netbird-server'])
const composeManagement = /^[\w.-]+(?:-management-|_management_)\d+$/

function splitLabel(label: string): { key: string; value?: string } {
  const eq = label.indexOf('=')
  return eq === -1 ? { key: label } : { key: label.slice(0, eq), value: label.slice(eq + 1) }
}

/**
 * Why `container` is a target, or undefined. Explicit names, compose services and the label always
 * select; auto-detection selects the well-known names unless the container opts out by carrying the
 * selector's label key with the value `false`.
 */
export function matchTarget(
  container: { readonly name: string; readonly labels: Readonly<Record<string, string>> },
  selector: TargetSelector,
): TargetReason | undefined {
  const name = container.name.replace(/^\//, '')
  if (selector.names.includes(name)) return 'name'
  const service = container.labels[composeServiceLabel]
  if (service !== undefined && selector.composeServices.includes(service)) return 'compose-service'
  const { key, value } = splitLabel(selector.label)
  const actual = container.labels[key]
  if (actual !== undefined && (value === undefined || actual === value)) return 'label'
  if (!selector.autoDetect || actual === 'false') return undefined
  if (autoNames.has(name) || composeManagement.test(name)) return 'auto-detect'
  return undefined
}
