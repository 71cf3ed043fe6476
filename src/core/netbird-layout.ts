// Which NetBird layout a container runs and which config file it reads, from what the engine says
// about it (image, entrypoint, arguments, mounts). Pure. From netbirdio/netbird v0.77.1: the combined
// server (images netbirdio/netbird-server and, since the enterprise scripts of v0.76,
// ghcr.io/netbirdio/netbird-server-cloud; combined/Dockerfile ENTRYPOINT /go/bin/netbird-server, the
// required `--config`/`-c` flag, combined/cmd/root.go) and management (netbirdio/management;
// ENTRYPOINT /go/bin/netbird-mgmt management, `--config` default /etc/netbird/management.json,
// `--datadir` default /var/lib/netbird/, management/cmd/root.go and defaults.go).
// infrastructure_files/migrate-to-enterprise.sh keeps the container (netbird-server) and its
// config.yaml mount, swaps the image for netbird-server-cloud and, when it changes the config, mounts
// ./config.yaml.enterprise and starts the server with `--config /etc/netbird/config.yaml.enterprise`:
// the original config.yaml is then still mounted but no longer read.

export interface ContainerView {
  readonly image: string
  /** The entrypoint's executable (inspect `Path`). */
  readonly entrypoint?: string
  /** The rest of the command line (inspect `Args`). */
  readonly args?: readonly string[]
  readonly mounts: readonly { readonly source: string; readonly destination: string }[]
}

export interface NetbirdConfigLocation {
  readonly layout: 'combined' | 'management'
  /** `enterprise`: the netbird-server-cloud image (getting-started-enterprise.sh, migrate-to-enterprise.sh). */
  readonly edition: 'community' | 'enterprise'
  /** The config file inside the container. */
  readonly configPath: string
  /** Whether `configPath` came from the command line or is the binary's default. */
  readonly from: 'argument' | 'default'
  /** The same file on the engine's host, when a bind mount or volume holds it. */
  readonly hostPath?: string
  /** management's `--datadir` when given on the command line. */
  readonly dataDir?: string
}

const combinedImage = /(?:^|\/)netbird-server(-cloud)?(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/
const managementImage = /(?:^|\/)management(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/

/** The layout, edition and config file of a NetBird container; undefined when it is not one. */
export function netbirdConfigOf(c: ContainerView): NetbirdConfigLocation | undefined {
  const args = c.args ?? []
  const entry = c.entrypoint ?? ''
  const combined = combinedImage.exec(c.image)
  const layout =
    combined !== null || entry.endsWith('/netbird-server')
      ? 'combined'
      : managementImage.test(c.image) || entry.endsWith('/netbird-mgmt')
        ? 'management'
        : undefined
  if (layout === undefined) return undefined
  const edition = combined?.[1] === '-cloud' ? 'enterprise' : 'community'
  const given = flagValue(args, 'config', layout === 'combined' ? 'c' : undefined)
  const configPath =
    given ?? (layout === 'combined' ? '/etc/netbird/config.yaml' : '/etc/netbird/management.json')
  const hostPath = hostPathOf(configPath, c.mounts)
  const dataDir = layout === 'management' ? flagValue(args, 'datadir') : undefined
  return {
    layout,
    edition,
    configPath,
    from: given !== undefined ? 'argument' : 'default',
    ...(hostPath !== undefined ? { hostPath } : {}),
    ...(dataDir !== undefined ? { dataDir } : {}),
  }
}

/**
 * A cobra string flag's value as pflag reads it: `--name value`, `--name=value`, and for a shorthand
 * `-c value`, `-c=value`, `-cvalue`; the last one given wins. Stops at `--`.
 */
export function flagValue(
  args: readonly string[],
  name: string,
  shorthand?: string,
): string | undefined {
  let value: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--') break
    if (a === `--${name}` || (shorthand !== undefined && a === `-${shorthand}`)) {
      const next = args[i + 1]
      if (next !== undefined) {
        value = next
        i++
      }
    } else if (a.startsWith(`--${name}=`)) {
      value = a.slice(name.length + 3)
    } else if (shorthand !== undefined && a.startsWith(`-${shorthand}`) && !a.startsWith('--')) {
      value = a.slice(2).replace(/^=/, '')
    }
  }
  return value
}

/**
 * The host path of a file inside the container: the mount whose destination is the file itself, or
 * the deepest one whose destination is a folder above it (the rest of the path appended).
 */
export function hostPathOf(
  path: string,
  mounts: readonly { readonly source: string; readonly destination: string }[],
): string | undefined {
  let best: { source: string; destination: string } | undefined
  for (const m of mounts) {
    const dest = m.destination.replace(/\/+$/, '')
    if (m.source === '') continue
    if (path !== dest && !path.startsWith(`${dest}/`)) continue
    if (best === undefined || dest.length > best.destination.length) {
      best = { source: m.source, destination: dest }
    }
  }
  if (best === undefined) return undefined
  const rest = path.slice(best.destination.length)
  return rest === '' ? best.source : `${best.source.replace(/\/+$/, '')}${rest}`
}
