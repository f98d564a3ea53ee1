/* lstm_textgen/kernels.py builds and loads this file. Two parts: generation's sampler (lt_pick), and the gates of
   training's LSTM layers on a CPU (lt_lstm_forward, lt_lstm_backward; at the end).

   The sampler of lstm_textgen/generate.py in one call of C a step.

   Through PyTorch's operations a step's choice costs some fifteen passes over [rows, vocabulary] and as many
   operator calls: the temperature, the softmax, the cumulative sum, the nucleus check, then the log-softmax and
   the top alternatives shown with each word. Here each row takes three or four passes that stay in the cache.
   The rule is sampling.sample_reference's, drawn as sampling.sample draws it: R candidates from softmax(s / T),
   the first that lies in the nucleus of top_p kept; a row without one is drawn from the sorted nucleus. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 64   /* tokens a block: a draw walks the block sums, then one block */
#define LANES 8    /* independent maxima, so that the maximum's loop vectorizes */

/* exp(x) for x <= 0, 0 below -87 (and for -inf); a polynomial, so that the loops that call it vectorize
   without a vector math library. Relative error about 2e-7. */
static inline float exp_nonpos(float x) {
    float y = x < -87.0f ? -87.0f : x;
    float n = floorf(y * 1.44269504088896341f + 0.5f);
    float r = y - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

/* e[i] = (l[i] + mask[i]) * inv_t; returns their maximum. */
static float scale_max(const float *restrict l, const float *restrict mask, int64_t V, float inv_t, float *restrict e) {
    float lane[LANES];
    for (int k = 0; k < LANES; k++) lane[k] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= V; i += LANES)
        for (int k = 0; k < LANES; k++) {
            float s = (l[i + k] + mask[i + k]) * inv_t;
            e[i + k] = s;
            lane[k] = s > lane[k] ? s : lane[k];
        }
    for (; i < V; i++) {
        float s = (l[i] + mask[i]) * inv_t;
        e[i] = s;
        lane[0] = s > lane[0] ? s : lane[0];
    }
    float m = lane[0];
    for (int k = 1; k < LANES; k++) m = lane[k] > m ? lane[k] : m;
    return m;
}

/* e[i] = exp(e[i] - m), bs[b] = the sum of block b; returns the sum of all. The running sums are double, as
   PyTorch's cumulative sum accumulates, so that a draw lands on the same word as sampling.sample's but where
   float rounding puts it on the edge between two: 1 draw in 30,000 from a flat distribution (speed.md). */
static double exp_blocks(float *restrict e, int64_t V, float m, double *restrict bs) {
    double total = 0.0;
    for (int64_t lo = 0, b = 0; lo < V; lo += BLOCK, b++) {
        int64_t hi = lo + BLOCK < V ? lo + BLOCK : V;
        float acc = 0.0f; /* 64 terms: their float rounding stays far below the running sums' */
        for (int64_t i = lo; i < hi; i++) {
            float v = exp_nonpos(e[i] - m);
            e[i] = v;
            acc += v;
        }
        bs[b] = acc;
        total += acc;
    }
    return total;
}

/* The token at which the running sum of e first exceeds t (the inverse CDF); the last token of the vocabulary
   when rounding leaves t at the end (its e may be 0: callers reject that). */
static int64_t invert(const float *e, const double *bs, int64_t V, double t) {
    int64_t nb = (V + BLOCK - 1) / BLOCK, b = 0;
    double run = 0.0;
    while (b < nb - 1 && run + bs[b] <= t) run += bs[b++];
    int64_t i = b * BLOCK, hi = i + BLOCK < V ? i + BLOCK : V;
    for (; i < hi - 1; i++) {
        run += e[i];
        if (run > t) break;
    }
    return i;
}

/* The mass of the tokens likelier than q. */
static double likelier(const float *restrict e, int64_t V, float q) {
    double acc = 0.0;
    for (int64_t i = 0; i < V; i++) acc += e[i] > q ? e[i] : 0.0f;
    return acc;
}

