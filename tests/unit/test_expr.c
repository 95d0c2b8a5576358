/* Unit tests: fs/expr.c, band math. */
#include "satest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "satfs/expr.h"

static double eval1(const char *text, const double *v)
{
	struct sat_expr *e;
	char err[200];
	double r;

	CHECK_INT(sat_expr_parse(&e, text, err, sizeof(err)), 0);
	r = sat_expr_eval(e, v);
	sat_expr_free(e);
	return r;
}

/* NDVI from reflectances, and the bands in order of first use. */
SAT_TEST(ndvi)
{
	struct sat_expr *e;
	double v[2] = { 0.4, 0.1 }; /* B08, B04 */
	char err[200];

	CHECK_INT(sat_expr_parse(&e, "(B08 - B04) / (B08 + B04)", err,
				 sizeof(err)), 0);
	CHECK_INT(sat_expr_nbands(e), 2);
	CHECK_STR(sat_expr_band(e, 0), "B08");
	CHECK_STR(sat_expr_band(e, 1), "B04");
	CHECK(sat_expr_band(e, 2) == NULL);
	CHECK_NEAR(sat_expr_eval(e, v), 0.6, 1e-12);
	sat_expr_free(e);
}

/* Precedence, associativity, unary minus, numbers. */
SAT_TEST(precedence)
{
	double v[3] = { 2, 3, 4 };

	CHECK_NEAR(eval1("a + b * c", v), 14, 0);
	CHECK_NEAR(eval1("(a + b) * c", v), 20, 0);
	CHECK_NEAR(eval1("a - b - c", v), -5, 0);       /* (a-b)-c */
	/* bands by first use: c is v[0], a is v[1]; (c/a)/a */
	CHECK_NEAR(eval1("c / a / a", v), 2.0 / 3 / 3, 1e-15);
	CHECK_NEAR(eval1("-a * b", v), -6, 0);
	CHECK_NEAR(eval1("a - -b", v), 5, 0);
	CHECK_NEAR(eval1("2.5 * a + .5", v), 5.5, 0);
	CHECK_NEAR(eval1("1e1 * a", v), 20, 0);
	/* EVI, with numbers and three bands: 2.5*(0.4-0.1)/(0.4+6*0.1-7.5*0.05+1) */
	double w[3] = { 0.4, 0.1, 0.05 };
	CHECK_NEAR(eval1("2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)",
			 w), 2.5 * 0.3 / (0.4 + 0.6 - 0.375 + 1), 1e-12);
	/* a band used twice is one band */
	struct sat_expr *e;
	char err[200];
	CHECK_INT(sat_expr_parse(&e, "visual:1 * visual:1 + B8A", err,
				 sizeof(err)), 0);
	CHECK_INT(sat_expr_nbands(e), 2);
	CHECK_STR(sat_expr_band(e, 0), "visual:1");
	sat_expr_free(e);
}

/* Division by zero and other non-numbers are NaN (an invalid pixel). */
SAT_TEST(not_a_number)
{
	double v[2] = { 0, 0 };

	CHECK(isnan(eval1("(a - b) / (a + b)", v)));
	CHECK(isnan(eval1("a / 0", v)));
	v[0] = NAN;
	CHECK(isnan(eval1("a + 1", v)));
}

/* Malformed text: -EINVAL and a message saying where. */
SAT_TEST(errors)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "(B08 - B04", "')' expected at column 11" },
		{ "B08 - ", "unexpected end at column 7" },
		{ "B08 $ B04", "unexpected '$' at column 5" },
		{ "B08 B04", "unexpected 'B' at column 5" },
		{ "2 * 3", "no band named" },
		{ "", "unexpected end at column 1" },
		{ "a+b+c+d+e+f+g+h+i", "more than 8 bands" },
	};
	struct sat_expr *e;
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(sat_expr_parse(&e, bad[i].text, err, sizeof(err)),
			  -EINVAL);
		CHECK(e == NULL);
		if (!strstr(err, bad[i].msg))
			CHECK_STR(err, bad[i].msg);
	}
	/* nesting past the evaluation stack is refused, not overflowed */
	char deep[600];
	memset(deep, '(', 300);
	strcpy(deep + 300, "a");
	memset(deep + 301, ')', 280);
	deep[581] = '\0';
	CHECK_INT(sat_expr_parse(&e, deep, err, sizeof(err)), -EINVAL);
	char many[900];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "a*(");
	n += (size_t)snprintf(many + n, sizeof(many) - n, "a");
	for (int i = 0; i < 100; i++)
		many[n++] = ')';
	many[n] = '\0';
	CHECK_INT(sat_expr_parse(&e, many, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "nested too deeply"));
}

/* A program grows with its text up to 512 instructions: 200 terms (399
 * instructions) evaluate, 300 (599) are refused. */
SAT_TEST(long_expressions)
{
	char text[SAT_EXPR_MAX_LEN + 1], err[200];
	double v[1] = { 0.25 };
	struct sat_expr *e;
	size_t n = 0;

	for (int i = 0; i < 300; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sa",
				      i ? "+" : "");
		if (i == 199) {
			CHECK_INT(sat_expr_parse(&e, text, err, sizeof(err)),
				  0);
			CHECK_NEAR(sat_expr_eval(e, v), 50, 1e-12);
			sat_expr_free(e);
		}
	}
	CHECK_INT(sat_expr_parse(&e, text, err, sizeof(err)), -EINVAL);
	CHECK(e == NULL);
	CHECK(strstr(err, "expression too long"));
}
