/* Content hashes of many texts at once, without the GIL.
 *
 * Each row's digest is the hex SHA-256 of `prefix || title || 0x1F || content`, as
 * `corpus.hashing.hash_column` defines it. SHA-256 is compiled in here (FIPS 180-4): with the
 * CPU's SHA instructions where an x86-64 CPU has them, else in portable C. Nothing is linked
 * or loaded at run time; `corpus.digest` checks the result against hashlib before first use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

typedef void (*Blocks)(uint32_t state[8], const uint8_t *data, size_t blocks);

/* ---- portable C ---- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_portable(uint32_t state[8], const uint8_t *data, size_t blocks) {
    uint32_t w[64];
    for (; blocks > 0; blocks--, data += 64) {
        for (int t = 0; t < 16; t++)
            w[t] = (uint32_t)data[4 * t] << 24 | (uint32_t)data[4 * t + 1] << 16 |
                   (uint32_t)data[4 * t + 2] << 8 | (uint32_t)data[4 * t + 3];
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                          K[t] + w[t];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }
}

/* ---- x86-64 SHA extensions (Intel SHA-NI, AMD since Zen) ---- */

#ifdef HAVE_SHA_NI
__attribute__((target("sha,sse4.1"))) static void blocks_sha_ni(uint32_t state[8],
                                                                 const uint8_t *data,
                                                                 size_t blocks) {
    const __m128i order = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    /* the state as the instructions hold it: ABEF and CDGH */
    __m128i cdab = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    for (; blocks > 0; blocks--, data += 64) {
        __m128i abef_before = abef, cdgh_before = cdgh;
        __m128i w[4]; /* the message words of the last four groups of four rounds */
        for (int i = 0; i < 16; i++) {
            __m128i words;
            if (i < 4) {
                words = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), order);
            } else { /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time */
                __m128i w16 = w[i & 3], w12 = w[(i + 1) & 3], w8 = w[(i + 2) & 3],
                        w4 = w[(i + 3) & 3];
                words = _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4));
                words = _mm_sha256msg2_epu32(words, w4);
            }
            w[i & 3] = words;
            __m128i sum = _mm_add_epi32(words, _mm_loadu_si128((const __m128i *)&K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, sum);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(sum, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef_before);
        cdgh = _mm_add_epi32(cdgh, cdgh_before);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

static int has_sha_ni(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3_sse41 = (c & (1u << 9)) && (c & (1u << 19));
    if (!ssse3_sse41 || __get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;
}
#endif

static Blocks blocks = blocks_portable;
static const char *engine = "portable C";

/* SHA-256 of `parts` joined, into `digest` (32 bytes) */
static void sha256(const uint8_t *const parts[], const size_t sizes[], int count,
                   uint8_t digest[32]) {
    uint32_t state[8];
    memcpy(state, H0, sizeof state);
    uint8_t block[64];
    size_t held = 0, total = 0;
    for (int p = 0; p < count; p++) {
        const uint8_t *data = parts[p];
        size_t size = sizes[p];
        total += size;
        if (held) { /* fill the partial block first */
            size_t take = 64 - held < size ? 64 - held : size;
            memcpy(block + held, data, take);
            held += take;
            data += take;
            size -= take;
            if (held < 64) continue;
            blocks(state, block, 1);
            held = 0;
        }
        if (size >= 64) {
            blocks(state, data, size / 64);
            data += size - size % 64;
            size %= 64;
        }
        memcpy(block, data, size);
        held = size;
    }
    block[held++] = 0x80;
    if (held > 56) {
        memset(block + held, 0, 64 - held);
        blocks(state, block, 1);
        held = 0;
    }
    memset(block + held, 0, 56 - held);
    uint64_t bits = (uint64_t)total * 8;
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    blocks(state, block, 1);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)state[i];
    }
}

static const char HEX[] = "0123456789abcdef";
static const uint8_t SEPARATOR = 0x1F;

