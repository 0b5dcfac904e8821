/* tarbatch.chain in C: follow plain tar headers, reading only each one's size
 * and type.  The same walk as the Python function, header for header, except
 * that a size field that is not eleven octal digits stops it (Python's int()
 * also takes spaces, signs and underscores there); the general walker then
 * reads that entry, as it reads every header that chain leaves, so the
 * entries are the same.  And headers_ok: the checks tarbatch.decode makes of
 * a batch's field terminators and checksums, by the same rule.  Without a
 * compiler the Python functions are used. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR 512
#ifndef WINDOW
#define WINDOW 65536 /* bytes read at a time from a file: several small entries' headers at once */
#endif

static int plain_flag(unsigned char c) {
    return c == '0' || c == '\0' || c == '7' || c == '1' || c == '2' || c == '3' || c == '4' || c == '5' ||
           c == '6';
}

/* The entry size of a header, or -1 when chain must leave the header to the general walker. */
static int64_t header_size(const unsigned char *h) {
    int64_t size = 0;
    if (h[135] != 0 || !plain_flag(h[156]))
        return -1;
    for (int k = 124; k < 135; k++) {
        if (h[k] < '0' || h[k] > '7')
            return -1;
        size = size * 8 + (h[k] - '0');
    }
    return size;
}

/* The header h at pos: its entry's size and where the next header starts; 0 when chain stops
 * here (a header left to the general walker, or an entry running past end). */
static int next_header(const unsigned char *h, long long pos, long long end, int64_t *size, long long *nxt) {
    *size = header_size(h);
    if (*size < 0)
        return 0;
    *nxt = pos + HDR + ((*size + 511) & ~(int64_t)511);
    return *nxt <= end;
}

/* The headers found, as (list of 512-byte bytes, offsets as int64 bytes, sizes as int64 bytes, pos). */
static PyObject *result(const unsigned char *hdrs, const int64_t *offsets, const int64_t *sizes, Py_ssize_t n,
                        long long pos) {
    PyObject *blocks = PyList_New(n);
    if (!blocks)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)hdrs + i * HDR, HDR);
        if (!b) {
            Py_DECREF(blocks);
            return NULL;
        }
        PyList_SET_ITEM(blocks, i, b);
    }
    return Py_BuildValue("Ny#y#L", blocks, (const char *)offsets, (Py_ssize_t)(n * sizeof(int64_t)),
                         (const char *)sizes, (Py_ssize_t)(n * sizeof(int64_t)), pos);
}

static PyObject *chain_fd(PyObject *self, PyObject *args) {
    int fd;
    long long origin, pos, end, shift;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "iLLLnL", &fd, &origin, &pos, &end, &limit, &shift))
        return NULL;
    if (limit < 0)
        limit = 0;
    unsigned char *hdrs = malloc((size_t)limit * HDR + 1);
    int64_t *offsets = malloc((size_t)limit * sizeof(int64_t) + 1);
    int64_t *sizes = malloc((size_t)limit * sizeof(int64_t) + 1);
    unsigned char *window = malloc(WINDOW);
    if (!hdrs || !offsets || !sizes || !window) {
        free(hdrs), free(offsets), free(sizes), free(window);
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    long long start = pos; /* where window[0] is */
    Py_ssize_t have = 0;   /* bytes in window */
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    while (n < limit && end - pos >= HDR) {
        long long off = pos - start;
        if (off < 0 || off + HDR > have) {
            ssize_t got;
            do {
                got = pread(fd, window, WINDOW, (off_t)(origin + pos));
            } while (got < 0 && errno == EINTR);
            if (got < 0) {
                err = errno;
                break;
            }
            start = pos;
            have = got;
            off = 0;
            if (have < HDR)
                break;
        }
        const unsigned char *h = window + off;
        int64_t size;
        long long nxt;
        if (!next_header(h, pos, end, &size, &nxt))
            break;
        memcpy(hdrs + n * HDR, h, HDR);
        offsets[n] = shift + pos + HDR;
        sizes[n] = size;
        n++;
        pos = nxt;
    }
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else {
        out = result(hdrs, offsets, sizes, n, pos);
    }
    free(hdrs), free(offsets), free(sizes), free(window);
    return out;
}