static int descending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* A draw from the nucleus itself (sampling._nucleus_mask): the smallest set of likeliest tokens whose mass
   reaches top_p, ties at its edge included. For the rows whose R candidates all fell outside it (a small top_p). */
static int64_t sorted_nucleus(const float *e, int64_t V, double total, float top_p, float u, float *sorted) {
    memcpy(sorted, e, (size_t)V * sizeof *sorted);
    qsort(sorted, (size_t)V, sizeof *sorted, descending);
    int64_t size = 0;
    double before = 0.0, kept = 0.0;
    while (size < V && before < top_p * total) before += sorted[size++];
    float edge = sorted[size > 0 ? size - 1 : 0], best = -1.0f;
    int64_t likeliest = 0;
    for (int64_t i = 0; i < V; i++) {
        if (e[i] >= edge) kept += e[i];
        if (e[i] > best) best = e[i], likeliest = i;
    }
    double t = u * kept, run = 0.0;
    for (int64_t i = 0; i < V; i++)
        if (e[i] >= edge && e[i] > 0.0f && (run += e[i]) > t) return i;
    return likeliest; /* rounding left t at the end */
}

/* The K likeliest of s = l + mask (ti/tv, best first; fewer when fewer are finite); returns how many. */
static int top(const float *restrict l, const float *restrict mask, int64_t V, int K, int64_t *ti, float *tv) {
    int n = 0;
    float kth = -INFINITY;
    for (int64_t i = 0; i < V; i++) {
        float s = l[i] + mask[i];
        if (!(s > kth) && (n == K || s == -INFINITY)) continue;
        int j = n < K ? n++ : K - 1;
        for (; j > 0 && tv[j - 1] < s; j--) tv[j] = tv[j - 1], ti[j] = ti[j - 1];
        tv[j] = s, ti[j] = i;
        if (n == K) kth = tv[K - 1];
    }
    return n;
}

/* The sum of exp(l + mask - m). */
static float exp_sum(const float *restrict l, const float *restrict mask, int64_t V, float m) {
    float acc = 0.0f;
    for (int64_t i = 0; i < V; i++) acc += exp_nonpos(l[i] + mask[i] - m);
    return acc;
}

#define MAX_K 32

/* For each of B rows of logits l [B, V] (float32, row-major) with mask [V] added (0, or -inf where a token may
   not be emitted):
   - chosen[b]: drawn from softmax((l + mask) * inv_t) kept to the nucleus of top_p (top_p >= 1: all), or the
     likeliest token when greedy. u [B, R] holds numbers uniform in [0, 1): R candidates a row, the first in the
     nucleus taken, and -1 (nothing else written for the row) where none is; with R 0, u [B, 1] holds one
     number a row to draw from the sorted nucleus (what sampling.sample does for the rows left, after it);
   - prob[b], alt_i/alt_p [B, K]: the chosen token's probability and the K likeliest tokens' (ids and
     probabilities), at temperature 1, as shown with each word; a row's unused slots get probability 0.
   work: 2 V floats; blocks: V / BLOCK + 1 doubles. K at most MAX_K. */
