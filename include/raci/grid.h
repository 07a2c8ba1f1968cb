/* grid: which locations each rank owns, and the halo it reads around them.
 *
 * Gridded data: a PETSc DMDA over (x, y) gives each rank a tile and a ghost
 * halo of `halo` cells (box stencil, no wrap-around); DMDA options such as
 * -da_processors_x apply. Site data: the site list is split into contiguous
 * blocks, with no halo. Both are described by the same Tile so the data and
 * I/O code see one layout: x is the fastest index, sites have ny = 1. */
#ifndef RACI_GRID_H
#define RACI_GRID_H

#include <raci/core.h>
#include <petscdmda.h>

typedef struct {
  PetscInt    nx, ny;             /* global size; sites: nx = number of sites, ny = 1 */
  PetscInt    halo;               /* ghost width in cells (0 for sites) */
  PetscInt    xs, ys, xm, ym;     /* owned box: start and width */
  PetscInt    gxs, gys, gxm, gym; /* owned box plus halo, clipped at the domain edge */
  PetscMPIInt px, py;             /* process grid */
  DM          da;                 /* owned here; NULL for sites */
} Tile;

/* row_weight (ny) or NULL: with whole-row tiles (the default when every rank
 * gets 8 rows or more), rows are split into ranges of about equal weight. */
PetscErrorCode grid_tile_create(MPI_Comm comm, PetscInt nx, PetscInt ny, PetscInt halo, const double *row_weight,
                                Tile *tile);
PetscErrorCode grid_sites_create(MPI_Comm comm, PetscInt nsites, Tile *tile);
PetscErrorCode grid_tile_destroy(Tile *tile);

/* Number of owned and of owned-plus-halo locations. */
static inline PetscInt grid_owned_count(const Tile *t) { return t->xm * t->ym; }
static inline PetscInt grid_ghost_count(const Tile *t) { return t->gxm * t->gym; }

#endif