static PyObject *chain_buf(PyObject *self, PyObject *args) {
    Py_buffer buf;
    long long pos, end, shift;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "y*LLnL", &buf, &pos, &end, &limit, &shift))
        return NULL;
    if (limit < 0)
        limit = 0;
    const unsigned char *data = buf.buf;
    long long len = buf.len;
    int64_t *offsets = malloc((size_t)limit * sizeof(int64_t) + 1);
    int64_t *sizes = malloc((size_t)limit * sizeof(int64_t) + 1);
    long long *at = malloc((size_t)limit * sizeof(long long) + 1);
    if (!offsets || !sizes || !at) {
        free(offsets), free(sizes), free(at);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    while (n < limit && end - pos >= HDR && pos >= 0 && pos + HDR <= len) {
        int64_t size;
        long long nxt;
        if (!next_header(data + pos, pos, end, &size, &nxt))
            break;
        at[n] = pos;
        offsets[n] = shift + pos + HDR;
        sizes[n] = size;
        n++;
        pos = nxt;
    }
    PyObject *blocks = PyList_New(n);
    PyObject *out = NULL;
    if (blocks) {
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            PyObject *b = PyBytes_FromStringAndSize((const char *)data + at[i], HDR);
            if (!b)
                break;
            PyList_SET_ITEM(blocks, i, b);
        }
        if (i == n)
            out = Py_BuildValue("Ny#y#L", blocks, (const char *)offsets, (Py_ssize_t)(n * sizeof(int64_t)),
                                (const char *)sizes, (Py_ssize_t)(n * sizeof(int64_t)), pos);
        else
            Py_DECREF(blocks);
    }
    free(offsets), free(sizes), free(at);
    PyBuffer_Release(&buf);
    return out;
}

/* decode's checks of a batch of headers (their bytes joined): 0 when one of them fails (a numeric
 * field not ended by a NUL, or a checksum that does not match), 1 when all pass, -1 when a checksum
 * field is not six octal digits (int() may still read it: decode then checks in Python).  The
 * checksum rule is decode's: stored + the field's own bytes == 256 + the sum of the header's
 * bytes, exactly. */
static PyObject *headers_ok(PyObject *self, PyObject *args) {
    static const int terminators[] = {107, 115, 123, 135, 147, 154};
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    const unsigned char *data = buf.buf;
    Py_ssize_t n = buf.len / HDR;
    long verdict = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && verdict == 1; i++) {
        const unsigned char *h = data + i * HDR;
        for (int k = 0; k < 6; k++)
            if (h[terminators[k]] != 0)
                verdict = 0;
    }
    for (Py_ssize_t i = 0; i < n && verdict == 1; i++) {
        const unsigned char *h = data + i * HDR;
        long stored = 0, own = h[155], sum = 0;
        for (int k = 148; k < 154; k++) {
            if (h[k] < '0' || h[k] > '7') {
                verdict = -1;
                break;
            }
            stored = stored * 8 + (h[k] - '0');
            own += h[k];
        }
        if (verdict != 1)
            break;
        for (int k = 0; k < HDR; k++)
            sum += h[k];
        if (stored + own != 256 + sum)
            verdict = 0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromLong(verdict);
}

static PyMethodDef methods[] = {
    {"headers_ok", headers_ok, METH_VARARGS,
     "headers_ok(headers) -> 1, 0 or -1: decode's terminator and checksum checks of a batch (-1: not plain digits)."},
    {"chain_fd", chain_fd, METH_VARARGS,
     "chain_fd(fd, origin, pos, end, limit, shift) -> (blocks, offsets, sizes, pos): plain headers read with pread."},
    {"chain_buf", chain_buf, METH_VARARGS,
     "chain_buf(buffer, pos, end, limit, shift) -> (blocks, offsets, sizes, pos): plain headers in memory."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tarchain", "tarbatch.chain in C.", -1, methods};

PyMODINIT_FUNC PyInit__tarchain(void) { return PyModule_Create(&module); }
