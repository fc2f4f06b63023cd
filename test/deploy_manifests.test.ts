import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { parse, parseAllDocuments } from 'yaml'
import { agentConfigSchema } from '../src/cli/agent/config.js'
import { REPO_ROOT } from './fixtures/broker.js'

type Manifest = {
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
} & Record<string, any>

const dir = join(REPO_ROOT, 'deploy/kubernetes')

function loadManifests(): Manifest[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => {
        expect(doc.errors, `${file}: ${doc.errors.map((e) => e.message).join('; ')}`).to.be.empty
        return doc.toJS() as Manifest
      }),
    )
}

describe('deploy/kubernetes manifests', () => {
  const manifests = loadManifests()
  const find = (kind: string, name?: string) => {
    const found = manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
    expect(found, `${kind} ${name ?? ''} in deploy/kubernetes`).to.exist
    return found!
  }

  it('every document has apiVersion, kind and a name', () => {
    for (const m of manifests) {
      expect(m.apiVersion, JSON.stringify(m.metadata)).to.be.a('string')
      expect(m.metadata.name).to.be.a('string')
    }
  })

  it('namespace, service account, config map with a policy, TLS secret, service', () => {
    find('Namespace', 'keybroker')
    expect(find('ServiceAccount', 'keybroker').metadata.namespace).to.equal('keybroker')
    const config = find('ConfigMap', 'keybroker-config').data['keybroker.yaml'] as string
    expect(config).to.include('grants:')
    const secret = find('Secret', 'keybroker-tls')
    expect(Object.keys(secret.stringData)).to.have.members(['tls.crt', 'tls.key', 'ca.crt'])
    const service = find('Service', 'keybroker')
    expect(service.spec.ports.map((p: { port: number }) => p.port)).to.have.members([7443, 7080])
    expect(service.spec.selector).to.deep.equal({ 'app.kubernetes.io/name': 'keybroker' })
  })

  it('StatefulSet: one replica, PVC for the database and keys, probes, requests, locked-down security context', () => {
    const sts = find('StatefulSet', 'keybroker')
    expect(sts.spec.replicas).to.equal(1)
    const pod = sts.spec.template.spec
    expect(pod.serviceAccountName).to.equal('keybroker')
    expect(pod.securityContext.runAsNonRoot).to.equal(true)
    const [container] = pod.containers
    expect(container.livenessProbe.httpGet).to.include({ path: '/healthz', scheme: 'HTTPS' })
    expect(container.readinessProbe.httpGet).to.include({ path: '/readyz', scheme: 'HTTPS' })
    expect(container.resources.requests).to.have.keys(['cpu', 'memory'])
    expect(container.securityContext).to.deep.include({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    })
    expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).to.have.members([
      7443, 7080,
    ])
    // The SQLite file and the KEK live on the claim, mounted where the config puts them.
    const claim = sts.spec.volumeClaimTemplates[0]
    expect(claim.spec.accessModes).to.deep.equal(['ReadWriteOnce'])
    const mounts = Object.fromEntries(
      container.volumeMounts.map((v: { name: string; mountPath: string }) => [v.name, v.mountPath]),
    )
    expect(mounts[claim.metadata.name]).to.equal('/var/lib/keybroker')
    expect(config())
      .to.include('path: /var/lib/keybroker/keybroker.db')
      .and.include('kek_file: /var/lib/keybroker/kek')
    // TLS from the Secret, config from the ConfigMap (as a folder, so edits reach the pod and reload).
    const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]))
    expect(volumes.tls.secret.secretName).to.equal('keybroker-tls')
    expect(mounts.tls).to.equal('/etc/keybroker/tls')
    expect(volumes.config.configMap.name).to.equal('keybroker-config')
    expect(container.volumeMounts.find((v: { name: string }) => v.name === 'config').subPath).to.be.undefined
    expect(container.args).to.deep.equal(['serve', '--config', `${mounts.config}/keybroker.yaml`])
  })

  it('NetworkPolicy selects the broker and limits ingress and egress', () => {
    const np = find('NetworkPolicy', 'keybroker')
    expect(np.spec.podSelector.matchLabels).to.deep.equal({ 'app.kubernetes.io/name': 'keybroker' })
    expect(np.spec.policyTypes).to.have.members(['Ingress', 'Egress'])
    expect(np.spec.ingress).to.be.an('array').that.is.not.empty
  })

  it('client Deployment mounts a projected service-account token with audience keybroker', () => {
    const deployment = find('Deployment', 'research-agent')
    const pod = deployment.spec.template.spec
    const projected = pod.volumes.find((v: any) => v.projected).projected.sources[0].serviceAccountToken
    expect(projected.audience).to.equal('keybroker')
    const [container] = pod.containers
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    )
    expect(env.KEYBROKER_ADDRESS).to.equal('keybroker.keybroker.svc:7443')
    expect(env.KEYBROKER_TOKEN_FILE).to.equal(`/var/run/secrets/keybroker/${projected.path}`)
    // The ConfigMap's policy has a grant for exactly this service account.
    expect(config()).to.include(
      `attributes: { namespace: ${deployment.metadata.namespace}, service_account: ${pod.serviceAccountName} }`,
    )
    const ns = find('Namespace', deployment.metadata.namespace)
    expect(ns.metadata.labels?.['keybroker-client']).to.equal('true')
  })

  it('keybroker agent sidecar: init --once, then the sidecar, sharing an in-memory emptyDir with the app', () => {
    const deployment = find('Deployment', 'report-generator')
    const pod = deployment.spec.template.spec
    const [init] = pod.initContainers
    const app = pod.containers.find((c: { name: string }) => c.name === 'app')
    const sidecar = pod.containers.find((c: { name: string }) => c.name === 'keybroker-agent')
    expect(init.args.slice(0, 4)).to.deep.equal([
      'agent',
      '--config',
      '/etc/keybroker-agent/agent.yaml',
      '--once',
    ])
    expect(sidecar.args).to.deep.equal(['agent', '--config', '/etc/keybroker-agent/agent.yaml'])
    const shared = pod.volumes.find((v: { name: string }) => v.name === 'keybroker-files')
    expect(shared.emptyDir.medium).to.equal('Memory')
    const mountOf = (c: { volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }) =>
      c.volumeMounts.find((m) => m.name === 'keybroker-files')!
    expect(mountOf(app)).to.include({ mountPath: '/run/keybroker', readOnly: true })
    expect(mountOf(sidecar).mountPath).to.equal('/run/keybroker')
    expect(mountOf(init).mountPath).to.equal('/run/keybroker')
    // The agent config in the ConfigMap is one the agent accepts, and writes under the shared folder
    // with a mode the app's group (fsGroup) can read.
    const agentYaml = find('ConfigMap', 'report-generator-keybroker-agent').data['agent.yaml']
    const agentConfig = agentConfigSchema.parse(parse(agentYaml))
    for (const output of [...agentConfig.outputs.tokens, ...agentConfig.outputs.secrets]) {
      expect(output.file.startsWith('/run/keybroker/')).to.equal(true)
      expect(output.mode & 0o040, 'group-readable').to.equal(0o040)
    }
    expect(pod.securityContext.fsGroup).to.equal(sidecar.securityContext.runAsGroup)
    const projected = pod.volumes.find((v: any) => v.projected).projected.sources[0].serviceAccountToken
    expect(projected.audience).to.equal('keybroker')
    expect(agentConfig.credentials.token_file).to.equal(`/var/run/secrets/keybroker/${projected.path}`)
    expect(config()).to.include(
      `attributes: { namespace: ${deployment.metadata.namespace}, service_account: ${pod.serviceAccountName} }`,
    )
  })

  function config(): string {
    return find('ConfigMap', 'keybroker-config').data['keybroker.yaml']
  }
})

