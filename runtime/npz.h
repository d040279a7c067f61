/* npz.h: reading and writing NumPy .npz files (C99, libc only).
 *
 * An .npz is a zip archive whose members are .npy files, one per array,
 * named NAME.npy; numpy.savez writes them and numpy.load reads them.  agc
 * uses them for checkpoints whose member names are the state_dict names
 * ("conv1.weight", "bn.running_mean").
 *
 * Reading is strict: every zip structure is checked against the file's
 * size and against each other (local headers against the central
 * directory, members tiling the archive without gaps or overlap), every
 * member's CRC-32, and every member's .npy header (runtime/npy.h's dtypes,
 * little-endian, C order).  Members may be stored (numpy.savez) or
 * deflated (numpy.savez_compressed): npz.c has its own inflater, which
 * checks every code, length and distance, and that a member inflates to
 * exactly its size.  Not supported, each a clear error: other compression
 * methods, zip64 archives (a member or the archive of 4 GiB or more, or
 * 65535 members or more), encryption, data descriptors (an archive written
 * to a stream), archives split over disks, data before the first member.
 * The zip64 extra field numpy.savez puts in its local headers is accepted
 * when it agrees with the sizes.  The whole file is read into memory.
 *
 * Writing is atomic (runtime/npy.h's npy_write_atomic): an uncompressed
 * zip, members in the order given, each a version 1.0 .npy exactly as
 * np.save makes it, dated 1980-01-01 as numpy.savez dates them.  Limits:
 * every member and the whole archive under 4 GiB, at most 65534 members.
 *
 * Every function that can fail returns 0 on success, or -1 with a message
 * in err that starts with the path, then the member when there is one:
 * "ckpt.npz: member 'fc.bias': CRC-32 mismatch (stored 0x..., computed
 * 0x...): the file is corrupt".
 */
#ifndef NPZ_H
#define NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"

#define NPZ_MAX_NAME 256            /* member name limit, without ".npy" */
#define NPZ_MAX_MEMBERS 65534

typedef struct NpzMember {
    char name[NPZ_MAX_NAME];        /* "conv1.weight": the zip name less ".npy" */
    char kind;                      /* as NpyArray: 'f', 'i', 'u', 'b' */
    int itemsize;
    int rank;
    long shape[NPY_MAX_RANK];
    long count;                     /* product of shape */
    const void *data;               /* count * itemsize bytes inside the
                                       loaded file: not aligned, copy it
                                       (npz_read does) */
    int used;                       /* set by npz_read; see npz_check_used */
    void *inflated;                 /* the .npy when it was deflated
                                       (malloc'd, npz_free frees it) */
} NpzMember;

typedef struct NpzFile {
    char *path;                     /* as given to npz_load, for messages */
    int count;                      /* members, in the archive's order */
    NpzMember *members;
    int *sorted;                    /* member indices by name, for npz_find */
    unsigned char *bytes;           /* the whole file */
} NpzFile;

/* Loads and validates the whole archive.  On success release it with
 * npz_free; on failure *z holds no allocation. */
int npz_load(const char *path, NpzFile *z, char *err, size_t errlen);
void npz_free(NpzFile *z);

/* The member named name (without ".npy"), or NULL. */
NpzMember *npz_find(const NpzFile *z, const char *name);

/* Copies the member name, which must have exactly the given dtype and
 * shape (as npy_read), into data, and marks it used.  Errors name the
 * member: "ckpt.npz: no member 'fc.bias'", "ckpt.npz: member 'fc.bias':
 * shape (3,) does not match the expected (4,)". */
int npz_read(NpzFile *z, const char *name, char kind, int itemsize,
             int rank, const long *shape, void *data, char *err,
             size_t errlen);

/* Fails on the first member, in archive order, that is not used and whose
 * name does not start with ignore_prefix (NULL: none ignored):
 * "ckpt.npz: unexpected member 'fc2.weight'", as load_state_dict's strict
 * mode reports unexpected keys. */
int npz_check_used(const NpzFile *z, const char *ignore_prefix, char *err,
                   size_t errlen);

/* One array to write. */
typedef struct NpzEntry {
    const char *name;               /* member name without ".npy" */
    char kind;                      /* dtype as npy_write: 'f' 4 is '<f4' */
    int itemsize;
    int rank;
    const long *shape;
    const void *data;               /* product of shape elements */
} NpzEntry;

/* Writes the n entries to path, atomically.  Names must be 1 to
 * NPZ_MAX_NAME - 1 printable ASCII characters, distinct. */
int npz_write(const char *path, const NpzEntry *entries, int n, char *err,
              size_t errlen);

/* CRC-32 (ISO-HDLC, the zip and gzip one) of n bytes at p, continuing from
 * crc (0 to start). */
uint32_t npz_crc32(uint32_t crc, const void *p, size_t n);

#endif
