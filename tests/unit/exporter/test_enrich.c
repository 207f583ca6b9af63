/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrich: OTEL_RESOURCE_ATTRIBUTES parsing (a table of good and bad values),
 * discarding a malformed variable, service.name precedence, and grouping
 * spans into one resource per (tenant_id, team).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "exporter/enrich.h"
#include "tests/unit/exporter/ex_fixtures.h"

struct resattr_case {
	const char *in;
	int ok;
	const char *pairs[8]; /* expected key, value, ...; NULL-terminated */
};

static const struct resattr_case resattr_cases[] = {
    {"a=b", 1, {"a", "b", NULL}},
    {"a=b,c=d", 1, {"a", "b", "c", "d", NULL}},
    {" a = b , c=d ", 1, {"a", "b", "c", "d", NULL}},
    {"k8s.pod.name=api-7d9f", 1, {"k8s.pod.name", "api-7d9f", NULL}},
    {"msg=hello%20world%2C%3Dok", 1, {"msg", "hello world,=ok", NULL}},
    {"key%3Dx=v", 1, {"key=x", "v", NULL}},
    {"a=Basic abc==", 1, {"a", "Basic abc==", NULL}},
    {"a=", 1, {"a", "", NULL}},
    {"a=b,,c=d,", 1, {"a", "b", "c", "d", NULL}},
    {"a=1,a=2", 1, {"a", "2", NULL}},
    {"utf=%C3%A9t%C3%A9", 1, {"utf", "\xc3\xa9t\xc3\xa9", NULL}},
    {"", 1, {NULL}},
    {"novalue", 0, {NULL}},
    {"a=b,novalue", 0, {NULL}},
    {"=v", 0, {NULL}},
    {" =v", 0, {NULL}},
    {"a=%", 0, {NULL}},
    {"a=%4", 0, {NULL}},
    {"a=%zz", 0, {NULL}},
    {"a=%00", 0, {NULL}},
    {"%zz=v", 0, {NULL}},
};

static void test_resattr_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(resattr_cases) / sizeof(resattr_cases[0]); i++) {
		const struct resattr_case *c = &resattr_cases[i];
		struct kvlist l;
		struct err e;
		kvlist_init(&l);
		err_clear(&e);
		int rc = enrich_parse_resattr(c->in, &l, &e);
		if (c->ok) {
			if (rc != 0)
				fail_msg("case %zu \"%s\": unexpected error %s", i, c->in, e.msg);
			size_t n = 0;
			while (c->pairs[2 * n] != NULL)
				n++;
			assert_int_equal(l.n, n);
			for (size_t j = 0; j < n; j++) {
				assert_string_equal(l.items[j].key, c->pairs[2 * j]);
				assert_string_equal(l.items[j].value, c->pairs[2 * j + 1]);
			}
		} else {
			if (rc == 0)
				fail_msg("case %zu \"%s\": accepted, want an error", i, c->in);
			assert_true(e.msg[0] != '\0');
		}
		kvlist_fini(&l);
	}
}

/* Finds key among the static attributes; NULL if absent. */
static const char *static_get(const struct enrich *e, const char *key)
{
	size_t n;
	const struct enrich_attr *a = enrich_static(e, &n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(a[i].key, key) == 0)
			return a[i].value;
	}
	return NULL;
}

static void test_malformed_env_discarded(void **state)
{
	(void)state;
	struct kvlist file;
	kvlist_init(&file);
	kvlist_set(&file, "deployment.environment.name", "prod", false);
	/* The second entry is malformed: the whole variable goes, the file's attributes stay. */
	struct enrich *e = enrich_new(&file, NULL, "cloud.region=eu-west-1,broken", NULL, NULL);
	assert_non_null(e);
	size_t n;
	enrich_static(e, &n);
	assert_int_equal(n, 2);
	assert_string_equal(static_get(e, "service.name"), "llmgw-gateway");
	assert_string_equal(static_get(e, "deployment.environment.name"), "prod");
	assert_null(static_get(e, "cloud.region"));
	enrich_free(e);
	kvlist_fini(&file);
}

