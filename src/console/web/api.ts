/** The console's JSON API (same origin; the session cookie rides along; writes carry the CSRF token). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }

  /** The broker could not be reached (the console itself answered). */
  get brokerDown(): boolean {
    return this.status === 502
  }
}

type Listener = (err: ApiError) => void
const failureListeners: Listener[] = []

/** Called for every failed call (the connection banner listens for 502s). */
export function onApiFailure(listener: Listener): void {
  failureListeners.push(listener)
}

function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="kb-csrf"]')?.content ?? ''
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' })
  } catch {
    const err = new ApiError(0, 'the console server is not answering (was keybroker console stopped?)')
    for (const l of failureListeners) l(err)
    throw err
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string }
  if (!res.ok) {
    const err = new ApiError(
      res.status,
      res.status === 401
        ? 'your console session ended: restart keybroker console and open its new URL'
        : (body.error ?? `HTTP ${res.status}`),
    )
    for (const l of failureListeners) l(err)
    throw err
  }
  return body as T
}

/** GET /api/<path>?<params> (empty params dropped). */
export function getJson<T>(
  path: string,
  params: Record<string, string | number | undefined> = {},
): Promise<T> {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v))
  const qs = q.toString()
  return request<T>(`/api/${path}${qs ? `?${qs}` : ''}`, { method: 'GET' })
}

/** POST /api/<path> with a JSON body and the CSRF token. */
export function postJson<T>(path: string, body: object = {}): Promise<T> {
  return request<T>(`/api/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
    body: JSON.stringify(body),
  })
}
