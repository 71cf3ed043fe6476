// `netbird-watchdog run [--config FILE]`: the long-running daemon. Watches the NetBird container
// through the Docker engine, classifies its logs, serves /metrics, /healthz and /readyz. Resolves
// once the shutdown signal (SIGTERM/SIGINT, wired by cli.ts) has stopped everything.
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { startDaemon } from '../daemon.js'
import { createLogger } from '../log.js'
import { readVersion } from '../version.js'
import type { CliIO } from './io.js'

export function registerRun(program: Command, io: CliIO, shutdown?: AbortSignal): void {
  program
    .command('run')
    .description(
      'Run the watchdog daemon: follow the NetBird container through the Docker engine, classify its logs, export Prometheus metrics.',
    )
    .option(
      '-c, --config <file>',
      'YAML config file (default: $NETBIRD_WATCHDOG_CONFIG, else built-in defaults)',
    )
    .addHelpText(
      'after',
      `
Without a config file it runs on defaults: auto-detected target (netbird-management, netbird-server,
*-management-1, *_management_1, or label netbird-watchdog.enable=true), the local Docker socket or
DOCKER_HOST, metrics on :9464. Logs are JSON lines on stderr. SIGTERM or SIGINT stops it cleanly.
The IdP store: NETBIRD_WATCHDOG_IDP_DSN_FILE / NETBIRD_WATCHDOG_IDP_DSN (a PostgreSQL DSN), else
idp.dsn, else a PostgreSQL store idp.configYaml or idp.managementJson names, else idp.dbPath
(/var/lib/netbird/idp.db). A PostgreSQL store's backups go to backups.dir, by default
/var/lib/netbird-watchdog/backups.
Example config: config/watchdog.example.yml.
Exit status: 0 stopped by a signal, 2 invalid configuration or address in use, 70 a bug.`,
    )
    .action(async (opts: { config?: string }) => {
      const { config, secrets, source } = loadConfig(opts.config, io.env)
      const logger = createLogger({ level: config.log.level }, io.stderr)
      if (source !== undefined) logger.info({ config: source }, 'config loaded')
      const daemon = await startDaemon({
        config,
        secrets,
        env: io.env,
        logger,
        version: readVersion(),
      })
      await new Promise<void>((resolve) => {
        if (shutdown === undefined) return
        if (shutdown.aborted) resolve()
        else shutdown.addEventListener('abort', () => resolve(), { once: true })
      })
      logger.info({ signal: String(shutdown?.reason ?? '') }, 'stopping')
      await daemon.stop()
      logger.info('stopped')
    })
}
