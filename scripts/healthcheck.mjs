// The image's HEALTHCHECK: GET /healthz on the watchdog's own HTTP server, with node alone (the
// runtime image has no curl or shell). It reads the listen address the way the watchdog's config
// does (NETBIRD_WATCHDOG_METRICS_ADDRESS, default ":9464"); a wildcard host is probed on loopback.
import { get } from 'node:http'
import process from 'node:process'

const address = process.env.NETBIRD_WATCHDOG_METRICS_ADDRESS || ':9464'
const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address)

function fail(reason) {
  process.stderr.write(`healthcheck: ${reason}\n`)
  process.exitCode = 1
}

if (match === null) {
  fail(`cannot parse NETBIRD_WATCHDOG_METRICS_ADDRESS=${address}`)
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
