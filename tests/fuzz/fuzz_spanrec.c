/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the exporter's intake of span records: the input is
 * one pipeline message, split into records as exporter/receive does
 * (spanrec_frame_len, the rest as one record when it cannot be framed),
 * each record judged by spanrec_validate(). Arbitrary bytes from the
 * socket must get a verdict, never a crash or an out-of-bounds read.
 * A record that passes must have every string terminated inside its field
 * and must pass again when validated from its own (aligned) copy. The
 * records that pass are then encoded as the exporter sends them, and what
 * a collector would refuse is a failure here: the OTLP/protobuf request
 * must unpack, with every string valid UTF-8 (proto3 rejects the whole
 * request otherwise), and the OTLP/JSON one must parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/spanrec.h"
#include "exporter/encode_json.h"
#include "exporter/encode_otlp.h"
#include "exporter/enrich.h"
#include "exporter/spanview.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECS_MAX 64 /* a 64 KiB message holds fewer 1 KiB records */

static void check_record(const struct spanrec *out)
{
	struct err err;
	/* The exporter reads these with strlen(); they must stop inside the field. */
	if (strnlen(out->name, sizeof(out->name)) == sizeof(out->name) ||
	    strnlen(out->response_id, sizeof(out->response_id)) == sizeof(out->response_id))
		abort();
	for (unsigned i = 0; i < SPANREC_META_MAX; i++) {
		if (strnlen(out->meta[i].key, sizeof(out->meta[i].key)) == sizeof(out->meta[i].key) ||
		    strnlen(out->meta[i].value, sizeof(out->meta[i].value)) == sizeof(out->meta[i].value))
			abort();
	}
	for (unsigned i = 0; i < 32; i++) {
		if ((out->trunc_mask >> i & 1u) && spanrec_str_field_name(i) == NULL)
			abort(); /* every truncation bit must name a field */
	}
	(void)spanrec_op_name((enum spanrec_op)out->op);

	struct spanrec again;
	if (spanrec_validate(out, sizeof(*out), &again, &err) != SPANREC_OK || memcmp(out, &again, sizeof(*out)) != 0)
		abort();
}

static void utf8(const char *s)
{
	if (s != NULL && !spanview_utf8_valid(s, strlen(s)))
		abort();
}

static void utf8_attrs(Opentelemetry__Proto__Common__V1__KeyValue **kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		utf8(kv[i]->key);
		if (kv[i]->value != NULL &&
		    kv[i]->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			utf8(kv[i]->value->string_value);
	}
}

/* The protobuf request unpacks and holds only valid UTF-8 strings. */
static void check_otlp(const struct buf *b, size_t nrecs)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, b->len,
											     (const uint8_t *)b->data);
	size_t spans = 0;
	if (req == NULL)
		abort();
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
		if (rs->resource != NULL)
			utf8_attrs(rs->resource->attributes, rs->resource->n_attributes);
		for (size_t j = 0; j < rs->n_scope_spans; j++) {
			const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
			for (size_t k = 0; k < ss->n_spans; k++) {
				const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[k];
				utf8(sp->name);
				utf8(sp->trace_state);
				utf8_attrs(sp->attributes, sp->n_attributes);
				for (size_t e = 0; e < sp->n_events; e++) {
					utf8(sp->events[e]->name);
					utf8_attrs(sp->events[e]->attributes, sp->events[e]->n_attributes);
				}
				if (sp->status != NULL)
					utf8(sp->status->message);
				spans++;
			}
		}
	}
	if (spans != nrecs)
		abort(); /* every record is one span */
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
}

static void check_encoded(const struct spanrec *recs, size_t n)
{
	static struct enrich *e;
	struct buf b;
	struct err err;
	if (e == NULL) {
		log_init("fuzz_spanrec", LOG_LVL_ERROR);
		if ((e = enrich_new(NULL, "fuzz", NULL, NULL, &err)) == NULL)
			abort();
	}
	buf_init(&b, (size_t)64 << 20);
	if (encode_otlp(e, recs, n, &b, &err) != 0)
		abort();
	check_otlp(&b, n);
	buf_reset(&b);
	if (encode_json(e, recs, n, &b, &err) != 0)
		abort();
	json_t *j = json_loadb(b.data, b.len, 0, NULL);
	if (!json_is_object(j))
		abort();
	json_decref(j);
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spanrec good[RECS_MAX];
	size_t ngood = 0;
	const uint8_t *p = data;
	size_t left = size;
	/* as receive_one(): frame by frame, whatever cannot be framed is one (bad) record */
	while (left > 0) {
		size_t n = spanrec_frame_len(p, left);
		if (n > left)
			abort();
		if (n == 0)
			n = left;
		/* an exact-size copy: ASan catches a read past the frame */
		uint8_t *rec = malloc(n);
		if (rec == NULL)
			return 0;
		memcpy(rec, p, n);
		struct spanrec out;
		struct err err;
		enum spanrec_verdict v = spanrec_validate(rec, n, &out, &err);
		free(rec);
		if ((unsigned)v >= SPANREC_VERDICT__COUNT)
			abort();
		(void)spanrec_verdict_name(v);
		if (v == SPANREC_OK) {
			check_record(&out);
			if (ngood < RECS_MAX)
				good[ngood++] = out;
		}
		p += n;
		left -= n;
	}
	if (ngood > 0)
		check_encoded(good, ngood);
	return 0;
}
