/**
 * The address part of a transport's peer string, for per-address accounting:
 * `ipv4:127.0.0.2:5000`, `127.0.0.2:5000`, `[::1]:5000`, `ipv6:[::1]:5000` → `127.0.0.2`, `::1`.
 */
export function peerAddress(peer: string | undefined | null): string {
  if (!peer) return 'unknown'
  const text = peer.replace(/^ipv[46]:/, '')
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text)
  if (bracketed) return bracketed[1]!
  const colons = text.split(':').length - 1
  if (colons === 1) return text.slice(0, text.lastIndexOf(':'))
  return text
}
