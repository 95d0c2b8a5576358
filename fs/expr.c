/*
 * expr: see include/satfs/expr.h. A recursive-descent parser emits a
 * postfix program; the stack depth is bounded by the text's length and
 * checked, so evaluation needs no allocation.
 */
#include "satfs/expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR_MAX_OPS 512
#define EXPR_MAX_STACK 64
#define EXPR_MAX_NAME 64

enum op {
	OP_NUM,  /* push value */
	OP_BAND, /* push v[band] */
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DIV,
	OP_NEG,
};

struct ins {
	enum op op;
	double value;
	int band;
};

struct sat_expr {
	/* grown as parsed: a listing keeps one expression per plan, and
	 * most are a handful of instructions */
	struct ins *prog;
	size_t nprog, cap;
	char *bands[SAT_EXPR_MAX_BANDS];
	size_t nbands;
};

struct parser {
	const char *text, *p;
	struct sat_expr *e;
	int depth, max_depth;   /* stack depth of the program so far */
	char *err;
	size_t errlen;
	int rc;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->rc)
		return ps->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s at column %d", msg,
		 (int)(ps->p - ps->text) + 1);
	ps->rc = -EINVAL;
	return ps->rc;
}

static void skip_space(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static int emit(struct parser *ps, enum op op, double value, int band)
{
	struct sat_expr *e = ps->e;

	if (e->nprog == EXPR_MAX_OPS)
		return fail(ps, "expression too long");
	if (e->nprog == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		struct ins *grown = realloc(e->prog, cap * sizeof(*grown));

		if (!grown)
			return ps->rc = -ENOMEM;
		e->prog = grown;
		e->cap = cap;
	}
	e->prog[e->nprog++] = (struct ins){ op, value, band };
	ps->depth += op == OP_NUM || op == OP_BAND ? 1
		     : op == OP_NEG		   ? 0
						   : -1;
	if (ps->depth > ps->max_depth)
		ps->max_depth = ps->depth;
	if (ps->max_depth > EXPR_MAX_STACK)
		return fail(ps, "expression nested too deeply");
	return 0;
}

static int band_index(struct parser *ps, const char *name)
{
	struct sat_expr *e = ps->e;

	for (size_t i = 0; i < e->nbands; i++)
		if (strcmp(e->bands[i], name) == 0)
			return (int)i;
	if (e->nbands == SAT_EXPR_MAX_BANDS)
		return fail(ps, "more than %d bands", SAT_EXPR_MAX_BANDS);
	e->bands[e->nbands] = strdup(name);
	if (!e->bands[e->nbands])
		return ps->rc = -ENOMEM;
	return (int)e->nbands++;
}

static int parse_expr(struct parser *ps);

static int parse_factor(struct parser *ps)
{
	char name[EXPR_MAX_NAME];
	size_t n = 0;

	skip_space(ps);
	if (*ps->p == '-' || *ps->p == '+') {
		bool neg = *ps->p == '-';

		ps->p++;
		if (parse_factor(ps))
			return ps->rc;
		return neg ? emit(ps, OP_NEG, 0, 0) : 0;
	}
	if (*ps->p == '(') {
		ps->p++;
		if (parse_expr(ps))
			return ps->rc;
		skip_space(ps);
		if (*ps->p != ')')
			return fail(ps, "')' expected");
		ps->p++;
		return 0;
	}
	if (isdigit((unsigned char)*ps->p) || *ps->p == '.') {
		char *end;
		double v = strtod(ps->p, &end);

		if (end == ps->p || !isfinite(v))
			return fail(ps, "bad number");
		ps->p = end;
		return emit(ps, OP_NUM, v, 0);
	}
	if (isalpha((unsigned char)*ps->p)) {
		int b;

		while (isalnum((unsigned char)*ps->p) || *ps->p == '_' ||
		       *ps->p == ':') {
			if (n + 1 == sizeof(name))
				return fail(ps, "band name too long");
			name[n++] = *ps->p++;
		}
		name[n] = '\0';
		b = band_index(ps, name);
		if (b < 0)
			return ps->rc;
		return emit(ps, OP_BAND, 0, b);
	}
	if (!*ps->p)
		return fail(ps, "unexpected end");
	return fail(ps, "unexpected '%c'", *ps->p);
}

static int parse_term(struct parser *ps)
{
	if (parse_factor(ps))
		return ps->rc;
	for (;;) {
		char c;

		skip_space(ps);
		c = *ps->p;
		if (c != '*' && c != '/')
			return 0;
		ps->p++;
		if (parse_factor(ps) || emit(ps, c == '*' ? OP_MUL : OP_DIV, 0,
					     0))
			return ps->rc;
	}
}

static int parse_expr(struct parser *ps)
{
	if (parse_term(ps))
		return ps->rc;
	for (;;) {
		char c;

		skip_space(ps);
		c = *ps->p;
		if (c != '+' && c != '-')
			return 0;
		ps->p++;
		if (parse_term(ps) || emit(ps, c == '+' ? OP_ADD : OP_SUB, 0,
					   0))
			return ps->rc;
	}
}

int sat_expr_parse(struct sat_expr **out, const char *text, char *err,
		   size_t errlen)
{
	struct parser ps = { .text = text, .p = text, .err = err,
			     .errlen = errlen };

	*out = NULL;
	if (!text || strlen(text) > SAT_EXPR_MAX_LEN) {
		snprintf(err, errlen, "expression longer than %d characters",
			 SAT_EXPR_MAX_LEN);
		return -EINVAL;
	}
	ps.e = calloc(1, sizeof(*ps.e));
	if (!ps.e)
		return -ENOMEM;
	if (parse_expr(&ps) == 0) {
		skip_space(&ps);
		if (*ps.p)
			fail(&ps, "unexpected '%c'", *ps.p);
	}
	if (ps.rc == 0 && ps.e->nbands == 0)
		fail(&ps, "no band named");
	if (ps.rc) {
		if (ps.rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		sat_expr_free(ps.e);
		return ps.rc;
	}
	*out = ps.e;
	return 0;
}

void sat_expr_free(struct sat_expr *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nbands; i++)
		free(e->bands[i]);
	free(e->prog);
	free(e);
}

size_t sat_expr_nbands(const struct sat_expr *e)
{
	return e->nbands;
}

const char *sat_expr_band(const struct sat_expr *e, size_t i)
{
	return i < e->nbands ? e->bands[i] : NULL;
}

double sat_expr_eval(const struct sat_expr *e, const double *v)
{
	double st[EXPR_MAX_STACK];
	size_t sp = 0;

	for (size_t i = 0; i < e->nprog; i++) {
		const struct ins *in = &e->prog[i];

		switch (in->op) {
		case OP_NUM: st[sp++] = in->value; break;
		case OP_BAND: st[sp++] = v[in->band]; break;
		case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
		case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
		case OP_SUB: sp--; st[sp - 1] -= st[sp]; break;
		case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
		case OP_DIV:
			sp--;
			st[sp - 1] = st[sp] == 0 ? NAN : st[sp - 1] / st[sp];
			break;
		}
	}
	return sp == 1 && isfinite(st[0]) ? st[0] : NAN;
}
