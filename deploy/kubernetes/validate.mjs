// Checks the Kubernetes manifests under deploy/kubernetes without a cluster (npm run deploy:check):
//
// 1. every YAML file parses (duplicate keys are errors), and every kustomization lists files
//    that exist, and every manifest beside it (but *.example.yaml) is listed;
// 2. every object validates against the Kubernetes JSON schemas bundled in `kubernetes-models`;
// 3. unknown fields are errors too (the JSON schemas allow them, so a typo such as
//    `readinessProb` would pass): each object is type-checked by TypeScript against the
//    package's interfaces, whose excess-property check names the field;
// 4. our own rules: the probes, preStop and grace period the server's shutdown needs, a
//    non-root read-only container, pinned images, resources, spread, PDB, HPA, network policy,
//    settings in the ConfigMap that the README documents and secrets only in the Secret;
// 5. with `kubectl` on PATH, each kustomization also builds, and both use the same image.
//
// Exits 1 with one line per problem. `--self-test` breaks the manifests in memory in the ways
// the rules are for and fails unless every breakage is reported.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

/** What the server does on SIGTERM: src/server.ts `close(graceMs = 10_000)`. */
function appDrainSeconds(problems) {
  try {
    const match = /close\(graceMs = ([\d_]+)\)/.exec(readFileSync(join(root, 'src/server.ts'), 'utf8'));
    if (match?.[1]) return Number(match[1].replaceAll('_', '')) / 1000;
  } catch {}
  // src/ may move; the grace period check then uses the last known value, loudly
  problems.warn('src/server.ts: `close(graceMs = ...)` not found; assuming a 10 s drain');
  return 10;
}

/** Environment variable names documented in the README's configuration tables. */
function documentedEnv() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const names = new Set();
  for (const line of readme.split('\n')) {
    const cell = /^\|\s*([^|]+)\|/.exec(line)?.[1];
    if (!cell) continue;
    for (const m of cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Loading

function yamlFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every document of every YAML file: `{ file, index, obj }`. */
function load(dir, problems) {
  const docs = [];
  for (const file of yamlFiles(dir)) {
    const rel = relative(root, file);
    for (const [index, doc] of parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: true }).entries()) {
      for (const err of [...doc.errors, ...doc.warnings]) problems.add(`${rel}: ${err.message.split('\n')[0]}`);
      const obj = doc.toJS();
      if (obj === null || obj === undefined) continue;
      if (typeof obj !== 'object' || Array.isArray(obj)) problems.add(`${rel}#${index}: not a mapping`);
      else docs.push({ file, rel, index, obj });
    }
  }
  return docs;
}

const isKustomization = (obj) => obj.kind === 'Kustomization' && /^kustomize\.config\.k8s\.io\//.test(obj.apiVersion);

// ---------------------------------------------------------------------------------------------
// Schemas

/** kubernetes-models module of an apiVersion: `apps/v1` -> `kubernetes-models/apps/v1`. */
const modelModule = (apiVersion) => `kubernetes-models/${apiVersion}`;

/** Custom resources the manifests may use, with the fields they must have (no schema bundled). */
const CUSTOM = {
  'monitoring.coreos.com/v1/PodMonitor': (obj, where, problems) => {
    if (!obj.spec?.selector?.matchLabels) problems.add(`${where}: spec.selector.matchLabels is missing`);
    if (!Array.isArray(obj.spec?.podMetricsEndpoints) || obj.spec.podMetricsEndpoints.length === 0) {
      problems.add(`${where}: spec.podMetricsEndpoints is empty`);
    }
  },
};

