/* io: checkpoint files (named sections, version, checksum), atomically renamed. */
#include <raci/io.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char magic[8] = {'R', 'A', 'C', 'I', 'C', 'K', 'P', 'T'};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Write, folding every byte into the checksum; false on a short write. */
static int put(FILE *fp, uint64_t *h, const void *data, size_t n)
{
  *h = fnv1a(*h, data, n);
  return fwrite(data, 1, n, fp) == n;
}

PetscErrorCode io_ckpt_write(MPI_Comm comm, const char *path, const IoSection *sec, int n)
{
  PetscMPIInt rank;
  long        err = 0;
  char        tmp[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  core_tmp_path(tmp, sizeof tmp, path, (long)getpid());
  if (rank == 0) {
    FILE    *fp;
    uint64_t h = 0xcbf29ce484222325ULL;
    uint32_t v = IO_CKPT_VERSION, ns = (uint32_t)n;
    int      ok;
    errno = 0;
    fp    = fopen(tmp, "wb");
    ok    = fp != NULL;
    if (ok) PetscCall(core_pending_add(tmp));
    ok = ok && put(fp, &h, magic, sizeof magic) && put(fp, &h, &v, sizeof v) && put(fp, &h, &ns, sizeof ns);
    for (int i = 0; i < n && ok; i++) {
      uint64_t b        = sec[i].bytes;
      char     name[16] = {0};
      strncpy(name, sec[i].name, sizeof name - 1);
      ok = put(fp, &h, name, sizeof name) && put(fp, &h, &b, sizeof b) && put(fp, &h, sec[i].data, sec[i].bytes);
    }
    /* every status: a full disk shows in fwrite, fflush, fsync or fclose */
    ok = ok && fwrite(&h, sizeof h, 1, fp) == 1 && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (!ok) err = errno ? errno : EIO;
    if (fp && fclose(fp) && !err) err = errno ? errno : EIO;
    if (!err && rename(tmp, path)) err = errno;
    if (fp) {
      if (err) unlink(tmp); /* the previous checkpoint stays as it was */
      PetscCall(core_pending_remove(tmp));
    }
  }
  PetscCall(core_rank0_errno(comm, RACI_ERR_WRITE, err, "cannot write checkpoint '%s'", path));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_ckpt_read(MPI_Comm comm, const char *path, IoSection **out, int *nout)
{
  PetscMPIInt    rank;
  long long      size     = 0;
  unsigned char *buf      = NULL;
  char           why[160] = "";
  IoSection     *sec;
  uint32_t       ns = 0;
  size_t         off;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
      snprintf(why, sizeof why, "cannot open checkpoint '%s': %s", path, strerror(errno));
    else {
      fseek(fp, 0, SEEK_END);
      size = ftell(fp);
      fseek(fp, 0, SEEK_SET);
      buf = malloc(size > 0 ? (size_t)size : 1);
      if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size)
        snprintf(why, sizeof why, "cannot read checkpoint '%s'", path);
      fclose(fp);
    }
    if (!why[0] && (size < 24 || memcmp(buf, magic, sizeof magic)))
      snprintf(why, sizeof why, "'%s' is not a raci checkpoint (no RACICKPT header)", path);
    if (!why[0]) {
      uint32_t v;
      memcpy(&v, buf + 8, 4);
      if (v != IO_CKPT_VERSION)
        snprintf(why, sizeof why, "checkpoint '%s' has format version %u; this raci reads version %d", path, v,
                 IO_CKPT_VERSION);
    }
    if (!why[0]) {
      uint64_t h;
      memcpy(&h, buf + size - 8, 8);
      if (h != fnv1a(0xcbf29ce484222325ULL, buf, (size_t)size - 8))
        snprintf(why, sizeof why, "checkpoint '%s' is corrupt or truncated (checksum mismatch)", path);
    }
  }
  if (why[0]) {
    free(buf);
    buf = NULL;
  }
  PetscCall(core_rank0_check(comm, why[0] ? RACI_ERR_READ : 0, "%s", why));
  PetscCallMPI(MPI_Bcast(&size, 1, MPI_LONG_LONG, 0, comm));
  if (rank != 0) buf = malloc((size_t)size);
  PetscCheck(buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "no memory for checkpoint '%s'", path);
  PetscCallMPI(MPI_Bcast(buf, (int)size, MPI_BYTE, 0, comm)); /* checkpoints are far below 2 GB */
  memcpy(&ns, buf + 12, 4);
  PetscCall(PetscCalloc1(ns + 1, &sec));
  off = 16;
  for (uint32_t i = 0; i < ns; i++) {
    uint64_t b;
    if (off + 24 > (size_t)size - 8) break;
    memcpy(sec[i].name, buf + off, 16);
    sec[i].name[15] = '\0';
    memcpy(&b, buf + off + 16, 8);
    off += 24;
    if (b > (size_t)size - 8 - off) break;
    PetscCall(PetscMalloc1(b + 1, (unsigned char **)&sec[i].data));
    memcpy(sec[i].data, buf + off, b);
    sec[i].bytes = b;
    off += b;
    *nout = (int)i + 1;
  }
  free(buf);
  PetscCheck(*nout == (int)ns, comm, RACI_ERR_READ, "checkpoint '%s' is inconsistent: %u sections announced, %d found",
             path, ns, *nout);
  *out = sec;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_ckpt_free(IoSection **sec, int n)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < n; i++) PetscCall(PetscFree((*sec)[i].data));
  PetscCall(PetscFree(*sec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_ckpt_find(MPI_Comm comm, const char *path, const IoSection *sec, int n, const char *name,
                            size_t bytes, const void **data)
{
  PetscFunctionBeginUser;
  *data = NULL;
  for (int i = 0; i < n; i++)
    if (!strcmp(sec[i].name, name)) {
      PetscCheck(bytes == 0 || sec[i].bytes == bytes, comm, RACI_ERR_READ,
                 "checkpoint '%s': section '%s' has %zu bytes, expected %zu (a different model configuration?)", path,
                 name, sec[i].bytes, bytes);
      *data = sec[i].data;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  SETERRQ(comm, RACI_ERR_READ, "checkpoint '%s' has no section '%s'", path, name);
}
