// SPDX-License-Identifier: Apache-2.0
//
// The container images (deploy/docker/Dockerfile, `make image`), checked
// without a container engine: the stages are what issue 7 asks (build on
// Debian 12 with deploy/deps.sh, run on bookworm-slim as the non-root user
// the Kubernetes manifests expect, no HEALTHCHECK); the runtime stage
// installs a package for every shared library the built binaries really
// link (ldd + dpkg on this Debian machine); the build context lets in what
// the Dockerfile copies; and `make image` builds both targets with the names
// deploy/k8s pulls, or says clearly that no engine is there.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BUILD, K8S, REPO, yaml } from './lib/k8s.mjs';

const DOCKERFILE = path.join(REPO, 'deploy', 'docker', 'Dockerfile');

/** Dockerfile -> [{name, from, ins: [{op, args}]}], continuation lines joined, comments dropped. */
function stages(text) {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const out = [];
  const global = { name: '(global)', from: null, ins: [] };
  let cur = global;
  for (const l of lines) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(l);
    if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      cur = { name: m[2] || `stage${out.length}`, from: m[1], ins: [] };
      out.push(cur);
    } else {
      cur.ins.push({ op: op.toUpperCase(), args });
    }
  }
  return { global, stages: out };
}

const df = stages(fs.readFileSync(DOCKERFILE, 'utf8'));
const stage = (n) => df.stages.find((s) => s.name === n);
const ins = (s, op) => s.ins.filter((i) => i.op === op);

/** The packages the runtime stage installs with apt-get. */
function runtimePackages() {
  const run = ins(stage('runtime'), 'RUN').map((i) => i.args).join(' ');
  const m = /apt-get install\s+(.*?)(&&|$)/.exec(run);
  assert.ok(m, 'the runtime stage installs packages with apt-get install');
  return m[1].split(/\s+/).filter((w) => w && !w.startsWith('-'));
}

const base = yaml.load(fs.readFileSync(path.join(K8S, 'base', 'deployment.yaml'), 'utf8'));
const baseKust = yaml.load(fs.readFileSync(path.join(K8S, 'base', 'kustomization.yaml'), 'utf8'));

