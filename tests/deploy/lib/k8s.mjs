// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the deploy checks: render a kustomization with whatever kubectl
// is installed (Debian's kubernetes-client carries kustomize v2.0.3; newer
// ones work too), parse the YAML with js-yaml (tests/e2e's npm dependency),
// and read rendered pods the way the kubelet would: a container's
// environment with $(VAR) references and the downward API filled in, the
// config file its -c argument names inside the ConfigMap volume mounted
// there, the ports its probes name. Nothing here talks to a cluster.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const K8S = path.join(REPO, 'deploy', 'k8s');
export const BUILD = path.resolve(REPO, process.env.LLMGW_BUILD || 'build');

// js-yaml lives in tests/e2e/node_modules (tests/run.sh runs `npm ci` there).
let yamlLib;
try {
  yamlLib = createRequire(path.join(REPO, 'tests', 'e2e', 'package.json'))('js-yaml');
} catch (e) {
  throw new Error(`js-yaml is not installed: run \`npm ci\` in tests/e2e (tests/run.sh does it): ${e.message}`);
}
export const yaml = yamlLib;

/** Every kustomization under deploy/k8s, as paths relative to it ("base", "overlays/dev", ...). */
export function kustomizations() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const d = path.join(dir, e.name);
      if (fs.existsSync(path.join(d, 'kustomization.yaml'))) out.push(path.relative(K8S, d));
      walk(d);
    }
  };
  walk(K8S);
  return out.sort();
}

/**
 * The kubectl to render with: $KUBECTL, else `kubectl` on PATH, if it has the
 * `kustomize` subcommand. Returns {bin, version} or null.
 */
export function findKubectl() {
  const bin = process.env.KUBECTL || 'kubectl';
  const r = spawnSync(bin, ['version', '--client'], { encoding: 'utf8', timeout: 30000 });
  if (r.error || r.status !== 0) return null;
  const k = spawnSync(bin, ['kustomize', '--help'], { encoding: 'utf8', timeout: 30000 });
  if (k.error || k.status !== 0) return null;
  // "Client Version: v1.32.4" (+ "Kustomize Version: v5.5.0") or, up to 1.20, version.Info{... GitVersion:"v1.20.2" ...}
  const v = /GitVersion:"([^"]+)"/.exec(r.stdout)?.[1] || /Client Version: (\S+)/.exec(r.stdout)?.[1] || '?';
  const kz = /Kustomize Version: (\S+)/.exec(r.stdout)?.[1];
  return { bin, version: `kubectl ${v}${kz ? `, kustomize ${kz}` : ' (built-in kustomize)'}` };
}

