/* Whole training epochs of small alpha-neuron networks in C (Comsa et al. 2021, §2.3-2.5; 2021b, §2.5).
 *
 * The torch training loop (spikelib/alpha/training.py) pays ~200 tensor dispatches per update; for the
 * Boolean tasks of §3.1 (a 2-2-2 network, batch size 1, ~10^5 sequential updates per run) that overhead is
 * everything. This file runs the same epoch -- forward scan, eq. (3), the loss gradient, eqs. (4)-(5)
 * layer by layer, the no-spike penalty, the authors' Adam, the pulse clamp -- example by example, with the
 * per-layer scan kernels of _scan.c. A template over REAL / SUF / SQRT (spikelib/_kernel.h), instantiated
 * for double and float after _scan.c; the argument structs are declared in _alpha.h.
 *
 * Parameters live in one flat buffer `params` (each layer's (n_in + P) x n_out weights, then the pulse-time
 * vectors), with Adam's m and v beside it; `group_*` describe the Adam parameter tensors (offset, length,
 * learning rate, step count, whether to clamp to >= 0 afterwards).
 */

/* stable merge sort of idx[0..n) by key[idx[.]] (ascending); tmp has room for n entries. Float keys of 64
 * or more inputs (ascending indices on entry, as layer_forward lists them) go to alpha_sort_f32_keys
 * (_alpha.h), which gives the same order. */
static void SUF(sort_idx)(int64_t *idx, int64_t *tmp, int64_t n, const REAL *key) {
    if (sizeof(REAL) == 4 && n >= 64) {
        alpha_sort_f32_keys(idx, tmp, n, (const float *)(const void *)key);
        return;
    }
    if (n < 16) {
        for (int64_t i = 1; i < n; ++i) {
            int64_t v = idx[i], j = i;
            while (j > 0 && key[idx[j - 1]] > key[v]) { idx[j] = idx[j - 1]; --j; }
            idx[j] = v;
        }
        return;
    }
    int64_t h = n / 2;
    SUF(sort_idx)(idx, tmp, h, key);
    SUF(sort_idx)(idx + h, tmp, n - h, key);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = key[idx[j]] < key[idx[i]] ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
}

/* idx = 0 .. n-1 ordered by key as layer_forward orders its inputs (the entry point of the sort test). */
void SUF(alpha_sort_order)(const AlphaSortArgs *args) {
    for (int64_t i = 0; i < args->n; ++i) args->idx[i] = i;
    SUF(sort_idx)(args->idx, args->tmp, args->n, (const REAL *)args->key);
}

/* W0, the principal branch of Lambert W: the algorithm of spikelib/alpha/lambertw.py (branch-point
 * series near -1/e, else Winitzki or the asymptotic start, three Halley steps). It calls libm's double
 * functions in both precisions (the float results are rounded to float per statement).
 * MIRROR(alpha-lambertw): keep in lockstep with spikelib/alpha/lambertw.py:lambertw0; tested by
 * tests/test_alpha_cscan.py::test_c_lambertw0_matches_python */
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

