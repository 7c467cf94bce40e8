/* Argument structs of the alpha-neuron kernels (_scan.c, _train.c), shared by both precisions.
 *
 * Each struct is mirrored once in spikelib/alpha/_cscan.py (same name, same field order); the *_layout()
 * functions below let spikelib/_cbuild.py:check_layout compare the two. Arrays are REAL (double or float,
 * as the entry point's suffix says) unless typed here; scalars are double and cast to REAL on entry.
 */
#include <pthread.h>

/* alpha_forward_f64/_f32: the first valid prefix of every (example, output) for examples [n0, n1). */
typedef struct {
    int64_t n0, n1;       /* the examples of this call */
    int64_t K, J;         /* spiking inputs per example (inf padded), output neurons */
    const void *t_s;      /* (N, K) sorted input times */
    const int64_t *order; /* (N, K) their rows in w */
    const void *w;        /* (rows, J) weights */
    double tau, theta, span;
    void *a, *b, *ref;    /* out (N, J): running sums and reference time of the chosen prefix */
    int64_t *k_star;      /* out (N, J): the chosen prefix, K if silent */
    void *scratch;        /* 4 J values of this thread (a, b, two int32 flags) */
} AlphaForwardArgs;

/* alpha_backward_f64/_f32: gradient terms of the causal inputs of examples [n0, n1). */
typedef struct {
    int64_t n0, n1, K, J, n_in;
    const void *t_s;                /* (N, K) */
    const int64_t *order, *k_star;  /* (N, K), (N, J) */
    const void *w;                  /* (n_in, J) */
    const void *ref, *t_out, *inv_denom, *g; /* (N, J); inv_denom = 1 / (a (1 + W)); g upstream gradient */
    double tau, clip;
    void *grad_w;                   /* (n_in, J), this thread's own buffer */
    void *grad_t;                   /* (N, n_in) */
} AlphaBackwardArgs;

/* alpha_train_epoch_f64/_f32: one training epoch (see _train.c for the parameter layout). */
typedef struct {
    int64_t L;                                  /* layers */
    const int64_t *sizes;                       /* L + 1 layer widths */
    int64_t P;                                  /* pulses per layer */
    void *params, *m, *v;                       /* flat parameters and Adam's moments */
    const int64_t *w_off, *pulse_off;           /* per layer: offset of its weights / pulse times */
    int64_t n_groups;                           /* Adam parameter tensors */
    const int64_t *group_off, *group_len;
    const double *group_lr;
    int64_t *group_step;                        /* in/out: Adam's step counts */
    const int64_t *group_clamp;                 /* clamp to >= 0 after the step (pulse times) */
    double beta1, beta2, eps;
    int64_t N;                                  /* examples in order */
    const void *x, *targets;                    /* (examples, n_in) inputs; (examples, n_out) targets */
    const int64_t *labels, *order;
    int64_t batch, n_threads;
    int64_t loss_kind;                          /* 0 classification, 1 autoencoder */
    int64_t update_all;
    double latency, tau, theta, clip, penalty, span, min_w1;
    double *stats;                              /* += loss, correct, contributing */
} AlphaTrainArgs;

/* alpha_lambertw0_f64/_f32: w[i] = W0(z[i]) by _train.c's lambertw0 (for the lockstep test). */
typedef struct {
    int64_t n;
    const void *z;
    void *w;
} AlphaLambertWArgs;

/* alpha_sort_order_f64/_f32: idx = the order of key[0..n) by _train.c's sort_idx (for the test of its
 * float radix path against a stable argsort); tmp has room for n entries. */
typedef struct {
    int64_t n;
    const void *key;
    int64_t *idx, *tmp;
} AlphaSortArgs;

