/* pnetcdf_write: a plain PnetCDF write of NV float variables (NT, NY, NX),
 * rows split across ranks, one collective put per variable, to compare
 * raci predict's write rate with (docs/PERFORMANCE.md). CDF-5, no fill.
 * With a sixth argument `sync`, rank 0 then fsyncs the file (raci's own
 * writes are synced before their rename), and the time includes it.
 * usage: mpirun -n P pnetcdf_write FILE NV NT NY NX [sync] */
#include <mpi.h>
#include <pnetcdf.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define CHECK(e)                                                              \
  do {                                                                        \
    int err_ = (e);                                                           \
    if (err_ != NC_NOERR) {                                                   \
      fprintf(stderr, "pnetcdf_write: %s\n", ncmpi_strerror(err_));           \
      MPI_Abort(MPI_COMM_WORLD, 1);                                           \
    }                                                                         \
  } while (0)

int main(int argc, char **argv)
{
  int        rank, size, ncid, dim[3], *var;
  MPI_Offset nv, nt, ny, nx, y0, ny_loc;
  double     t0, t1;
  float     *buf;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 6 && argc != 7) {
    if (!rank) fprintf(stderr, "usage: pnetcdf_write FILE NV NT NY NX [sync]\n");
    MPI_Finalize();
    return 1;
  }
  nv = atoll(argv[2]), nt = atoll(argv[3]), ny = atoll(argv[4]), nx = atoll(argv[5]);
  y0     = ny * rank / size;
  ny_loc = ny * (rank + 1) / size - y0;
  buf    = malloc(sizeof(float) * (size_t)(nt * ny_loc * nx + 1));
  var    = malloc(sizeof(int) * (size_t)nv);
  for (MPI_Offset i = 0; i < nt * ny_loc * nx; i++) buf[i] = (float)(i % 1000) * 0.01f;
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();
  CHECK(ncmpi_create(MPI_COMM_WORLD, argv[1], NC_CLOBBER | NC_64BIT_DATA, MPI_INFO_NULL, &ncid));
  CHECK(ncmpi_def_dim(ncid, "time", nt, &dim[0]));
  CHECK(ncmpi_def_dim(ncid, "y", ny, &dim[1]));
  CHECK(ncmpi_def_dim(ncid, "x", nx, &dim[2]));
  for (int v = 0; v < nv; v++) {
    char name[16];
    snprintf(name, sizeof name, "v%d", v);
    CHECK(ncmpi_def_var(ncid, name, NC_FLOAT, 3, dim, &var[v]));
  }
  CHECK(ncmpi_set_fill(ncid, NC_NOFILL, NULL));
  CHECK(ncmpi_enddef(ncid));
  for (int v = 0; v < nv; v++) {
    MPI_Offset start[3] = {0, y0, 0}, count[3] = {nt, ny_loc, nx};
    CHECK(ncmpi_put_vara_float_all(ncid, var[v], start, count, buf));
  }
  CHECK(ncmpi_close(ncid));
  if (argc == 7 && !rank) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fsync(fd)) perror("pnetcdf_write: fsync");
    if (fd >= 0) close(fd);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  t1 = MPI_Wtime();
  if (!rank)
    printf("pnetcdf_write%s bytes %.0f seconds %.3f MB/s %.1f\n", argc == 7 ? "+fsync" : "", 4.0 * nv * nt * ny * nx, t1 - t0,
           4.0 * nv * nt * ny * nx / (t1 - t0) / 1e6);
  free(buf), free(var);
  MPI_Finalize();
  return 0;
}