void lt_pick(const float *l, const float *mask, int64_t B, int64_t V, int greedy, float inv_t, float top_p,
             const float *u, int R, int K, float *work, double *blocks, int64_t *chosen, float *prob, int64_t *alt_i,
             float *alt_p) {
    float *e = work, *sorted = work + V;
    double *bs = blocks;
    int64_t ti[MAX_K];
    float tv[MAX_K];
    int k_top = K < 1 ? 1 : K;  /* the likeliest token is needed even when no alternative is */
    for (int64_t b = 0; b < B; b++, l += V, u += R > 0 ? R : 1) {
        int n = top(l, mask, V, k_top, ti, tv);
        if (n == 0) { /* every token masked: nothing to draw (generate's masks always leave the words) */
            chosen[b] = -1;
            continue;
        }
        int64_t c = ti[0];
        if (!greedy) {
            double total = exp_blocks(e, V, scale_max(l, mask, V, inv_t, e), bs);
            c = -1;
            for (int r = 0; r < R && c < 0; r++) {
                int64_t i = invert(e, bs, V, (double)u[r] * total);
                float q = e[i];
                if (q > 0.0f && (top_p >= 1.0f || q > (1.0f - top_p + 1e-6f) * total ||
                                 likelier(e, V, q) < top_p * total))
                    c = i;
            }
            if (R == 0) c = sorted_nucleus(e, V, total, top_p, u[0], sorted);
            if (c < 0) {
                chosen[b] = -1;
                continue;
            }
        }
        float m = tv[0], inv = 1.0f / exp_sum(l, mask, V, m);
        chosen[b] = c;
        prob[b] = exp_nonpos(l[c] + mask[c] - m) * inv;
        for (int k = 0; k < K; k++) {
            alt_i[b * K + k] = k < n ? ti[k] : 0;
            alt_p[b * K + k] = k < n ? exp_nonpos(tv[k] - m) * inv : 0.0f;
        }
    }
}

/* --- The LSTM's gates for training on a CPU (lstm_textgen/cells.py) -------------------------------------------

   cells.py runs a layer's products in PyTorch (one for all the inputs, one a step for the state, and the weights'
   gradients in three at the end) and these two functions for what lies between: what oneDNN's LSTM spends
   outside its products was more than these take (bench/results/speed.md, "seventh session"). Gate order as
   nn.LSTM's: input, forget, cell, output. Same arithmetic as nn.LSTM; exp is the polynomial above, so values
   agree with it to about 1e-6. */

static inline float sigmoid_(float x) {
    float e = exp_nonpos(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static inline float tanh_(float x) {
    float e = exp_nonpos(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
    return x >= 0.0f ? t : -t;
}

/* One step forward for B rows: g [B, 4H] holds the gates' pre-activations and is overwritten with their
   activations (kept for backward); c = f * c_prev + i * z, tc = tanh(c), h = o * tc. */
void lt_lstm_forward(float *restrict g, const float *restrict c_prev, float *restrict c, float *restrict tc,
                     float *restrict h, int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; b++) {
        float *gi = g + b * 4 * H, *gf = gi + H, *gz = gf + H, *go = gz + H;
        const float *cp = c_prev + b * H;
        float *cb = c + b * H, *tb = tc + b * H, *hb = h + b * H;
        for (int64_t j = 0; j < H; j++) {
            float i = sigmoid_(gi[j]), f = sigmoid_(gf[j]), z = tanh_(gz[j]), o = sigmoid_(go[j]);
            float cn = f * cp[j] + i * z, t = tanh_(cn);
            gi[j] = i, gf[j] = f, gz[j] = z, go[j] = o;
            cb[j] = cn, tb[j] = t, hb[j] = o * t;
        }
    }
}

/* One step backward for B rows: dh [B, H] is the loss's gradient at h_t; dc [B, H] at c_t on entry, at c_{t-1}
   on return; a [B, 4H] the step's activations, overwritten with the gradient at the gates' pre-activations. */
void lt_lstm_backward(const float *restrict dh, float *restrict dc, float *restrict a, const float *restrict c_prev,
                      const float *restrict tc, int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; b++) {
        float *ai = a + b * 4 * H, *af = ai + H, *az = af + H, *ao = az + H;
        const float *dhb = dh + b * H, *cp = c_prev + b * H, *tb = tc + b * H;
        float *dcb = dc + b * H;
        for (int64_t j = 0; j < H; j++) {
            float i = ai[j], f = af[j], z = az[j], o = ao[j], t = tb[j], d = dhb[j];
            float dct = dcb[j] + d * o * (1.0f - t * t);
            dcb[j] = dct * f;
            ai[j] = dct * z * i * (1.0f - i);
            af[j] = dct * cp[j] * f * (1.0f - f);
            az[j] = dct * i * (1.0f - z * z);
            ao[j] = d * t * o * (1.0f - o);
        }
    }
}
