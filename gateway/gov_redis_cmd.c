/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire format of the Redis client (see gov_redis_int.h): the admit and
 * settle Lua scripts, the argument vectors that send them (EVALSHA, or EVAL
 * with the script after NOSCRIPT), and the parsing of the admit script's
 * reply into a gov_verdict. Pure functions on buffers: no connection, no
 * event loop. The scripts' SHA1s are not computed here: SCRIPT LOAD, sent
 * by the handshake in gov_redis.c, returns them.
 */
#include "gateway/gov_redis_int.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "gateway/gov_math.h"

/* the longest command (admit: 5 + 3 * buckets + 2 * budgets, settle: 5 + 2 * buckets + 3 * budgets) fits */
_Static_assert(5 + 3 * (GOV_BUCKETS_MAX + GOV_BUDGETS_MAX) <= GOV_REDIS_ARGV_MAX, "GOV_REDIS_ARGV_MAX too small");

/* gov.c keeps a budget key one day past its period (add_budget): the period ends that much before the key */
#define BUDGET_GRACE_MS "86400000"

/* Stores a TAT; the key (PX in ms, TATs in us) vanishes 1 s after the bucket is full again. */
#define SETTAT_LUA                                                                                                     \
	"local function settat(key, tat, now)\n"                                                                       \
	"  local px = math.ceil((tat - now) / 1000) + 1000\n"                                                          \
	"  redis.call('SET', key, string.format('%.0f', tat), 'PX', string.format('%.0f', px))\n"                      \
	"end\n"

/*
 * The admit script, gov_math.c in Lua. Lua numbers are doubles: exact
 * below 2^53, so every product that could exceed that (r * W with r up to
 * GOV_LIMIT_MAX) is split the way the C code's 64-bit integers need not.
 * Budgets are checked before buckets and the first refusal wins, as in
 * gov_admit_local. Returns {ok, refused_bucket, refused_budget, never,
 * retry_us, remaining_1, reset_us_1, ..., spent_1, ...}.
 */
const char gov_redis_admit_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n" SETTAT_LUA "local W = 60000000\n"
    "local function divmod(a, b)\n" /* floor division, corrected for the rounding of a / b */
    "  local q = math.floor(a / b); local r = a - q * b\n"
    "  if r < 0 then q = q - 1; r = r + b elseif r >= b then q = q + 1; r = r - b end\n"
    "  return q, r\n"
    "end\n"
    "local function span(cost, limit)\n" /* gcra_span_us: floor(cost * W / limit), W = 60000 * 1000 */
    "  local q, r = divmod(cost, limit); local q1, r1 = divmod(r * 60000, limit)\n"
    "  return q * W + q1 * 1000 + divmod(r1 * 1000, limit)\n"
    "end\n"
    "local function state(tat, now, limit)\n" /* gcra_state: floor(free * limit / W), limit = a * W + b */
    "  local ahead = math.max(tat - now, 0); local free = math.max(W - ahead, 0)\n"
    "  local a, b = divmod(limit, W)\n"
    "  return a * free + divmod(b * free, W), ahead\n"
    "end\n"
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local nb, ng = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local ok, rb, rg, never, retry, spent, tat, nxt = 1, -1, -1, 0, 0, {}, {}, {}\n"
    "for j = 1, ng do\n"
    "  local key, limit = KEYS[nb + j], tonumber(ARGV[2 + 2 * nb + j])\n"
    "  spent[j] = tonumber(redis.call('GET', key)) or 0\n"
    "  if ok == 1 and limit > 0 and spent[j] >= limit then\n"
    "    ok, rg, retry = 0, j - 1, math.max(redis.call('PTTL', key) - " BUDGET_GRACE_MS ", 1000) * 1000\n"
    "  end\n"
    "end\n"
    "for i = 1, nb do\n"
    "  local limit, cost = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])\n"
    "  tat[i] = tonumber(redis.call('GET', KEYS[i])) or 0; nxt[i] = tat[i]\n"
    "  if ok == 1 and (limit < 1 or cost > limit) then ok, rb, never = 0, i - 1, 1\n"
    "  elseif ok == 1 then\n"
    "    local n = math.max(tat[i], now) + span(cost, limit)\n"
    "    if n - now <= W then nxt[i] = n else ok, rb, retry = 0, i - 1, n - now - W end\n"
    "  end\n"
    "end\n"
    "local res = {ok, rb, rg, never, retry}\n"
    "for i = 1, nb do\n"
    "  local v = tat[i]\n"
    "  if ok == 1 then\n" /* all passed: charge all */
    "    v = nxt[i]; settat(KEYS[i], v, now)\n"
    "  end\n"
    "  local rem, reset = state(v, now, math.max(tonumber(ARGV[1 + 2 * i]), 1))\n"
    "  res[#res + 1] = rem; res[#res + 1] = reset\n"
    "end\n"
    "for j = 1, ng do res[#res + 1] = spent[j] end\n"
    "return res\n";

/*
 * The settle script: TAT deltas on buckets whose key still exists, then
 * budget costs. A vanished key was a full bucket: nothing to refund; an
 * extra charge for it is dropped (the call outlived its own charge by more
 * than the key's extra second), unlike in process where the TAT is kept.
 */
