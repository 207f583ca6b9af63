/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OTLP/HTTP sink (sink_otlp_http_ops in sink.h): one keep-alive
 * HTTP/1.1 connection (TCP, or TLS with certificate and hostname
 * verification) to export.endpoint, one POST per payload, outcomes per the
 * OTLP/HTTP spec via send_outcome.
 *
 * Exposed here only for the pieces tests use without a network.
 */
#ifndef LLMGW_EXPORTER_SEND_H
#define LLMGW_EXPORTER_SEND_H

#include <stdbool.h>

/* true if host is an IPv4 or IPv6 literal (no SNI; verify the IP SAN instead of a DNS name). */
bool send_host_is_ip(const char *host);

#endif
