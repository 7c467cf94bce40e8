/* Whole training epochs of small alpha-neuron networks in C (Comsa et al. 2021, §2.3-2.5; 2021b, §2.5).
 *
 * The torch training loop (spikelib/alpha/training.py) pays ~200 tensor dispatches per update; for the
 * Boolean tasks of §3.1 (a 2-2-2 network, batch size 1, ~10^5 sequential updates per run) that overhead is
 * everything. This file runs the same epoch -- forward scan, eq. (3), the loss gradient, eqs. (4)-(5)
 * layer by layer, the no-spike penalty, the authors' Adam, the pulse clamp -- example by example, with the
 * per-layer scan kernels of _scan.c. It is a template: spikelib/alpha/_cscan.py appends it to _scan.c
 * twice, with REAL = double / float, SUF(x) = x##_f64 / x##_f32 and SORT_IDX = sort_idx_double / _float.
 *
 * Parameters live in one flat buffer `params` (each layer's (n_in + P) x n_out weights, then the pulse-time
 * vectors), with Adam's m and v beside it; `group_*` describe the Adam parameter tensors (offset, length,
 * learning rate, step count, whether to clamp to >= 0 afterwards).
 */

#ifndef ALPHA_TRAIN_COMMON
#define ALPHA_TRAIN_COMMON
#include <stdlib.h>

/* stable merge sort of idx[0..n) by key[idx[.]] (ascending); tmp has room for n entries */
#define DEFINE_SORT(T)                                                                                   \
static void sort_idx_##T(int64_t *idx, int64_t *tmp, int64_t n, const T *key) {                         \
    if (n < 16) {                                                                                        \
        for (int64_t i = 1; i < n; ++i) {                                                                \
            int64_t v = idx[i], j = i;                                                                   \
            while (j > 0 && key[idx[j - 1]] > key[v]) { idx[j] = idx[j - 1]; --j; }                     \
            idx[j] = v;                                                                                  \
        }                                                                                                \
        return;                                                                                          \
    }                                                                                                    \
    int64_t h = n / 2;                                                                                   \
    sort_idx_##T(idx, tmp, h, key);                                                                      \
    sort_idx_##T(idx + h, tmp, n - h, key);                                                              \
    int64_t i = 0, j = h, k = 0;                                                                         \
    while (i < h && j < n) tmp[k++] = key[idx[j]] < key[idx[i]] ? idx[j++] : idx[i++];                   \
    while (i < h) tmp[k++] = idx[i++];                                                                   \
    while (j < n) tmp[k++] = idx[j++];                                                                   \
    memcpy(idx, tmp, (size_t)n * sizeof(int64_t));                                                      \
}
DEFINE_SORT(float)
DEFINE_SORT(double)
#endif

/* W0, the principal branch of Lambert W: the algorithm of spikelib/alpha/lambertw.py (branch-point
 * series near -1/e, else Winitzki or the asymptotic start, three Halley steps). */
static REAL SUF(lambertw0)(REAL z) {
    static const double c[7] = {-1.0, 1.0, -1.0 / 3.0, 11.0 / 72.0, -43.0 / 540.0, 769.0 / 17280.0,
                                -221.0 / 8505.0};
    const REAL hi = (REAL)0.36787944117144233, lo = (REAL)-1.2428753672788363e-17;
    if (z == 0) return 0;
    if (isinf(z) && z > 0) return z;
    if (z < -hi - lo) return (REAL)NAN;
    REAL ez1 = ((z + hi) + lo) * (REAL)2.718281828459045;
    REAL p = sqrt(2 * ez1 > 0 ? 2 * ez1 : 0);
    REAL wb = (REAL)c[6];
    for (int i = 5; i >= 0; --i) wb = wb * p + (REAL)c[i];
    if (p < (REAL)1e-3) return wb;
    REAL w;
    if (p < (REAL)0.5) w = wb;
    else if (z > 3) { REAL l1 = log(z), l2 = log(l1); w = l1 - l2 + l2 / l1; }
    else { REAL zc = z > (REAL)-0.3 ? z : (REAL)-0.3, l1p = log1p(zc); w = l1p * (1 - log1p(l1p) / (2 + l1p)); }
    for (int it = 0; it < 3; ++it) {
        REAL ew = exp(w), f = w * ew - z, wp1 = w + 1;
        REAL step = f / (ew * wp1 - (w + 2) * f / (2 * wp1));
        if (isfinite(step)) w -= step;
    }
    return w;
}

