/*
 * magma-lab's native kernels: float32 matrix products by the system BLAS (OpenBLAS on Linux,
 * Accelerate on macOS), computed in place on the TF.js wasm backend's heap. JavaScript passes the
 * heap (an ArrayBuffer) and byte offsets of tensors inside it, so nothing is copied: the inputs
 * are read where wasm keeps them and the output is written into a tensor that wasm allocated.
 * Every offset and extent is checked against the heap's length before BLAS touches it.
 *
 * Determinism: each output element's sum over K is computed by one thread in a fixed order
 * (BLAS splits the work over rows and columns of C, never over K), so the same inputs and thread
 * count give the same bits on every run.
 */
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MAGMA_ACCELERATE
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, NULL, "magma-lab native: bad argument"); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

/* True when floats [offset, offset + count) in bytes lie inside a heap of `length` bytes. */
static int in_heap(int64_t offset, int64_t count, size_t length) {
  return offset >= 0 && offset % 4 == 0 && count >= 0 && offset + count * 4 <= (int64_t)length;
}

/*
 * gemm(heap, batch, M, N, K, transA, transB, offA, strideA, offB, strideB, offC, offBias, relu)
 *   C[b] = op(A[b]) · op(B[b]) (+ bias per column) (then max(·, 0) when relu), for b < batch,
 *   row-major; op(A) is [M, K], op(B) is [K, N], C[b] is [M, N]. Offsets are bytes into the heap;
 *   strides are floats between consecutive batch items (0 broadcasts one matrix to every item).
 *   offBias < 0: no bias; else a [N] vector.
 */
static napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 14) {
    napi_throw_error(env, NULL, "magma-lab native gemm: expected 14 arguments");
    return NULL;
  }
  void *base;
  size_t length;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &base, &length));
  int64_t v[13];
  for (int i = 0; i < 13; i++) CHECK(napi_get_value_int64(env, argv[i + 1], &v[i]));
  const int64_t batch = v[0], M = v[1], N = v[2], K = v[3];
  const int transA = v[4] != 0, transB = v[5] != 0;
  const int64_t offA = v[6], strideA = v[7], offB = v[8], strideB = v[9], offC = v[10], offBias = v[11];
  const int relu = v[12] != 0;
  if (batch < 1 || M < 1 || N < 1 || K < 1 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
    napi_throw_range_error(env, NULL, "magma-lab native gemm: batch, M, N and K must be positive 32-bit sizes");
    return NULL;
  }
  if (!in_heap(offA, (batch - 1) * strideA + M * K, length) || !in_heap(offB, (batch - 1) * strideB + K * N, length) ||
      !in_heap(offC, batch * M * N, length) || (offBias >= 0 && !in_heap(offBias, N, length))) {
    napi_throw_range_error(env, NULL, "magma-lab native gemm: an operand lies outside the wasm heap");
    return NULL;
  }
  float *A = (float *)((char *)base + offA), *B = (float *)((char *)base + offB), *C = (float *)((char *)base + offC);
  const float *bias = offBias >= 0 ? (const float *)((char *)base + offBias) : NULL;
  const int m = (int)M, n = (int)N, k = (int)K;
  for (int64_t b = 0; b < batch; b++) {
    float *c = C + b * M * N;
    if (bias) for (int64_t r = 0; r < M; r++) memcpy(c + r * N, bias, (size_t)N * 4);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                A + b * strideA, transA ? m : k, B + b * strideB, transB ? k : n, bias ? 1.0f : 0.0f, c, n);
    if (relu) for (int64_t i = 0; i < M * N; i++) c[i] = c[i] > 0 ? c[i] : 0;
  }
  return NULL;
}

/*
 * The elementwise and row-wise kernels below run in two halves on two threads when the work is
 * large (≥ 2^16 floats), else on this thread. Where the halves are cut depends only on the sizes,
 * never on whether the helper thread could start (if not, this thread runs both halves in turn),
 * so every result has the same bits on every run.
 *
 * Their loops are compiled for several vector widths (AVX-512, AVX2, baseline) and the widest the
 * CPU has is picked when the addon loads. -fno-trapping-math (binding.gyp) lets the compiler
 * vectorize the clamps and selects; NaN still propagates through every formula.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#define SPLIT_AT 65536

/* The rows (or elements) [begin, end) one thread works on: the first member of every job. */
typedef struct {
  int64_t begin, end;
} Span;

