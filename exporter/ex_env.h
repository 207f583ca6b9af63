/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenTelemetry environment overlay: OTEL_EXPORTER_OTLP_[TRACES_]*,
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME override exporter.yaml, so
 * one image and one config file serve every environment. Empty variables
 * count as unset (OpenTelemetry rule).
 */
#ifndef LLMGW_EXPORTER_EX_ENV_H
#define LLMGW_EXPORTER_EX_ENV_H

#include "common/err.h"
#include "exporter/ex_conf.h"

/*
 * Applies every variable to c (after the file, before validation). Errors
 * read "env NAME: reason" and never quote a header value.
 */
int ex_env_overlay(struct ex_conf *c, ex_getenv_cb getenv_cb, void *ctx, struct err *err);

/*
 * "<base>/v1/traces" with exactly one slash between, as the spec asks for
 * OTEL_EXPORTER_OTLP_ENDPOINT. Returns a malloc'd string or NULL (ENOMEM).
 */
char *ex_env_join_traces_path(const char *base);

#endif
