/* quantity: raci's canonical variables, their units and physical ranges.
 *
 * One table, used by prep (the units it writes and its range checks,
 * -prep_out_of_range) and by data (the range and units checks of train and
 * predict, -out_of_range): docs/DATA.md, "Checks". A variable is canonical
 * when its name is in the table (TA, SW_IN, ...); other variables (e.g. the
 * SE-US grid's pr, tas) get only the finiteness check. Pure: no MPI, no I/O. */
#ifndef RACI_QUANTITY_H
#define RACI_QUANTITY_H

typedef struct {
  const char *name, *units, *standard_name; /* standard_name NULL when CF has none */
  double      lo, hi;                       /* physical range, in units */
} Quantity;

/* The quantity of a canonical name, or NULL. */
const Quantity *quantity_find(const char *name);
/* Whether two units attributes name the same units: equal text once
 * surrounding blanks are dropped, with degree_Celsius, degrees_Celsius,
 * degree_C, degrees_C and celsius (any case) taken as degC. */
int quantity_units_same(const char *a, const char *b);

#endif
