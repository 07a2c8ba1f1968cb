/* pnetcdf_read: a plain PnetCDF read of every 3-D float variable (NT, NY, NX)
 * of a file, the time steps split into contiguous ranges over the ranks and
 * read in blocks of BLOCK steps, one collective get per block and variable:
 * what raci prep -format grid's reads are compared with (docs/PERFORMANCE.md).
 * Prints the bytes read and the seconds (the slowest rank).
 * usage: mpirun -n P pnetcdf_read FILE [BLOCK] */
#include <mpi.h>
#include <pnetcdf.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(e)                                                              \
  do {                                                                        \
    int err_ = (e);                                                           \
    if (err_ != NC_NOERR) {                                                   \
      fprintf(stderr, "pnetcdf_read: %s\n", ncmpi_strerror(err_));            \
      MPI_Abort(MPI_COMM_WORLD, 1);                                           \
    }                                                                         \
  } while (0)

int main(int argc, char **argv)
{
  int        rank, size, ncid, nvars;
  MPI_Offset block = argc > 2 ? atoll(argv[2]) : 1536;
  double     t0, t, tmax, bytes = 0, all;
  float     *buf = NULL;
  size_t     cap = 0;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: pnetcdf_read FILE [BLOCK]\n");
    MPI_Finalize();
    return 2;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();
  CHECK(ncmpi_open(MPI_COMM_WORLD, argv[1], NC_NOWRITE, MPI_INFO_NULL, &ncid));
  CHECK(ncmpi_inq_nvars(ncid, &nvars));
  for (int v = 0; v < nvars; v++) {
    int        nd, dims[3];
    nc_type    type;
    MPI_Offset len[3], t0v, t1v, most, nit;
    CHECK(ncmpi_inq_varndims(ncid, v, &nd));
    CHECK(ncmpi_inq_vartype(ncid, v, &type));
    if (nd != 3 || type != NC_FLOAT) continue;
    CHECK(ncmpi_inq_vardimid(ncid, v, dims));
    for (int k = 0; k < 3; k++) CHECK(ncmpi_inq_dimlen(ncid, dims[k], &len[k]));
    t0v  = len[0] * rank / size, t1v = len[0] * (rank + 1) / size;
    most = (len[0] + size - 1) / size, nit = (most + block - 1) / block;
    if ((size_t)(block * len[1] * len[2]) > cap) {
      cap = (size_t)(block * len[1] * len[2]);
      free(buf);
      buf = malloc(cap * sizeof *buf);
    }
    for (MPI_Offset it = 0; it < nit; it++) {
      MPI_Offset st[3] = {t0v + it * block, 0, 0}, ct[3] = {0, len[1], len[2]};
      ct[0] = t1v - st[0] < block ? t1v - st[0] : block;
      if (ct[0] < 0) ct[0] = 0;
      CHECK(ncmpi_get_vara_float_all(ncid, v, st, ct, buf));
      bytes += (double)ct[0] * len[1] * len[2] * sizeof(float);
    }
  }
  CHECK(ncmpi_close(ncid));
  t = MPI_Wtime() - t0;
  MPI_Reduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Reduce(&bytes, &all, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("read %.0f bytes in %.3f s: %.1f MB/s\n", all, tmax, all / tmax / 1e6);
  free(buf);
  MPI_Finalize();
  return 0;
}