/* w[i] = W0(z[i]), the entry point of the lockstep test. */
void SUF(alpha_lambertw0)(const AlphaLambertWArgs *args) {
    FLUSH_SUBNORMALS();
    const REAL *z = args->z;
    REAL *w = args->w;
    for (int64_t i = 0; i < args->n; ++i) w[i] = SUF(lambertw0)(z[i]);
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

/* Forward pass of one layer for one example: eq. (3) on the first valid prefix found by the scan.
 * MIRROR(alpha-spike-time): keep in lockstep with spikelib/alpha/functional.py:_crossing_time and
 * _inverse_denominator; tested by tests/test_alpha_ctrain.py::test_boolean_updates_match_the_torch_loop_exactly */
static void SUF(layer_forward)(SUF(LayerState) *s, int64_t n_all, int64_t J, const REAL *w, REAL tau,
                               REAL theta, REAL span, REAL min_w1, int64_t *tmp, REAL *scratch) {
    int64_t K = 0;
    for (int64_t i = 0; i < n_all; ++i)
        if (isfinite(s->t_in[i])) s->order[K++] = i;
    SUF(sort_idx)(s->order, tmp, K, s->t_in);
    for (int64_t k = 0; k < K; ++k) s->t_s[k] = s->t_in[s->order[k]];
    s->K = K;
    if (K == 0) {
        for (int64_t j = 0; j < J; ++j) { s->t_out[j] = (REAL)INFINITY; s->inv_denom[j] = 0; s->k_star[j] = 0; }
        return;
    }
    const AlphaForwardArgs fa = {.n0 = 0, .n1 = 1, .K = K, .J = J, .t_s = s->t_s, .order = s->order, .w = w,
                                 .tau = tau, .theta = theta, .span = span, .a = s->a, .b = s->b, .ref = s->ref,
                                 .k_star = s->k_star, .scratch = scratch};
    SUF(alpha_forward)(&fa);
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

/* Everything an example needs that stays fixed during a batch. */
typedef struct {
    int64_t L, P, n_params, n_neurons, max_all, max_out, max_g;
    const int64_t *sizes, *w_off, *pulse_off, *labels, *order;
    const REAL *params, *x, *targets;
    int loss_kind, update_all;
    REAL latency, tau, theta, clip, span, min_w1;
} SUF(Shared);

/* One thread's share of a batch: its examples, buffers and partial sums (reduced in a fixed order). */
typedef struct SUF(Worker) {
    const SUF(Shared) *sh;
    struct SUF(Epoch) *ep;
    int64_t index;
    REAL *grad, *silent, *scratch, *grad_t, *pen;
    int64_t *tmp;
    SUF(LayerState) *st;
    REAL *rbuf;
    int64_t *ibuf;
    double stats[3];
    int64_t n_contrib;
} SUF(Worker);

static int SUF(worker_alloc)(SUF(Worker) *wk, const SUF(Shared) *sh) {
    const int64_t L = sh->L, max_all = sh->max_all, max_out = sh->max_out, max_g = sh->max_g;
    size_t n_real = (size_t)sh->n_params + 2 * (size_t)sh->n_neurons + (size_t)L * (2 * max_all + max_g + 5 * max_out)
                    + 4 * max_out + max_all;
    size_t n_int = (size_t)L * (max_all + max_out) + max_all;
    wk->sh = sh;
    wk->rbuf = calloc(n_real, sizeof(REAL));
    wk->ibuf = calloc(n_int, sizeof(int64_t));
    wk->st = calloc((size_t)L, sizeof(SUF(LayerState)));
    if (!wk->rbuf || !wk->ibuf || !wk->st) return -1;
    REAL *r = wk->rbuf;
    int64_t *ir = wk->ibuf;
    wk->grad = r; r += sh->n_params;
    wk->silent = r; r += sh->n_neurons;
    wk->pen = r; r += sh->n_neurons;
    for (int64_t l = 0; l < L; ++l) {
        SUF(LayerState) *s = &wk->st[l];
        s->t_in = r; r += max_all; s->t_s = r; r += max_all; s->g = r; r += max_g;
        s->a = r; r += max_out; s->b = r; r += max_out; s->ref = r; r += max_out;
        s->t_out = r; r += max_out; s->inv_denom = r; r += max_out;
        s->order = ir; ir += max_all; s->k_star = ir; ir += max_out;
    }
    wk->scratch = r; r += 4 * max_out;
    wk->grad_t = r;
    wk->tmp = ir;
    return 0;
}

static void SUF(worker_free)(SUF(Worker) *wk) { free(wk->rbuf); free(wk->ibuf); free(wk->st); }

/* Forward, loss and (for a contributing example) backward of one example; gradients accumulate in wk. */
static void SUF(run_example)(SUF(Worker) *wk, int64_t ex) {
    const SUF(Shared) *sh = wk->sh;
    const int64_t L = sh->L, P = sh->P, *sizes = sh->sizes, n_out = sizes[L];
    SUF(LayerState) *st = wk->st;
    for (int64_t l = 0; l < L; ++l) {
        const int64_t n_in = sizes[l];
        if (l == 0) for (int64_t i = 0; i < n_in; ++i) st[0].t_in[i] = sh->x[ex * n_in + i];
        else memcpy(st[l].t_in, st[l - 1].t_out, (size_t)n_in * sizeof(REAL));
        for (int64_t p = 0; p < P; ++p) st[l].t_in[n_in + p] = sh->params[sh->pulse_off[l] + p];
        SUF(layer_forward)(&st[l], n_in + P, sizes[l + 1], sh->params + sh->w_off[l], sh->tau, sh->theta, sh->span,
                           sh->min_w1, wk->tmp, wk->scratch);
    }
    /* loss and its gradient at the output */
    const REAL *t = st[L - 1].t_out;
    REAL *g = st[L - 1].g;
    int contributes = 1;
    /* MIRROR(alpha-class-loss): keep in lockstep with spikelib/alpha/losses.py:classification_loss and
     * predict; tested by tests/test_alpha_ctrain.py::test_boolean_updates_match_the_torch_loop_exactly */
    if (sh->loss_kind == 0) {
        const int64_t y = sh->labels[ex];
        int64_t best = -1;
        REAL tmin = (REAL)INFINITY;
        for (int64_t j = 0; j < n_out; ++j) if (t[j] < tmin) { tmin = t[j]; best = j; }
        REAL s = 0;
        for (int64_t j = 0; j < n_out; ++j) s += isfinite(t[j]) ? exp(tmin - t[j]) : 0;
        for (int64_t j = 0; j < n_out; ++j) {
            REAL pj = (isfinite(t[j]) && s > 0) ? exp(tmin - t[j]) / s : 0;
            g[j] = (REAL)(j == y) - pj;
            if (j == y) wk->stats[0] += -log(pj + (REAL)1e-8);
        }
        int correct = best == y;
        wk->stats[1] += correct;
        contributes = sh->update_all || !correct;
    } else {
        /* MIRROR(alpha-ae-loss): keep in lockstep with spikelib/alpha/losses.py:autoencoder_loss; tested by
         * tests/test_alpha_ctrain.py::test_autoencoder_epoch_matches_the_torch_loop */
        const REAL *tg = sh->targets + ex * n_out;
        REAL sq = 0;
        for (int64_t j = 0; j < n_out; ++j) {
            REAL o = isfinite(t[j]) ? t[j] - sh->latency : 1, y = isfinite(tg[j]) ? tg[j] : 1;
            sq += (o - y) * (o - y);
            g[j] = o - y;
        }
        wk->stats[0] += sq / n_out;
    }
    if (!contributes) return;
    ++wk->n_contrib;
    /* backward, last layer first (eqs. 4-5); silent neurons pass nothing back */
    REAL *sil = wk->silent;
    for (int64_t l = 0; l < L; ++l) {
        for (int64_t j = 0; j < sizes[l + 1]; ++j) sil[j] += !isfinite(st[l].t_out[j]);
        sil += sizes[l + 1];
    }
    for (int64_t l = L - 1; l >= 0; --l) {
        const int64_t n_in = sizes[l], J = sizes[l + 1], n_all = n_in + P;
        SUF(LayerState) *s = &st[l];
        for (int64_t j = 0; j < J; ++j) if (!isfinite(s->t_out[j])) s->g[j] = 0;
        if (s->K == 0) { if (l > 0) for (int64_t i = 0; i < n_in; ++i) st[l - 1].g[i] = 0; continue; }
        memset(wk->grad_t, 0, (size_t)n_all * sizeof(REAL));
        const AlphaBackwardArgs ba = {.n0 = 0, .n1 = 1, .K = s->K, .J = J, .n_in = n_all, .t_s = s->t_s,
                                      .order = s->order, .k_star = s->k_star, .w = sh->params + sh->w_off[l],
                                      .ref = s->ref, .t_out = s->t_out, .inv_denom = s->inv_denom, .g = s->g,
                                      .tau = sh->tau, .clip = sh->clip, .grad_w = wk->grad + sh->w_off[l],
                                      .grad_t = wk->grad_t};
        SUF(alpha_backward)(&ba);
        for (int64_t p = 0; p < P; ++p) wk->grad[sh->pulse_off[l] + p] += wk->grad_t[n_in + p];
        if (l > 0) memcpy(st[l - 1].g, wk->grad_t, (size_t)n_in * sizeof(REAL));
    }
}

/* The authors' Adam, p -= lr m_hat / sqrt(v_hat + eps), on elements [i0, i1) of one parameter tensor, fused
 * with what precedes it: the gradient is the threads' partial sums at offset off (added in thread order,
 * then zeroed for the next batch) times inv_n, minus pen[j] for column j = i mod J of a weight matrix (the no-spike
 * penalty; J = 0: none); pulse times are clamped to >= 0 afterwards. restrict and a branch-free body let
 * it vectorise.
 * MIRROR(alpha-adam): keep in lockstep with spikelib/alpha/training.py:AlphaAdam; tested by
 * tests/test_alpha_ctrain.py::test_mini_batches_with_pulses_per_layer_match */
static void SUF(adam_update)(REAL *restrict p, REAL *restrict m, REAL *restrict v, REAL *const *grads, int64_t T,
                             int64_t off, int64_t i0, int64_t i1, int64_t J, const REAL *restrict pen, REAL inv_n, REAL b1,
                             REAL b2, REAL c1, REAL c2, REAL lr, REAL eps, int clamp) {
    const int64_t step = J > 0 ? J : i1 - i0;
    for (int64_t r0 = i0; r0 < i1; r0 += step) {  /* row by row, so that the column is the inner index */
        REAL *restrict g0 = grads[0] + off + r0, *restrict pr = p + r0, *restrict mr = m + r0, *restrict vr = v + r0;
        const int64_t n = r0 + step < i1 ? step : i1 - r0;
        for (int64_t t = 1; t < T; ++t) {
            REAL *restrict gt = grads[t] + off + r0;
            for (int64_t i = 0; i < n; ++i) { g0[i] += gt[i]; gt[i] = 0; }
        }
        for (int64_t i = 0; i < n; ++i) {
            const REAL gr = J > 0 ? g0[i] * inv_n - pen[i] : g0[i] * inv_n;
            mr[i] = mr[i] * b1 + (1 - b1) * gr;
            vr[i] = vr[i] * b2 + (1 - b2) * (gr * gr);
            pr[i] -= lr * (mr[i] / c1) / SQRT(vr[i] / c2 + eps);
            g0[i] = 0;
        }
        if (clamp)
            for (int64_t i = 0; i < n; ++i) pr[i] = pr[i] < 0 ? 0 : pr[i];
    }
}

/* What the threads of one epoch share: the arguments, the barrier, and which layer's weights each Adam
 * parameter tensor is (-1: pulse times or other, no penalty). */
typedef struct SUF(Epoch) {
    const AlphaTrainArgs *args;
    SUF(Shared) sh;
    SUF(Worker) *wk;
    int64_t T;
    AlphaBarrier bar;
    int64_t *group_layer;
    int go;
} SUF(Epoch);

/* The epoch as seen by thread t of T: per batch, its contiguous share of the examples; a barrier; if any
 * example contributed, its share of every parameter tensor's update (weight tensors split by rows); a
 * barrier. Every thread derives the batch's contributor count and penalties from all partial sums in
 * thread order, so the result does not depend on timing. */
static void SUF(epoch_run)(SUF(Worker) *wk) {
    SUF(Epoch) *ep = wk->ep;
    const AlphaTrainArgs *args = ep->args;
    const SUF(Shared) *sh = &ep->sh;
    const int64_t T = ep->T, t = wk->index, N = args->N, batch = args->batch, L = sh->L, P = sh->P;
    const int64_t *sizes = sh->sizes;
    REAL *params = args->params, *m = args->m, *v = args->v;
    REAL *grads[T];
    for (int64_t i = 0; i < T; ++i) grads[i] = ep->wk[i].grad;
    const REAL penalty = (REAL)args->penalty;
    int64_t updates = 0;
    for (int64_t start = 0; start < N; start += batch) {
        const int64_t stop = start + batch < N ? start + batch : N, n = stop - start;
        for (int64_t e = start + n * t / T; e < start + n * (t + 1) / T; ++e) SUF(run_example)(wk, sh->order[e]);
        if (T > 1) alpha_barrier_wait(&ep->bar);
        int64_t n_contrib = 0;
        for (int64_t i = 0; i < T; ++i) n_contrib += ep->wk[i].n_contrib;
        if (t == 0) args->stats[2] += (double)n_contrib;
        if (n_contrib > 0) {
            ++updates;
            /* MIRROR(alpha-no-spike-penalty): the mean over contributing examples, then penalty x (silent
             * count) / n subtracted from every weight of a silent neuron's column; keep in lockstep with
             * spikelib/alpha/training.py:train_step and spikelib/alpha/autoencoder.py:_add_no_spike_penalty;
             * tested by tests/test_alpha_ctrain.py::test_mini_batches_with_pulses_per_layer_match */
            const REAL inv_n = (REAL)1 / (REAL)n_contrib;
            for (int64_t q = 0; q < sh->n_neurons; ++q) {
                REAL c = ep->wk[0].silent[q];
                for (int64_t i = 1; i < T; ++i) c += ep->wk[i].silent[q];
                wk->pen[q] = c != 0 ? penalty * c * inv_n : 0;
            }
            for (int64_t gi = 0; gi < args->n_groups; ++gi) {
                const int64_t k = args->group_step[gi] + updates, off = args->group_off[gi];
                const int64_t l = ep->group_layer[gi], J = l >= 0 ? sizes[l + 1] : 0;
                const int64_t units = l >= 0 ? sizes[l] + P : args->group_len[gi], width = l >= 0 ? J : 1;
                const int64_t u0 = units * t / T, u1 = units * (t + 1) / T;
                if (u1 <= u0) continue;
                const REAL *pen = wk->pen;
                for (int64_t i = 0; i < l; ++i) pen += sizes[i + 1];
                const double b1 = args->beta1, b2 = args->beta2;
                SUF(adam_update)(params + off, m + off, v + off, grads, T, off, u0 * width, u1 * width, J, pen, inv_n,
                                 (REAL)b1, (REAL)b2, (REAL)(1 - pow(b1, (double)k)), (REAL)(1 - pow(b2, (double)k)),
                                 (REAL)args->group_lr[gi], (REAL)args->eps, (int)args->group_clamp[gi]);
            }
        }
        if (T > 1) alpha_barrier_wait(&ep->bar);  /* every update done, every partial sum read */
        wk->n_contrib = 0;
        memset(wk->silent, 0, (size_t)sh->n_neurons * sizeof(REAL));
    }
    (void)L;
    if (t == 0) for (int64_t gi = 0; gi < args->n_groups; ++gi) args->group_step[gi] += updates;
}

static void *SUF(epoch_thread)(void *arg) {
    FLUSH_SUBNORMALS();
    SUF(Worker) *wk = arg;
    SUF(Epoch) *ep = wk->ep;
    pthread_mutex_lock(&ep->bar.mu);  /* wait until the main thread knows how many threads started */
    while (!ep->go) pthread_cond_wait(&ep->bar.cv, &ep->bar.mu);
    pthread_mutex_unlock(&ep->bar.mu);
    if (wk->index < ep->T) SUF(epoch_run)(wk);
    return NULL;
}

/* One epoch over x[order] in mini-batches. loss_kind 0: classification, p = softmax(-t) over spiking
 * outputs, L = -log(p_y + 1e-8), dL/dt = y - p, correct iff argmin t == y; only misclassified examples
 * contribute unless update_all. loss_kind 1: autoencoder, o = t - latency (1 if silent), target inf -> 1,
 * reported sum (o - target)^2 / n_out, dL/dt = o - target for spiking outputs, every example contributes.
 * The examples of a batch are split over up to n_threads threads, started once per epoch (contiguous
 * shares; partial gradients summed in thread order, so a run is repeatable for a given thread count), and
 * the update is split over the same threads.
 * stats[0] += summed loss, stats[1] += correct, stats[2] += contributing. Returns 0, or -1 if out of memory. */
int SUF(alpha_train_epoch)(const AlphaTrainArgs *args) {
    FLUSH_SUBNORMALS();
    const int64_t L = args->L, P = args->P, n_groups = args->n_groups, batch = args->batch;
    const int64_t *sizes = args->sizes, *w_off = args->w_off, *group_off = args->group_off;
    const int64_t *group_len = args->group_len;
    double *stats = args->stats;
    SUF(Epoch) ep = {0};
    ep.args = args;
    SUF(Shared) *sh = &ep.sh;
    sh->L = L; sh->P = P; sh->sizes = sizes; sh->w_off = w_off; sh->pulse_off = args->pulse_off;
    sh->labels = args->labels; sh->order = args->order; sh->params = args->params; sh->x = args->x;
    sh->targets = args->targets; sh->loss_kind = (int)args->loss_kind; sh->update_all = (int)args->update_all;
    sh->latency = (REAL)args->latency; sh->tau = (REAL)args->tau; sh->theta = (REAL)args->theta;
    sh->clip = (REAL)args->clip; sh->span = (REAL)args->span; sh->min_w1 = (REAL)args->min_w1;
    for (int64_t g = 0; g < n_groups; ++g)
        if (group_off[g] + group_len[g] > sh->n_params) sh->n_params = group_off[g] + group_len[g];
    for (int64_t l = 0; l < L; ++l) {
        if (sizes[l] + P > sh->max_all) sh->max_all = sizes[l] + P;
        if (sizes[l + 1] > sh->max_out) sh->max_out = sizes[l + 1];
        sh->n_neurons += sizes[l + 1];
    }
    sh->max_g = sh->max_all > sh->max_out ? sh->max_all : sh->max_out;
    int64_t T = args->n_threads < 1 ? 1 : args->n_threads;
    if (T > batch) T = batch;
    ep.wk = calloc((size_t)T, sizeof(SUF(Worker)));
    ep.group_layer = calloc((size_t)(n_groups > 0 ? n_groups : 1), sizeof(int64_t));
    pthread_t *tid = calloc((size_t)T, sizeof(pthread_t));
    int ok = ep.wk != NULL && tid != NULL && ep.group_layer != NULL;
    for (int64_t i = 0; ok && i < T; ++i) {
        ok = SUF(worker_alloc)(&ep.wk[i], sh) == 0;
        ep.wk[i].ep = &ep; ep.wk[i].index = i;
    }
    if (!ok) {
        if (ep.wk) for (int64_t i = 0; i < T; ++i) SUF(worker_free)(&ep.wk[i]);
        free(ep.wk); free(tid); free(ep.group_layer);
        return -1;
    }
    for (int64_t g = 0; g < n_groups; ++g) {  /* a tensor that is exactly layer l's weights gets its penalty */
        ep.group_layer[g] = -1;
        for (int64_t l = 0; l < L; ++l)
            if (group_off[g] == w_off[l] && group_len[g] == (sizes[l] + P) * sizes[l + 1]) ep.group_layer[g] = l;
    }
    pthread_mutex_init(&ep.bar.mu, NULL);
    pthread_cond_init(&ep.bar.cv, NULL);
    int64_t started = 1;
    while (started < T && pthread_create(&tid[started], NULL, SUF(epoch_thread), &ep.wk[started]) == 0) ++started;
    pthread_mutex_lock(&ep.bar.mu);
    ep.T = started;  /* a thread that could not start: its share goes to the others */
    ep.bar.need = started;
    ep.go = 1;
    pthread_cond_broadcast(&ep.bar.cv);
    pthread_mutex_unlock(&ep.bar.mu);
    SUF(epoch_run)(&ep.wk[0]);
    for (int64_t i = 1; i < started; ++i) pthread_join(tid[i], NULL);
    for (int64_t i = 0; i < T; ++i) {
        for (int k = 0; k < 2; ++k) stats[k] += ep.wk[i].stats[k];
        SUF(worker_free)(&ep.wk[i]);
    }
    pthread_mutex_destroy(&ep.bar.mu);
    pthread_cond_destroy(&ep.bar.cv);
    free(ep.wk); free(tid); free(ep.group_layer);
    return 0;
}
