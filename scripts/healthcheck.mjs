// The image's HEALTHCHECK: GET /healthz on the watchdog's own HTTP server, with node alone (the
// runtime image has no curl or shell). It finds the listen address the way the watchdog's config
// does: NETBIRD_WATCHDOG_METRICS_ADDRESS, else metrics.address in the file NETBIRD_WATCHDOG_CONFIG
// names, else ":9464" (a config file given only as `run --config FILE` is not seen: set the env var
// too when the port is not 9464). A wildcard host is probed on loopback.
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import process from 'node:process'

function fail(reason) {
  process.stderr.write(`healthcheck: ${reason}\n`)
  process.exitCode = 1
}

async function listenAddress() {
  const fromEnv = process.env.NETBIRD_WATCHDOG_METRICS_ADDRESS
  if (fromEnv) return fromEnv
  const file = process.env.NETBIRD_WATCHDOG_CONFIG
  if (file) {
    const { parse } = await import('yaml')
    const address = parse(readFileSync(file, 'utf8'))?.metrics?.address
    if (typeof address === 'string') return address
  }
  return ':9464'
}

const address = await listenAddress().catch((err) => {
  fail(`cannot read the config file: ${err.message}`)
  return ':9464'
})
const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address)
if (match === null) {
  fail(`cannot parse the metrics address ${address}`)
} else {
  const host = match[1] ?? match[2]
  const wildcard = host === '' || host === '0.0.0.0' || host === '::'
  const req = get(
    {
      host: wildcard ? '127.0.0.1' : host,
      port: Number(match[3]),
      path: '/healthz',
      timeout: 4000,
    },
    (res) => {
      res.resume()
      if (res.statusCode !== 200) fail(`/healthz answered ${res.statusCode}`)
    },
  )
  req.on('timeout', () => req.destroy(new Error('no answer within 4 s')))
  req.on('error', (err) => fail(err.message))
}