static void test_env_overrides_file(void **state)
{
	(void)state;
	struct kvlist file;
	kvlist_init(&file);
	kvlist_set(&file, "deployment.environment.name", "dev", false);
	kvlist_set(&file, "cloud.region", "local", false);
	struct enrich *e =
	    enrich_new(&file, NULL, "deployment.environment.name=staging,k8s.pod.name=p%2D1", NULL, NULL);
	assert_non_null(e);
	assert_string_equal(static_get(e, "deployment.environment.name"), "staging");
	assert_string_equal(static_get(e, "cloud.region"), "local");
	assert_string_equal(static_get(e, "k8s.pod.name"), "p-1");
	size_t n;
	const struct enrich_attr *a = enrich_static(e, &n);
	assert_string_equal(a[0].key, "service.name"); /* always first */
	enrich_free(e);
	kvlist_fini(&file);
}

static void test_service_name_precedence(void **state)
{
	(void)state;
	struct enrich *e;
	/* OTEL_SERVICE_NAME beats everything. */
	e = enrich_new(NULL, "from-file", "service.name=from-resattr", "from-env", NULL);
	assert_string_equal(static_get(e, "service.name"), "from-env");
	enrich_free(e);
	/* Then service.name inside OTEL_RESOURCE_ATTRIBUTES. */
	e = enrich_new(NULL, "from-file", "service.name=from-resattr", NULL, NULL);
	assert_string_equal(static_get(e, "service.name"), "from-resattr");
	enrich_free(e);
	/* Then resource.service_name from the file. */
	e = enrich_new(NULL, "from-file", NULL, NULL, NULL);
	assert_string_equal(static_get(e, "service.name"), "from-file");
	enrich_free(e);
	/* Then the default; an empty OTEL_SERVICE_NAME counts as unset. */
	e = enrich_new(NULL, NULL, NULL, "", NULL);
	assert_string_equal(static_get(e, "service.name"), "llmgw-gateway");
	size_t n;
	enrich_static(e, &n);
	assert_int_equal(n, 1);
	enrich_free(e);
}

static void test_invalid_utf8_repaired(void **state)
{
	(void)state;
	struct enrich *e = enrich_new(NULL, NULL, "bin=a%FFb", NULL, NULL);
	assert_string_equal(static_get(e, "bin"), "a?b");
	enrich_free(e);
}

static const char *res_get(const struct enrich_attr *a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(a[i].key, key) == 0)
			return a[i].value;
	}
	return NULL;
}

static void test_grouping(void **state)
{
	(void)state;
	struct spanrec recs[6];
	fx_record(&recs[0], SPANREC_KIND_SERVER, 0, "acme", "search");
	fx_record(&recs[1], SPANREC_KIND_CLIENT, 1, "globex", NULL);
	fx_record(&recs[2], SPANREC_KIND_CLIENT, 2, "acme", "search");
	fx_record(&recs[3], SPANREC_KIND_SERVER, 3, NULL, NULL);
	fx_record(&recs[4], SPANREC_KIND_CLIENT, 4, "acme", "ads");
	fx_record(&recs[5], SPANREC_KIND_CLIENT, 5, "globex", NULL);
	uint32_t order[6];
	struct enrich_group g[6];
	size_t ng = enrich_group(recs, 6, order, g);
	assert_int_equal(ng, 4); /* (""), (acme,ads), (acme,search), (globex) */
	size_t total = 0;
	for (size_t i = 0; i < ng; i++) {
		total += g[i].n;
		for (size_t j = 0; j < g[i].n; j++) {
			const struct spanrec *r = &recs[order[g[i].start + j]];
			assert_string_equal(r->tenant_id, g[i].tenant_id);
			assert_string_equal(r->team, g[i].team);
			if (j > 0) /* arrival order kept within a group */
				assert_true(order[g[i].start + j] > order[g[i].start + j - 1]);
		}
	}
	assert_int_equal(total, 6);

	struct kvlist file;
	kvlist_init(&file);
	kvlist_set(&file, "team", "platform", false);
	struct enrich *e = enrich_new(&file, NULL, NULL, NULL, NULL);
	struct enrich_attr *out = calloc(enrich_max_attrs(e), sizeof(*out));
	for (size_t i = 0; i < ng; i++) {
		size_t n = enrich_resource(e, &g[i], out);
		const char *tenant = res_get(out, n, "tenant_id"), *team = res_get(out, n, "team");
		assert_string_equal(res_get(out, n, "service.name"), "llmgw-gateway");
		if (g[i].tenant_id[0] == '\0') {
			assert_null(tenant);
			assert_string_equal(team, "platform"); /* static team kept when the span has none */
		} else {
			assert_string_equal(tenant, g[i].tenant_id);
			assert_string_equal(team, g[i].team[0] ? g[i].team : "platform");
		}
	}
	free(out);
	enrich_free(e);
	kvlist_fini(&file);
}