/* One layer's state for the example in flight. */
typedef struct {
    REAL *t_in;      /* n_in + P input times (inputs, then pulses) */
    REAL *t_s;       /* spiking inputs, sorted */
    int64_t *order;  /* their rows in the weight matrix */
    int64_t K;       /* how many spike */
    REAL *a, *b, *ref, *t_out, *inv_denom, *g;
    int64_t *k_star;
} SUF(LayerState);

/* Forward pass of one layer for one example: eq. (3) on the first valid prefix found by the scan. */
static void SUF(layer_forward)(SUF(LayerState) *s, int64_t n_all, int64_t J, const REAL *w, REAL tau,
                               REAL theta, REAL span, REAL min_w1, int64_t *tmp, REAL *scratch) {
    int64_t K = 0;
    for (int64_t i = 0; i < n_all; ++i)
        if (isfinite(s->t_in[i])) s->order[K++] = i;
    SORT_IDX(s->order, tmp, K, s->t_in);
    for (int64_t k = 0; k < K; ++k) s->t_s[k] = s->t_in[s->order[k]];
    s->K = K;
    if (K == 0) {
        for (int64_t j = 0; j < J; ++j) { s->t_out[j] = (REAL)INFINITY; s->inv_denom[j] = 0; s->k_star[j] = 0; }
        return;
    }
    SUF(alpha_forward)(0, 1, K, J, s->t_s, s->order, w, tau, theta, span, s->a, s->b, s->ref, s->k_star, scratch);
    const REAL log_tt = log(tau * theta);
    for (int64_t j = 0; j < J; ++j) {
        if (s->k_star[j] >= K) { s->t_out[j] = (REAL)INFINITY; s->inv_denom[j] = 0; continue; }
        REAL a = s->a[j], ratio = s->b[j] / a;
        REAL log_mz = log_tt - log(a) + tau * ratio;
        REAL W = SUF(lambertw0)(-exp(log_mz < -1 ? log_mz : (REAL)-1));
        s->t_out[j] = s->ref[j] + ratio - W / tau;
        REAL w1 = 1 + W;
        s->inv_denom[j] = 1 / (a * (w1 > min_w1 ? w1 : min_w1));
    }
}

/* One epoch over x[order] in mini-batches. loss_kind 0: classification, p = softmax(-t) over spiking
 * outputs, L = -log(p_y + 1e-8), dL/dt = y - p, correct iff argmin t == y; only misclassified examples
 * contribute unless update_all. loss_kind 1: autoencoder, o = t - latency (1 if silent), target inf -> 1,
 * reported sum (o - target)^2 / n_out, dL/dt = o - target for spiking outputs, every example contributes.
 * stats[0] += summed loss, stats[1] += correct, stats[2] += contributing. Returns 0, or -1 if out of memory. */
