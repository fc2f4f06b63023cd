/** `*` matches any run of characters (including none); everything else is literal. */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) return (value) => value === pattern
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
  const re = new RegExp(`^${escaped.join('.*')}$`, 's')
  return (value) => re.test(value)
}