describe('deploy/docker/Dockerfile', () => {
  it('builds on Debian 12 with deploy/deps.sh and runs on bookworm-slim', () => {
    assert.ok(ins(df.global, 'ARG').some((i) => i.args === 'DEBIAN_RELEASE=bookworm'), 'ARG DEBIAN_RELEASE=bookworm');
    assert.equal(stage('build')?.from, 'debian:${DEBIAN_RELEASE}');
    assert.ok(ins(stage('build'), 'RUN').some((i) => /deploy\/deps\.sh --build-only/.test(i.args)), 'deps.sh --build-only');
    assert.ok(ins(stage('build'), 'RUN').some((i) => /\bmake\b.*build\/llmgw-gateway.*build\/llmgw-exporter/.test(i.args)));
    assert.equal(stage('runtime')?.from, 'debian:${DEBIAN_RELEASE}-slim');
    assert.equal(stage('gateway')?.from, 'runtime');
    assert.equal(stage('exporter')?.from, 'runtime');
    // deps.sh really has that mode, and it is a subset of the full list.
    const r = spawnSync('bash', ['-n', path.join(REPO, 'deploy', 'deps.sh')]);
    assert.equal(r.status, 0);
    assert.match(fs.readFileSync(path.join(REPO, 'deploy', 'deps.sh'), 'utf8'), /--build-only\) pkgs="\$build_pkgs"/);
  });

  it('each image runs its binary as the non-root user the pods run as, with no HEALTHCHECK', () => {
    const uid = base.spec.template.spec.securityContext.runAsUser;
    const gid = base.spec.template.spec.securityContext.runAsGroup;
    const ports = { gateway: '8080', exporter: '9464' };
    for (const t of ['gateway', 'exporter']) {
      const s = stage(t);
      assert.deepEqual(ins(s, 'USER').map((i) => i.args), [`${uid}:${gid}`], `${t}: USER ${uid}:${gid}`);
      assert.deepEqual(JSON.parse(ins(s, 'ENTRYPOINT')[0].args), [`/usr/local/bin/llmgw-${t}`]);
      assert.ok(ins(s, 'COPY').some((i) => i.args === `--from=build /src/build/llmgw-${t} /usr/local/bin/llmgw-${t}`));
      assert.ok(ins(s, 'RUN').some((i) => /ldd .*not found/.test(i.args)), `${t}: ldd check at build time`);
      assert.deepEqual(ins(s, 'EXPOSE').map((i) => i.args), [ports[t]]);
    }
    assert.match(ins(stage('runtime'), 'RUN').map((i) => i.args).join(' '), new RegExp(`useradd .*--uid ${uid} --gid ${gid}`));
    for (const s of [df.global, ...df.stages]) assert.equal(ins(s, 'HEALTHCHECK').length, 0, `${s.name}: no HEALTHCHECK`);
  });

  it('the runtime stage installs a package for every library the binaries link, and no -dev package', (t) => {
    const pkgs = runtimePackages();
    assert.ok(!pkgs.some((p) => p.endsWith('-dev')), `no -dev packages: ${pkgs}`);
    assert.ok(pkgs.includes('ca-certificates'), 'ca-certificates for https:// providers and OTLP endpoints');
    const probe = spawnSync('dpkg-query', ['--version']);
    if (probe.error || !fs.existsSync('/usr/bin/ldd')) {
      t.skip('no dpkg-query or ldd here: library-to-package check skipped');
      return;
    }
    // Listed packages and what they pull in (one level of Depends is enough for these libraries).
    const allowed = new Set(['libc6', 'libgcc-s1', ...pkgs]);
    for (const p of pkgs) {
      const d = spawnSync('dpkg-query', ['-W', '-f=${Depends}', p], { encoding: 'utf8' });
      for (const dep of (d.stdout || '').split(/[,|]/)) allowed.add(dep.trim().split(/[\s:(]/)[0]);
    }
    for (const b of ['llmgw-gateway', 'llmgw-exporter']) {
      const bin = path.join(BUILD, b);
      assert.ok(fs.existsSync(bin), `${bin} is not built (make)`);
      const l = spawnSync('ldd', [bin], { encoding: 'utf8' });
      assert.equal(l.status, 0, l.stderr);
      const libs = [...l.stdout.matchAll(/=>\s+(\/\S+)/g)].map((m) => fs.realpathSync(m[1]));
      // Sanitizer builds (make test SAN=1) link the sanitizer runtimes, which bring their own
      // dependencies (libstdc++ ...): neither is what the image ships, so both are left out.
      const sanitizerOnly = new Set();
      for (const lib of libs.filter((x) => /lib(asan|ubsan|lsan|tsan)\./.test(x))) {
        sanitizerOnly.add(lib);
        const d = spawnSync('ldd', [lib], { encoding: 'utf8' });
        for (const m of (d.stdout || '').matchAll(/=>\s+(\/\S+)/g)) sanitizerOnly.add(fs.realpathSync(m[1]));
      }
      for (const lib of libs) {
        if (sanitizerOnly.has(lib)) continue;
        const s = spawnSync('dpkg', ['-S', lib], { encoding: 'utf8' });
        if (s.status !== 0) {
          // Merged /usr: dpkg may know the file under /lib.
          const alt = spawnSync('dpkg', ['-S', lib.replace(/^\/usr\/lib\//, '/lib/')], { encoding: 'utf8' });
          assert.equal(alt.status, 0, `${b}: no Debian package owns ${lib}`);
          s.stdout = alt.stdout;
        }
        const owner = s.stdout.split(':')[0].trim();
        assert.ok(allowed.has(owner), `${b} links ${lib} from ${owner}, which the runtime stage does not install`);
      }
    }
  });

  it('the build context (.dockerignore) lets in exactly what the Dockerfile copies', () => {
    const rules = fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8').split('\n')
      .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(rules[0], '*', 'everything is out unless let in');
    const allowed = rules.slice(1).map((r) => { assert.ok(r.startsWith('!'), r); return r.slice(1).replace(/\/$/, ''); });
    const sources = df.stages.flatMap((s) => ins(s, 'COPY')).filter((i) => !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const src of sources) {
      const p = src.replace(/\/$/, '');
      assert.ok(allowed.some((a) => p === a || p.startsWith(`${a}/`)), `COPY ${src} is not in the build context`);
      assert.ok(fs.existsSync(path.join(REPO, p)), `COPY ${src}: no such path`);
    }
    for (const a of allowed) assert.ok(sources.some((s) => s.replace(/\/$/, '') === a || s.startsWith(`${a}/`)), `${a} let in but never copied`);
  });
});

describe('make image', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmgw-image-'));
  const engine = (name, infoStatus) => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, `#!/bin/sh\n[ "$1" = info ] && exit ${infoStatus}\necho "$*" >> "${p}.log"\n`, { mode: 0o755 });
    return p;
  };
  // Run as a user would, not as a sub-make of `make test` (no inherited flags or jobserver).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(MAKEFLAGS|MFLAGS|MAKELEVEL|MAKEOVERRIDES)$/.test(k)));
  const make = (vars) => spawnSync('make', ['-s', '-C', REPO, 'image', ...vars], { encoding: 'utf8', timeout: 60000, env });

  it('builds both targets with the names and tag deploy/k8s/base pulls', () => {
    const e = engine('ok-engine', 0);
    const tags = Object.fromEntries(baseKust.images.map((i) => [i.name, i]));
    const tag = tags['llmgw-gateway'].newTag;
    assert.equal(tags['llmgw-exporter'].newTag, tag, 'one tag for both images');
    const r = make([`CONTAINER_ENGINE=${e}`, `IMAGE_TAG=${tag}`]);
    assert.equal(r.status, 0, r.stderr);
    const calls = fs.readFileSync(`${e}.log`, 'utf8').trim().split('\n');
    assert.equal(calls.length, 2);
    for (const [i, t] of ['gateway', 'exporter'].entries()) {
      const a = calls[i].split(' ');
      assert.equal(a[0], 'build');
      assert.equal(a[a.indexOf('-f') + 1], 'deploy/docker/Dockerfile');
      assert.equal(a[a.indexOf('--target') + 1], t);
      assert.equal(a[a.indexOf('-t') + 1], `${tags[`llmgw-${t}`].newName}:${tag}`);
      assert.match(a[a.indexOf('--build-arg') + 1], /^VERSION=\S+/);
      assert.equal(a.at(-1), '.', 'the repository root is the context');
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('says so clearly, and fails, when no engine is installed or none answers', () => {
    fs.mkdirSync(tmp, { recursive: true });
    const none = make(['CONTAINER_ENGINE=']);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /make image: no container engine: neither docker nor podman is installed; no image built/);
    const down = make([`CONTAINER_ENGINE=${engine('down-engine', 1)}`]);
    assert.notEqual(down.status, 0);
    assert.match(down.stderr, /make image: .*down-engine is installed but no engine answers .*no image built/);
    assert.ok(!fs.existsSync(path.join(tmp, 'down-engine.log')), 'nothing built');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the standalone exporter pulls the same image as the pod', () => {
    const sa = yaml.load(fs.readFileSync(path.join(K8S, 'exporter-standalone', 'kustomization.yaml'), 'utf8'));
    const b = baseKust.images.find((i) => i.name === 'llmgw-exporter');
    assert.deepEqual(sa.images.find((i) => i.name === 'llmgw-exporter'), b);
  });
});
