/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OTLP Resource of exported spans, and the grouping of a batch into one
 * ResourceSpans per distinct resource.
 *
 * A resource is (docs/span-schema.md, "Resource attributes"):
 *   1. resource.attributes from exporter.yaml,
 *   2. overlaid by OTEL_RESOURCE_ATTRIBUTES (percent-decoded; a malformed
 *      variable is discarded whole and logged),
 *   3. service.name = OTEL_SERVICE_NAME, else service.name from
 *      OTEL_RESOURCE_ATTRIBUTES, else resource.service_name, else
 *      "llmgw-gateway",
 *   4. plus the span's own tenant_id and team as resource attributes
 *      "tenant_id" and "team" (a span's team overrides a static "team").
 * 1-3 are fixed at start-up; 4 makes spans of different tenants/teams land in
 * different ResourceSpans, so per-tenant views are a resource filter.
 */
#ifndef LLMGW_EXPORTER_ENRICH_H
#define LLMGW_EXPORTER_ENRICH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/spanrec-t.h"
#include "exporter/kvlist.h"

#define ENRICH_KEY_SERVICE "service.name"
#define ENRICH_KEY_TENANT "tenant_id"
#define ENRICH_KEY_TEAM "team"

struct enrich;

struct enrich_attr {
	const char *key;
	const char *value;
};

/*
 * One distinct resource within a batch: the sanitized tenant/team of its
 * spans, and the range [start, start + n) of the batch's order[] array that
 * holds the indices of its spans (arrival order kept within a group).
 */
struct enrich_group {
	char tenant_id[sizeof(((struct spanrec *)0)->tenant_id)];
	char team[sizeof(((struct spanrec *)0)->team)];
	size_t start;
	size_t n;
};

/*
 * Builds the static part of the resource. file_attrs / file_service_name
 * come from exporter.yaml (either may be NULL); env_resattr and
 * env_service_name are the raw variables (NULL when unset). A malformed
 * env_resattr is logged and ignored, never fatal. NULL only on ENOMEM.
 */
struct enrich *enrich_new(const struct kvlist *file_attrs, const char *file_service_name, const char *env_resattr,
			  const char *env_service_name, struct err *err);
void enrich_free(struct enrich *e);

/*
 * Parses an OTEL_RESOURCE_ATTRIBUTES value ("k=v,k2=v2", keys and values
 * percent-decoded, surrounding blanks trimmed, empty entries skipped) into
 * out. Any malformed entry fails the whole value (-1 with err), as the
 * resource SDK spec requires; the caller discards out then.
 */
int enrich_parse_resattr(const char *s, struct kvlist *out, struct err *err);

/* Static attributes (service.name first), valid UTF-8; the count goes to *n. */
const struct enrich_attr *enrich_static(const struct enrich *e, size_t *n);
/* Most attributes enrich_resource() can write. */
size_t enrich_max_attrs(const struct enrich *e);

/*
 * Sorts the n records' indices into order[n] so that spans with the same
 * (tenant_id, team) are adjacent, and describes each run in groups[], which
 * needs room for n entries. Returns the number of groups.
 */
size_t enrich_group(const struct spanrec *recs, size_t n, uint32_t *order, struct enrich_group *groups);

/*
 * Writes the resource attributes of group g into out (room for
 * enrich_max_attrs(e)): the static ones, with "team" replaced by the
 * group's team when it has one, then "tenant_id". Returns the count.
 * The strings point into e and g.
 */
size_t enrich_resource(const struct enrich *e, const struct enrich_group *g, struct enrich_attr *out);

#endif