/** `kubectl kustomize DIR` (absolute or relative to deploy/k8s): {text, objects, stderr}; throws on failure. */
export function render(kubectl, dir) {
  const abs = path.isAbsolute(dir) ? dir : path.join(K8S, dir);
  const r = spawnSync(kubectl.bin, ['kustomize', abs], { encoding: 'utf8', timeout: 60000, maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed (status ${r.status}):\n${r.stderr}`);
  const objects = yaml.loadAll(r.stdout).filter((o) => o && typeof o === 'object');
  return { text: r.stdout, objects, stderr: r.stderr };
}

/** Objects of a kind (and name, if given). */
export function find(objects, kind, name) {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
}

/** The one object of a kind and name; throws if it is not exactly one. */
export function one(objects, kind, name) {
  const f = find(objects, kind, name);
  if (f.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${f.length}`);
  return f[0];
}

/** Every container of a pod spec with where it sits: [{c, init}] (init: an initContainer). */
export function containers(spec) {
  return [
    ...(spec.initContainers || []).map((c) => ({ c, init: true })),
    ...(spec.containers || []).map((c) => ({ c, init: false })),
  ];
}

/** The container with that name in a pod spec, or undefined. */
export function container(spec, name) {
  return containers(spec).find((x) => x.c.name === name)?.c;
}

// Stand-ins for what the kubelet and the API server would fill in.
export const FIELD_VALUES = {
  'metadata.name': 'llmgw-7d9f8b6c5d-x2x4q',
  'metadata.namespace': 'llmgw-test',
  'metadata.uid': '0b0e5c3e-6c1a-4c55-9a55-0d3f3f7b9a10',
  'spec.nodeName': 'node-a',
};
/** The value given to every secretKeyRef: must never show up in a log line. */
export const SECRET_VALUE = 'Authorization=Basic ZGVwbG95LXRlc3Qtc2VjcmV0LXZhbHVl';

/**
 * A container's environment as the kubelet builds it: literal values with
 * $(VAR) expanded from variables defined earlier in the list (an unknown
 * reference stays as written, as Kubernetes does), fieldRef from
 * FIELD_VALUES, secretKeyRef as SECRET_VALUE. envFrom is ignored (the only
 * use is an optional Secret of provider keys).
 */
export function containerEnv(c) {
  const env = {};
  for (const e of c.env || []) {
    if (e.valueFrom?.fieldRef) {
      const v = FIELD_VALUES[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`${c.name}: env ${e.name}: no stand-in for ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = SECRET_VALUE;
    } else if (e.valueFrom) {
      throw new Error(`${c.name}: env ${e.name}: unexpected valueFrom ${JSON.stringify(e.valueFrom)}`);
    } else {
      env[e.name] = String(e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => (n in env ? env[n] : m));
    }
  }
  return env;
}

/** $(VAR) references in a container's env values that are not defined earlier in the list. */
export function undefinedEnvRefs(c) {
  const seen = new Set();
  const bad = [];
  for (const e of c.env || []) {
    for (const m of String(e.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
      if (!seen.has(m[1])) bad.push(`${e.name} -> $(${m[1]})`);
    }
    seen.add(e.name);
  }
  return bad;
}

/** ${VAR} and ${VAR:-default} as the llmgw config loaders expand them (unset and no default -> error). */
export function expandConfig(text, env) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g, (m, n, hasDef, def) => {
    if (env[n] !== undefined && env[n] !== '') return env[n];
    if (hasDef !== undefined) return def;
    throw new Error(`config uses \${${n}} but the container does not set it`);
  });
}

/**
 * The config file a container runs with: the path after -c in its args,
 * found in the ConfigMap volume mounted at that directory. Returns
 * {file, configMap, text, parsed} (parsed after ${VAR} expansion with env).
 */
export function containerConfig(objects, spec, c, env) {
  const args = [...(c.command || []), ...(c.args || [])];
  const i = args.indexOf('-c');
  if (i < 0 || !args[i + 1]) throw new Error(`${c.name}: no -c FILE in its command line`);
  const file = args[i + 1];
  const dir = path.posix.dirname(file);
  const mount = (c.volumeMounts || []).find((m) => m.mountPath === dir);
  if (!mount) throw new Error(`${c.name}: nothing mounted at ${dir} for -c ${file}`);
  const vol = (spec.volumes || []).find((v) => v.name === mount.name);
  if (!vol?.configMap) throw new Error(`${c.name}: volume ${mount.name} at ${dir} is not a ConfigMap`);
  const cm = one(objects, 'ConfigMap', vol.configMap.name);
  const key = path.posix.basename(file);
  const text = cm.data?.[key];
  if (typeof text !== 'string') throw new Error(`${c.name}: ConfigMap ${cm.metadata.name} has no key ${key}`);
  return { file, configMap: cm.metadata.name, text, parsed: yaml.load(expandConfig(text, env)) || {} };
}

/** "host:port" / "[v6]:port" -> {host, port}. */
export function hostPort(s) {
  const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(String(s));
  if (!m) throw new Error(`not HOST:PORT: ${s}`);
  return { host: m[1], port: Number(m[2]) };
}

/** A container port by name or number -> number (undefined when the name is not declared). */
export function resolvePort(c, port) {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(String(port))) return Number(port);
  return (c.ports || []).find((p) => p.name === port)?.containerPort;
}

/** The httpGet probes of a container: [{kind, path, port}] with the port resolved to a number. */
export function probes(c) {
  return ['startupProbe', 'livenessProbe', 'readinessProbe']
    .filter((k) => c[k])
    .map((k) => {
      if (!c[k].httpGet) throw new Error(`${c.name}: ${k} is not an httpGet probe`);
      return { kind: k, path: c[k].httpGet.path, port: resolvePort(c, c[k].httpGet.port), named: c[k].httpGet.port };
    });
}

/** "250ms", "25s", "2m", "1h" or bare milliseconds -> seconds. */
export function seconds(d) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(d).trim());
  if (!m) throw new Error(`not a duration: ${d}`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, undefined: n / 1000 }[m[2]];
}

/** Seconds a preStop hook takes: exec ["/bin/sleep", N], or 0 without one. */
export function preStopSeconds(c) {
  const h = c.lifecycle?.preStop;
  if (!h) return 0;
  const cmd = h.exec?.command || [];
  if (cmd.length === 2 && /(^|\/)sleep$/.test(cmd[0])) return Number(cmd[1]);
  if (h.sleep?.seconds !== undefined) return Number(h.sleep.seconds);
  throw new Error(`${c.name}: preStop is not a plain sleep: ${JSON.stringify(h)}`);
}

/** Pods whose labels match a selector's matchLabels (or a Service's plain selector). */
export function matches(selector, labels) {
  const want = selector?.matchLabels || selector || {};
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

/** Runs an llmgw binary with --check-config: {status, stdout, stderr}. */
export function checkConfig(binary, file, env) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('LLMGW_')));
  const r = spawnSync(binary, ['-c', file, '--check-config'], { env: { ...base, ...env }, encoding: 'utf8', timeout: 30000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
