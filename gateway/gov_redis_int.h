/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the Redis client shared by its two files, by role:
 *   gov_redis.c      connection, handshake, deadlines, tickets, fallback metrics
 *   gov_redis_cmd.c  the wire format: the admit and settle Lua scripts, the
 *                    EVALSHA / EVAL argument vectors, the admit reply
 * Not a public interface: only these two files include it. The command
 * side never touches a connection: it fills buffers and reads replies, so
 * the scripts and their arguments can change without the state machine.
 */
#ifndef LLMGW_GATEWAY_GOV_REDIS_INT_H
#define LLMGW_GATEWAY_GOV_REDIS_INT_H

#include <stddef.h>

#include "gateway/gov.h"

struct redisReply;

/* EVALSHA sha n + 8 keys + 2 + 4 * 2 + 4 * 2 (settle) stays below */
#define GOV_REDIS_ARGV_MAX 32

/* The script sources, sent by SCRIPT LOAD and by EVAL after NOSCRIPT. */
extern const char gov_redis_admit_lua[];
extern const char gov_redis_settle_lua[];

/* One command's arguments for redisAsyncCommandArgv; numbers live in num. Start with n = nnum = 0. */
struct gov_redis_argv {
	int n, nnum;
	const char *v[GOV_REDIS_ARGV_MAX];
	size_t len[GOV_REDIS_ARGV_MAX];
	char num[GOV_REDIS_ARGV_MAX][24];
};

/*
 * The admit (settle) command for ask (s): EVALSHA sha, or with sha NULL
 * EVAL and the script itself. The strings in a point into ask (s) and sha,
 * which must outlive the send.
 */
void gov_redis_cmd_admit(struct gov_redis_argv *a, const char *sha, const struct gov_ask *ask);
void gov_redis_cmd_settle(struct gov_redis_argv *a, const char *sha, const struct gov_settle *s);
/* Only buckets with a delta and budgets with a cost go out; returns how many keys that is. */
size_t gov_redis_cmd_settle_keys(const struct gov_settle *s, size_t *nb, size_t *ng);
/* The admit script's reply to ask -> v. -1: not the array the script returns. */
int gov_redis_cmd_verdict(const struct redisReply *r, const struct gov_ask *ask, struct gov_verdict *v);

#endif
