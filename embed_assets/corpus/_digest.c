/* Content hashes of many texts at once, without the GIL.
 *
 * Each row's digest is the hex SHA-256 of `prefix || title || 0x1F || content`, as
 * `corpus.hashing.hash_column` defines it. The SHA-256 itself is the one Python's hashlib
 * uses (OpenSSL's libcrypto, SHA-NI where the CPU has it): the caller passes the address of its
 * `SHA256` one-shot function, so nothing here links against OpenSSL or needs its headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char *(*Sha256)(const unsigned char *data, size_t length, unsigned char *digest);

static const char HEX[] = "0123456789abcdef";

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
    unsigned long long address;
    Py_buffer prefix, offsets, data, title_offsets, title_data, into;
    Py_ssize_t first, stop;
    if (!PyArg_ParseTuple(args, "Ky*y*y*y*y*nnw*", &address, &prefix, &offsets, &data,
                          &title_offsets, &title_data, &first, &stop, &into))
        return NULL;
    PyObject *result = NULL;
    if (address == 0 || first < 0 || stop < first) {
        PyErr_SetString(PyExc_ValueError, "sha256_hex: no function, or a bad row range");
        goto done;
    }
    if (!offsets_fit(&offsets, first, stop, data.len) ||
        !offsets_fit(&title_offsets, first, stop, title_data.len) ||
        into.len < (stop - first) * 64) {
        PyErr_SetString(PyExc_ValueError, "sha256_hex: offsets or output of the wrong size");
        goto done;
    }
    Sha256 digest = (Sha256)(uintptr_t)address;
    const int64_t *content_at = (const int64_t *)offsets.buf;
    const int64_t *title_at = (const int64_t *)title_offsets.buf;
    const unsigned char *texts = (const unsigned char *)data.buf;
    const unsigned char *titles = (const unsigned char *)title_data.buf;
    char *out = (char *)into.buf;
    int no_memory = 0;
    Py_BEGIN_ALLOW_THREADS;
    size_t capacity = 0;
    unsigned char *message = NULL;
    unsigned char md[32];
    for (Py_ssize_t row = first; row < stop; row++) {
        size_t title_length = (size_t)(title_at[row + 1] - title_at[row]);
        size_t content_length = (size_t)(content_at[row + 1] - content_at[row]);
        size_t length = (size_t)prefix.len + title_length + 1 + content_length;
        if (length > capacity) {
            unsigned char *grown = realloc(message, length * 2);
            if (grown == NULL) {
                no_memory = 1;
                break;
            }
            message = grown;
            capacity = length * 2;
        }
        unsigned char *at = message;
        memcpy(at, prefix.buf, (size_t)prefix.len);
        at += prefix.len;
        memcpy(at, titles + title_at[row], title_length);
        at += title_length;
        *at++ = 0x1F;
        memcpy(at, texts + content_at[row], content_length);
        digest(message, length, md);
        char *hex = out + (row - first) * 64;
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = HEX[md[i] >> 4];
            hex[2 * i + 1] = HEX[md[i] & 15];
        }
    }
    free(message);
    Py_END_ALLOW_THREADS;
    if (no_memory) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&title_offsets);
    PyBuffer_Release(&title_data);
    PyBuffer_Release(&into);
    return result;
}

static PyMethodDef methods[] = {
    {"sha256_hex", sha256_hex, METH_VARARGS,
     "sha256_hex(function, prefix, offsets, data, title_offsets, title_data, first, stop, into)"
     ": hex SHA-256 of prefix || title || 0x1F || text for rows first..stop-1, written to into "
     "(64 bytes a row); offsets are int64, one more than the rows; the GIL is released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_digest", NULL, -1, methods};

PyMODINIT_FUNC PyInit__digest(void) { return PyModule_Create(&module); }
