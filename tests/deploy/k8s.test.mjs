// SPDX-License-Identifier: Apache-2.0
//
// The Kubernetes manifests (deploy/k8s, issue 7), checked without a cluster:
// every kustomization is rendered with `kubectl kustomize` (Debian's
// kubernetes-client, from deploy/deps.sh, or any kubectl on PATH; $KUBECTL
// picks another) and the rendered objects are read the way the kubelet would.
// The pod's two containers share the socket volume and name the same ipc
// path; every probe points at a port the process's config really opens; the
// OTLP credentials come from a Secret and are never inlined; the environment
// overlays differ in the exporter's destination and in nothing else; the
// timings let the exporter drain after the gateway; and each config
// embedded in a ConfigMap is loaded by the binary itself (--check-config),
// with the environment its container would get. Without kubectl the YAML is
// still parsed and the rendered checks are skipped with a message saying so.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  BUILD, K8S, REPO, SECRET_VALUE, checkConfig, container, containerConfig, containerEnv, containers,
  find, findKubectl, hostPort, kustomizations, matches, one, preStopSeconds, probes, render, resolvePort,
  seconds, undefinedEnvRefs, yaml,
} from './lib/k8s.mjs';

const ENVS = ['dev', 'staging', 'prod'];
// Pods with the exporter beside the gateway (native sidecar, or two plain containers for legacy).
const SIDECAR_PODS = ['base', ...ENVS.map((e) => `overlays/${e}`), 'legacy'];
const EXPECTED = [...SIDECAR_PODS, 'exporter-standalone', 'exporter-standalone/gateway', 'monitoring'].sort();
// The destination: the only exporter env entries an environment overlay may change.
const DEST_VARS = ['LLMGW_ENVIRONMENT', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS'];

const kubectl = findKubectl();
const NO_KUBECTL = 'kubectl not found (deploy/deps.sh installs Debian\'s kubernetes-client; or set KUBECTL): '
  + 'the rendered-object checks are skipped, only the YAML is parsed';

const renders = new Map();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmgw-deploy-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The rendered objects of a kustomization (rendered once per run). */
function objs(dir) {
  if (!renders.has(dir)) renders.set(dir, render(kubectl, dir));
  return renders.get(dir).objects;
}

/** The pod spec of the Deployment llmgw (or another) in a render. */
function pod(dir, name = 'llmgw') {
  return one(objs(dir), 'Deployment', name).spec.template.spec;
}

/** Which process a container runs: 'gateway' or 'exporter', from its image. */
function role(c) {
  if (/llmgw-gateway/.test(c.image)) return 'gateway';
  if (/llmgw-exporter/.test(c.image)) return 'exporter';
  throw new Error(`container ${c.name}: unknown image ${c.image}`);
}

/** Every Deployment container in every render: [{dir, deploy, spec, c, init}]. */
function allDeployContainers() {
  const out = [];
  for (const dir of EXPECTED) {
    for (const d of find(objs(dir), 'Deployment')) {
      const spec = d.spec.template.spec;
      for (const x of containers(spec)) out.push({ dir, deploy: d, spec, ...x });
    }
  }
  return out;
}

/** The config a container runs with, parsed, and its env. */
function cfg(dir, spec, c) {
  const env = containerEnv(c);
  return { env, ...containerConfig(objs(dir), spec, c, env) };
}

/** Path of the ipc:// socket, or null for another transport. */
const ipcPath = (url) => (String(url).startsWith('ipc://') ? String(url).slice('ipc://'.length) : null);

describe('deploy/k8s YAML', () => {
  it('every YAML file under deploy/k8s parses, and the kustomizations are the expected ones', () => {
    const files = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(e.name)) files.push(p);
      }
    };
    walk(K8S);
    assert.ok(files.length > 10, `only ${files.length} YAML files under ${K8S}`);
    for (const f of files) {
      assert.doesNotThrow(() => yaml.loadAll(fs.readFileSync(f, 'utf8')), path.relative(REPO, f));
    }
    assert.deepEqual(kustomizations(), EXPECTED, 'a new kustomization needs its checks here');
  });

  it('the environment overlays differ in destination.yaml only (a one-file change)', () => {
    const k = ENVS.map((e) => fs.readFileSync(path.join(K8S, 'overlays', e, 'kustomization.yaml'), 'utf8'));
    assert.ok(k.every((t) => t === k[0]), 'overlays/*/kustomization.yaml must be identical');
    for (const e of ENVS) {
      assert.deepEqual(fs.readdirSync(path.join(K8S, 'overlays', e)).sort(), ['destination.yaml', 'kustomization.yaml']);
    }
  });

  it('deploy/config/*.yaml (the images\' default configs) pass the binaries\' --check-config', () => {
    for (const b of ['gateway', 'exporter']) {
      const bin = path.join(BUILD, `llmgw-${b}`);
      assert.ok(fs.existsSync(bin), `${bin} is not built (make)`);
      const r = checkConfig(bin, path.join(REPO, 'deploy', 'config', `${b}.yaml`), {});
      assert.equal(r.status, 0, `deploy/config/${b}.yaml: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /configuration ok/);
    }
  });

  it('no Secret value is committed: no Secret objects, no Authorization header value', () => {
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(d, e.name);
      return e.isDirectory() ? walk(p) : [p];
    });
    for (const f of walk(K8S)) {
      const text = fs.readFileSync(f, 'utf8');
      for (const o of yaml.loadAll(text)) assert.notEqual(o?.kind, 'Secret', `${f} defines a Secret`);
      // Documentation placeholders like <token from Last9> are fine; a real-looking token is not.
      assert.doesNotMatch(text, /Basic\s+[A-Za-z0-9+/]{12,}={0,2}/, `${f} holds what looks like a credential`);
    }
  });
});

describe(`kubectl kustomize (${kubectl ? kubectl.version : 'none'})`, { skip: kubectl ? false : NO_KUBECTL }, () => {
  before(() => {
    for (const dir of EXPECTED) objs(dir);
  });

  it('every kustomization renders, with no Secret and no credential in the output', () => {
    for (const dir of EXPECTED) {
      const r = renders.get(dir);
      assert.ok(r.objects.length > 0, `${dir} renders nothing`);
      assert.equal(find(r.objects, 'Secret').length, 0, `${dir} renders a Secret`);
      assert.doesNotMatch(r.text, /Basic\s+[A-Za-z0-9+/]{12,}={0,2}/, `${dir}: credential in the output`);
    }
  });

  it('the pod has the gateway and the exporter sharing an emptyDir for the socket', () => {
    for (const dir of SIDECAR_PODS) {
      const spec = pod(dir);
      const all = containers(spec);
      assert.deepEqual(all.map((x) => role(x.c)).sort(), ['exporter', 'gateway'], `${dir}: two containers`);
      const gw = all.find((x) => role(x.c) === 'gateway');
      const ex = all.find((x) => role(x.c) === 'exporter');
      assert.equal(gw.init, false, `${dir}: the gateway is a regular container`);
      if (dir === 'legacy') {
        assert.equal(ex.init, false, 'legacy: the exporter is a plain second container');
        assert.equal(ex.c.restartPolicy, undefined);
        assert.equal((spec.initContainers || []).length, 0);
      } else {
        assert.equal(ex.init, true, `${dir}: the exporter is a native sidecar (initContainers)`);
        assert.equal(ex.c.restartPolicy, 'Always', `${dir}: native sidecar needs restartPolicy: Always`);
      }
      // The same ipc path in both configs, inside a volume both mount at the same place.
      const gurl = cfg(dir, spec, gw.c).parsed.telemetry?.spans_url;
      const eurl = cfg(dir, spec, ex.c).parsed.receive?.url;
      assert.equal(gurl, eurl, `${dir}: gateway telemetry.spans_url vs exporter receive.url`);
      const sock = ipcPath(gurl);
      assert.ok(sock, `${dir}: the pipe is ipc:// (got ${gurl})`);
      const mountOf = (c) => (c.volumeMounts || []).find((m) => path.posix.dirname(sock) === m.mountPath);
      const gm = mountOf(gw.c);
      const em = mountOf(ex.c);
      assert.ok(gm && em, `${dir}: both containers mount ${path.posix.dirname(sock)}`);
      assert.equal(gm.name, em.name, `${dir}: the same volume`);
      assert.ok(!gm.readOnly && !em.readOnly, `${dir}: the socket volume is writable`);
      const vol = spec.volumes.find((v) => v.name === gm.name);
      assert.ok(vol.emptyDir, `${dir}: volume ${vol.name} is an emptyDir`);
    }
  });

  it('every probe points at a port the process\'s config opens, on all interfaces', () => {
    let n = 0;
    for (const { dir, spec, c, init } of allDeployContainers()) {
      const parsed = cfg(dir, spec, c).parsed;
      // The gateway serves /healthz /readyz on admin.listen when set (then 404 on server.listen).
      const listen = role(c) === 'gateway' ? parsed.admin?.listen || parsed.server?.listen : parsed.admin?.listen;
      assert.ok(listen, `${dir}/${c.name}: the config sets its listen address`);
      const { host, port } = hostPort(listen);
      assert.ok(['0.0.0.0', '[::]'].includes(host), `${dir}/${c.name}: ${listen} is not reachable on the pod IP`);
      const ps = probes(c);
      assert.ok(ps.some((p) => p.kind === 'livenessProbe') && ps.some((p) => p.kind === 'readinessProbe'),
        `${dir}/${c.name}: liveness and readiness probes`);
      for (const p of ps) {
        assert.equal(p.port, port, `${dir}/${c.name} ${p.kind} port ${p.named} vs ${listen}`);
        assert.ok(['/healthz', '/readyz'].includes(p.path), `${dir}/${c.name} ${p.kind} ${p.path}`);
        n++;
      }
      const ready = ps.find((p) => p.kind === 'readinessProbe').path;
      if (role(c) === 'gateway') {
        assert.equal(ready, '/readyz', `${dir}: the gateway's readiness is its /readyz`);
      } else if (dir === 'exporter-standalone') {
        assert.equal(ready, '/readyz', 'the standalone exporter leaves the Service when not ready');
      } else {
        // In the gateway's pod a backend outage must never fail the pod's readiness.
        assert.ok(ps.every((p) => p.path === '/healthz'), `${dir}: sidecar exporter probes /healthz only`);
        assert.ok(init || dir === 'legacy');
      }
    }
    assert.ok(n >= 20, `only ${n} probes checked`);
  });

  it('Services, HPAs and PDBs point at pods and ports that exist', () => {
    for (const dir of EXPECTED.filter((d) => d !== 'monitoring')) {
      const o = objs(dir);
      const deploys = find(o, 'Deployment');
      for (const d of deploys) {
        assert.ok(matches(d.spec.selector, d.spec.template.metadata.labels), `${dir}: ${d.metadata.name} selector`);
      }
      for (const s of find(o, 'Service')) {
        const target = deploys.filter((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
        assert.equal(target.length, 1, `${dir}: Service ${s.metadata.name} selects one Deployment`);
        const cs = containers(target[0].spec.template.spec).map((x) => x.c);
        for (const p of s.spec.ports) {
          assert.ok(cs.some((c) => resolvePort(c, p.targetPort ?? p.port) !== undefined
            && (c.ports || []).some((cp) => cp.containerPort === resolvePort(c, p.targetPort ?? p.port))),
          `${dir}: Service ${s.metadata.name} port ${p.name} -> ${p.targetPort} is no container port`);
        }
      }
      for (const h of find(o, 'HorizontalPodAutoscaler')) {
        const d = one(o, 'Deployment', h.spec.scaleTargetRef.name);
        assert.ok(h.spec.minReplicas >= 2, `${dir}: ${h.metadata.name} keeps 2 pods for the PDB`);
        for (const m of h.spec.metrics) {
          if (m.type === 'ContainerResource') {
            assert.ok(container(d.spec.template.spec, m.containerResource.container), `${dir}: HPA container`);
          }
        }
      }
      for (const p of find(o, 'PodDisruptionBudget')) {
        assert.equal(deploys.filter((d) => matches(p.spec.selector, d.spec.template.metadata.labels)).length, 1,
          `${dir}: PDB ${p.metadata.name} selects one Deployment`);
      }
      if (deploys.length) {
        assert.equal(find(o, 'HorizontalPodAutoscaler').length, deploys.length, `${dir}: an HPA per Deployment`);
        assert.equal(find(o, 'PodDisruptionBudget').length, deploys.length, `${dir}: a PDB per Deployment`);
      }
    }
  });

  it('the OTLP headers come from a Secret; the k8s.* resource attributes from the downward API', () => {
    for (const { dir, c } of allDeployContainers().filter((x) => role(x.c) === 'exporter')) {
      const byName = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
      const h = byName.OTEL_EXPORTER_OTLP_HEADERS;
      assert.ok(h?.valueFrom?.secretKeyRef?.name && h.valueFrom.secretKeyRef.key, `${dir}: headers from a Secret`);
      assert.equal(h.value, undefined, `${dir}: headers never inlined`);
      for (const [v, f] of [['K8S_POD_NAME', 'metadata.name'], ['K8S_NAMESPACE_NAME', 'metadata.namespace'],
        ['K8S_NODE_NAME', 'spec.nodeName']]) {
        assert.equal(byName[v]?.valueFrom?.fieldRef?.fieldPath, f, `${dir}: ${v} from the downward API`);
      }
      const attrs = Object.fromEntries(containerEnv(c).OTEL_RESOURCE_ATTRIBUTES.split(',').map((kv) => kv.split('=')));
      assert.equal(attrs['k8s.pod.name'], 'llmgw-7d9f8b6c5d-x2x4q', `${dir}: k8s.pod.name`);
      assert.equal(attrs['k8s.namespace.name'], 'llmgw-test', `${dir}: k8s.namespace.name`);
      assert.equal(attrs['k8s.node.name'], 'node-a', `${dir}: k8s.node.name`);
      assert.equal(attrs['deployment.environment.name'], byName.LLMGW_ENVIRONMENT.value, `${dir}: env attribute`);
      assert.deepEqual(undefinedEnvRefs(c), [], `${dir}: $(VAR) needs VAR defined earlier`);
    }
  });

  it('dev, staging and prod differ in the exporter\'s endpoint, Secret and env attribute, and nothing else', () => {
    const dest = {};
    const stripped = {};
    for (const dir of ['base', ...ENVS.map((e) => `overlays/${e}`)]) {
      const o = structuredClone(objs(dir));
      const ex = container(one(o, 'Deployment', 'llmgw').spec.template.spec, 'exporter');
      const env = Object.fromEntries(ex.env.map((e) => [e.name, e]));
      dest[dir] = {
        environment: env.LLMGW_ENVIRONMENT.value,
        endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT.value,
        secret: env.OTEL_EXPORTER_OTLP_HEADERS.valueFrom.secretKeyRef.name,
      };
      for (const v of DEST_VARS) {
        const e = env[v];
        if (e.value !== undefined) e.value = '<destination>';
        else e.valueFrom.secretKeyRef.name = '<destination>';
      }
      stripped[dir] = o;
    }
    for (const e of ENVS) {
      const d = dest[`overlays/${e}`];
      assert.equal(d.environment, e, `overlays/${e}: deployment.environment.name`);
      assert.match(d.endpoint, /^https?:\/\/[^/]+/, `overlays/${e}: endpoint is a URL`);
      assert.deepEqual(stripped[`overlays/${e}`], stripped.base, `overlays/${e} changes more than the destination`);
    }
    for (const k of ['endpoint', 'secret', 'environment']) {
      const vals = ENVS.map((e) => dest[`overlays/${e}`][k]);
      assert.equal(new Set(vals).size, ENVS.length, `each environment has its own ${k}: ${vals}`);
    }
  });

  it('termination: the grace period covers preStop and drain, the exporter outlasts the gateway', () => {
    for (const dir of [...SIDECAR_PODS, 'exporter-standalone/gateway', 'exporter-standalone']) {
      const name = dir === 'exporter-standalone' ? 'llmgw-exporter' : 'llmgw';
      const spec = pod(dir, name);
      const grace = spec.terminationGracePeriodSeconds;
      const t = (c) => {
        const p = cfg(dir, spec, c).parsed;
        return { pre: preStopSeconds(c), drain: seconds(role(c) === 'gateway' ? p.server?.drain_timeout ?? '25s' : p.drain_timeout ?? '10s') };
      };
      const gw = containers(spec).find((x) => role(x.c) === 'gateway');
      const ex = containers(spec).find((x) => role(x.c) === 'exporter');
      const g = gw && t(gw.c);
      const e = ex && t(ex.c);
      if (g) assert.ok(g.pre > 0, `${dir}: the gateway's preStop lets endpoints drop the pod first`);
      if (g && e && ex.init) {
        // Native sidecar: the exporter's SIGTERM comes once the gateway has exited.
        assert.ok(grace >= g.pre + g.drain + e.drain, `${dir}: grace ${grace} < ${g.pre}+${g.drain}+${e.drain}`);
      } else if (g && e) {
        // Plain containers stop together: the exporter's preStop must outlast the gateway's drain.
        assert.ok(e.pre >= g.pre + g.drain, `${dir}: exporter preStop ${e.pre} < ${g.pre}+${g.drain}`);
        assert.ok(grace >= e.pre + e.drain, `${dir}: grace ${grace} < ${e.pre}+${e.drain}`);
      } else {
        const x = g || e;
        assert.ok(grace >= x.pre + x.drain, `${dir}: grace ${grace} < ${x.pre}+${x.drain}`);
      }
    }
  });

  it('containers run non-root on a read-only root with requests and limits', () => {
    for (const { dir, spec, c } of allDeployContainers()) {
      const where = `${dir}/${c.name}`;
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.ok(spec.securityContext?.runAsUser > 0, `${where}: runAsUser`);
      assert.equal(spec.automountServiceAccountToken, false, `${where}: no service account token`);
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root`);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities dropped`);
      for (const k of ['requests', 'limits']) {
        assert.ok(c.resources?.[k]?.cpu && c.resources?.[k]?.memory, `${where}: resources.${k}`);
      }
      assert.match(c.image, /:[^/]+$/, `${where}: image ${c.image} has a tag`);
    }
  });

  it('every embedded config passes the binary\'s own --check-config with the container\'s environment', () => {
    const bins = { gateway: path.join(BUILD, 'llmgw-gateway'), exporter: path.join(BUILD, 'llmgw-exporter') };
    for (const b of Object.values(bins)) assert.ok(fs.existsSync(b), `${b} is not built (make)`);
    let n = 0;
    for (const { dir, spec, c } of allDeployContainers()) {
      const { env, text, configMap } = cfg(dir, spec, c);
      const file = path.join(tmp, `${dir.replace(/\//g, '_')}-${c.name}.yaml`);
      fs.writeFileSync(file, text);
      const r = checkConfig(bins[role(c)], file, env);
      const where = `${dir}: ${configMap} (${c.name})`;
      assert.equal(r.status, 0, `${where}: --check-config exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /configuration ok/, where);
      assert.ok(!(r.stdout + r.stderr).includes(SECRET_VALUE.split(' ')[1]), `${where}: the Secret's value was logged`);
      if (role(c) === 'exporter' && env.OTEL_EXPORTER_OTLP_ENDPOINT) {
        // The binary's own account of where spans go: the overlay's endpoint + /v1/traces.
        const want = `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`;
        assert.match(r.stderr, new RegExp(`event=config_export endpoint=${want.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} endpoint_from=OTEL_EXPORTER_OTLP_ENDPOINT`), where);
      }
      n++;
    }
    assert.ok(n >= 12, `only ${n} configs checked`);
  });

  it('exporter-standalone: the gateways push over tcp:// to the exporter Service\'s port', () => {
    const ex = pod('exporter-standalone', 'llmgw-exporter');
    const exc = container(ex, 'exporter');
    const recv = cfg('exporter-standalone', ex, exc).parsed.receive.url;
    const m = /^tcp:\/\/(0\.0\.0\.0|\*|\[::\]):(\d+)$/.exec(recv);
    assert.ok(m, `the standalone exporter binds tcp on all interfaces (got ${recv})`);
    const svc = one(objs('exporter-standalone'), 'Service', 'llmgw-exporter');
    const sp = svc.spec.ports.find((p) => resolvePort(exc, p.targetPort) === Number(m[2]));
    assert.ok(sp, `Service llmgw-exporter exposes ${m[2]}`);

    const gspec = pod('exporter-standalone/gateway');
    assert.deepEqual(containers(gspec).map((x) => role(x.c)), ['gateway'], 'no sidecar left');
    const gw = container(gspec, 'gateway');
    const url = cfg('exporter-standalone/gateway', gspec, gw).parsed.telemetry.spans_url;
    assert.equal(url, `tcp://${svc.metadata.name}:${sp.port}`);
    assert.ok(!(gspec.volumes || []).some((v) => v.name === 'spans' || v.name === 'exporter-queue'), 'sidecar volumes gone');
    const metrics = one(objs('exporter-standalone/gateway'), 'Service', 'llmgw-metrics');
    assert.deepEqual(metrics.spec.ports.map((p) => p.name), ['gateway-metrics']);
  });

  it('Prometheus finds both /metrics endpoints (annotations and ServiceMonitors)', () => {
    const services = [...find(objs('base'), 'Service'), ...find(objs('exporter-standalone'), 'Service')];
    const scraped = services.filter((s) => s.metadata.annotations?.['prometheus.io/scrape'] === 'true');
    assert.deepEqual(scraped.map((s) => s.metadata.name).sort(), ['llmgw-exporter', 'llmgw-metrics']);
    // Where each process of the base pod serves /metrics, from its own config
    // (the gateway's admin.listen, when set, takes /metrics off server.listen).
    const base = pod('base');
    const metricsPort = (x) => {
      const p = cfg('base', base, x.c).parsed;
      return hostPort(role(x.c) === 'gateway' ? p.admin?.listen || p.server?.listen : p.admin?.listen).port;
    };
    const m = one(objs('base'), 'Service', 'llmgw-metrics');
    const resolved = m.spec.ports.map((p) => containers(base).map((x) => resolvePort(x.c, p.targetPort)).find((v) => v));
    assert.deepEqual(resolved.sort(), containers(base).map(metricsPort).sort(), 'llmgw-metrics targets both /metrics ports');
    for (const sm of find(objs('monitoring'), 'ServiceMonitor')) {
      const sel = services.filter((s) => matches(sm.spec.selector, s.metadata.labels));
      for (const ep of sm.spec.endpoints) {
        assert.ok(sel.some((s) => s.spec.ports.some((p) => p.name === ep.port)),
          `ServiceMonitor ${sm.metadata.name}: no selected Service has port ${ep.port}`);
        assert.equal(ep.path, '/metrics');
      }
    }
  });

  it('legacy stacks on an environment overlay (prod on a cluster older than 1.29)', () => {
    const dir = path.join(tmp, 'legacy-prod');
    fs.mkdirSync(dir);
    const k = yaml.load(fs.readFileSync(path.join(K8S, 'legacy', 'kustomization.yaml'), 'utf8'));
    k.bases = [path.relative(dir, path.join(K8S, 'overlays', 'prod'))];
    for (const p of k.patchesJson6902) fs.copyFileSync(path.join(K8S, 'legacy', p.path), path.join(dir, p.path));
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), yaml.dump(k));
    const spec = one(render(kubectl, dir).objects, 'Deployment', 'llmgw').spec.template.spec;
    assert.deepEqual(spec.containers.map((c) => c.name), ['gateway', 'exporter']);
    assert.equal((spec.initContainers || []).length, 0);
    const env = containerEnv(container(spec, 'exporter'));
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'https://otlp.last9.io');
    assert.equal(env.LLMGW_ENVIRONMENT, 'prod');
  });
});