describe('deploy/kubernetes/cluster manifests (replicas on PostgreSQL)', () => {
  const clusterDir = join(dir, 'cluster')
  const manifests = readdirSync(clusterDir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(clusterDir, file), 'utf8')).map((doc) => {
        expect(doc.errors, `${file}: ${doc.errors.map((e) => e.message).join('; ')}`).to.be.empty
        return doc.toJS() as Manifest
      }),
    )
  const find = (kind: string, name: string) => {
    const found = manifests.find((m) => m.kind === kind && m.metadata.name === name)
    expect(found, `${kind} ${name} in deploy/kubernetes/cluster`).to.exist
    return found!
  }
  const deployment = () => find('Deployment', 'keybroker')
  const container = () => deployment().spec.template.spec.containers[0]
  const mounts = () =>
    Object.fromEntries(
      container().volumeMounts.map((v: { name: string; mountPath: string }) => [v.name, v.mountPath]),
    )
  const volumes = () =>
    Object.fromEntries(deployment().spec.template.spec.volumes.map((v: { name: string }) => [v.name, v]))
  const config = () => find('ConfigMap', 'keybroker-cluster-config').data['keybroker.yaml'] as string

  it('every document has apiVersion, kind, a name and the keybroker namespace', () => {
    for (const m of manifests) {
      expect(m.apiVersion, JSON.stringify(m.metadata)).to.be.a('string')
      expect(m.metadata.namespace, m.metadata.name).to.equal('keybroker')
    }
  })

  it('Deployment: 3 replicas, readiness on /readyz, anti-affinity across nodes, a rollout that never drops below 3', () => {
    const d = deployment()
    expect(d.spec.replicas).to.equal(3)
    expect(d.spec.strategy.rollingUpdate).to.deep.equal({ maxSurge: 1, maxUnavailable: 0 })
    const pod = d.spec.template.spec
    expect(d.spec.selector.matchLabels).to.deep.equal({ 'app.kubernetes.io/name': 'keybroker' })
    expect(pod.template?.metadata ?? d.spec.template.metadata.labels).to.include(d.spec.selector.matchLabels)
    const anti = pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]
    expect(anti.topologyKey).to.equal('kubernetes.io/hostname')
    expect(anti.labelSelector.matchLabels).to.deep.equal(d.spec.selector.matchLabels)
    expect(container().readinessProbe.httpGet).to.include({ path: '/readyz', scheme: 'HTTPS' })
    expect(container().livenessProbe.httpGet).to.include({ path: '/healthz', scheme: 'HTTPS' })
    expect(container().securityContext).to.deep.include({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    })
    expect(pod.securityContext.runAsUser).to.equal(10001)
    expect(container().args).to.deep.equal(['serve', '--config', `${mounts().config}/keybroker.yaml`])
    // no volume claim: a replica keeps nothing durable
    expect(d.spec.volumeClaimTemplates).to.be.undefined
    expect(Object.values(volumes()).some((v: any) => v.persistentVolumeClaim)).to.equal(false)
  })

  it('PodDisruptionBudget keeps 2 replicas during voluntary disruptions', () => {
    const pdb = find('PodDisruptionBudget', 'keybroker')
    expect(pdb.apiVersion).to.equal('policy/v1')
    expect(pdb.spec.minAvailable).to.equal(2)
    expect(pdb.spec.selector.matchLabels).to.deep.equal(deployment().spec.selector.matchLabels)
  })

  it('config: postgres storage with the password and KEK from Secrets mounted where the config reads them', () => {
    const text = config()
    expect(text).to.match(/driver: postgres/)
    expect(text).to.not.match(/node_id:/)
    expect(text).to.not.match(/postgres:\/\/[^@\s]*:[^@\s]*@/) // no password in the URL
    const pw = /password_file: (\S+)/.exec(text)![1]!
    const ca = /ca_file: (\S+\/db\/ca\.crt)/.exec(text)![1]!
    const kek = /kek_file: (\S+)/.exec(text)![1]!
    expect(pw).to.equal(`${mounts().db}/password`)
    expect(ca).to.equal(`${mounts().db}/ca.crt`)
    expect(kek).to.equal(`${mounts().kek}/kek`)
    const db = find('Secret', 'keybroker-db')
    expect(volumes().db.secret.secretName).to.equal('keybroker-db')
    expect(Object.keys(db.stringData)).to.include.members(['password', 'ca.crt'])
    expect(volumes().kek.secret.secretName).to.equal('keybroker-kek')
    // keybroker refuses a KEK file others can read
    expect(volumes().kek.secret.defaultMode & 0o077).to.equal(0)
    expect(Object.keys(find('Secret', 'keybroker-kek').stringData)).to.deep.equal(['kek'])
    expect(volumes().config.configMap.name).to.equal('keybroker-cluster-config')
  })

  it('a headless Service for dns:/// balancing and egress to PostgreSQL', () => {
    const headless = find('Service', 'keybroker-replicas')
    expect(headless.spec.clusterIP).to.equal('None')
    expect(headless.spec.selector).to.deep.equal({ 'app.kubernetes.io/name': 'keybroker' })
    const np = find('NetworkPolicy', 'keybroker-postgres')
    expect(np.spec.egress[0].ports).to.deep.include({ port: 5432, protocol: 'TCP' })
  })
})

