/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for libFuzzer's main(): links with one fuzz_<x>.c target and
 * runs LLVMFuzzerTestOneInput once on every file named on the command line
 * or found (non-recursively, in name order) in a directory named there.
 * This is how `make test` replays each target's whole seed corpus on any
 * machine, with the project's compiler and its sanitizer build (SAN=1),
 * clang and libFuzzer or not. Every input gets an exact-size heap copy, as
 * under libFuzzer, so ASan catches a read past its end.
 *
 * Output: "replay: <path>" before each input (so the last line names the
 * reproducer when a target aborts or a sanitizer stops the process), then
 * "replay: N inputs ok". Exits 0 when every input ran, 1 when a file could
 * not be read, 2 on bad usage; a failing check aborts inside the target.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT ((size_t)64 << 20) /* a seed larger than this is a mistake, not an input */

/* Reads path whole into a fresh buffer of exactly its size. -1 on error. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t cap = 0, n = 0;
	if (f == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			size_t ncap = cap == 0 ? 4096 : cap * 2;
			uint8_t *nb = ncap <= REPLAY_MAX_INPUT ? realloc(b, ncap) : NULL;
			if (nb == NULL)
				goto fail;
			b = nb;
			cap = ncap;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	/* exact size: the target must not read past len */
	uint8_t *exact = malloc(n > 0 ? n : 1);
	if (exact == NULL) {
		free(b);
		return -1;
	}
	if (n > 0)
		memcpy(exact, b, n);
	free(b);
	*out = exact;
	*len = n;
	return 0;
fail:
	free(b);
	fclose(f);
	return -1;
}

static int run_one(const char *path)
{
	uint8_t *data;
	size_t len;
	printf("replay: %s\n", path);
	fflush(stdout);
	if (read_file(path, &data, &len) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno != 0 ? errno : EIO));
		return -1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Every regular file of dir, in name order; adds the count to *ran. -1 if one could not be read. */
static int run_dir(const char *dir, size_t *ran)
{
	struct dirent **names;
	int n = scandir(dir, &names, only_files, alphasort), rc = 0;
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int k = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (k > 0 && (size_t)k < sizeof(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_one(path) < 0)
				rc = -1;
			else
				(*ran)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t ran = 0;
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &ran) < 0)
				rc = 1;
		} else if (run_one(argv[i]) < 0) {
			rc = 1;
		} else {
			ran++;
		}
	}
	printf("replay: %zu inputs %s\n", ran, rc == 0 ? "ok" : "(some could not be read)");
	return rc;
}
