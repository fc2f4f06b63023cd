// oidc-provider ships no types; the bench uses only its constructor and callback().
declare module 'oidc-provider' {
  const Provider: new (
    issuer: string,
    configuration: object,
  ) => {
    callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void
  }
  export default Provider
}
