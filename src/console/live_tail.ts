import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AdminApi, AdminCallError } from './admin_api.js'
import type { FilterField } from './filters.js'

const RETRY_MS = 1000
const HEARTBEAT_MS = 15_000

/**
 * GET /api/live: server-sent events fed by WatchExchanges. Each row is an `exchange` event whose
 * id is the watch cursor, so a browser that reconnects (Last-Event-ID) resumes after the last row
 * it saw. When the broker goes away the stream stays open: a `broker` event says so, the watch is
 * retried from the last cursor, and a `broker` event says when it is back.
 */
export function serveLiveTail(
  req: IncomingMessage,
  res: ServerResponse,
  api: AdminApi,
  filter: Partial<Record<FilterField, string>>,
): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    Connection: 'keep-alive',
  })
  const lastEventId = req.headers['last-event-id']
  let cursor = typeof lastEventId === 'string' ? lastEventId : ''
  let closed = false
  let cancel: (() => void) | undefined
  let retry: NodeJS.Timeout | undefined
  let up: boolean | undefined

  const send = (event: string, data: unknown, id?: string) => {
    if (closed) return
    res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }
  const status = (nowUp: boolean, message: string) => {
    if (up === nowUp) return
    up = nowUp
    send('broker', { up: nowUp, message })
  }
  const open = () => {
    if (closed) return
    cancel = api.watch(
      { ...filter, cursor },
      {
        onOpen: () => status(true, 'connected'),
        onRow: (row) => {
          if (row.cursor) cursor = row.cursor
          status(true, 'connected')
          send('exchange', row, row.cursor || undefined)
        },
        onError: (err: AdminCallError) => {
          if (err.httpStatus === 400 || err.httpStatus === 403) {
            // the broker refused the filter or the caller: retrying cannot help
            send('failed', { message: err.message })
            end()
            return
          }
          status(false, err.message)
          retry = setTimeout(open, RETRY_MS)
        },
        onEnd: () => {
          // an `until` in the past: the window is complete
          send('complete', {})
          end()
        },
      },
    )
  }
  const heartbeat = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n')
  }, HEARTBEAT_MS)
  const end = () => {
    if (closed) return
    closed = true
    clearInterval(heartbeat)
    clearTimeout(retry)
    cancel?.()
    res.end()
  }
  req.on('close', end)
  open()
}
