/* CPU scan kernel for spikelib.alpha.functional (Comsa et al. 2021, eqs. 1-5).
 *
 * The same algorithm as the vectorised torch path: for each example, walk the time-sorted spiking inputs
 * once, keeping the running sums a_j, b_j of every output neuron j in the frame of a reference time, and
 * stop each neuron at the first prefix whose threshold crossing lies between its last input and the next
 * one. Here the running sums stay in cache instead of being materialised for every prefix. The frame is
 * moved forward (exactly: a' = a e^{-tau D}, b' = (b - D a) e^{-tau D}) whenever e^{tau (t - ref)} would
 * exceed e^{span}, so float32 is safe for long spike trains.
 *
 * Compiled once per machine by spikelib/alpha/_cscan.py; both float and double versions are generated.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DEFINE_KERNELS(T, SUFFIX, EXP)                                                                   \
void alpha_forward_##SUFFIX(int64_t n0, int64_t n1, int64_t K, int64_t J, const T *t_s,                  \
                            const int64_t *order, const T *w, T tau, T theta, T span, T *a_out,         \
                            T *b_out, T *ref_out, int64_t *k_star, T *scratch) {                         \
    T *a = scratch, *b = scratch + J;                                                                    \
    const T inv_tau = (T)1 / tau;                                                                        \
    for (int64_t n = n0; n < n1; ++n) {                                                                  \
        const T *tn = t_s + n * K;                                                                       \
        const int64_t *on = order + n * K;                                                               \
        int64_t *ks = k_star + n * J;                                                                    \
        T *ao = a_out + n * J, *bo = b_out + n * J, *ro = ref_out + n * J;                               \
        int64_t remaining = J;                                                                           \
        for (int64_t j = 0; j < J; ++j) { a[j] = 0; b[j] = 0; ks[j] = K; ao[j] = 0; bo[j] = 0; ro[j] = 0; } \
        T ref = tn[0];                                                                                   \
        for (int64_t k = 0; k < K && remaining > 0; ++k) {                                               \
            T tk = tn[k];                                                                                \
            if (!isfinite(tk)) break;                                                                    \
            T d = tk - ref;                                                                              \
            if (tau * d > span) { /* move the frame to tk */                                             \
                T f = EXP(-tau * d);                                                                     \
                for (int64_t j = 0; j < J; ++j) { b[j] = (b[j] - d * a[j]) * f; a[j] *= f; }             \
                ref = tk; d = 0;                                                                         \
            }                                                                                            \
            T e = EXP(tau * d), ed = e * d;                                                              \
            T ek = EXP(-tau * d);                                                                        \
            T tn1 = (k + 1 < K) ? tn[k + 1] : (T)INFINITY;                                               \
            int has_next = isfinite(tn1);                                                                \
            T sn = has_next ? tn1 - ref : (T)0;                                                          \
            T en = has_next ? EXP(-tau * sn) : (T)0;                                                     \
            const T *wr = w + on[k] * J;                                                                 \
            for (int64_t j = 0; j < J; ++j) {                                                            \
                T aj = a[j] + wr[j] * e, bj = b[j] + wr[j] * ed;                                         \
                a[j] = aj; b[j] = bj;                                                                    \
                if (ks[j] != K || !(aj > 0)) continue;                                                   \
                T a_tau = aj * inv_tau;                                                                  \
                T uk = aj * d - bj;                                                                      \
                if (!(uk <= a_tau) || !(ek * uk <= theta)) continue;                                     \
                int ok;                                                                                  \
                T un = aj * sn - bj;                                                                     \
                if (has_next && un <= a_tau) ok = en * un >= theta;                                      \
                else ok = a_tau * EXP(-(T)1 - tau * (bj / aj)) >= theta;                                 \
                if (ok) { ks[j] = k; ao[j] = aj; bo[j] = bj; ro[j] = ref; --remaining; }                 \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
}                                                                                                        \
                                                                                                         \
/* Gradient terms for the causal inputs (k <= k_star) of every spiking output:                           \
 *   grad_w[order[k], j] += g_j e^{tau (t_k - ref_j)} (t_k - t_out_j) / denom_j                          \
 *   grad_t[n, order[k]] += sum_j g_j w_kj e^{tau (t_k - ref_j)} (tau (t_k - t_out_j) + 1) / denom_j      \
 * with denom = a (1 + W) (passed as 1/denom); local derivatives clipped to +-clip when clip > 0. grad_w is accumulated      \
 * into this thread's own buffer. */                                                                     \
void alpha_backward_##SUFFIX(int64_t n0, int64_t n1, int64_t K, int64_t J, int64_t n_in, const T *t_s,   \
                             const int64_t *order, const T *w, const int64_t *k_star, const T *ref,     \
                             const T *t_out, const T *inv_denom, const T *g, T tau, T clip, T *grad_w,       \
                             T *grad_t) {                                                                \
    const T big = sizeof(T) == 4 ? (T)3.4e38 : (T)1.7e308;                                               \
    for (int64_t n = n0; n < n1; ++n) {                                                                  \
        const T *tn = t_s + n * K;                                                                       \
        const int64_t *on = order + n * K, *ks = k_star + n * J;                                         \
        const T *rn = ref + n * J, *ton = t_out + n * J, *dn = inv_denom + n * J, *gn = g + n * J;           \
        int64_t kmax = -1;                                                                               \
        int one_frame = 1; /* every output in the frame of the first input: one exp per input */           \
        for (int64_t j = 0; j < J; ++j) {                                                                \
            if (ks[j] < K && gn[j] != 0 && ks[j] > kmax) kmax = ks[j];                                   \
            if (ks[j] < K && rn[j] != tn[0]) one_frame = 0;                                              \
        }                                                                                                \
        for (int64_t k = 0; k <= kmax; ++k) {                                                            \
            T tk = tn[k];                                                                                \
            const int64_t i = on[k];                                                                     \
            const T *wr = w + i * J;                                                                     \
            T *gw = grad_w + i * J;                                                                      \
            T acc = 0;                                                                                   \
            T e0 = EXP(tau * (tk - tn[0]));                                                              \
            for (int64_t j = 0; j < J; ++j) {                                                            \
                if (k > ks[j] || gn[j] == 0) continue;                                                   \
                T x = tau * (tk - rn[j]);                                                                \
                T s = (one_frame ? e0 : EXP(x < span_cap(T) ? x : span_cap(T))) * dn[j];                 \
                T diff = tk - ton[j];                                                                    \
                T dw = s * diff, dt = wr[j] * s * (tau * diff + 1);                                      \
                if (clip > 0) {                                                                          \
                    dw = dw > clip ? clip : (dw < -clip ? -clip : dw);                                   \
                    dt = dt > clip ? clip : (dt < -clip ? -clip : dt);                                   \
                }                                                                                        \
                T vw = gn[j] * dw, vt = gn[j] * dt;                                                      \
                gw[j] += isfinite(vw) ? vw : (isnan(vw) ? 0 : (vw > 0 ? big : -big));                    \
                acc += isfinite(vt) ? vt : (isnan(vt) ? 0 : (vt > 0 ? big : -big));                      \
            }                                                                                            \
            grad_t[n * n_in + i] = isfinite(acc) ? acc : (isnan(acc) ? 0 : (acc > 0 ? big : -big));      \
        }                                                                                                \
    }                                                                                                    \
}

#define span_cap(T) (sizeof(T) == 4 ? (T)80 : (T)700)

DEFINE_KERNELS(float, f32, expf)
DEFINE_KERNELS(double, f64, exp)
