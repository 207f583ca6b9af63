/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time helpers. Span times are wall-clock unix nanoseconds (what OTLP
 * wants); durations and timeouts use the monotonic clock so an NTP step
 * never makes a latency negative.
 */
#ifndef LLMGW_COMMON_CLOCK_H
#define LLMGW_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
