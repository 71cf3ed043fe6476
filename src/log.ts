// Structured logging (pino). The composition root creates one logger and hands children to adapters;
// nothing logs through a module-level singleton. Secret-bearing fields are redacted by path.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

const redactPaths = [
  'clientSecret',
  '*.clientSecret',
  'config.clientSecret',
  'apiToken',
  '*.apiToken',
  'ApiToken',
  '*.ApiToken',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
]

export function createLogger(
  options: { level?: LevelWithSilent; name?: string } = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name ?? 'netbird-watchdog',
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[REDACTED]' },
      base: { service: 'netbird-watchdog' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  )
}