describe('deploy/systemd and deploy/docker', () => {
  it('the systemd unit is hardened and reloads with SIGHUP', () => {
    const unit = readFileSync(join(REPO_ROOT, 'deploy/systemd/keybroker.service'), 'utf8')
    const settings = new Map<string, string[]>()
    for (const line of unit.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line)
      if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!])
    }
    const one = (key: string) => settings.get(key)?.at(-1)
    expect(one('ExecReload')).to.equal('/bin/kill -HUP $MAINPID')
    expect(one('ExecStart')).to.match(/keybroker\.js serve --config \/etc\/keybroker\/keybroker\.yaml$/)
    expect(one('ExecStartPre')).to.match(/keybroker\.js config check \/etc\/keybroker\/keybroker\.yaml$/)
    for (const key of ['DynamicUser', 'NoNewPrivileges', 'PrivateTmp', 'ProtectHome', 'RestrictSUIDSGID'])
      expect(one(key), key).to.equal('yes')
    expect(one('ProtectSystem')).to.equal('strict')
    expect(one('StateDirectory')).to.equal('keybroker')
    expect(one('CapabilityBoundingSet')).to.equal('')
  })

  it('the Dockerfile builds with the tested script, runs non-root and checks /healthz', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8')
    expect(dockerfile.match(/^FROM /gm)).to.have.length(2)
    expect(dockerfile).to.match(/^RUN deploy\/docker\/build\.sh \/opt\/keybroker$/m)
    expect(dockerfile).to.match(/^COPY --from=build .*\/opt\/keybroker \/opt\/keybroker$/m)
    expect(dockerfile).to.match(/^USER 10001:10001$/m)
    expect(dockerfile).to.match(/^HEALTHCHECK [\s\S]*\/healthz/m)
    expect(dockerfile).to.match(/^EXPOSE 7443 7080$/m)
    expect(dockerfile).to.match(/^VOLUME \["\/var\/lib\/keybroker"\]$/m)
    // Kubernetes runs it as the same uid.
    expect(readFileSync(join(REPO_ROOT, 'deploy/kubernetes/statefulset.yaml'), 'utf8')).to.include(
      'runAsUser: 10001',
    )
  })
})
