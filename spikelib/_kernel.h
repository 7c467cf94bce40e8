/* Shared preamble of every spikelib C kernel (spikelib/_cbuild.py:template_source puts it first).
 *
 * The template convention. A kernel is a few non-templated headers (`*.h`: structs, helpers that do not
 * depend on the floating-point type) and templates (`*.c`) written once over
 *   REAL     the floating-point type (double / float),
 *   SUF(x)   the name x with the precision's suffix (x_f64 / x_f32),
 *   EXP, SQRT  exp / sqrt of that type (exp, sqrt / expf, sqrtf),
 * which template_source instantiates for double and for float. Python calls every exported function with
 * a pointer to ONE argument struct, declared in a header and mirrored once as a ctypes.Structure (fields
 * in the same order); for each struct S the library exports S_layout(), which reports sizeof and every
 * field's name, offset and size, so that a drift between C and Python fails at load time and in the tests
 * (spikelib/_cbuild.py:check_layout). Scalars in the structs are double (the templates cast them to
 * REAL, the same rounding ctypes would do) and arrays are untyped pointers, so that one struct serves
 * both precisions.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LAYOUT_MAX 48

/* sizeof and the fields of one argument struct, in declaration order (see S_layout above). */
typedef struct {
    int64_t size, n;
    int64_t offset[LAYOUT_MAX], field_size[LAYOUT_MAX];
    const char *name[LAYOUT_MAX];
} KernelLayout;

#define LAYOUT_FIELD(out, S, f)                                                                            \
    ((out)->offset[(out)->n] = (int64_t)offsetof(S, f), (out)->field_size[(out)->n] = (int64_t)sizeof(((S *)0)->f), \
     (out)->name[(out)->n++] = #f)
