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

/* The bytes of a vector register of the build: 64 with AVX-512, else 32. Kernels on GCC vector types size
 * their variables by it: a vector wider than the registers has none to live in, and GCC keeps it on the
 * stack (on a Zen 3, AVX2 only, every 64-byte accumulator went through memory). */
#if defined(__AVX512F__)
#define REG_BYTES 64
#else
#define REG_BYTES 32
#endif

/* sizeof and the fields of one argument struct, in declaration order (see S_layout above). */
typedef struct {
    int64_t size, n;
    int64_t offset[LAYOUT_MAX], field_size[LAYOUT_MAX];
    const char *name[LAYOUT_MAX];
} KernelLayout;

#define LAYOUT_FIELD(out, S, f)                                                                            \
    ((out)->offset[(out)->n] = (int64_t)offsetof(S, f), (out)->field_size[(out)->n] = (int64_t)sizeof(((S *)0)->f), \
     (out)->name[(out)->n++] = #f)

/* Subnormal floats (|x| < FLT_MIN = 1.2e-38, or DBL_MIN) are flushed to zero, as inputs and as results,
 * for the duration of every exported call: FLUSH_SUBNORMALS(); as the first statement restores the
 * caller's mode on every return (GCC/Clang cleanup attribute). Why: on Intel CPUs every operation that
 * meets a subnormal takes a microcode assist of ~100+ cycles, and training makes them by the million
 * (Adam's first moment of a weight whose gradient stays zero decays by 0.9 a step into the subnormal range
 * after ~800 steps): the alpha MNIST epoch at batch 5 ran at half speed on an Intel Xeon (3,521 vs 7,109
 * examples/s, the same accuracy). Values that small change no spike time or weight update here; the torch
 * side flushes too (spikelib.backend), so the two paths stay in lockstep. x86-64 only (MXCSR FTZ and DAZ
 * bits); elsewhere a no-op. Threads a kernel starts inherit the mode. */
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FP_SUBNORMALS_FLUSH 0x8040u /* MXCSR: flush to zero (bit 15), denormals are zero (bit 6) */
static inline unsigned int fp_flush_subnormals(void) {
    unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | FP_SUBNORMALS_FLUSH);
    return saved;
}
static inline void fp_restore(const unsigned int *saved) { _mm_setcsr(*saved); }
#else
static inline unsigned int fp_flush_subnormals(void) { return 0u; }
static inline void fp_restore(const unsigned int *saved) { (void)saved; }
#endif
#define FLUSH_SUBNORMALS() \
    const unsigned int fp_saved_mode_ __attribute__((cleanup(fp_restore), unused)) = fp_flush_subnormals()