const char gov_redis_settle_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n" SETTAT_LUA
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local nb, ng = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "for i = 1, nb do\n"
    "  local tat = tonumber(redis.call('GET', KEYS[i]))\n"
    "  if tat then\n"
    "    tat = tat + tonumber(ARGV[2 + i])\n"
    "    if tat > now then\n"
    "      settat(KEYS[i], tat, now)\n"
    "    else\n"
    "      redis.call('DEL', KEYS[i])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for j = 1, ng do\n"
    "  redis.call('INCRBY', KEYS[nb + j], ARGV[1 + nb + 2 * j])\n"
    "  redis.call('EXPIRE', KEYS[nb + j], ARGV[2 + nb + 2 * j])\n"
    "end\n"
    "return 0\n";

static void av_str(struct gov_redis_argv *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n++] = strlen(s);
}

static void av_num(struct gov_redis_argv *a, long long v)
{
	char *p = a->num[a->nnum++];
	a->len[a->n] = (size_t)snprintf(p, sizeof(a->num[0]), "%lld", v);
	a->v[a->n++] = p;
}

void gov_redis_cmd_admit(struct gov_redis_argv *a, const char *sha, const struct gov_ask *ask)
{
	av_str(a, sha == NULL ? "EVAL" : "EVALSHA");
	av_str(a, sha == NULL ? gov_redis_admit_lua : sha);
	av_num(a, (long long)(ask->nbuckets + ask->nbudgets));
	for (size_t i = 0; i < ask->nbuckets; i++)
		av_str(a, ask->b[i].rkey);
	for (size_t i = 0; i < ask->nbudgets; i++)
		av_str(a, ask->g[i].rkey);
	av_num(a, (long long)ask->nbuckets);
	av_num(a, (long long)ask->nbudgets);
	for (size_t i = 0; i < ask->nbuckets; i++) {
		/* limits are <= GOV_LIMIT_MAX; an absurd cost only has to stay above its limit */
		av_num(a, (long long)ask->b[i].limit);
		av_num(a, ask->b[i].cost > GOV_LIMIT_MAX ? (long long)GOV_LIMIT_MAX + 1 : (long long)ask->b[i].cost);
	}
	for (size_t i = 0; i < ask->nbudgets; i++)
		av_num(a, ask->g[i].limit_micro);
}

size_t gov_redis_cmd_settle_keys(const struct gov_settle *s, size_t *nb, size_t *ng)
{
	*nb = *ng = 0;
	for (size_t i = 0; i < s->nbuckets; i++)
		*nb += s->b[i].delta_us != 0;
	for (size_t i = 0; i < s->nbudgets; i++)
		*ng += s->g[i].cost_micro > 0;
	return *nb + *ng;
}

void gov_redis_cmd_settle(struct gov_redis_argv *a, const char *sha, const struct gov_settle *s)
{
	size_t nb, ng;
	av_str(a, sha == NULL ? "EVAL" : "EVALSHA");
	av_str(a, sha == NULL ? gov_redis_settle_lua : sha);
	av_num(a, (long long)gov_redis_cmd_settle_keys(s, &nb, &ng));
	for (size_t i = 0; i < s->nbuckets; i++)
		if (s->b[i].delta_us != 0)
			av_str(a, s->b[i].rkey);
	for (size_t i = 0; i < s->nbudgets; i++)
		if (s->g[i].cost_micro > 0)
			av_str(a, s->g[i].rkey);
	av_num(a, (long long)nb);
	av_num(a, (long long)ng);
	for (size_t i = 0; i < s->nbuckets; i++)
		if (s->b[i].delta_us != 0)
			av_num(a, s->b[i].delta_us);
	for (size_t i = 0; i < s->nbudgets; i++)
		if (s->g[i].cost_micro > 0) {
			av_num(a, s->g[i].cost_micro);
			av_num(a, s->g[i].ttl_s > 0 ? s->g[i].ttl_s : 1);
		}
}

int gov_redis_cmd_verdict(const struct redisReply *r, const struct gov_ask *ask, struct gov_verdict *v)
{
	size_t nb = ask->nbuckets, ng = ask->nbudgets;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 + 2 * nb + ng)
		return -1;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER)
			return -1;
	const redisReply *const *e = (const redisReply *const *)r->element;
	memset(v, 0, sizeof(*v));
	v->ok = e[0]->integer == 1;
	v->refused_bucket = e[1]->integer >= 0 && (size_t)e[1]->integer < nb ? (int)e[1]->integer : -1;
	v->refused_budget = e[2]->integer >= 0 && (size_t)e[2]->integer < ng ? (int)e[2]->integer : -1;
	v->never = e[3]->integer != 0;
	v->retry_us = v->ok || v->never ? 0 : (e[4]->integer > 0 ? e[4]->integer : 1); /* as gcra_take */
	if (!v->ok && v->refused_bucket < 0 && v->refused_budget < 0)
		return -1;
	for (size_t i = 0; i < nb; i++) {
		v->remaining[i] = e[5 + 2 * i]->integer > 0 ? (uint64_t)e[5 + 2 * i]->integer : 0;
		v->reset_us[i] = e[6 + 2 * i]->integer;
	}
	for (size_t i = 0; i < ng; i++)
		v->spent_micro[i] = e[5 + 2 * nb + i]->integer;
	return 0;
}