/* Whether `buffer` holds int64 offsets first..stop, ascending within `limit` bytes of text. */
static int offsets_fit(const Py_buffer *buffer, Py_ssize_t first, Py_ssize_t stop,
                       Py_ssize_t limit) {
    if (buffer->len < (Py_ssize_t)((stop + 1) * sizeof(int64_t))) return 0;
    const int64_t *values = (const int64_t *)buffer->buf;
    for (Py_ssize_t i = first; i <= stop; i++) {
        if (values[i] < 0 || values[i] > limit || (i > first && values[i] < values[i - 1]))
            return 0;
    }
    return 1;
}

static PyObject *sha256_hex(PyObject *self, PyObject *args) {
    Py_buffer prefix, offsets, data, title_offsets, title_data, into;
    Py_ssize_t first, stop;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*nnw*", &prefix, &offsets, &data, &title_offsets,
                          &title_data, &first, &stop, &into))
        return NULL;
    PyObject *result = NULL;
    if (first < 0 || stop < first || !offsets_fit(&offsets, first, stop, data.len) ||
        !offsets_fit(&title_offsets, first, stop, title_data.len) ||
        into.len < (stop - first) * 64) {
        PyErr_SetString(PyExc_ValueError, "sha256_hex: rows, offsets or output of the wrong size");
        goto done;
    }
    const int64_t *content_at = (const int64_t *)offsets.buf;
    const int64_t *title_at = (const int64_t *)title_offsets.buf;
    const uint8_t *texts = (const uint8_t *)data.buf;
    const uint8_t *titles = (const uint8_t *)title_data.buf;
    char *out = (char *)into.buf;
    Py_BEGIN_ALLOW_THREADS;
    uint8_t md[32];
    for (Py_ssize_t row = first; row < stop; row++) {
        const uint8_t *parts[4] = {prefix.buf, titles + title_at[row], &SEPARATOR,
                                   texts + content_at[row]};
        size_t sizes[4] = {(size_t)prefix.len, (size_t)(title_at[row + 1] - title_at[row]), 1,
                           (size_t)(content_at[row + 1] - content_at[row])};
        sha256(parts, sizes, 4, md);
        char *hex = out + (row - first) * 64;
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = HEX[md[i] >> 4];
            hex[2 * i + 1] = HEX[md[i] & 15];
        }
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&title_offsets);
    PyBuffer_Release(&title_data);
    PyBuffer_Release(&into);
    return result;
}

/* the fastest SHA-256 code this CPU runs */
static void use_fastest(void) {
    blocks = blocks_portable;
    engine = "portable C";
#ifdef HAVE_SHA_NI
    if (has_sha_ni()) {
        blocks = blocks_sha_ni;
        engine = "x86-64 SHA extensions";
    }
#endif
}

static PyObject *use_portable(PyObject *self, PyObject *args) {
    int portable = 1;
    if (!PyArg_ParseTuple(args, "|p", &portable)) return NULL;
    if (portable) {
        blocks = blocks_portable;
        engine = "portable C";
    } else {
        use_fastest();
    }
    return PyUnicode_FromString(engine);
}

static PyObject *engine_name(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(engine);
}

static PyMethodDef methods[] = {
    {"sha256_hex", sha256_hex, METH_VARARGS,
     "sha256_hex(prefix, offsets, data, title_offsets, title_data, first, stop, into)"
     ": hex SHA-256 of prefix || title || 0x1F || text for rows first..stop-1, written to into "
     "(64 bytes a row); offsets are int64, one more than the rows; the GIL is released."},
    {"engine", engine_name, METH_NOARGS, "engine() -> which SHA-256 code hashes"},
    {"use_portable", use_portable, METH_VARARGS,
     "use_portable(portable=True) -> engine: hash in portable C from now on, or (False) with the "
     "fastest code this CPU runs"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_digest", NULL, -1, methods};

PyMODINIT_FUNC PyInit__digest(void) {
    use_fastest();
    return PyModule_Create(&module);
}
