/* io: bulk reads of classic, 64-bit-offset and CDF-5 files through PnetCDF
 * for ncread (raci/ncread.h). netCDF-C reads the headers of every format;
 * for the classic family PnetCDF reads the values, about 1.6 times faster
 * on record variables (docs/PERFORMANCE.md, "raci prep -format grid").
 * Kept in its own file: pnetcdf.h and netcdf.h cannot both be included.
 * Serial: the file is opened on MPI_COMM_SELF in independent mode. */
#include <mpi.h>
#include <pnetcdf.h>
#include <stddef.h>

int ncread_pnetcdf_open(const char *path, int *ncid)
{
  int st = ncmpi_open(MPI_COMM_SELF, path, NC_NOWRITE, MPI_INFO_NULL, ncid);
  if (st != NC_NOERR) return st;
  st = ncmpi_begin_indep_data(*ncid);
  if (st != NC_NOERR) ncmpi_close(*ncid);
  return st;
}

int ncread_pnetcdf_get_float(int ncid, int varid, int ndims, const size_t start[], const size_t count[], float *buf)
{
  MPI_Offset st[8], ct[8];
  for (int k = 0; k < ndims && k < 8; k++) st[k] = (MPI_Offset)start[k], ct[k] = (MPI_Offset)count[k];
  return ncmpi_get_vara_float(ncid, varid, st, ct, buf);
}

const char *ncread_pnetcdf_error(int status) { return ncmpi_strerror(status); }

void ncread_pnetcdf_close(int ncid) { ncmpi_close(ncid); }