/* Runs part(first) and part(second) on [0, n) cut in halves when `split`, else part(first) on all of it. */
static void run_in_halves(void *(*part)(void *), Span *first, Span *second, int64_t n, int split) {
  first->begin = 0;
  first->end = split ? n / 2 : n;
  second->begin = first->end;
  second->end = n;
  pthread_t helper;
  const int threaded = split && pthread_create(&helper, NULL, part, second) == 0;
  part(first);
  if (threaded) pthread_join(helper, NULL);
  else if (split) part(second);
}

/* exp(x) for x ≤ 0 in float: Cephes expf's range reduction and polynomial, max relative error 8e-8. */
static inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x / ln 2) */
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;           /* x − n·ln 2, in two parts */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23; /* 2^n */
  float scale;
  memcpy(&scale, &bits, 4);
  return p * scale;
}

/*
 * Φ(x), the standard normal CDF, in float, as erfc: Φ(x) = erfc(−x/√2)/2, so the left tail keeps
 * its relative precision (1 + erf(x/√2) would cancel to a few bits there). erfc(z) for z ≥ 0 is
 * Numerical Recipes' erfcc (fractional error < 1.2e-7). Against double: relative error of Φ
 * < 2e-5 everywhere (< 1e-6 for x > −6), absolute error of x·Φ(x) < 4e-7. glibc's erff is 40×
 * slower and does not vectorize.
 */