static void test_group_bad_utf8_tenant(void **state)
{
	(void)state;
	struct spanrec r;
	fx_record(&r, SPANREC_KIND_SERVER, 0, "ac\xffme", NULL);
	uint32_t order[1];
	struct enrich_group g[1];
	assert_int_equal(enrich_group(&r, 1, order, g), 1);
	assert_string_equal(g[0].tenant_id, "ac?me");
}

/* (tenant, team) of r against s, as the grouping orders them. */
static int key_cmp(const struct spanrec *r, const struct spanrec *s)
{
	int c = strcmp(r->tenant_id, s->tenant_id);
	return c ? c : strcmp(r->team, s->team);
}

/*
 * enrich_group against a plain reference (groups in key order, arrival
 * order inside), on arrangements that are already in key order (the path
 * that does not sort) and shuffled ones, with bytes after the NUL that
 * differ between equal keys.
 */
static void test_grouping_sorted_and_not(void **state)
{
	(void)state;
	static const char *const tenants[] = {"", "acme", "globex"};
	static const char *const teams[] = {"", "ads", "search"};
	struct spanrec recs[40];
	uint32_t order[40];
	struct enrich_group g[40];
	uint32_t x = 12345;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + round % 40;
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			fx_record(&recs[i], SPANREC_KIND_CLIENT, (uint8_t)i, tenants[(x >> 8) % 3],
				  teams[(x >> 12) % 3]);
			recs[i].tenant_id[sizeof(recs[i].tenant_id) - 2] = (char)(x >> 20); /* after the NUL */
		}
		if (round % 2 == 0) { /* put them in key order (insertion sort keeps arrival order of equals) */
			for (size_t i = 1; i < n; i++)
				for (size_t j = i; j > 0 && key_cmp(&recs[j - 1], &recs[j]) > 0; j--) {
					struct spanrec t = recs[j];
					recs[j] = recs[j - 1];
					recs[j - 1] = t;
				}
		}
		size_t ng = enrich_group(recs, n, order, g), k = 0;
		for (size_t gi = 0; gi < ng; gi++) {
			if (gi > 0)
				assert_true(key_cmp(&recs[order[g[gi - 1].start]], &recs[order[g[gi].start]]) < 0);
			assert_int_equal(g[gi].start, k);
			for (size_t j = 0; j < g[gi].n; j++, k++) {
				assert_int_equal(key_cmp(&recs[order[k]], &recs[order[g[gi].start]]), 0);
				assert_string_equal(recs[order[k]].tenant_id, g[gi].tenant_id);
				if (j > 0)
					assert_true(order[k] > order[k - 1]);
			}
		}
		assert_int_equal(k, n);
	}
}

int main(void)
{
	log_init("test_enrich", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resattr_table),	  cmocka_unit_test(test_malformed_env_discarded),
	    cmocka_unit_test(test_env_overrides_file),	  cmocka_unit_test(test_service_name_precedence),
	    cmocka_unit_test(test_invalid_utf8_repaired), cmocka_unit_test(test_grouping),
	    cmocka_unit_test(test_group_bad_utf8_tenant), cmocka_unit_test(test_grouping_sorted_and_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
