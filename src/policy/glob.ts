/**
 * `*` matches any run of characters (including none); everything else is literal. A pattern with a
 * `*` never matches the empty string: an empty claim or subject says nothing about the caller, so
 * `namespace: "*"` means "has a namespace", not "has the attribute at all".
 */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) return (value) => value === pattern
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
  const re = new RegExp(`^${escaped.join('.*')}$`, 's')
  return (value) => value !== '' && re.test(value)
}
