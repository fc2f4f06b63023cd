/**
 * Finds the grants whose `match.spiffe_id` covers a SPIFFE ID in time independent of how many
 * grants exist: exact IDs in a Map, `/*` globs in a trie keyed by path segment.
 */
interface TrieNode {
  children: Map<string, TrieNode>
  /** Grants whose glob ends at this node: they match every ID strictly below it. */
  below: number[]
}

const newNode = (): TrieNode => ({ children: new Map(), below: [] })

export class SpiffeIdIndex {
  private readonly exact = new Map<string, number[]>()
  private readonly root = newNode()

  add(pattern: string, grantIndex: number): void {
    if (!pattern.endsWith('/*')) {
      const list = this.exact.get(pattern) ?? []
      list.push(grantIndex)
      this.exact.set(pattern, list)
      return
    }
    let node = this.root
    for (const segment of segments(pattern.slice(0, -2))) {
      let next = node.children.get(segment)
      if (!next) {
        next = newNode()
        node.children.set(segment, next)
      }
      node = next
    }
    node.below.push(grantIndex)
  }

  /** Grant indices matching `id`, in no particular order. */
  lookup(id: string): number[] {
    const found = [...(this.exact.get(id) ?? [])]
    const parts = segments(id)
    let node: TrieNode | undefined = this.root
    // A glob `a/b/*` matches `a/b/c` but not `a/b` itself: collect `below` only before the last segment.
    for (let i = 0; i < parts.length && node; i++) {
      if (i > 0) found.push(...node.below)
      node = node.children.get(parts[i]!)
    }
    return found
  }
}

/** `spiffe://td/a/b` → ['spiffe://td', 'a', 'b'] */
function segments(id: string): string[] {
  const rest = id.slice('spiffe://'.length).split('/')
  return [`spiffe://${rest[0]}`, ...rest.slice(1)]
}
