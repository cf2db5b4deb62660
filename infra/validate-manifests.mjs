#!/usr/bin/env node
// Offline checks of infra/k8s and infra/docker against each other and against the worker's code.
// Called by infra/validate.sh (which installs the optional tools); runs on Node 22.
//
//   node infra/validate-manifests.mjs [--tools DIR] [--rendered FILE]
//
// --tools DIR: a node_modules prefix holding `yaml`, `kubernetes-models` and `@kubernetes-models/keda`
// (schema validation of every object); without them YAML is read through python3's PyYAML, and only
// this script's own checks run. --rendered FILE: `kubectl kustomize infra/k8s` output, checked too.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const toolsDir = opt('--tools');
const rendered = opt('--rendered');

let failures = 0;
const ok = (msg) => console.log(`  ok    ${msg}`);
const fail = (msg) => {
  failures++;
  console.log(`  FAIL  ${msg}`);
};
const note = (msg) => console.log(`  note  ${msg}`);
const check = (cond, msg, why = '') => (cond ? ok(msg) : fail(why ? `${msg}: ${why}` : msg));
const read = (p) => readFileSync(join(root, p), 'utf8');

// ---- tools --------------------------------------------------------------------------------------
const toolModules = toolsDir && existsSync(join(toolsDir, 'node_modules')) ? join(resolve(toolsDir), 'node_modules') : null;
// These packages export ESM only ("import" condition), so resolve their package.json exports by hand.
const importTool = async (spec) => {
  if (!toolModules) return null;
  try {
    const parts = spec.split('/');
    const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
    const sub = spec.slice(name.length);
    const manifest = JSON.parse(readFileSync(join(toolModules, name, 'package.json'), 'utf8'));
    let entry = manifest.exports?.[`.${sub}`] ?? (sub ? undefined : manifest.main);
    if (entry && typeof entry === 'object') entry = entry.import ?? entry.node ?? entry.default;
    if (typeof entry !== 'string') return null;
    return await import(pathToFileURL(join(toolModules, name, entry)).href);
  } catch {
    return null;
  }
};
const yamlLib = await importTool('yaml');
const parseYamlDocs = (text, file) => {
  if (yamlLib) {
    return yamlLib
      .parseAllDocuments(text)
      .map((d) => {
        if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
        return d.toJS();
      })
      .filter((d) => d != null);
  }
  const json = execFileSync(
    'python3',
    ['-c', 'import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))'],
    { input: text, encoding: 'utf8' },
  );
  return JSON.parse(json);
};