int SUF(alpha_train_epoch)(
    int64_t L, const int64_t *sizes, int64_t P, REAL *params, REAL *m, REAL *v, const int64_t *w_off,
    const int64_t *pulse_off, int64_t n_groups, const int64_t *group_off, const int64_t *group_len,
    const double *group_lr, int64_t *group_step, const int64_t *group_clamp, double beta1, double beta2,
    double eps, int64_t N, const REAL *x, const int64_t *labels, const REAL *targets, const int64_t *order,
    int64_t batch, int loss_kind, int update_all, REAL latency, REAL tau, REAL theta, REAL clip,
    REAL penalty, REAL span, REAL min_w1, double *stats) {
    int64_t n_params = 0, max_all = 0, max_out = 0, max_g;
    for (int64_t g = 0; g < n_groups; ++g)
        if (group_off[g] + group_len[g] > n_params) n_params = group_off[g] + group_len[g];
    int64_t n_neurons = 0;
    for (int64_t l = 0; l < L; ++l) {
        if (sizes[l] + P > max_all) max_all = sizes[l] + P;
        if (sizes[l + 1] > max_out) max_out = sizes[l + 1];
        n_neurons += sizes[l + 1];
    }
    max_g = max_all > max_out ? max_all : max_out;
    /* one allocation: gradient, silent counts, per-layer state, scratch */
    size_t n_real = (size_t)n_params + (size_t)n_neurons + (size_t)L * (2 * max_all + max_g + 5 * max_out) + 2 * max_out + max_all;
    size_t n_int = (size_t)L * (max_all + max_out) + max_all;
    REAL *rbuf = calloc(n_real, sizeof(REAL));
    int64_t *ibuf = calloc(n_int, sizeof(int64_t));
    SUF(LayerState) *st = calloc((size_t)L, sizeof(SUF(LayerState)));
    if (!rbuf || !ibuf || !st) { free(rbuf); free(ibuf); free(st); return -1; }
    REAL *grad = rbuf, *silent = rbuf + n_params, *r = silent + n_neurons;
    int64_t *ir = ibuf;
    for (int64_t l = 0; l < L; ++l) {
        st[l].t_in = r; r += max_all; st[l].t_s = r; r += max_all; st[l].g = r; r += max_g;
        st[l].a = r; r += max_out; st[l].b = r; r += max_out; st[l].ref = r; r += max_out;
        st[l].t_out = r; r += max_out; st[l].inv_denom = r; r += max_out;
        st[l].order = ir; ir += max_all; st[l].k_star = ir; ir += max_out;
    }
    REAL *scratch = r; r += 2 * max_out;
    REAL *grad_t = r;
    int64_t *tmp = ir;
    const int64_t n_in0 = sizes[0], n_out = sizes[L];

    for (int64_t start = 0; start < N; start += batch) {
        int64_t stop = start + batch < N ? start + batch : N, n_contrib = 0;
        for (int64_t e = start; e < stop; ++e) {
            const int64_t ex = order[e];
            /* forward through every layer */
            for (int64_t l = 0; l < L; ++l) {
                const int64_t n_in = sizes[l];
                if (l == 0) for (int64_t i = 0; i < n_in; ++i) st[0].t_in[i] = x[ex * n_in0 + i];
                else memcpy(st[l].t_in, st[l - 1].t_out, (size_t)n_in * sizeof(REAL));
                for (int64_t p = 0; p < P; ++p) st[l].t_in[n_in + p] = params[pulse_off[l] + p];
                SUF(layer_forward)(&st[l], n_in + P, sizes[l + 1], params + w_off[l], tau, theta, span, min_w1,
                                   tmp, scratch);
            }
            /* loss and its gradient at the output */
            const REAL *t = st[L - 1].t_out;
            REAL *g = st[L - 1].g;
            int contributes = 1;
            if (loss_kind == 0) {
                const int64_t y = labels[ex];
                int64_t best = -1;
                REAL tmin = (REAL)INFINITY;
                for (int64_t j = 0; j < n_out; ++j) if (t[j] < tmin) { tmin = t[j]; best = j; }
                REAL s = 0;
                for (int64_t j = 0; j < n_out; ++j) s += isfinite(t[j]) ? exp(tmin - t[j]) : 0;
                for (int64_t j = 0; j < n_out; ++j) {
                    REAL pj = (isfinite(t[j]) && s > 0) ? exp(tmin - t[j]) / s : 0;
                    g[j] = (REAL)(j == y) - pj;
                    if (j == y) stats[0] += -log(pj + (REAL)1e-8);
                }
                int correct = best == y;
                stats[1] += correct;
                contributes = update_all || !correct;
            } else {
                const REAL *tg = targets + ex * n_out;
                REAL sq = 0;
                for (int64_t j = 0; j < n_out; ++j) {
                    REAL o = isfinite(t[j]) ? t[j] - latency : 1, y = isfinite(tg[j]) ? tg[j] : 1;
                    sq += (o - y) * (o - y);
                    g[j] = o - y;
                }
                stats[0] += sq / n_out;
            }
            if (!contributes) continue;
            ++n_contrib;
            /* backward, last layer first (eqs. 4-5); silent neurons pass nothing back */
            REAL *sil = silent;
            for (int64_t l = 0; l < L; ++l) {
                for (int64_t j = 0; j < sizes[l + 1]; ++j) sil[j] += !isfinite(st[l].t_out[j]);
                sil += sizes[l + 1];
            }
            for (int64_t l = L - 1; l >= 0; --l) {
                const int64_t n_in = sizes[l], J = sizes[l + 1], n_all = n_in + P;
                SUF(LayerState) *s = &st[l];
                for (int64_t j = 0; j < J; ++j) if (!isfinite(s->t_out[j])) s->g[j] = 0;
                if (s->K == 0) { if (l > 0) for (int64_t i = 0; i < n_in; ++i) st[l - 1].g[i] = 0; continue; }
                memset(grad_t, 0, (size_t)n_all * sizeof(REAL));
                SUF(alpha_backward)(0, 1, s->K, J, n_all, s->t_s, s->order, params + w_off[l], s->k_star, s->ref,
                                    s->t_out, s->inv_denom, s->g, tau, clip, grad + w_off[l], grad_t);
                for (int64_t p = 0; p < P; ++p) grad[pulse_off[l] + p] += grad_t[n_in + p];
                if (l > 0) memcpy(st[l - 1].g, grad_t, (size_t)n_in * sizeof(REAL));
            }
        }
        stats[2] += (double)n_contrib;
        if (n_contrib == 0) continue;
        /* mean over contributing examples, the no-spike penalty, Adam (epsilon inside the root) */
        const REAL inv_n = (REAL)1 / (REAL)n_contrib;
        for (int64_t i = 0; i < n_params; ++i) grad[i] *= inv_n;
        REAL *sil = silent;
        for (int64_t l = 0; l < L; ++l) {
            const int64_t J = sizes[l + 1], rows = sizes[l] + P;
            REAL *gw = grad + w_off[l];
            for (int64_t j = 0; j < J; ++j) {
                if (sil[j] == 0) continue;
                REAL d = penalty * sil[j] * inv_n;
                for (int64_t i = 0; i < rows; ++i) gw[i * J + j] -= d;
                sil[j] = 0;
            }
            sil += J;
        }
        for (int64_t gi = 0; gi < n_groups; ++gi) {
            const int64_t k = ++group_step[gi];
            const REAL b1 = (REAL)beta1, b2 = (REAL)beta2, lr = (REAL)group_lr[gi];
            const REAL c1 = (REAL)(1 - pow(beta1, (double)k)), c2 = (REAL)(1 - pow(beta2, (double)k));
            for (int64_t i = group_off[gi]; i < group_off[gi] + group_len[gi]; ++i) {
                REAL gr = grad[i];
                m[i] = m[i] * b1 + (1 - b1) * gr;
                v[i] = v[i] * b2 + (1 - b2) * (gr * gr);
                params[i] -= lr * (m[i] / c1) / sqrt(v[i] / c2 + (REAL)eps);
                if (group_clamp[gi] && params[i] < 0) params[i] = 0;
                grad[i] = 0;
            }
        }
    }
    free(rbuf); free(ibuf); free(st);
    return 0;
}
