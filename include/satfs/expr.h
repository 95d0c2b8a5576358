/*
 * expr: band math for products (`expression = (B08 - B04) / (B08 + B04)`).
 *
 * The language: decimal numbers, band names (letters, digits, `_` and
 * `:`, starting with a letter: B08, nir, visual:1), the operators + - * /,
 * unary minus and parentheses, with the usual precedence. Text is parsed
 * once into a small stack program; evaluation is a loop over it. Division
 * by zero, and anything else that is not a finite number, gives NaN.
 *
 * Pure: parsing allocates, evaluation does not; thread-safe.
 */
#ifndef SATFS_EXPR_H
#define SATFS_EXPR_H

#include <stddef.h>

struct sat_expr;

#define SAT_EXPR_MAX_BANDS 8   /* distinct band names in one expression */
#define SAT_EXPR_MAX_LEN 1024  /* characters of text */

/* Parses text. 0, or -EINVAL with the problem in err ("unexpected ')' at
 * column 7"), or -ENOMEM. */
int sat_expr_parse(struct sat_expr **out, const char *text, char *err,
		   size_t errlen);
void sat_expr_free(struct sat_expr *e);

/* The band names it uses, in order of first use; band i of
 * sat_expr_eval()'s values is the one named sat_expr_band(e, i). */
size_t sat_expr_nbands(const struct sat_expr *e);
const char *sat_expr_band(const struct sat_expr *e, size_t i);

/* The value for band values v[0 .. nbands). */
double sat_expr_eval(const struct sat_expr *e, const double *v);

#endif
