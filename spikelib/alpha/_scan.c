/* CPU scan kernel for spikelib.alpha.functional (Comsa et al. 2021, eqs. 1-5).
 *
 * The same algorithm as the vectorised torch path: for each example, walk the time-sorted spiking inputs
 * once, keeping the running sums a_j, b_j of every output neuron j in the frame of a reference time, and
 * stop each neuron at the first prefix whose threshold crossing lies between its last input and the next
 * one. Here the running sums stay in cache instead of being materialised for every prefix. The frame is
 * moved forward (exactly: a' = a e^{-tau D}, b' = (b - D a) e^{-tau D}) whenever e^{tau (t - ref)} would
 * exceed e^{span}, so float32 is safe for long spike trains.
 *
 * A template over REAL / SUF / EXP (spikelib/_kernel.h), instantiated for double and float after
 * _alpha.h, which declares the argument structs. Built by spikelib/alpha/_cscan.py.
 */

/* The crossing test runs as two passes per input: a branch-free pass over every neuron (the running sums
 * and the tests that need no exp, written so that the compiler vectorises it across neurons), flagging
 * the neurons that cross before the next input (bit 0) or whose potential peaks before it (bit 1: only
 * then is the peak's exp needed); then a scalar pass over the flagged few. Same arithmetic, same
 * decisions as one scalar pass.
 * MIRROR(alpha-crossing): keep in lockstep with spikelib/alpha/functional.py:_forward_core (the prefix
 * test); tested by tests/test_alpha_cscan.py::test_c_kernel_matches_torch_path_on_random_batches */
void SUF(alpha_forward)(const AlphaForwardArgs *args) {
    FLUSH_SUBNORMALS();
    const int64_t n0 = args->n0, n1 = args->n1, K = args->K, J = args->J;
    const REAL *t_s = args->t_s, *w = args->w;
    const int64_t *order = args->order;
    const REAL tau = (REAL)args->tau, theta = (REAL)args->theta, span = (REAL)args->span;
    REAL *a_out = args->a, *b_out = args->b, *ref_out = args->ref;
    int64_t *k_star = args->k_star;
    REAL *restrict a = args->scratch, *restrict b = (REAL *)args->scratch + J;
    int32_t *restrict live = (int32_t *)((REAL *)args->scratch + 2 * J), *restrict flag = live + J;
    const REAL inv_tau = (REAL)1 / tau;
    for (int64_t n = n0; n < n1; ++n) {
        const REAL *tn = t_s + n * K;
        const int64_t *on = order + n * K;
        int64_t *ks = k_star + n * J;
        REAL *ao = a_out + n * J, *bo = b_out + n * J, *ro = ref_out + n * J;
        int64_t remaining = J;
        for (int64_t j = 0; j < J; ++j) { a[j] = 0; b[j] = 0; live[j] = 1; ks[j] = K; ao[j] = 0; bo[j] = 0; ro[j] = 0; }
        REAL ref = tn[0];
        for (int64_t k = 0; k < K && remaining > 0; ++k) {
            REAL tk = tn[k];
            if (!isfinite(tk)) break;
            REAL d = tk - ref;
            if (tau * d > span) { /* move the frame to tk */
                REAL f = EXP(-tau * d);
                for (int64_t j = 0; j < J; ++j) { b[j] = (b[j] - d * a[j]) * f; a[j] *= f; }
                ref = tk; d = 0;
            }
            const REAL e = EXP(tau * d), ed = e * d;
            const REAL ek = EXP(-tau * d);
            const REAL tn1 = (k + 1 < K) ? tn[k + 1] : (REAL)INFINITY;
            const int32_t has_next = isfinite(tn1);
            const REAL sn = has_next ? tn1 - ref : (REAL)0;
            const REAL en = has_next ? EXP(-tau * sn) : (REAL)0;
            const REAL *restrict wr = w + on[k] * J;
            int32_t any = 0;
            for (int64_t j = 0; j < J; ++j) {
                const REAL aj = a[j] + wr[j] * e, bj = b[j] + wr[j] * ed;
                a[j] = aj; b[j] = bj;
                /* the crossing lies at or after t_k: a > 0, t_k before the peak, V(t_k) <= theta ... */
                const REAL a_tau = aj * inv_tau, uk = aj * d - bj, un = aj * sn - bj;
                const int32_t at_k = live[j] & (aj > 0) & (uk <= a_tau) & (ek * uk <= theta);
                /* ... and before t_{k+1} (next input before the peak), or else at the peak, if it reaches theta */
                const int32_t next = has_next & (un <= a_tau);
                const int32_t f = (at_k & next & (en * un >= theta)) | ((at_k & (next ^ 1)) << 1);
                flag[j] = f;
                any |= f;
            }
            if (!any) continue;
            for (int64_t j = 0; j < J; ++j) {
                if (!flag[j]) continue;
                const REAL aj = a[j], bj = b[j];
                if (!(flag[j] & 1) && !(aj * inv_tau * EXP(-(REAL)1 - tau * (bj / aj)) >= theta)) continue;
                ks[j] = k; ao[j] = aj; bo[j] = bj; ro[j] = ref; live[j] = 0; --remaining;
            }
        }
    }
}

