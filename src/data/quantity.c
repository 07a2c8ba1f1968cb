/* quantity: the canonical variables (include/raci/quantity.h). */
#include <raci/quantity.h>

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Units written by prep and simulate, and the physical range of daily values
 * (docs/DATA.md, "Checks"). */
static const Quantity quantities[] = {
    {"TA", "degC", "air_temperature", -70, 60},
    {"SW_IN", "W m-2", "surface_downwelling_shortwave_flux_in_air", -20, 600},
    {"VPD", "hPa", "water_vapor_saturation_deficit_in_air", -0.5, 100},
    {"P", "mm d-1", "lwe_precipitation_rate", 0, 1000},
    {"PA", "kPa", "surface_air_pressure", 40, 110},
    {"WS", "m s-1", "wind_speed", 0, 50},
    {"TS", "degC", "soil_temperature", -60, 60},
    {"LAI", "m2 m-2", "leaf_area_index", 0, 15},
    {"SWC", "%", "volume_fraction_of_condensed_water_in_soil", 0, 100},
    {"FCH4", "nmol m-2 s-1", NULL, -2000, 20000},
    {"NEE", "g m-2 d-1", NULL, -50, 50},
    {"GPP", "g m-2 d-1", "gross_primary_productivity_of_biomass_expressed_as_carbon", -10, 60},
    {"RECO", "g m-2 d-1", NULL, -10, 60},
    {"MAT", "degC", "air_temperature", -70, 60},
    {"MAP", "mm yr-1", NULL, 0, 20000},
    {"elev", "m", "surface_altitude", -500, 9000},
    {"whc", "mm", NULL, 0, 5000},
    {"clay", "%", NULL, 0, 100},
    {"soc", "kg m-2", "soil_mass_content_of_carbon", 0, 1000},
    {"wetland_frac", "1", NULL, 0, 1},
};

const Quantity *quantity_find(const char *name)
{
  for (size_t i = 0; i < sizeof quantities / sizeof quantities[0]; i++)
    if (!strcmp(quantities[i].name, name)) return &quantities[i];
  return NULL;
}

/* The units text without surrounding blanks, degC spellings as degC. */
static void units_norm(const char *u, char *out, size_t len)
{
  static const char *const degc[] = {"degree_Celsius", "degrees_Celsius", "degree_C", "degrees_C", "celsius", NULL};
  size_t                   n;

  while (isspace((unsigned char)*u)) u++;
  n = strlen(u);
  while (n > 0 && isspace((unsigned char)u[n - 1])) n--;
  if (n >= len) n = len - 1;
  memcpy(out, u, n);
  out[n] = '\0';
  for (int i = 0; degc[i]; i++)
    if (!strcasecmp(out, degc[i])) {
      strncpy(out, "degC", len - 1);
      out[len - 1] = '\0';
    }
}

int quantity_units_same(const char *a, const char *b)
{
  char x[256], y[256];
  units_norm(a ? a : "", x, sizeof x);
  units_norm(b ? b : "", y, sizeof y);
  return !strcmp(x, y);
}
