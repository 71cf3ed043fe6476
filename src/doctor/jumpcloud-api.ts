// One read-only request to the JumpCloud API, the way NetBird's JumpCloud IdP manager calls it
// (management/server/idp/jumpcloud.go, v0.67.1+; facts §4): POST <base>/search/systemusers with the
// `x-api-key` header. Tells "token accepted" from "token rejected" from "could not ask". The token is
// sent only to the configured API host (redirects are never followed) and never appears in a message.
import type { ApiTokenOutcome } from '../core/checks/standalone-checks.js'
import { classifyNetworkError } from '../oidc/discovery.js'
import { httpRequest } from '../oidc/http-request.js'

/** jumpCloudDefaultApiUrl in NetBird's jumpcloud.go. */
export const jumpCloudDefaultApiUrl = 'https://console.jumpcloud.com'

/** NetBird's base-URL rule: trim a trailing "/", then append "/api" unless it already ends with it. */
export function jumpCloudApiBase(apiUrl: string | undefined): string {
  const base = (apiUrl !== undefined && apiUrl !== '' ? apiUrl : jumpCloudDefaultApiUrl).replace(
    /\/$/,
    '',
  )
  return base.endsWith('/api') ? base : base + '/api'
}

/**
 * Whether a token can go into an HTTP header as it is: no whitespace and no control character. fetch
 * trims surrounding whitespace (so it would test another token than NetBird sends) and refuses inner
 * line breaks with an error that quotes the whole value.
 */
export function isHeaderSafeToken(token: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\s\u0000-\u001f\u007f-\u009f]/u.test(token)
}

export async function checkJumpCloudToken(
  apiUrl: string | undefined,
  token: string,
  opts: { timeoutMs: number; allowInsecure: boolean; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<ApiTokenOutcome> {
  const started = performance.now()
  const ms = (): number => Math.round(performance.now() - started)
  const base = jumpCloudApiBase(apiUrl)
  let url: URL
  try {
    url = new URL(base + '/search/systemusers')
  } catch {
    return {
      ok: false,
      rejected: false,
      message: `ApiUrl ${JSON.stringify(base)} is not a URL`,
      ms: ms(),
    }
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.allowInsecure)) {
    return {
      ok: false,
      rejected: false,
      message: `refusing to send the API token over ${url.protocol.replace(':', '')} to ${url.origin} (labs only: oidc.allowInsecure or --allow-insecure)`,
      ms: ms(),
    }
  }
  if (!isHeaderSafeToken(token)) {
    return {
      ok: false,
      rejected: false,
      message: 'the token holds whitespace or a control character: not sent',
      ms: ms(),
    }
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const deadline = opts.signal !== undefined ? AbortSignal.any([timeout, opts.signal]) : timeout
  try {
    const res = await (opts.fetch ?? httpRequest)(url.href, {
      method: 'POST',
      headers: {
        'x-api-key': token,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify({ limit: 1 }),
      redirect: 'manual',
      signal: deadline,
    })
    await res.body?.cancel()
    if (res.status === 200) return { ok: true, status: 200, ms: ms() }
    if (res.status === 401 || res.status === 403) {
      return {
        ok: false,
        rejected: true,
        status: res.status,
        message: `HTTP ${res.status}`,
        ms: ms(),
      }
    }
    return {
      ok: false,
      rejected: false,
      status: res.status,
      message: `${url.origin} answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (a redirect; not followed with the token)' : ''}`,
      ms: ms(),
    }
  } catch (err) {
    const c = classifyNetworkError(err, url, timeout.aborted, opts.timeoutMs, [token])
    return { ok: false, rejected: false, message: `${c.message} [${c.reason}]`, ms: ms() }
  }
}