/* Gradient terms for the causal inputs (k <= k_star) of every spiking output:
 *   grad_w[order[k], j] += g_j e^{tau (t_k - ref_j)} (t_k - t_out_j) / denom_j
 *   grad_t[n, order[k]] += sum_j g_j w_kj e^{tau (t_k - ref_j)} (tau (t_k - t_out_j) + 1) / denom_j
 * with denom = a (1 + W) (passed as 1/denom); local derivatives clipped to +-clip when clip > 0. grad_w is
 * accumulated into this thread's own buffer.
 * MIRROR(alpha-gradients): keep in lockstep with spikelib/alpha/functional.py:_backward_core (eqs. 4-5);
 * tested by tests/test_alpha_cscan.py::test_c_kernel_matches_torch_path_on_random_batches */
void SUF(alpha_backward)(const AlphaBackwardArgs *args) {
    FLUSH_SUBNORMALS();
    const int64_t n0 = args->n0, n1 = args->n1, K = args->K, J = args->J, n_in = args->n_in;
    const REAL *t_s = args->t_s, *w = args->w, *ref = args->ref, *t_out = args->t_out;
    const REAL *inv_denom = args->inv_denom, *g = args->g;
    const int64_t *order = args->order, *k_star = args->k_star;
    const REAL tau = (REAL)args->tau, clip = (REAL)args->clip;
    REAL *grad_w = args->grad_w, *grad_t = args->grad_t;
    const REAL big = sizeof(REAL) == 4 ? (REAL)3.4e38 : (REAL)1.7e308;
    int32_t last[J > 0 ? J : 1]; /* the last causal input of each output; -1: silent or no gradient */
    REAL vts[J > 0 ? J : 1];     /* one input's terms of grad_t, summed in output order after the pass */
    for (int64_t n = n0; n < n1; ++n) {
        const REAL *tn = t_s + n * K;
        const int64_t *on = order + n * K, *ks = k_star + n * J;
        const REAL *rn = ref + n * J, *ton = t_out + n * J, *dn = inv_denom + n * J, *gn = g + n * J;
        int64_t kmax = -1;
        int one_frame = 1; /* every output in the frame of the first input: one exp per input */
        for (int64_t j = 0; j < J; ++j) {
            last[j] = (ks[j] < K && gn[j] != 0) ? (int32_t)ks[j] : -1;
            if (last[j] > kmax) kmax = last[j];
            if (ks[j] < K && rn[j] != tn[0]) one_frame = 0;
        }
        for (int64_t k = 0; k <= kmax; ++k) {
            const REAL tk = tn[k];
            const int64_t i = on[k];
            const REAL *restrict wr = w + i * J;
            REAL *restrict gw = grad_w + i * J;
            REAL acc = 0;
            if (one_frame) {
                /* branch-free over the outputs (vectorised): a non-causal lane adds exactly 0. grad_t's terms
                 * are summed after it, in order, so that the sum does not depend on the vector width. */
                const REAL e0 = EXP(tau * (tk - tn[0]));
                const int32_t kk = (int32_t)k;
#pragma omp simd
                for (int64_t j = 0; j < J; ++j) {
                    const REAL s = e0 * dn[j], diff = tk - ton[j];
                    REAL dw = s * diff, dt = wr[j] * s * (tau * diff + 1);
                    if (clip > 0) {
                        dw = dw > clip ? clip : (dw < -clip ? -clip : dw);
                        dt = dt > clip ? clip : (dt < -clip ? -clip : dt);
                    }
                    REAL vw = gn[j] * dw, vt = gn[j] * dt;
                    vw = vw != vw ? 0 : (vw == (REAL)INFINITY ? big : (vw == -(REAL)INFINITY ? -big : vw));
                    vt = vt != vt ? 0 : (vt == (REAL)INFINITY ? big : (vt == -(REAL)INFINITY ? -big : vt));
                    const int causal = kk <= last[j];
                    gw[j] += causal ? vw : 0;
                    vts[j] = causal ? vt : 0;
                }
                for (int64_t j = 0; j < J; ++j) acc += vts[j];
            } else {
                for (int64_t j = 0; j < J; ++j) {
                    if (k > last[j]) continue;
                    REAL x = tau * (tk - rn[j]);
                    REAL s = EXP(x < span_cap(REAL) ? x : span_cap(REAL)) * dn[j];
                    REAL diff = tk - ton[j];
                    REAL dw = s * diff, dt = wr[j] * s * (tau * diff + 1);
                    if (clip > 0) {
                        dw = dw > clip ? clip : (dw < -clip ? -clip : dw);
                        dt = dt > clip ? clip : (dt < -clip ? -clip : dt);
                    }
                    REAL vw = gn[j] * dw, vt = gn[j] * dt;
                    gw[j] += isfinite(vw) ? vw : (isnan(vw) ? 0 : (vw > 0 ? big : -big));
                    acc += isfinite(vt) ? vt : (isnan(vt) ? 0 : (vt > 0 ? big : -big));
                }
            }
            grad_t[n * n_in + i] = isfinite(acc) ? acc : (isnan(acc) ? 0 : (acc > 0 ? big : -big));
        }
    }
}
