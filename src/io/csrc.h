/* The C source the C export writes (io/export_c.c), as the ops' table
 * entries see it (eg_c_form): the parameter arrays, the kernels (each
 * written once, whichever nodes call it) and the body of NAME_infer, in
 * three sections joined at the end. */
#ifndef EG_CSRC_H
#define EG_CSRC_H

#include <stddef.h>

#include "internal.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;  /* an allocation failed: the text is incomplete */
} eg_text;

#define EG_CSRC_MAX_KERNELS 64

struct eg_csrc {
    eg_text params, kernels, body;
    char keys[EG_CSRC_MAX_KERNELS][48];  /* the kernels written so far */
    int nkeys;
    size_t flash;  /* bytes of the const arrays written */
};

/* printf-style text appended to t. */
void eg_text_add(eg_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A const float array (name[n] = {v...}) in the parameters, its bytes counted as flash. */
void eg_csrc_floats(eg_csrc *s, const char *name, const float *v, size_t n);
/* A kernel's text, written into the kernels the first time its key comes;
 * the _typed form replaces every "@T" with the unsigned type of `bytes`
 * bytes and every "@N" with its bits (a CSR kernel per index width). */
void eg_csrc_kernel(eg_csrc *s, const char *key, const char *text);
void eg_csrc_kernel_typed(eg_csrc *s, const char *key, const char *text, int bytes);
/* conv_tap, the C export's one-tap kernel, shared by conv2d and dwconv2d (layers/conv2d.c). */
extern const char eg_csrc_conv_tap[];
/* "4x28x28", or "10" for a flat shape. */
void eg_csrc_shape(char *out, size_t cap, eg_shape sh);

#endif
