/*
 * Root hook: after the last test, the process must be able to exit on its own. `exit: true` in
 * .mocharc.json used to hide every socket, server, timer or child a test forgot to close; without
 * it a leak would hang the run instead. So: give the process GRACE_MS to exit, and if it is still
 * alive, list what keeps it alive (why-is-node-running style) and fail the run.
 */
const GRACE_MS = Number(process.env.KEYBROKER_TEST_EXIT_GRACE_MS ?? 5000)

function describe(handle) {
  const name = handle?.constructor?.name ?? typeof handle
  switch (name) {
    case 'Socket':
    case 'TLSSocket':
      return `${name} ${handle.localAddress}:${handle.localPort} -> ${handle.remoteAddress}:${handle.remotePort}${handle.server ? ' (server side)' : ''}`
    case 'Server':
      return `${name} listening on ${JSON.stringify(handle.address?.())}`
    case 'Timeout':
      return `${name} every/after ${handle._idleTimeout} ms: ${String(handle._onTimeout).replace(/\s+/g, ' ').slice(0, 160)}`
    case 'ChildProcess':
      return `${name} pid ${handle.pid}: ${(handle.spawnargs ?? []).join(' ').slice(0, 160)}`
    default:
      return name
  }
}

exports.mochaHooks = {
  afterAll() {
    const timer = setTimeout(() => {
      const std = new Set([process.stdin, process.stdout, process.stderr])
      const handles = process._getActiveHandles().filter((h) => !std.has(h))
      if (handles.length === 0) return
      console.error(`\nThe test process did not exit ${GRACE_MS} ms after the last test; still open:`)
      for (const h of handles) console.error(`  - ${describe(h)}`)
      // mocha sets exitCode (its failure count) in its own 'exit' listener; this one runs after it
      process.on('exit', () => {
        process.exitCode = 3
      })
      process.exit(3)
    }, GRACE_MS)
    timer.unref()
  },
}