// ---- what the worker really reads and serves ----------------------------------------------------
const configTs = read('worker-gpu/src/config.ts');
const envSchema = configTs.slice(configTs.indexOf('const EnvSchema'), configTs.indexOf('});', configTs.indexOf('const EnvSchema')));
const workerVars = new Set([...envSchema.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]));
const appTs = read('worker-gpu/src/http/app.ts');
const workerGetPaths = new Set([...appTs.matchAll(/app\.get\('([^']+)'/g)].map((m) => m[1]));
const providers = ['cuda', 'webgpu', 'cpu'];
const providerListOk = (v) =>
  typeof v === 'string' &&
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((p) => providers.includes(p)) &&
  v.trim() !== '';
const pkg = JSON.parse(read('package.json'));
const lock = JSON.parse(read('package-lock.json'));

console.log(`worker: ${workerVars.size} environment variables in config.ts; GET routes ${[...workerGetPaths].join(' ')}`);
if (workerVars.size < 5 || !workerGetPaths.has('/healthz')) fail('could not read worker-gpu/src/config.ts or http/app.ts');

// ---- Dockerfile ---------------------------------------------------------------------------------
console.log('infra/docker/worker.Dockerfile');
{
  const text = read('infra/docker/worker.Dockerfile');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const instr = lines.map((l) => {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(l);
    return m ? { op: m[1].toUpperCase(), rest: m[2] } : { op: '?', rest: l };
  });
  const known = new Set([
    'FROM',
    'RUN',
    'CMD',
    'LABEL',
    'EXPOSE',
    'ENV',
    'ADD',
    'COPY',
    'ENTRYPOINT',
    'VOLUME',
    'USER',
    'WORKDIR',
    'ARG',
    'ONBUILD',
    'STOPSIGNAL',
    'HEALTHCHECK',
    'SHELL',
  ]);
  const unknown = instr.filter((i) => !known.has(i.op));
  check(unknown.length === 0, 'every line is a Dockerfile instruction', unknown.map((i) => i.rest.slice(0, 40)).join('; '));
  const args = Object.fromEntries(
    instr
      .filter((i) => i.op === 'ARG' && i.rest.includes('='))
      .map((i) => {
        const [k, ...v] = i.rest.split('=');
        return [k, v.join('=')];
      }),
  );
  const froms = instr
    .filter((i) => i.op === 'FROM')
    .map((i) => i.rest.split(/\s+/)[0].replace(/^\$\{(\w+)\}$/, (_, a) => args[a] ?? `\${${a}}`));
  const stages = new Set(
    instr
      .filter((i) => i.op === 'FROM')
      .map((i) => /\bAS\s+(\S+)/i.exec(i.rest)?.[1])
      .filter(Boolean),
  );
  for (const f of froms) check(stages.has(f) || (/:[\w.-]+$/.test(f) && !f.endsWith(':latest')), `FROM ${f} has a pinned tag`);
  const runtimeBase = froms.at(-1);
  check(
    /^nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-/.test(runtimeBase),
    `final stage on an NVIDIA CUDA 13 cuDNN runtime image (${runtimeBase})`,
  );
  check(/^node:22[.-]/.test(args.NODE_IMAGE ?? ''), `Node 22 (${args.NODE_IMAGE})`);
  const lockedEsbuild = lock.packages?.['node_modules/esbuild']?.version;
  check(args.ESBUILD_VERSION === lockedEsbuild, `ESBUILD_VERSION ${args.ESBUILD_VERSION} equals package-lock.json's ${lockedEsbuild}`);
  check(args.ORT_CUDA13_NODE_VERSION === '1.29.0', 'cuda13 path pins onnxruntime-node 1.29.0 (the version of the CUDA 13 provider)');
  check(
    args.ORT_CUDA13_PROVIDER_PACKAGE === 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9',
    'cuda13 provider from com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9',
  );
  check(!('com.github.asus4.onnxruntime.linux-x64-gpu' in (pkg.dependencies ?? {})), 'provider package is not a project dependency');
  check(
    /libonnxruntime_providers_cuda\.so/.test(text) &&
      /libonnxruntime_providers_shared\.so/.test(text) &&
      text.includes('bin/napi-v6/linux/x64'),
    'copies both provider libraries into onnxruntime-node/bin/napi-v6/linux/x64',
  );
  check(/ONNXRUNTIME_NODE_INSTALL=cuda12/.test(text), 'cuda12 build path runs the package installer');
  check(
    instr.filter((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.test(i.rest)).every((i) => i.rest.includes('--ignore-scripts')),
    'every npm ci/install runs with --ignore-scripts',
  );
  check(
    instr.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.rest)),
    'production install is npm ci --omit=dev',
  );
  const lastFrom = instr.map((i) => i.op).lastIndexOf('FROM');
  const final = instr.slice(lastFrom);
  const user = final.filter((i) => i.op === 'USER').at(-1)?.rest ?? '';
  check(/^[1-9]\d*(:\d+)?$/.test(user), `final stage runs as a numeric non-root USER (${user || 'none'})`);
  const env = {};
  for (const i of final.filter((x) => x.op === 'ENV'))
    for (const m of i.rest.matchAll(/([A-Z][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  const foreign = Object.keys(env).filter(
    (k) => !workerVars.has(k) && !['NODE_ENV', 'NVIDIA_DRIVER_CAPABILITIES', 'NVIDIA_VISIBLE_DEVICES', 'LD_LIBRARY_PATH'].includes(k),
  );
  check(foreign.length === 0, 'every ENV is a variable the worker reads (or a runtime one)', foreign.join(', '));
  check(env.SSD2_PROVIDERS === 'cuda,cpu', `SSD2_PROVIDERS=${env.SSD2_PROVIDERS}`);
  const hc = final.find((i) => i.op === 'HEALTHCHECK')?.rest ?? '';
  const hcPath = /\/(healthz|readyz)\b/.exec(hc)?.[0];
  check(Boolean(hcPath) && workerGetPaths.has(hcPath), `HEALTHCHECK asks a route the worker serves (${hcPath ?? 'none'})`);
  const port = Number(env.WORKER_PORT);
  check(
    final.some((i) => i.op === 'EXPOSE' && i.rest.split(/\s+/).includes(String(port))),
    `EXPOSE ${port} = WORKER_PORT`,
  );
  const entry = final.find((i) => i.op === 'ENTRYPOINT')?.rest ?? '';
  check(/dist\/worker\.mjs/.test(entry) && /--outfile=\/out\/worker\.mjs/.test(text), 'ENTRYPOINT runs the bundle the bundle stage writes');
  // The build context is filtered by .dockerignore: every COPY source from the context must pass it.
  const ignore = existsSync(join(root, '.dockerignore'))
    ? read('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
  const contextCopies = instr
    .filter((i) => i.op === 'COPY' && !/--from=/.test(i.rest))
    .flatMap((i) =>
      i.rest
        .split(/\s+/)
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1),
    );
  for (const src of contextCopies) {
    const clean = src.replace(/\/$/, '');
    check(existsSync(join(root, clean)) && (ignore[0] !== '*' || allowed.has(clean)), `COPY ${src} exists and passes .dockerignore`);
  }
}

// ---- Kubernetes ---------------------------------------------------------------------------------
console.log('infra/k8s');
const k8sDir = 'infra/k8s';
const files = readdirSync(join(root, k8sDir))
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const objects = [];
let kustomization = null;
for (const f of files) {
  let docs;
  try {
    docs = parseYamlDocs(read(join(k8sDir, f)), f);
  } catch (err) {
    fail(`${f}: YAML: ${err.message}`);
    continue;
  }
  ok(`${f}: ${docs.length} YAML document(s) parse`);
  for (const d of docs) {
    if (d.kind === 'Kustomization') kustomization = { file: f, doc: d };
    else objects.push({ file: f, doc: d });
  }
}
for (const { file, doc } of objects) {
  const missing = ['apiVersion', 'kind', 'metadata'].filter((k) => !doc[k]);
  check(
    missing.length === 0 && doc.metadata?.name,
    `${file}: ${doc.kind ?? '?'} ${doc.metadata?.name ?? '?'} has apiVersion, kind, metadata.name`,
    `missing ${missing.join(', ')}`,
  );
}

// Schema validation (the OpenAPI schemas of Kubernetes and of KEDA's CRDs, as kubernetes-models ships them).
const schemaModule = (apiVersion) => {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}`;
  return group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
};
const validateSchema = async (label, doc) => {
  const mod = await importTool(schemaModule(doc.apiVersion));
  const Model = mod?.[doc.kind];
  if (!Model) return false;
  try {
    new Model(doc).validate();
    ok(`${label}: ${doc.apiVersion} ${doc.kind} ${doc.metadata?.name} matches the schema`);
  } catch (err) {
    fail(
      `${label}: ${doc.kind} ${doc.metadata?.name}: ${String(err.message ?? err)
        .split('\n')
        .slice(0, 6)
        .join(' | ')}`,
    );
  }
  return true;
};
if (toolModules && (await importTool('kubernetes-models/v1'))) {
  for (const { file, doc } of objects) if (!(await validateSchema(file, doc))) fail(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
} else {
  note('kubernetes-models not available: schema validation skipped (infra/validate.sh installs it from npm)');
}

if (kustomization) {
  const res = kustomization.doc.resources ?? [];
  for (const r of res) check(existsSync(join(root, k8sDir, r)), `kustomization.yaml resource ${r} exists`);
  const unlisted = files.filter((f) => f !== kustomization.file && !res.includes(f) && !f.includes('.example.'));
  check(unlisted.length === 0, 'every manifest is listed in kustomization.yaml (or named *.example.yaml)', unlisted.join(', '));
} else fail('infra/k8s/kustomization.yaml missing');

const byKind = (kind) => objects.filter((o) => o.doc.kind === kind && !o.file.includes('.example.')).map((o) => o.doc);
const deployment = byKind('Deployment')[0];
if (!deployment) fail('no Deployment');
else {
  const pod = deployment.spec.template;
  const c = pod.spec.containers[0];
  const podLabels = pod.metadata.labels ?? {};
  const matches = (sel) => Object.entries(sel ?? {}).every(([k, v]) => podLabels[k] === v);
  check(matches(deployment.spec.selector.matchLabels), 'Deployment selector matches its pod labels');
  check(String(c.resources?.limits?.['nvidia.com/gpu']) === '1', 'worker container limits nvidia.com/gpu: 1');
  const httpPort = (c.ports ?? []).find((p) => p.name === 'http')?.containerPort;
  const envPort = (c.env ?? []).find((e) => e.name === 'WORKER_PORT')?.value;
  check(
    httpPort === 8080 && (envPort === undefined || Number(envPort) === httpPort),
    `container port ${httpPort} = WORKER_PORT ${envPort ?? '(image default 8080)'}`,
  );
  for (const [probe, want] of [
    ['readinessProbe', '/readyz'],
    ['livenessProbe', '/healthz'],
    ['startupProbe', '/healthz'],
  ]) {
    const path = c[probe]?.httpGet?.path;
    check(path === want && workerGetPaths.has(path), `${probe} on ${path ?? 'nothing'} (the worker serves ${want})`);
  }
  check(
    pod.spec.securityContext?.runAsNonRoot === true && c.securityContext?.allowPrivilegeEscalation === false,
    'pod runs as non-root without privilege escalation',
  );
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  const cm = byKind('ConfigMap').find((m) => (c.envFrom ?? []).some((e) => e.configMapRef?.name === m.metadata.name));
  check(Boolean(cm), 'Deployment reads a ConfigMap of this kustomization');
  if (cm) {
    const foreign = Object.keys(cm.data ?? {}).filter((k) => !workerVars.has(k));
    check(foreign.length === 0, `ConfigMap ${cm.metadata.name}: every key is a worker variable`, foreign.join(', '));
    check(providerListOk(cm.data.SSD2_PROVIDERS), `SSD2_PROVIDERS=${cm.data.SSD2_PROVIDERS} parses`);
    check(Boolean(cm.data.S3_BUCKET), 'S3_BUCKET set (required)');
    check(!cm.data.S3_PREFIX || cm.data.S3_PREFIX.endsWith('/'), 'S3_PREFIX empty or ends in "/"');
    check(
      !cm.data.WORKER_DEFAULT_MODEL || /^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$/.test(cm.data.WORKER_DEFAULT_MODEL),
      'WORKER_DEFAULT_MODEL is name@version',
    );
    const cache = cm.data.WORKER_CACHE_DIR;
    check(
      !c.securityContext?.readOnlyRootFilesystem || mounts.some((m) => cache?.startsWith(m)),
      `WORKER_CACHE_DIR ${cache} is on a writable volume`,
    );
    for (const k of Object.keys(cm.data).filter((x) => /_(BYTES|BATCH|QUEUE|MS|ENTRIES)$/.test(x)))
      check(/^\d+(\.\d+)?$/.test(cm.data[k]), `${k} is a number`);
  }
  const secretRefs = (c.envFrom ?? []).filter((e) => e.secretRef).map((e) => e.secretRef);
  const examples = objects.filter((o) => o.file.includes('.example.') && o.doc.kind === 'Secret').map((o) => o.doc);
  for (const ref of secretRefs) {
    // A Secret the cluster must have is one the operator creates from its example (never committed).
    check(
      ref.optional === true ||
        byKind('Secret').some((s) => s.metadata.name === ref.name) ||
        examples.some((e) => e.metadata.name === ref.name),
      `Secret ${ref.name} is optional, part of the kustomization, or has an example to create it from`,
    );
  }
  for (const example of examples) {
    const foreign = Object.keys(example.stringData ?? example.data ?? {}).filter((k) => !workerVars.has(k));
    check(
      foreign.length === 0 && secretRefs.some((r) => r.name === example.metadata.name),
      `example Secret ${example.metadata.name}: a name the Deployment reads, worker variables only`,
      foreign.join(', '),
    );
  }
  const sa = pod.spec.serviceAccountName;
  check(!sa || byKind('ServiceAccount').some((s) => s.metadata.name === sa), `ServiceAccount ${sa} is defined`);
  for (const svc of byKind('Service')) {
    check(matches(svc.spec.selector), `Service ${svc.metadata.name} selects the worker pods`);
    check(
      svc.spec.ports.every((p) => p.targetPort === 'http' || p.targetPort === httpPort),
      `Service ${svc.metadata.name} targets the http port`,
    );
  }
  for (const pdb of byKind('PodDisruptionBudget'))
    check(matches(pdb.spec.selector?.matchLabels), `PodDisruptionBudget ${pdb.metadata.name} selects the worker pods`);
  const so = byKind('ScaledObject')[0];
  check(Boolean(so), 'a KEDA ScaledObject scales the workers');
  if (so) {
    check(so.spec.scaleTargetRef?.name === deployment.metadata.name, `ScaledObject targets Deployment ${deployment.metadata.name}`);
    check(so.spec.minReplicaCount === 0, 'ScaledObject scales from zero');
    const types = so.spec.triggers.map((t) => t.type);
    check(types.includes('prometheus') && types.includes('metrics-api'), `triggers: ${types.join(', ')}`);
    const metricNames = [...read('worker-gpu/src/metrics.ts').matchAll(/name: '([a-z0-9_]+)'/g)].map((m) => m[1]);
    for (const t of so.spec.triggers.filter((x) => x.type === 'prometheus')) {
      const used = [...t.metadata.query.matchAll(/\b(ssd2_[a-z0-9_]+)/g)].map((m) => m[1]);
      check(
        used.length > 0 && used.every((m) => metricNames.includes(m)),
        `trigger ${t.name}: ${used.join(', ')} exported by worker-gpu/src/metrics.ts`,
      );
    }
    for (const t of so.spec.triggers.filter((x) => x.authenticationRef)) {
      check(
        byKind('TriggerAuthentication').some((a) => a.metadata.name === t.authenticationRef.name),
        `trigger ${t.name}: TriggerAuthentication ${t.authenticationRef.name} defined`,
      );
    }
  }
}

if (rendered) {
  console.log(`kustomize output (${rendered})`);
  const docs = parseYamlDocs(readFileSync(rendered, 'utf8'), rendered);
  check(docs.length === objects.filter((o) => !o.file.includes('.example.')).length, `renders ${docs.length} objects`);
  check(
    docs.every((d) => d.kind === 'Namespace' || d.metadata?.namespace === 'ssd2'),
    'every namespaced object lands in namespace ssd2',
  );
  const image = docs.find((d) => d.kind === 'Deployment')?.spec.template.spec.containers[0].image ?? '';
  check(/^[^:]+\/[^:]+:[\w.-]+$/.test(image) && !image.endsWith(':latest'), `image rewritten to a pinned registry tag (${image})`);
  if (toolModules && (await importTool('kubernetes-models/v1'))) for (const d of docs) await validateSchema('rendered', d);
}

console.log(failures ? `${failures} check(s) failed` : 'all manifest checks passed');
process.exit(failures ? 1 : 0);