async function validateSchemas(objects, problems, types) {
  const typed = [];
  for (const { rel, index, obj } of objects) {
    const where = `${rel}#${index} ${obj.kind}/${obj.metadata?.name}`;
    const custom = CUSTOM[`${obj.apiVersion}/${obj.kind}`];
    if (custom) {
      custom(obj, where, problems);
      continue;
    }
    let Model;
    try {
      Model = (await import(modelModule(obj.apiVersion)))[obj.kind];
    } catch {}
    if (typeof Model !== 'function') {
      problems.add(`${where}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (err) {
      problems.add(`${where}: ${String(err.message).split('\n').slice(0, 3).join('; ')}`);
    }
    typed.push({ where, obj });
  }
  if (types) checkUnknownFields(typed, problems);
}

/**
 * TypeScript's excess-property check, against kubernetes-models' interfaces (`IDeployment` in
 * `kubernetes-models/apps/v1/Deployment`), finds fields the JSON schemas let through.
 */
function checkUnknownFields(typed, problems) {
  if (typed.length === 0) return;
  const lines = [];
  const owner = [];
  typed.forEach(({ obj }, i) => {
    lines.push(`import type { I${obj.kind} as T${i} } from '${modelModule(obj.apiVersion)}/${obj.kind}';`);
  });
  const header = lines.length;
  typed.forEach(({ where, obj }, i) => {
    const text = `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`;
    for (const _ of text.split('\n')) owner.push(where);
    lines.push(text);
  });
  const source = lines.join('\n');
  // a file beside the manifests (never written) so that `kubernetes-models` resolves from node_modules
  const file = join(here, '__manifests__.ts');
  const host = ts.createCompilerHost({});
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram(
    [file],
    {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    },
    host,
  );
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== file || d.start === undefined) {
      problems.add(`type check: ${message}`);
      continue;
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = line < header ? 'imports' : owner[line - header];
    const path = fieldPath(source, d.start);
    problems.add(`${where}: ${path ? `${path}: ` : ''}${message}`);
  }
}

/** The JSON path of the key at a position of the generated source, e.g. `spec.template.spec.foo`. */
function fieldPath(source, position) {
  const lineStart = source.lastIndexOf('\n', position - 1) + 1;
  const leaf = /^"([^"]+)":/.exec(source.slice(position))?.[1];
  let depth = position - lineStart;
  const keys = leaf ? [leaf] : [];
  const lines = source.slice(source.lastIndexOf('\nexport const ', position), lineStart).split('\n').reverse();
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    const key = /^\s*"([^"]+)":/.exec(line)?.[1];
    if (key && indent < depth) {
      keys.push(key);
      depth = indent;
    }
  }
  return keys.reverse().join('.');
}

// ---------------------------------------------------------------------------------------------
// Our rules

const SECRET_ENV = new Set([
  'DATABASE_URL',
  'SECRETS_KEY',
  'REDIS_URL',
  'ADMIN_CLIENT_SECRET',
  'METRICS_TOKEN',
  'SMTP_URL',
]);
const ALLOWED_EGRESS_PORTS = new Set([53, 5432, 6379, 443]);

const podSpecOf = (obj) =>
  obj.kind === 'Deployment' || obj.kind === 'Job'
    ? obj.spec?.template?.spec
    : obj.kind === 'Pod'
      ? obj.spec
      : undefined;

const matches = (selector, labels) =>
  selector && Object.entries(selector).every(([k, v]) => labels?.[k] === v) && Object.keys(selector).length > 0;

function checkPod(where, obj, problems) {
  const pod = podSpecOf(obj);
  if (!pod) return;
  const sc = pod.securityContext ?? {};
  if (sc.runAsNonRoot !== true) problems.add(`${where}: securityContext.runAsNonRoot must be true`);
  // the image's `node` user; the Dockerfile check below keeps the two in step
  if (sc.runAsUser !== 1000) problems.add(`${where}: securityContext.runAsUser must be 1000 (the image's node user)`);
  if (sc.seccompProfile?.type !== 'RuntimeDefault') {
    problems.add(`${where}: securityContext.seccompProfile.type must be RuntimeDefault`);
  }
  if (pod.automountServiceAccountToken !== false) problems.add(`${where}: automountServiceAccountToken must be false`);
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (pod[key]) problems.add(`${where}: ${key} must not be set`);
  }
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const at = `${where} container ${c.name}`;
    const image = String(c.image ?? '');
    const tag = /^(?:.*\/)?[^/:@]+(?::([^@/]+))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(image);
    if (!tag || (!tag[1] && !tag[2])) problems.add(`${at}: image ${image} must be pinned by tag or digest`);
    else if (tag[1] === 'latest') problems.add(`${at}: image ${image} must not use the latest tag`);
    if (c.imagePullPolicy === 'Always')
      problems.add(`${at}: imagePullPolicy Always re-pulls a pinned image for nothing`);
    const csc = c.securityContext ?? {};
    if (csc.allowPrivilegeEscalation !== false) problems.add(`${at}: allowPrivilegeEscalation must be false`);
    if (csc.readOnlyRootFilesystem !== true) problems.add(`${at}: readOnlyRootFilesystem must be true`);
    if (csc.privileged) problems.add(`${at}: must not be privileged`);
    if (!(csc.capabilities?.drop ?? []).includes('ALL')) problems.add(`${at}: capabilities.drop must include ALL`);
    if ((csc.capabilities?.add ?? []).length > 0) problems.add(`${at}: must not add capabilities`);
    if (csc.runAsUser !== undefined && csc.runAsUser === 0) problems.add(`${at}: must not run as root`);
    const { requests = {}, limits = {} } = c.resources ?? {};
    if (!requests.cpu || !requests.memory) problems.add(`${at}: resources.requests.cpu and .memory are required`);
    if (!limits.memory) problems.add(`${at}: resources.limits.memory is required`);
    // a read-only root: the one place Node or a library may write is an emptyDir on /tmp
    const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
    if (!tmp || !volumes.get(tmp.name)?.emptyDir) problems.add(`${at}: needs an emptyDir mounted on /tmp`);
    if (!(c.envFrom ?? []).some((e) => e.secretRef?.name) || !(c.envFrom ?? []).some((e) => e.configMapRef?.name)) {
      problems.add(`${at}: takes its settings from a ConfigMap and a Secret (envFrom)`);
    }
    for (const e of c.env ?? []) {
      if (SECRET_ENV.has(e.name) && e.value !== undefined) problems.add(`${at}: ${e.name} must come from the Secret`);
    }
  }
}

function checkServer(where, deployment, ctx, problems) {
  const pod = deployment.spec?.template?.spec ?? {};
  const c = pod.containers?.[0];
  if (!c) return problems.add(`${where}: no container`);
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  const probe = (name, path) => {
    const p = c[name];
    if (!p) return problems.add(`${where}: ${name} is missing`);
    if (p.httpGet?.path !== path) problems.add(`${where}: ${name} must GET ${path}`);
    const port = p.httpGet?.port;
    if (port !== 'http' && port !== ports.get('http')) problems.add(`${where}: ${name} must probe the http port`);
    if ((p.timeoutSeconds ?? 1) >= (p.periodSeconds ?? 10) + 1)
      problems.add(`${where}: ${name} timeout above its period`);
  };
  probe('readinessProbe', '/readyz');
  // liveness on /readyz would restart every pod during a database outage
  probe('livenessProbe', '/healthz');
  probe('startupProbe', '/healthz');
  if ((c.readinessProbe?.timeoutSeconds ?? 1) <= 2) {
    problems.add(`${where}: readinessProbe.timeoutSeconds must exceed /readyz's own 2 s database timeout`);
  }
  const startup = c.startupProbe ?? {};
  if ((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3) < 60) {
    problems.add(`${where}: startupProbe allows less than 60 s for start-up and migrations`);
  }

  const httpPort = ports.get('http');
  const metricsPort = ports.get('metrics');
  if (!httpPort || !metricsPort) problems.add(`${where}: container ports named http and metrics are required`);
  if (ctx.dockerfile.port !== undefined && httpPort !== ctx.dockerfile.port) {
    problems.add(`${where}: http port ${httpPort} differs from the Dockerfile's PORT ${ctx.dockerfile.port}`);
  }
  const config = ctx.configMaps.get(c.envFrom?.find((e) => e.configMapRef)?.configMapRef?.name)?.data;
  if (!config) problems.add(`${where}: its ConfigMap is not in the manifests`);
  else {
    if (Number(config.PORT ?? 3000) !== httpPort) problems.add(`${where}: ConfigMap PORT differs from the http port`);
    if (Number(config.METRICS_PORT) !== metricsPort) {
      problems.add(`${where}: ConfigMap METRICS_PORT differs from the metrics port`);
    }
    const annotations = deployment.spec?.template?.metadata?.annotations ?? {};
    if (annotations['prometheus.io/port'] && Number(annotations['prometheus.io/port']) !== metricsPort) {
      problems.add(`${where}: prometheus.io/port differs from the metrics port`);
    }
  }

  // SIGTERM arrives after preStop; the pod must then have time for the app's own drain
  const preStop = c.lifecycle?.preStop;
  const sleep = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.join(' ').match(/^sleep (\d+)$/)?.[1]);
  if (!Number.isFinite(sleep) || sleep < 3) problems.add(`${where}: a preStop sleep of at least 3 s is required`);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (Number.isFinite(sleep) && grace < sleep + ctx.drainSeconds + 5) {
    problems.add(
      `${where}: terminationGracePeriodSeconds ${grace} < preStop ${sleep} s + drain ${ctx.drainSeconds} s + 5 s to close`,
    );
  }

  const spread = (pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === 'kubernetes.io/hostname');
  const anti = pod.affinity?.podAntiAffinity;
  if (!spread && !anti)
    problems.add(`${where}: pods must be spread over nodes (topologySpreadConstraints or podAntiAffinity)`);
  const strategy = deployment.spec?.strategy?.rollingUpdate;
  if (deployment.spec?.strategy?.type === 'Recreate' || strategy?.maxUnavailable === '100%') {
    problems.add(`${where}: a rollout must keep pods serving`);
  }
  if (pod.serviceAccountName && !ctx.serviceAccounts.has(pod.serviceAccountName)) {
    problems.add(`${where}: ServiceAccount ${pod.serviceAccountName} is not in the manifests`);
  }
}

function checkObjects(objects, ctx, problems) {
  const byKind = (kind) => objects.filter((d) => d.obj.kind === kind);
  const deployments = byKind('Deployment');
  const server = deployments.find((d) => d.obj.metadata?.name === 'idp');
  if (!server) problems.add('deploy/kubernetes: the Deployment idp is missing');
  const serverLabels = server?.obj.spec?.template?.metadata?.labels;
  for (const kind of [
    'Namespace',
    'ServiceAccount',
    'ConfigMap',
    'Service',
    'PodDisruptionBudget',
    'HorizontalPodAutoscaler',
    'NetworkPolicy',
    'Job',
  ]) {
    if (byKind(kind).length === 0) problems.add(`deploy/kubernetes: no ${kind}`);
  }

  for (const { rel, index, obj } of objects) {
    const where = `${rel}#${index} ${obj.kind}/${obj.metadata?.name}`;
    if (!obj.metadata?.name) problems.add(`${where}: metadata.name is required`);
    checkPod(where, obj, problems);
    switch (obj.kind) {
      case 'Deployment':
        if (obj.metadata?.name === 'idp') checkServer(where, obj, ctx, problems);
        if (!matches(obj.spec?.selector?.matchLabels, obj.spec?.template?.metadata?.labels)) {
          problems.add(`${where}: selector does not match the pod template's labels`);
        }
        break;
      case 'Namespace':
        if (obj.metadata?.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted') {
          problems.add(`${where}: must enforce the restricted Pod Security Standard`);
        }
        break;
      case 'ServiceAccount':
        if (obj.automountServiceAccountToken !== false)
          problems.add(`${where}: automountServiceAccountToken must be false`);
        break;
      case 'ConfigMap':
        for (const [key, value] of Object.entries(obj.data ?? {})) {
          if (!ctx.documentedEnv.has(key)) problems.add(`${where}: ${key} is not a setting the README documents`);
          if (SECRET_ENV.has(key)) problems.add(`${where}: ${key} is a secret: it belongs in the Secret`);
          if (typeof value !== 'string') problems.add(`${where}: ${key} must be a string (quote it)`);
        }
        if (obj.metadata?.name === 'idp-config') {
          if (obj.data?.NODE_ENV !== 'production') problems.add(`${where}: NODE_ENV must be production`);
          if (obj.data?.HOST !== '0.0.0.0') problems.add(`${where}: HOST must be 0.0.0.0 (probes come from the node)`);
          if (!/^https:\/\//.test(obj.data?.ISSUER ?? '')) problems.add(`${where}: ISSUER must be an https URL`);
          if (!obj.data?.METRICS_PORT) problems.add(`${where}: METRICS_PORT is required (metrics off the public port)`);
        }
        break;
      case 'Secret': {
        const values = { ...obj.stringData, ...obj.data };
        for (const [key, value] of Object.entries(values)) {
          if (!ctx.documentedEnv.has(key)) problems.add(`${where}: ${key} is not a setting the README documents`);
          if (!String(value).includes('CHANGE_ME'))
            problems.add(`${where}: ${key} must be an obvious placeholder (CHANGE_ME)`);
        }
        if (!rel.endsWith('.example.yaml')) problems.add(`${where}: a Secret belongs only in a *.example.yaml file`);
        break;
      }
      case 'Service':
        if (!matches(obj.spec?.selector, serverLabels))
          problems.add(`${where}: selector does not select the server's pods`);
        for (const p of obj.spec?.ports ?? []) {
          const target = p.targetPort ?? p.port;
          const named = server?.obj.spec?.template?.spec?.containers?.[0]?.ports ?? [];
          if (!named.some((c) => c.name === target || c.containerPort === target)) {
            problems.add(`${where}: targetPort ${target} is not a container port`);
          }
        }
        if (!(obj.spec?.ports ?? []).some((p) => p.name === 'metrics')) problems.add(`${where}: needs a metrics port`);
        break;
      case 'PodDisruptionBudget':
        if (obj.spec?.minAvailable !== 1) problems.add(`${where}: minAvailable must be 1`);
        if (!matches(obj.spec?.selector?.matchLabels, serverLabels))
          problems.add(`${where}: does not select the server's pods`);
        break;
      case 'HorizontalPodAutoscaler': {
        const ref = obj.spec?.scaleTargetRef;
        if (ref?.kind !== 'Deployment' || ref?.name !== server?.obj.metadata?.name) {
          problems.add(`${where}: must scale the Deployment idp`);
        }
        if (!(obj.spec?.minReplicas >= 2)) problems.add(`${where}: minReplicas must be at least 2`);
        if (!(obj.spec?.metrics ?? []).some((m) => m.resource?.name === 'cpu'))
          problems.add(`${where}: must scale on CPU`);
        // `replicas` in the Deployment would undo the autoscaler's count on every apply
        if (server?.obj.spec?.replicas !== undefined) {
          problems.add(`${server.rel}: leave spec.replicas to the HorizontalPodAutoscaler`);
        }
        break;
      }
      case 'NetworkPolicy':
        checkNetworkPolicy(where, obj, server?.obj, problems);
        break;
      case 'Job':
        if (obj.spec?.template?.spec?.restartPolicy !== 'Never') problems.add(`${where}: restartPolicy must be Never`);
        if (!(obj.spec?.template?.spec?.containers?.[0]?.command ?? []).includes('migrate')) {
          problems.add(`${where}: must run the migrate command`);
        }
        if (obj.spec?.ttlSecondsAfterFinished === undefined) problems.add(`${where}: set ttlSecondsAfterFinished`);
        break;
    }
  }
}

function checkNetworkPolicy(where, policy, server, problems) {
  const labels = server?.spec?.template?.metadata?.labels;
  if (!matches(policy.spec?.podSelector?.matchLabels, labels))
    problems.add(`${where}: does not select the server's pods`);
  const types = policy.spec?.policyTypes ?? [];
  if (!types.includes('Ingress') || !types.includes('Egress'))
    problems.add(`${where}: policyTypes must be Ingress and Egress`);
  const ports = server?.spec?.template?.spec?.containers?.[0]?.ports ?? [];
  const metricsPort = ports.find((p) => p.name === 'metrics');
  let metricsRules = 0;
  for (const rule of policy.spec?.ingress ?? []) {
    const toMetrics = (rule.ports ?? []).some((p) => p.port === 'metrics' || p.port === metricsPort?.containerPort);
    if (!rule.ports || rule.ports.length === 0)
      problems.add(`${where}: an ingress rule without ports opens every port`);
    if (toMetrics) {
      metricsRules++;
      const from = rule.from ?? [];
      if (from.length === 0 || from.some((f) => !f.namespaceSelector?.matchLabels || f.ipBlock)) {
        problems.add(`${where}: the metrics port must be open only to a labelled (monitoring) namespace`);
      }
    }
  }
  if (metricsRules === 0) problems.add(`${where}: no ingress rule admits the monitoring namespace to the metrics port`);
  for (const rule of policy.spec?.egress ?? []) {
    if (!rule.ports || rule.ports.length === 0) problems.add(`${where}: an egress rule without ports opens every port`);
    for (const p of rule.ports ?? []) {
      if (!ALLOWED_EGRESS_PORTS.has(p.port)) problems.add(`${where}: egress to port ${p.port} is not expected`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Kustomizations, the Dockerfile, kubectl

function checkKustomizations(docs, problems) {
  const kustomizations = docs.filter((d) => isKustomization(d.obj));
  const listed = new Set();
  for (const { file, rel, obj } of kustomizations) {
    const dir = dirname(file);
    if (!obj.namespace) problems.add(`${rel}: set namespace`);
    for (const resource of obj.resources ?? []) {
      const path = resolve(dir, resource);
      if (!existsSync(path)) problems.add(`${rel}: resource ${resource} does not exist`);
      listed.add(path);
    }
    for (const image of obj.images ?? []) {
      if (!image.newTag && !image.digest) problems.add(`${rel}: image ${image.name} needs newTag or digest`);
      if (image.newTag === 'latest') problems.add(`${rel}: image ${image.name} must not use the latest tag`);
    }
  }
  const dirs = new Set(kustomizations.map((k) => dirname(k.file)));
  for (const { file, rel, obj } of docs) {
    if (isKustomization(obj) || file.endsWith('.example.yaml')) continue;
    if (dirs.has(dirname(file)) && !listed.has(file)) problems.add(`${rel}: not listed in its kustomization.yaml`);
    if (!dirs.has(dirname(file)) && basename(dirname(file)) !== 'optional') {
      problems.add(`${rel}: outside any kustomization and not under optional/`);
    }
  }
  return kustomizations;
}

function dockerfile() {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));
  return {
    user: /^USER (\S+)/m.exec(final)?.[1],
    port: Number(/\bPORT=(\d+)/.exec(final)?.[1]) || undefined,
  };
}

function kubectlBuilds(kustomizations, problems) {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  } catch {
    return 'kubectl not on PATH: kustomize builds skipped';
  }
  const images = new Map();
  for (const { file, rel } of kustomizations) {
    let out;
    try {
      out = execFileSync('kubectl', ['kustomize', dirname(file)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      problems.add(`${rel}: kubectl kustomize failed: ${String(err.stderr ?? err.message).trim()}`);
      continue;
    }
    for (const doc of parseAllDocuments(out)) {
      const obj = doc.toJS();
      for (const c of podSpecOf(obj ?? {})?.containers ?? []) images.set(rel, c.image);
    }
  }
  if (new Set(images.values()).size > 1) {
    problems.add(`kustomizations use different images: ${[...images].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  }
  return `kubectl kustomize: ${kustomizations.length} builds`;
}

// ---------------------------------------------------------------------------------------------

function collector() {
  const list = [];
  const warnings = [];
  return { list, warnings, add: (m) => list.push(m), warn: (m) => warnings.push(m) };
}

export async function check(docs, options = {}) {
  const problems = collector();
  const objects = docs.filter((d) => !isKustomization(d.obj));
  const ctx = {
    drainSeconds: appDrainSeconds(problems),
    documentedEnv: documentedEnv(),
    dockerfile: dockerfile(),
    configMaps: new Map(objects.filter((d) => d.obj.kind === 'ConfigMap').map((d) => [d.obj.metadata?.name, d.obj])),
    serviceAccounts: new Set(objects.filter((d) => d.obj.kind === 'ServiceAccount').map((d) => d.obj.metadata?.name)),
  };
  if (ctx.dockerfile.user !== 'node' && ctx.dockerfile.user !== '1000') {
    problems.add(`Dockerfile: the final stage must run as node (uid 1000), not ${ctx.dockerfile.user}`);
  }
  const kustomizations = checkKustomizations(docs, problems);
  await validateSchemas(objects, problems, options.types !== false);
  checkObjects(objects, ctx, problems);
  const notes = options.kubectl === false ? [] : [kubectlBuilds(kustomizations, problems)];
  return { problems: problems.list, warnings: problems.warnings, notes, objects: objects.length };
}

/** Each breakage must be reported: the rules above are only as good as this list shows. */
const pod = (f, kind = 'Deployment') => f(kind).spec.template.spec;
const ctr = (f, kind = 'Deployment') => pod(f, kind).containers[0];
const BREAKAGES = [
  ['a typo in a field name', 'readinessProb', (f) => (ctr(f).readinessProb = {})],
  ['a string port', 'must be integer', (f) => (f('Service').spec.ports[0].port = '80')],
  ['no readiness probe', 'readinessProbe is missing', (f) => delete ctr(f).readinessProbe],
  ['liveness on /readyz', 'livenessProbe must GET /healthz', (f) => (ctr(f).livenessProbe.httpGet.path = '/readyz')],
  ['no startup probe', 'startupProbe is missing', (f) => delete ctr(f).startupProbe],
  ['a writable root', 'readOnlyRootFilesystem', (f) => (ctr(f).securityContext.readOnlyRootFilesystem = false)],
  ['root allowed', 'runAsNonRoot', (f) => delete pod(f).securityContext.runAsNonRoot],
  ['capabilities kept', 'drop must include ALL', (f) => (ctr(f, 'Job').securityContext.capabilities.drop = [])],
  ['the latest tag', 'latest', (f) => (ctr(f).image = 'registry.example.com/idp:latest')],
  ['an untagged image', 'pinned', (f) => (ctr(f, 'Job').image = 'registry.example.com/idp')],
  ['a short grace period', 'terminationGracePeriodSeconds', (f) => (pod(f).terminationGracePeriodSeconds = 15)],
  ['no preStop', 'preStop', (f) => delete ctr(f).lifecycle],
  ['no memory limit', 'limits.memory', (f) => delete ctr(f).resources.limits],
  ['a secret in the ConfigMap', 'belongs in the Secret', (f) => (f('ConfigMap').data.SECRETS_KEY = 'x'.repeat(40))],
  ['an undocumented setting', 'README documents', (f) => (f('ConfigMap').data.ISSUER_URL = 'https://x')],
  ['a real-looking secret', 'placeholder', (f) => (f('Secret').stringData.SECRETS_KEY = 'a'.repeat(64))],
  ['metrics open to all', 'metrics port must be open only', (f) => delete f('NetworkPolicy').spec.ingress[1].from],
  ['egress anywhere', 'opens every port', (f) => f('NetworkPolicy').spec.egress.push({})],
  ['replicas beside the HPA', 'HorizontalPodAutoscaler', (f) => (f('Deployment').spec.replicas = 2)],
  ['one replica minimum', 'minReplicas', (f) => (f('HorizontalPodAutoscaler').spec.minReplicas = 1)],
  ['a PDB of 0', 'minAvailable', (f) => (f('PodDisruptionBudget').spec.minAvailable = 0)],
  ['a token mounted', 'automountServiceAccountToken', (f) => (f('ServiceAccount').automountServiceAccountToken = true)],
  ['no spread', 'spread', (f) => delete pod(f).topologySpreadConstraints],
  ['a wrong target port', 'not a container port', (f) => (f('Service').spec.ports[1].targetPort = 'metric')],
  ['METRICS_PORT off the port', 'METRICS_PORT differs', (f) => (f('ConfigMap').data.METRICS_PORT = '9100')],
];

async function selfTest(docs) {
  const failures = [];
  for (const [name, expected, breakIt] of BREAKAGES) {
    const copy = structuredClone(docs);
    const find = (kind) => copy.find((d) => d.obj.kind === kind)?.obj;
    breakIt(find);
    // the type check takes a second or two: only for the breakage that needs it
    const { problems } = await check(copy, { kubectl: false, types: name.startsWith('a typo') });
    if (!problems.some((p) => p.includes(expected))) failures.push(`${name}: no problem mentions "${expected}"`);
  }
  return failures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const setup = collector();
  const docs = load(here, setup);
  const result = await check(docs);
  const problems = [...setup.list, ...result.problems];
  for (const w of result.warnings) console.warn(`warning: ${w}`);
  for (const n of result.notes) console.log(n);
  if (process.argv.includes('--self-test')) {
    const failures = await selfTest(docs);
    for (const f of failures) problems.push(`self-test: ${f}`);
    console.log(`self-test: ${BREAKAGES.length - failures.length} of ${BREAKAGES.length} breakages caught`);
  }
  for (const p of problems) console.error(`problem: ${p}`);
  const ms = Math.round(performance.now() - started);
  console.log(`deploy/kubernetes: ${result.objects} objects, ${problems.length} problems (${ms} ms)`);
  process.exit(problems.length > 0 ? 1 : 0);
}
