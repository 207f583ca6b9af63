// SPDX-License-Identifier: Apache-2.0
//
// A minimal protobuf writer for OTLP ExportTraceServiceRequest, just enough
// to test otlp-sink without the exporter (and without an npm dependency).
// Field numbers follow opentelemetry/proto/trace/v1/trace.proto.

function varint(v) {
  let n = BigInt.asUintN(64, BigInt(v));
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

const key = (field, wire) => varint((field << 3) | wire);
const len = (field, payload) => Buffer.concat([key(field, 2), varint(payload.length), payload]);
const str = (field, s) => len(field, Buffer.from(s, 'utf8'));
const vint = (field, v) => Buffer.concat([key(field, 0), varint(v)]);
function fixed64(field, v) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return Buffer.concat([key(field, 1), b]);
}
function fixed32(field, v) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return Buffer.concat([key(field, 5), b]);
}
function double(field, v) {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([key(field, 1), b]);
}

/** AnyValue: string, boolean, integer, {double: x}, {bytes: Buffer}, array. */
function anyValue(v) {
  if (typeof v === 'string') return str(1, v);
  if (typeof v === 'boolean') return vint(2, v ? 1 : 0);
  if (typeof v === 'number' && Number.isInteger(v)) return vint(3, v);
  if (typeof v === 'number') return double(4, v);
  if (Array.isArray(v)) return len(5, Buffer.concat(v.map((e) => len(1, anyValue(e)))));
  if (v && typeof v.double === 'number') return double(4, v.double);
  if (v && Buffer.isBuffer(v.bytes)) return len(7, v.bytes);
  throw new Error(`unsupported attribute value ${JSON.stringify(v)}`);
}

const keyValues = (field, attrs = {}) =>
  Buffer.concat(Object.entries(attrs).map(([k, v]) => len(field, Buffer.concat([str(1, k), len(2, anyValue(v))]))));

function span(s) {
  const parts = [
    len(1, Buffer.from(s.traceId, 'hex')),
    len(2, Buffer.from(s.spanId, 'hex')),
  ];
  if (s.parentSpanId) parts.push(len(4, Buffer.from(s.parentSpanId, 'hex')));
  parts.push(str(5, s.name), vint(6, s.kind ?? 1), fixed64(7, s.start ?? 1n), fixed64(8, s.end ?? 2n));
  parts.push(keyValues(9, s.attributes));
  if (s.status) parts.push(len(15, Buffer.concat([str(2, s.status.message ?? ''), vint(3, s.status.code ?? 0)])));
  if (s.flags !== undefined) parts.push(fixed32(16, s.flags));
  return Buffer.concat(parts);
}

/**
 * Encodes [{resource: {k: v}, scope: {name, version}, spans: [{traceId, spanId,
 * parentSpanId?, name, kind?, start?, end?, flags?, status?, attributes?}]}].
 */
export function encodeExportRequest(resourceSpans) {
  return Buffer.concat(resourceSpans.map((rs) => {
    const scope = Buffer.concat([str(1, rs.scope?.name ?? ''), str(2, rs.scope?.version ?? '')]);
    const scopeSpans = Buffer.concat([len(1, scope), ...rs.spans.map((s) => len(2, span(s)))]);
    return len(1, Buffer.concat([len(1, keyValues(1, rs.resource)), len(2, scopeSpans)]));
  }));
}
