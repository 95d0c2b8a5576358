/*
 * satest: the smallest test harness that does what ctest needs.
 *
 * Each test binary holds cases declared with SAT_TEST(name); CMake finds
 * them with a regular expression and registers one ctest entry per case,
 * which runs "test_<module> <name>". A case fails on the first failed
 * CHECK. A case skips (exit status 77) only for a feature the machine
 * lacks, through satest_skip(), which says why; under CI=true a skip is a
 * failure. Anything the suite itself provides (tests/data, the programs
 * scripts/deps installs) is required: its absence fails the case.
 */
#ifndef SATEST_H
#define SATEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*satest_fn)(void);

void satest_register(const char *name, satest_fn fn);
void satest_fail(const char *file, int line, const char *expr, const char *detail);
/* Prints "SKIP <case>: <why>" and exits 77; under CI=true prints a FAIL
 * line instead and exits 1. Only for a feature the machine lacks. */
void satest_skip(const char *why);
/* Path of a file below the source tree, in a static buffer. */
const char *satest_src(const char *relpath);
/* Path of tests/data/<relpath> (the recorded real-world data, see
 * tests/data/README.md), in a static buffer; fails the case when it does
 * not exist. */
const char *satest_data(const char *relpath);
/* Fails the case unless `program` is on PATH (one scripts/deps installs
 * for the tests: its absence is a broken setup, not a reason to skip). */
void satest_need_program(const char *program);
/* A fresh private directory for this case (removed by nobody: under /tmp). */
const char *satest_tmpdir(void);
/* Reads a whole file; returns malloc'd bytes (NUL-terminated) or aborts. */
char *satest_read_file(const char *path, size_t *len);
/* The XXH3-128 of the file at path in hex, by xxhsum -H2 (xxHash's own
 * command): the judge of a digest satfs recorded. Exits on failure. */
void satest_xxh128sum(const char *path, char hex[33]);

#define SAT_TEST(name)                                                         \
	static void test_##name(void);                                         \
	__attribute__((constructor)) static void register_##name(void)         \
	{                                                                      \
		satest_register(#name, test_##name);                           \
	}                                                                      \
	static void test_##name(void)

#define CHECK(expr)                                                            \
	do {                                                                   \
		if (!(expr))                                                   \
			satest_fail(__FILE__, __LINE__, #expr, NULL);          \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long va_ = (long long)(a), vb_ = (long long)(b);          \
		if (va_ != vb_) {                                              \
			char d_[96];                                           \
			snprintf(d_, sizeof(d_), "%lld != %lld", va_, vb_);    \
			satest_fail(__FILE__, __LINE__, #a " == " #b, d_);     \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *sa_ = (a), *sb_ = (b);                             \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                   \
			char d_[512];                                          \
			snprintf(d_, sizeof(d_), "\"%s\" != \"%s\"",           \
				 sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");  \
			satest_fail(__FILE__, __LINE__, #a " == " #b, d_);     \
		}                                                              \
	} while (0)

#define CHECK_NEAR(a, b, eps)                                                  \
	do {                                                                   \
		double da_ = (a), db_ = (b);                                   \
		if (!(da_ - db_ <= (eps) && db_ - da_ <= (eps))) {             \
			char d_[128];                                          \
			snprintf(d_, sizeof(d_), "%.9g != %.9g (eps %g)", da_, \
				 db_, (double)(eps));                          \
			satest_fail(__FILE__, __LINE__, #a " ~ " #b, d_);      \
		}                                                              \
	} while (0)

#endif
