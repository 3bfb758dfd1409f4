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
 * Exact GELU, elementwise over n floats, split in contiguous halves over two threads when n is
 * large (each element is computed the same way whichever thread does it: deterministic).
 *   forward:  cdf = Φ(x) = (1 + erf(x/√2))/2, y = x·cdf
 *   backward: dx = dy·(Φ(x) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π)
 */
typedef struct {
  const float *x, *cdf, *dy;
  float *y, *out_cdf, *dx;
  int64_t begin, end;
} GeluJob;

static void *gelu_forward_part(void *arg) {
  GeluJob *j = (GeluJob *)arg;
  for (int64_t i = j->begin; i < j->end; i++) {
    const float c = 0.5f * (1.0f + erff(j->x[i] * 0.70710678118654752f));
    j->out_cdf[i] = c;
    j->y[i] = j->x[i] * c;
  }
  return NULL;
}

static void *gelu_backward_part(void *arg) {
  GeluJob *j = (GeluJob *)arg;
  for (int64_t i = j->begin; i < j->end; i++) {
    const float x = j->x[i];
    j->dx[i] = j->dy[i] * (j->cdf[i] + x * 0.39894228040143268f * expf(-0.5f * x * x));
  }
  return NULL;
}

/* Runs `part` over [0, n) on two threads when n ≥ 2^16, else on this one. */
static void run_split(void *(*part)(void *), GeluJob job, int64_t n) {
  if (n < 65536) {
    job.begin = 0;
    job.end = n;
    part(&job);
    return;
  }
  GeluJob first = job, second = job;
  first.begin = 0;
  first.end = n / 2;
  second.begin = n / 2;
  second.end = n;
  pthread_t helper;
  if (pthread_create(&helper, NULL, part, &second) != 0) {
    first.end = n; /* no thread: do it all here */
    part(&first);
    return;
  }
  part(&first);
  pthread_join(helper, NULL);
}

/*
 * Reads (heap, n, offset × count) and checks that each offset holds n floats inside the heap.
 * Returns 0 (with a JS exception pending) when an argument is bad.
 */
static int elementwise_args(napi_env env, napi_callback_info info, const char *kernel, int count, char **base, int64_t *n, int64_t *offsets) {
  size_t argc = 8;
  napi_value argv[8];
  void *heap;
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != (size_t)(2 + count) ||
      napi_get_arraybuffer_info(env, argv[0], &heap, &length) != napi_ok || napi_get_value_int64(env, argv[1], n) != napi_ok) {
    napi_throw_error(env, NULL, "magma-lab native: bad arguments to an elementwise kernel");
    return 0;
  }
  for (int i = 0; i < count; i++) {
    if (napi_get_value_int64(env, argv[i + 2], &offsets[i]) != napi_ok || *n < 0 || !in_heap(offsets[i], *n, length)) {
      char message[128];
      snprintf(message, sizeof message, "magma-lab native %s: operand %d lies outside the wasm heap", kernel, i);
      napi_throw_range_error(env, NULL, message);
      return 0;
    }
  }
  *base = (char *)heap;
  return 1;
}

/* gelu(heap, n, offX, offY, offCdf): y and cdf of n floats of x. */
static napi_value Gelu(napi_env env, napi_callback_info info) {
  char *base;
  int64_t n, off[3];
  if (!elementwise_args(env, info, "gelu", 3, &base, &n, off)) return NULL;
  GeluJob job = {0};
  job.x = (const float *)(base + off[0]);
  job.y = (float *)(base + off[1]);
  job.out_cdf = (float *)(base + off[2]);
  run_split(gelu_forward_part, job, n);
  return NULL;
}

/* geluGrad(heap, n, offDy, offX, offCdf, offDx). */
static napi_value GeluGrad(napi_env env, napi_callback_info info) {
  char *base;
  int64_t n, off[4];
  if (!elementwise_args(env, info, "geluGrad", 4, &base, &n, off)) return NULL;
  GeluJob job = {0};
  job.dy = (const float *)(base + off[0]);
  job.x = (const float *)(base + off[1]);
  job.cdf = (const float *)(base + off[2]);
  job.dx = (float *)(base + off[3]);
  run_split(gelu_backward_part, job, n);
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
      napi_create_function(env, "info", NAPI_AUTO_LENGTH, Info, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "info", fn) != napi_ok)
    return NULL;
  return exports;
}