/* A reusable barrier for the threads of one training epoch (two per mini-batch). A waiter spins a while
 * first: a batch of 5 examples takes ~0.1 ms, far less than a sleeping thread needs to be woken. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t need, count, gen;
} AlphaBarrier;

static inline void alpha_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void alpha_barrier_wait(AlphaBarrier *b) {
    const int64_t gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->need) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);  /* before gen moves on: the next round starts at 0 */
        pthread_mutex_lock(&b->mu);
        __atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    for (int i = 0; i < 4000; ++i) {
        if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen) return;
        alpha_cpu_relax();
    }
    pthread_mutex_lock(&b->mu);
    while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Stable sort of idx[0..n) -- ascending input indices on entry -- by the float keys key[idx[.]], as
 * _train.c's merge sort orders them: LSD radix sort (least significant byte first, each pass stable) of
 * 64-bit words holding the key's bits made order-preserving (negatives complemented, the sign bit set on
 * the rest; a key that compares equal to 0 taken as +0, so that -0 ties with 0 as in the comparison, and so
 * does a subnormal under the trainer's flush-to-zero mode) above the index, so that equal
 * keys keep ascending indices. A pass whose byte is the same in every key is skipped. The keys are finite
 * (the caller drops silent inputs). tmp has room for n words. About 5 n + 1k steps without data-dependent
 * branches, against the merge sort's n log2 n mispredicted compares: for the 784 inputs of an MNIST
 * example it was 14 % of a training epoch. */
static void alpha_sort_f32_keys(int64_t *idx, int64_t *tmp, int64_t n, const float *key) {
    uint64_t *a = (uint64_t *)idx, *b = (uint64_t *)tmp;
    uint32_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < n; ++i) {
        const float k = key[idx[i]] == 0 ? 0.0f : key[idx[i]];
        uint32_t u;
        memcpy(&u, &k, sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
        a[i] = ((uint64_t)u << 32) | (uint32_t)idx[i];
        for (int p = 0; p < 4; ++p) ++hist[p][(u >> (8 * p)) & 255u];
    }
    for (int p = 0; p < 4; ++p) {
        const int shift = 32 + 8 * p;
        if (hist[p][(a[0] >> shift) & 255u] == (uint32_t)n) continue; /* one value: the pass keeps the order */
        uint32_t off[256], sum = 0;
        for (int d = 0; d < 256; ++d) { off[d] = sum; sum += hist[p][d]; }
        for (int64_t i = 0; i < n; ++i) b[off[(a[i] >> shift) & 255u]++] = a[i];
        uint64_t *t = a; a = b; b = t;
    }
    for (int64_t i = 0; i < n; ++i) idx[i] = (int64_t)(uint32_t)a[i];
}

#define span_cap(T) (sizeof(T) == 4 ? (T)80 : (T)700)

void AlphaForwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(AlphaForwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, AlphaForwardArgs, f)
    F(n0); F(n1); F(K); F(J); F(t_s); F(order); F(w); F(tau); F(theta); F(span); F(a); F(b); F(ref);
    F(k_star); F(scratch);
#undef F
}

void AlphaBackwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(AlphaBackwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, AlphaBackwardArgs, f)
    F(n0); F(n1); F(K); F(J); F(n_in); F(t_s); F(order); F(k_star); F(w); F(ref); F(t_out); F(inv_denom);
    F(g); F(tau); F(clip); F(grad_w); F(grad_t);
#undef F
}

void AlphaTrainArgs_layout(KernelLayout *o) {
    o->size = sizeof(AlphaTrainArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, AlphaTrainArgs, f)
    F(L); F(sizes); F(P); F(params); F(m); F(v); F(w_off); F(pulse_off); F(n_groups); F(group_off);
    F(group_len); F(group_lr); F(group_step); F(group_clamp); F(beta1); F(beta2); F(eps); F(N); F(x);
    F(targets); F(labels); F(order); F(batch); F(n_threads); F(loss_kind); F(update_all); F(latency); F(tau);
    F(theta); F(clip); F(penalty); F(span); F(min_w1); F(stats);
#undef F
}

void AlphaLambertWArgs_layout(KernelLayout *o) {
    o->size = sizeof(AlphaLambertWArgs); o->n = 0;
    LAYOUT_FIELD(o, AlphaLambertWArgs, n); LAYOUT_FIELD(o, AlphaLambertWArgs, z); LAYOUT_FIELD(o, AlphaLambertWArgs, w);
}

void AlphaSortArgs_layout(KernelLayout *o) {
    o->size = sizeof(AlphaSortArgs); o->n = 0;
    LAYOUT_FIELD(o, AlphaSortArgs, n); LAYOUT_FIELD(o, AlphaSortArgs, key); LAYOUT_FIELD(o, AlphaSortArgs, idx);
    LAYOUT_FIELD(o, AlphaSortArgs, tmp);
}