static inline float normal_cdf(float x) {
  const float z = fabsf(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t + -0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t + -1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t + -0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t + -1.26551223f;
  const float half_erfc = 0.5f * t * exp_nonpositive(p - z * z); /* erfc(|x|/√2)/2 */
  return x < 0 ? half_erfc : 1.0f - half_erfc;
}

/*
 * Exact GELU, elementwise over n floats.
 *   forward:  cdf = Φ(x), y = x·cdf
 *   backward: dx = dy·(Φ(x) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π)
 */
typedef struct {
  Span span;
  const float *x, *cdf, *dy;
  float *y, *out_cdf, *dx;
} GeluJob;

VECTOR_CLONES static void *gelu_forward_part(void *arg) {
  GeluJob *j = (GeluJob *)arg;
  for (int64_t i = j->span.begin; i < j->span.end; i++) {
    const float c = normal_cdf(j->x[i]);
    j->out_cdf[i] = c;
    j->y[i] = j->x[i] * c;
  }
  return NULL;
}

VECTOR_CLONES static void *gelu_backward_part(void *arg) {
  GeluJob *j = (GeluJob *)arg;
  for (int64_t i = j->span.begin; i < j->span.end; i++) {
    const float x = j->x[i];
    j->dx[i] = j->dy[i] * (j->cdf[i] + x * 0.39894228040143268f * exp_nonpositive(-0.5f * x * x));
  }
  return NULL;
}

/*
 * Reads a kernel's arguments: the heap (an ArrayBuffer), then `count` numbers. Returns 0, with a
 * JS exception pending, when they are not that.
 */
static int read_args(napi_env env, napi_callback_info info, const char *kernel, size_t count, char **base, size_t *length, double *values) {
  size_t argc = 16;
  napi_value argv[16];
  void *heap;
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == count + 1 &&
           napi_get_arraybuffer_info(env, argv[0], &heap, length) == napi_ok;
  for (size_t i = 0; ok && i < count; i++) ok = napi_get_value_double(env, argv[i + 1], &values[i]) == napi_ok;
  if (!ok) {
    char message[128];
    snprintf(message, sizeof message, "magma-lab native %s: expected the heap and %zu numbers", kernel, count);
    napi_throw_error(env, NULL, message);
    return 0;
  }
  *base = (char *)heap;
  return 1;
}

/* True when `size` is a whole number in [1, 2^31); else false with a JS RangeError pending. */
static int size_ok(napi_env env, const char *kernel, const char *name, double size) {
  if (size >= 1 && size < 2147483648.0 && size == (double)(int64_t)size) return 1;
  char message[128];
  snprintf(message, sizeof message, "magma-lab native %s: %s must be a positive 32-bit size", kernel, name);
  napi_throw_range_error(env, NULL, message);
  return 0;
}

/* The operand of `floats` floats at byte `offset`, or NULL with a JS RangeError pending when it is not inside the heap. */
static float *operand(napi_env env, const char *kernel, int index, double offset, int64_t floats, char *base, size_t length) {
  if (offset == (double)(int64_t)offset && in_heap((int64_t)offset, floats, length)) return (float *)(base + (int64_t)offset);
  char message[128];
  snprintf(message, sizeof message, "magma-lab native %s: operand %d lies outside the wasm heap", kernel, index);
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

/* Resolves `count` operands (byte offsets[i], floats[i] floats each) into *out[i]; 0, with a JS RangeError pending, when one is outside the heap. */
static int operands(napi_env env, const char *kernel, const double *offsets, const int64_t *floats, int count, char *base, size_t length, float **out[]) {
  for (int i = 0; i < count; i++)
    if (!(*out[i] = operand(env, kernel, i, offsets[i], floats[i], base, length))) return 0;
  return 1;
}

/* gelu(heap, n, offX, offY, offCdf): y and cdf of n floats of x. */
static napi_value Gelu(napi_env env, napi_callback_info info) {
  char *base;
  size_t length;
  double v[4];
  if (!read_args(env, info, "gelu", 4, &base, &length, v) || !size_ok(env, "gelu", "n", v[0])) return NULL;
  const int64_t n = (int64_t)v[0];
  GeluJob job = {0};
  if (!(job.x = operand(env, "gelu", 0, v[1], n, base, length)) || !(job.y = operand(env, "gelu", 1, v[2], n, base, length)) ||
      !(job.out_cdf = operand(env, "gelu", 2, v[3], n, base, length)))
    return NULL;
  GeluJob second = job;
  run_in_halves(gelu_forward_part, &job.span, &second.span, n, n >= SPLIT_AT);
  return NULL;
}

/* geluGrad(heap, n, offDy, offX, offCdf, offDx). */
static napi_value GeluGrad(napi_env env, napi_callback_info info) {
  char *base;
  size_t length;
  double v[5];
  if (!read_args(env, info, "geluGrad", 5, &base, &length, v) || !size_ok(env, "geluGrad", "n", v[0])) return NULL;
  const int64_t n = (int64_t)v[0];
  GeluJob job = {0};
  if (!(job.dy = operand(env, "geluGrad", 0, v[1], n, base, length)) || !(job.x = operand(env, "geluGrad", 1, v[2], n, base, length)) ||
      !(job.cdf = operand(env, "geluGrad", 2, v[3], n, base, length)) || !(job.dx = operand(env, "geluGrad", 3, v[4], n, base, length)))
    return NULL;
  GeluJob second = job;
  run_in_halves(gelu_backward_part, &job.span, &second.span, n, n >= SPLIT_AT);
  return NULL;
}

/*
 * LayerNorm of the rows of x [rows, d] (biased variance, as torch), and its gradient:
 *   forward:  μ, σ² of each row; r = 1/√(σ² + ε); x̂ = (x − μ)·r; y = x̂·γ + β
 *   backward: ĝ = dy·γ; dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)); dγ = Σ_rows dy·x̂; dβ = Σ_rows dy
 * Row sums run in double over 8 interleaved partial sums added in a fixed order (vectorizable and
 * the same bits every run). dγ and dβ are summed per half in double, then the halves are added.
 */
#define LANES 8

/* Σ_j a[j]·b[j] (b NULL: Σ_j a[j]) over j < d. */
static inline double row_dot(const float *a, const float *b, int64_t d) {
  double acc[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= d; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (double)a[j + l] * (b ? (double)b[j + l] : 1.0);
  double s = 0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  for (; j < d; j++) s += (double)a[j] * (b ? (double)b[j] : 1.0);
  return s;
}

typedef struct {
  Span span;
  int64_t d;
  float eps;
  const float *x, *weight, *bias, *dy, *xhat_in, *rstd_in;
  float *y, *xhat, *rstd, *dx;
  double *dweight, *dbias; /* this half's column sums, [d] each */
} NormJob;

VECTOR_CLONES static void *layer_norm_forward_part(void *arg) {
  NormJob *j = (NormJob *)arg;
  const int64_t d = j->d;
  const float *restrict weight = j->weight, *restrict bias = j->bias;
  for (int64_t r = j->span.begin; r < j->span.end; r++) {
    const float *restrict x = j->x + r * d;
    float *restrict xhat = j->xhat + r * d, *restrict y = j->y + r * d;
    const float mean = (float)(row_dot(x, NULL, d) / (double)d);
    for (int64_t i = 0; i < d; i++) xhat[i] = x[i] - mean; /* centred, normalized below */
    const float rstd = (float)(1.0 / sqrt(row_dot(xhat, xhat, d) / (double)d + (double)j->eps));
    for (int64_t i = 0; i < d; i++) {
      xhat[i] *= rstd;
      y[i] = xhat[i] * weight[i] + bias[i];
    }
    j->rstd[r] = rstd;
  }
  return NULL;
}

VECTOR_CLONES static void *layer_norm_backward_part(void *arg) {
  NormJob *j = (NormJob *)arg;
  const int64_t d = j->d;
  const float *restrict weight = j->weight;
  double *restrict dweight = j->dweight, *restrict dbias = j->dbias;
  for (int64_t r = j->span.begin; r < j->span.end; r++) {
    const float *restrict dy = j->dy + r * d, *restrict xhat = j->xhat_in + r * d;
    float *restrict dx = j->dx + r * d; /* holds ĝ until the last loop */
    for (int64_t i = 0; i < d; i++) {
      dx[i] = dy[i] * weight[i];
      dweight[i] += (double)dy[i] * (double)xhat[i];
      dbias[i] += (double)dy[i];
    }
    const float mean_g = (float)(row_dot(dx, NULL, d) / (double)d);
    const float mean_gx = (float)(row_dot(dx, xhat, d) / (double)d);
    const float rstd = j->rstd_in[r];
    for (int64_t i = 0; i < d; i++) dx[i] = rstd * (dx[i] - mean_g - xhat[i] * mean_gx);
  }
  return NULL;
}

/* layerNorm(heap, rows, d, eps, offX, offWeight, offBias, offY, offXhat, offRstd): y, x̂ [rows, d] and r [rows]. */
static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  const char *k = "layerNorm";
  char *base;
  size_t length;
  double v[9];
  if (!read_args(env, info, k, 9, &base, &length, v) || !size_ok(env, k, "rows", v[0]) || !size_ok(env, k, "d", v[1])) return NULL;
  if (!(v[2] > 0)) {
    napi_throw_range_error(env, NULL, "magma-lab native layerNorm: eps must be positive");
    return NULL;
  }
  const int64_t rows = (int64_t)v[0], d = (int64_t)v[1], n = rows * d;
  float *x, *weight, *bias, *y, *xhat, *rstd;
  const int64_t floats[6] = {n, d, d, n, n, rows};
  if (!operands(env, k, v + 3, floats, 6, base, length, (float **[]){&x, &weight, &bias, &y, &xhat, &rstd})) return NULL;
  NormJob job = {.d = d, .eps = (float)v[2], .x = x, .weight = weight, .bias = bias, .y = y, .xhat = xhat, .rstd = rstd};
  NormJob second = job;
  run_in_halves(layer_norm_forward_part, &job.span, &second.span, rows, n >= SPLIT_AT);
  return NULL;
}

/* layerNormGrad(heap, rows, d, offDy, offXhat, offRstd, offWeight, offDx, offDweight, offDbias). */
static napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  const char *k = "layerNormGrad";
  char *base;
  size_t length;
  double v[9];
  if (!read_args(env, info, k, 9, &base, &length, v) || !size_ok(env, k, "rows", v[0]) || !size_ok(env, k, "d", v[1])) return NULL;
  const int64_t rows = (int64_t)v[0], d = (int64_t)v[1], n = rows * d;
  float *dy, *xhat, *rstd, *weight, *dx, *dweight, *dbias;
  const int64_t floats[7] = {n, n, rows, d, n, d, d};
  if (!operands(env, k, v + 2, floats, 7, base, length, (float **[]){&dy, &xhat, &rstd, &weight, &dx, &dweight, &dbias})) return NULL;
  NormJob job = {.d = d, .dy = dy, .xhat_in = xhat, .rstd_in = rstd, .weight = weight, .dx = dx};
  double *sums = calloc((size_t)(4 * d), sizeof(double)); /* dγ, dβ of the first half, then of the second */
  if (!sums) {
    napi_throw_error(env, NULL, "magma-lab native layerNormGrad: out of memory");
    return NULL;
  }
  NormJob second = job;
  job.dweight = sums;
  job.dbias = sums + d;
  second.dweight = sums + 2 * d;
  second.dbias = sums + 3 * d;
  run_in_halves(layer_norm_backward_part, &job.span, &second.span, rows, n >= SPLIT_AT);
  for (int64_t i = 0; i < d; i++) {
    dweight[i] = (float)(job.dweight[i] + second.dweight[i]);
    dbias[i] = (float)(job.dbias[i] + second.dbias[i]);
  }
  free(sums);
  return NULL;
}

/*
 * Softmax over the last axis of [rows, n]: y = exp(x − max) / Σ exp(x − max), per row. Terms
 * below e^−87 (under float's normal range) count as 0.
 */
typedef struct {
  Span span;
  int64_t n;
  const float *x;
  float *y;
} SoftmaxJob;

VECTOR_CLONES static void *softmax_part(void *arg) {
  SoftmaxJob *j = (SoftmaxJob *)arg;
  const int64_t n = j->n;
  for (int64_t r = j->span.begin; r < j->span.end; r++) {
    const float *restrict x = j->x + r * n;
    float *restrict y = j->y + r * n;
    float max = x[0];
    for (int64_t i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    for (int64_t i = 0; i < n; i++) {
      const float d = x[i] - max;
      y[i] = d < -87.0f ? 0.0f : exp_nonpositive(d);
    }
    const float inverse = (float)(1.0 / row_dot(y, NULL, n));
    for (int64_t i = 0; i < n; i++) y[i] *= inverse;
  }
  return NULL;
}

/* softmax(heap, rows, n, offX, offY). */
static napi_value Softmax(napi_env env, napi_callback_info info) {
  const char *k = "softmax";
  char *base;
  size_t length;
  double v[4];
  if (!read_args(env, info, k, 4, &base, &length, v) || !size_ok(env, k, "rows", v[0]) || !size_ok(env, k, "n", v[1])) return NULL;
  SoftmaxJob job = {0};
  const int64_t rows = (int64_t)v[0];
  job.n = (int64_t)v[1];
  if (!(job.x = operand(env, k, 0, v[2], rows * job.n, base, length)) || !(job.y = operand(env, k, 1, v[3], rows * job.n, base, length))) return NULL;
  SoftmaxJob second = job;
  run_in_halves(softmax_part, &job.span, &second.span, rows, rows * job.n >= SPLIT_AT);
  return NULL;
}

/* info() → { blas: "OpenBLAS 0.3.21", threads: 2 }: which BLAS this addon was linked to. */
static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  char name[128];
  int threads;
#ifdef MAGMA_ACCELERATE
  snprintf(name, sizeof name, "Accelerate");
  threads = 0; /* Accelerate chooses its own threads and does not say how many */
#else
  snprintf(name, sizeof name, "%s", OPENBLAS_VERSION);
  threads = openblas_get_num_threads();
#endif
  /* OPENBLAS_VERSION is " OpenBLAS 0.3.21 ": trim the spaces */
  char *s = name;
  while (*s == ' ') s++;
  size_t len = strlen(s);
  while (len > 0 && s[len - 1] == ' ') s[--len] = '\0';
  napi_value out, blas, count;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &blas));
  CHECK(napi_create_int32(env, threads, &count));
  CHECK(napi_set_named_property(env, out, "blas", blas));
  CHECK(napi_set_named_property(env, out, "threads", count));
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "gemm", NAPI_AUTO_LENGTH, Gemm, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "gemm", fn) != napi_ok ||
      napi_create_function(env, "gelu", NAPI_AUTO_LENGTH, Gelu, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "gelu", fn) != napi_ok ||
      napi_create_function(env, "geluGrad", NAPI_AUTO_LENGTH, GeluGrad, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "geluGrad", fn) != napi_ok ||
      napi_create_function(env, "layerNorm", NAPI_AUTO_LENGTH, LayerNorm, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "layerNorm", fn) != napi_ok ||
      napi_create_function(env, "layerNormGrad", NAPI_AUTO_LENGTH, LayerNormGrad, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "layerNormGrad", fn) != napi_ok ||
      napi_create_function(env, "softmax", NAPI_AUTO_LENGTH, Softmax, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "softmax", fn) != napi_ok ||
      napi_create_function(env, "info", NAPI_AUTO_LENGTH, Info, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "info", fn) != napi_ok)
    return NULL;
  return exports;
}
